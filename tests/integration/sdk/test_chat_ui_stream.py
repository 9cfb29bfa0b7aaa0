"""agent-chat-ui's five calls, made by the JS SDK's own legacy `useStream` hook
(`@langchain/langgraph-sdk/react`, rendered with react-test-renderer under node) against the
API and workers running the chat graph (tests/fixtures/graphs/chat_project): what the UI
shows after each step (messages, the HITL card) and the thread's status in threadwatch.

tests/js/chat_ui.mjs drives the hook; it prints the requests the hook sent and a snapshot
per step.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.integration.run_stack import RunStack
from tests.support import FIXTURES

RunNode = Callable[..., str]
DRIVER = FIXTURES.parent / "js" / "chat_ui.mjs"
CHAT_PROJECT = FIXTURES / "graphs" / "chat_project"
NODE_TIMEOUT = 120.0
STREAM_BODY = {
    "stream_mode": ["values", "messages-tuple", "custom"],
    "stream_subgraphs": True,
    "stream_resumable": True,
    "assistant_id": "agent",
    "on_disconnect": "continue",
}
ASK = {"messages": [{"type": "human", "content": "Paris"}]}  # what the UI submits
CARD = {  # the chat graph's interrupt payload, which agent-chat-ui renders as a HITL card
    "action_request": {"action": "get_weather", "args": {"city": "Paris"}},
    "config": {"allow_accept": True, "allow_ignore": True},
    "description": "Run the tool?",
}


def ai_call(city: str) -> dict[str, Any]:
    call = {"name": "get_weather", "args": {"city": city}, "id": "call_1"}
    return {"type": "ai", "content": "", "tool_calls": [call]}


def human(text: str) -> dict[str, Any]:
    return {"type": "human", "content": text, "tool_calls": []}


def card(city: str) -> list[dict[str, Any]]:
    return [{**CARD, "action_request": {"action": "get_weather", "args": {"city": city}}}]


@pytest.fixture(scope="module")
def run_stack_env() -> dict[str, str]:
    return {"THREADWATCH_GRAPHS_CONFIG": str(CHAT_PROJECT / "langgraph.json")}


def chat(run_node: RunNode, stack: RunStack, *steps: str) -> dict[str, Any]:
    """Run the hook through ``steps``; the requests it sent and a snapshot per step."""
    env = {"API_URL": stack.url, "STEPS": ",".join(steps)}
    out = json.loads(run_node(DRIVER.read_text(), env=env, timeout=NODE_TIMEOUT))
    stack.settle()
    return out


def requests(out: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(method, path with the thread id as {id}, body) of every request, in order."""
    thread_id = out["steps"][0]["threadId"]
    return [(c["method"], c["path"].replace(thread_id, "{id}"), c["body"]) for c in out["calls"]]


def status(stack: RunStack, thread_id: str) -> str:
    return httpx.get(f"{stack.url}/threads/{thread_id}").json()["status"]


def test_first_turn_shows_the_hitl_card(run_node: RunNode, run_stack: RunStack) -> None:
    out = chat(run_node, run_stack, "ask")
    (ask,) = out["steps"]
    assert requests(out) == [
        ("GET", "/info", None),
        ("POST", "/threads/search", {"metadata": {"graph_id": "agent"}, "limit": 100, "offset": 0}),
        ("POST", "/threads", {"metadata": {}}),
        ("POST", "/threads/{id}/runs/stream", {"input": ASK, **STREAM_BODY}),
        ("POST", "/threads/{id}/history", {"limit": 10}),
    ]
    assert out["calls"][0]["status"] == 200
    assert ask["error"] is None and ask["isLoading"] is False
    assert ask["messages"] == [human("Paris"), ai_call("Paris")]
    assert ask["interrupt"] == card("Paris")
    assert ask["customEvents"] == [{"progress": "thinking"}]
    assert ask["historyLength"] == 3
    assert ask["status"] == "interrupted" == status(run_stack, ask["threadId"])


def test_approving_runs_the_tool_and_remembers(run_node: RunNode, run_stack: RunStack) -> None:
    out = chat(run_node, run_stack, "ask", "approve")
    ask, approve = out["steps"]
    resume = requests(out)[5]
    assert resume[:2] == ("POST", "/threads/{id}/runs/stream")
    assert resume[2]["command"] == {"resume": "yes"}
    assert approve["error"] is None
    done = {"type": "ai", "content": "Done: It is sunny in Paris.", "tool_calls": []}
    tool = {"type": "tool", "content": "It is sunny in Paris.", "tool_calls": []}
    assert approve["messages"] == [human("Paris"), ai_call("Paris"), tool, done]
    assert approve["interrupt"] is None
    assert approve["memories"] == 1
    assert approve["status"] == "idle" == status(run_stack, ask["threadId"])


def test_editing_the_question_forks_from_its_checkpoint(
    run_node: RunNode, run_stack: RunStack
) -> None:
    out = chat(run_node, run_stack, "ask", "edit")
    ask, edit = out["steps"]
    fork = requests(out)[-2]  # the last stream, then the history it refetches
    assert fork[:2] == ("POST", "/threads/{id}/runs/stream")
    assert fork[2]["checkpoint"]["checkpoint_id"]
    assert edit["error"] is None
    # The edited question replaces the first one: the branch holds only the new turn.
    assert edit["messages"] == [human("Lyon"), ai_call("Lyon")]
    assert edit["interrupt"] == card("Lyon")
    assert edit["status"] == "interrupted" == status(run_stack, ask["threadId"])


def test_join_replays_the_run_from_its_first_event(run_node: RunNode, run_stack: RunStack) -> None:
    out = chat(run_node, run_stack, "ask", "join")
    ask, join = out["steps"]
    (joined,) = [c for c in out["calls"] if c["lastEventId"] is not None]
    assert joined["method"] == "GET" and joined["lastEventId"] == "-1"
    assert joined["path"].endswith(f"/runs/{join['runId']}/stream?cancel_on_disconnect=0")
    assert join["error"] is None
    assert join["messages"] == [human("Paris"), ai_call("Paris"), human("Nice"), ai_call("Nice")]
    assert join["interrupt"] == card("Nice")
    assert join["status"] == "interrupted" == status(run_stack, ask["threadId"])
