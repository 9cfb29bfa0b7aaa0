"""@langchain/react 1.x `useStream` (the thread-centric protocol), the hook itself, rendered
with react-test-renderer under node (tests/js/use_stream_v1.mjs): submit, the interrupt it
shows, respond, the end; over SSE and over a WebSocket (node 20 has one with
--experimental-websocket)."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from tests.integration.run_stack import RunStack
from tests.support import FIXTURES

PROJECT = FIXTURES / "graphs" / "protocol_project"
DRIVER = FIXTURES.parent / "js" / "use_stream_v1.mjs"
RunNode = Callable[..., str]


@pytest.fixture(scope="module")
def run_stack_env() -> dict[str, str]:
    return {"THREADWATCH_GRAPHS_CONFIG": str(PROJECT / "langgraph.json")}


@pytest.mark.parametrize("transport", ["sse", "websocket"])
def test_use_stream_submits_is_interrupted_and_resumes(
    run_stack: RunStack, run_node: RunNode, transport: str
) -> None:
    env = {
        "API_URL": run_stack.url,
        "TRANSPORT": transport,
        "NODE_OPTIONS": "--experimental-websocket",
    }
    out = json.loads(run_node(DRIVER.read_text(), env=env))
    run_stack.settle()
    paused, done = out["paused"], out["done"]
    assert paused["error"] is None and done["error"] is None
    assert paused["interrupts"] == [{"value": {"question": "Publish?"}, "namespace": []}]
    assert done["messages"] == [["human", "hi"], ["ai", "hello there friend"]]
    assert done["interrupts"] == [] and done["approved"] is True
    thread_id = done["threadId"]
    thread = httpx.get(f"{run_stack.url}/threads/{thread_id}").json()
    assert (thread["status"], thread["values"]["approved"]) == ("idle", True)
    prefix = f"/threads/{thread_id}"
    calls = [(c["method"], c["path"].removeprefix(prefix), c["command"]) for c in out["calls"]]
    if transport == "sse":  # commands and streams over HTTP, as the hook sends them
        assert calls[0] == ("POST", "/commands", "run.start")
        assert ("POST", "/stream/events", None) in calls
        assert ("POST", "/commands", "input.respond") in calls
    else:  # everything on the socket, but the state read once the run ends
        assert calls == [("GET", "/state", None)]
