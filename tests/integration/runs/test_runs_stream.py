"""Streamed runs through the real SDKs: `runs.stream` (stateful and stateless) sends the
run's metadata, then the chunks of the modes asked for as the graph yields them, `error`
when it fails; `runs.join_stream` replays a streamed run's events, resumes after a
Last-Event-ID, and sends a run that did not stream its output when it ends."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import SyncLangGraphClient
from langgraph_sdk.errors import NotFoundError

from tests.integration.run_stack import GREETING, RunStack, wait_for


def parts(stream: Any) -> list[tuple[str, Any]]:
    return [(part.event, part.data) for part in stream]


def test_a_stream_sends_metadata_then_each_chunk_then_ends_with_the_run(
    sdk: SyncLangGraphClient,
) -> None:
    thread_id = sdk.threads.create()["thread_id"]
    got = parts(
        sdk.runs.stream(thread_id, "agent", input={"ask": False}, stream_mode=["values", "updates"])
    )
    (event, metadata), *chunks = got
    assert event == "metadata" and set(metadata) == {"run_id", "attempt"}
    final = {"ask": False, "count": 1, "greeting": GREETING}
    assert chunks == [
        ("values", {"ask": False}),
        ("updates", {"step": {"count": 1, "greeting": GREETING}}),
        ("values", final),
        ("updates", {"ask": None}),  # `ask` changed nothing: no values after it
    ]
    run = sdk.runs.get(thread_id, metadata["run_id"])
    assert run["status"] == "success"  # the stream closed once the run had ended
    assert sdk.threads.get(thread_id)["status"] == "idle"


def test_an_interrupt_streams_as_an_update_and_a_failure_as_error(
    sdk: SyncLangGraphClient,
) -> None:
    thread_id = sdk.threads.create()["thread_id"]
    got = parts(sdk.runs.stream(thread_id, "agent", input={}, stream_mode="updates"))
    interrupt = got[-1]
    assert interrupt[0] == "updates" and "__interrupt__" in interrupt[1]
    assert interrupt[1]["__interrupt__"][0]["value"] == {"question": "approve?", "count": 1}
    assert sdk.threads.get(thread_id)["status"] == "interrupted"

    failed = parts(sdk.runs.stream(None, "agent", input={"fail": True}))
    assert failed[0][0] == "metadata"
    assert failed[-1] == ("error", {"error": "ValueError", "message": "step failed on purpose"})


def test_join_stream_replays_a_resumable_run_and_resumes_after_an_event(
    sdk: SyncLangGraphClient,
) -> None:
    thread_id = sdk.threads.create()["thread_id"]
    run = sdk.runs.create(
        thread_id, "agent", input={"ask": False}, stream_mode="values", stream_resumable=True
    )
    joined = list(sdk.runs.join_stream(thread_id, run["run_id"]))
    assert [p.event for p in joined] == ["metadata", "values", "values"]
    assert joined[-1].data["count"] == 1
    assert all(p.id for p in joined[1:])  # entry ids: a client can resume after any
    after_first = list(sdk.runs.join_stream(thread_id, run["run_id"], last_event_id=joined[1].id))
    assert [p.data for p in after_first[1:]] == [p.data for p in joined[2:]]
    only_updates = list(sdk.runs.join_stream(thread_id, run["run_id"], stream_mode="updates"))
    assert [p.event for p in only_updates] == []  # streamed values only; no metadata either


def test_join_stream_of_a_run_that_did_not_stream_sends_its_output(
    sdk: SyncLangGraphClient,
) -> None:
    thread_id = sdk.threads.create()["thread_id"]
    run = sdk.runs.create(thread_id, "agent", input={"ask": False, "sleep": 0.3})
    joined = parts(sdk.runs.join_stream(thread_id, run["run_id"]))
    assert joined[0] == ("metadata", {"run_id": run["run_id"], "attempt": 1})
    assert joined[1:] == [
        ("values", {"ask": False, "count": 1, "greeting": GREETING, "sleep": 0.3})
    ]
    with pytest.raises(NotFoundError):
        list(sdk.runs.join_stream(thread_id, "00000000-0000-4000-8000-000000000000"))


def test_an_unknown_last_event_id_replays_the_run(
    sdk: SyncLangGraphClient, run_stack: RunStack
) -> None:
    thread_id = sdk.threads.create()["thread_id"]
    run = sdk.runs.create(thread_id, "agent", input={"ask": False})
    sdk.runs.join(thread_id, run["run_id"])
    # No 422 (LangGraph's server takes any value): an id it never sent replays everything.
    replayed = parts(sdk.runs.join_stream(thread_id, run["run_id"], last_event_id="yesterday"))
    assert [event for event, _ in replayed] == ["metadata", "values"]
    response = httpx.get(
        f"{run_stack.url}/threads/{thread_id}/runs/{run['run_id']}/stream",
        headers={"Last-Event-ID": "-"},
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.text.startswith("event: metadata\ndata: {")


def test_the_async_sdk_streams_too(run_stack: RunStack) -> None:
    async def stream() -> list[tuple[str, Any]]:
        client = get_client(url=run_stack.url)
        thread = await client.threads.create()
        events = [
            (part.event, part.data)
            async for part in client.runs.stream(
                thread["thread_id"], "agent", input={"ask": False}, stream_mode="updates"
            )
        ]
        await client.aclose()
        return events

    got = asyncio.run(stream())
    assert [event for event, _ in got] == ["metadata", "updates", "updates"]
    assert got[1][1] == {"step": {"count": 1, "greeting": GREETING}}


def test_a_client_that_leaves_cancels_the_run_with_on_disconnect_cancel(
    sdk: SyncLangGraphClient, run_stack: RunStack
) -> None:
    thread_id = sdk.threads.create()["thread_id"]
    body = {"assistant_id": "agent", "input": {"sleep": 5, "ask": False}, "on_disconnect": "cancel"}
    with httpx.stream(
        "POST", f"{run_stack.url}/threads/{thread_id}/runs/stream", json=body, timeout=30
    ) as response:
        lines = response.iter_lines()
        first = next(lines)
        run_id = orjson.loads(next(lines).removeprefix("data: "))["run_id"]
    assert first == "event: metadata"
    run = wait_for(lambda: _ended(sdk, thread_id, run_id), timeout=10)
    assert run["status"] == "interrupted"  # stopped, not left to sleep its 5 s


def _ended(sdk: SyncLangGraphClient, thread_id: str, run_id: str) -> dict[str, Any] | None:
    run = sdk.runs.get(thread_id, run_id)
    return None if run["status"] in ("pending", "running") else run


JS_STREAM = """
import { Client } from "@langchain/langgraph-sdk";
const client = new Client({ apiUrl: process.env.API_URL });
const thread = await client.threads.create();
const events = [];
for await (const chunk of client.runs.stream(thread.thread_id, "agent", {
  input: { ask: false },
  streamMode: ["updates"],
})) {
  events.push([chunk.event, chunk.data]);
}
console.log(JSON.stringify(events));
"""


def test_the_js_sdk_streams_a_run(run_node: Callable[..., str], run_stack: RunStack) -> None:
    got = orjson.loads(run_node(JS_STREAM, env={"API_URL": run_stack.url}))
    assert [event for event, _ in got] == ["metadata", "updates", "updates"]
    assert got[1][1] == {"step": {"count": 1, "greeting": GREETING}}


def test_a_silent_run_gets_heartbeats_that_clients_skip(
    sdk: SyncLangGraphClient, run_stack: RunStack
) -> None:
    """Every 5 s without a chunk, a comment line keeps proxies from closing the stream."""
    thread_id = sdk.threads.create()["thread_id"]
    body = {"assistant_id": "agent", "input": {"sleep": 6, "ask": False}}
    response = httpx.post(f"{run_stack.url}/threads/{thread_id}/runs/stream", json=body, timeout=30)
    blocks = response.text.split("\n\n")
    assert blocks[0].startswith("event: metadata\n")
    assert blocks[2] == ": heartbeat"  # after the input's values, while the node sleeps
    assert blocks[3].startswith("id: ") and "event: values" in blocks[3]
