"""The thread-centric protocol with the JS SDK's `StreamController`, the engine that
`@langchain/react` 1.x `useStream` binds to React (its `submit`, `respond`, and the root
store the hook reads), run under node without a browser; over SSE and over a WebSocket
(node 20 has one with --experimental-websocket)."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from tests.integration.run_stack import RunStack
from tests.support import FIXTURES

PROJECT = FIXTURES / "graphs" / "protocol_project"
RunNode = Callable[..., str]

USE_STREAM = """
import { Client } from "@langchain/langgraph-sdk";
import { StreamController } from "@langchain/langgraph-sdk/stream";

// What useStream({ assistantId: "agent", transport }) builds and calls.
const controller = new StreamController({
  assistantId: "agent",
  client: new Client({ apiUrl: process.env.API_URL }),
  threadId: null,
  transport: process.env.TRANSPORT,
});
const deactivate = controller.activate();
const snapshot = () => controller.rootStore.getSnapshot();
async function until(test, what) {
  const deadline = Date.now() + 30000;
  while (!test(snapshot())) {
    if (Date.now() > deadline) {
      throw new Error(`no ${what}: ${JSON.stringify(snapshot())}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
await controller.submit({ messages: [{ role: "user", content: "hi" }], review: true });
await until((s) => s.interrupts.length > 0 && !s.isLoading, "interrupt");
const paused = snapshot();
await controller.respond(true);
await until((s) => s.values?.approved === true && !s.isLoading, "end");
const done = snapshot();
console.log(JSON.stringify({
  threadId: done.threadId,
  interrupts: paused.interrupts,
  messages: done.messages.map((m) => [m.type, m.text]),
  error: done.error ?? null,
}));
deactivate?.();
process.exit(0);
"""


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
    out = json.loads(run_node(USE_STREAM, env=env))
    run_stack.settle()
    assert out["error"] is None
    (interrupt,) = out["interrupts"]
    assert interrupt["value"] == {"question": "Publish?"} and interrupt["namespace"] == []
    assert out["messages"] == [["human", "hi"], ["ai", "hello there friend"]]
    thread = httpx.get(f"{run_stack.url}/threads/{out['threadId']}").json()
    assert (thread["status"], thread["values"]["approved"]) == ("idle", True)
