"""Streams joined the way the SDKs join them: `Last-Event-ID: -1` (the JS SDK's useStream
joins and reconnects with it) replays a run, the stream modes come in each form the SDKs
send, and the modes useStream may ask for (`tools` included) are taken, never a 422."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from langgraph_sdk.client import SyncLangGraphClient
from langgraph_sdk.errors import UnprocessableEntityError

from tests.integration.run_stack import KEYS, RunStack, wait_for

RunNode = Callable[..., str]
# What agent-chat-ui's useStream sends, with `tools` once a page reads toolProgress.
USE_STREAM_MODES = ["values", "messages-tuple", "custom", "tools"]


def events(stream: Any) -> list[tuple[str, Any]]:
    return [(part.event, part.data) for part in stream]


def streamed_run(sdk: SyncLangGraphClient) -> tuple[str, str]:
    """A thread and a resumable run on it that streamed values and updates, ended."""
    thread_id = sdk.threads.create()["thread_id"]
    run = sdk.runs.create(
        thread_id,
        "agent",
        input={"ask": False},
        stream_mode=["values", "updates"],
        stream_resumable=True,
    )
    sdk.runs.join(thread_id, run["run_id"])
    return thread_id, run["run_id"]


def test_last_event_id_minus_one_replays_the_run(sdk: SyncLangGraphClient) -> None:
    thread_id, run_id = streamed_run(sdk)
    everything = events(sdk.runs.join_stream(thread_id, run_id))
    assert [e for e, _ in everything] == ["metadata", "values", "updates", "values", "updates"]
    assert events(sdk.runs.join_stream(thread_id, run_id, last_event_id="-1")) == everything


@pytest.mark.parametrize(
    ("params", "kept"),
    [
        ([("stream_mode", "updates")], ["updates", "updates"]),
        ([("stream_mode", '["updates","values"]')], ["values", "updates", "values", "updates"]),
        ([("stream_mode", "values"), ("stream_mode", "tools")], ["values", "values"]),
        ([("stream_mode", "tools")], []),  # a mode the run did not stream keeps nothing
        ([("stream_mode", "")], ["values", "updates", "values", "updates"]),
    ],
)
def test_join_takes_stream_modes_in_each_form(
    sdk: SyncLangGraphClient, run_stack: RunStack, params: list[tuple[str, str]], kept: list[str]
) -> None:
    thread_id, run_id = streamed_run(sdk)
    url = f"{run_stack.url}/threads/{thread_id}/runs/{run_id}/stream"
    resp = httpx.get(url, params=params, headers={"Last-Event-ID": "-1"})
    assert resp.status_code == 200
    names = [line[len("event: ") :] for line in resp.text.splitlines() if line.startswith("event:")]
    assert names == ["metadata", *kept]


def test_runs_stream_takes_the_modes_use_stream_asks_for(sdk: SyncLangGraphClient) -> None:
    thread_id = sdk.threads.create()["thread_id"]
    got = events(
        sdk.runs.stream(thread_id, "agent", input={"ask": False}, stream_mode=USE_STREAM_MODES)
    )
    assert [e for e, _ in got] == ["metadata", "values", "values"]  # tools: nothing to send
    alone = events(
        sdk.runs.stream(thread_id, "agent", input={"ask": False}, stream_mode="lifecycle")
    )
    assert [e for e, _ in alone] == ["metadata"]
    with pytest.raises(UnprocessableEntityError):  # not a mode at all: refused, as LangGraph
        list(sdk.runs.stream(thread_id, "agent", input={}, stream_mode="no-such-mode"))  # type: ignore[arg-type]


def test_thread_stream_replays_with_minus_one_and_refuses_other_ids(
    sdk: SyncLangGraphClient, run_stack: RunStack
) -> None:
    thread_id = sdk.threads.create()["thread_id"]
    url = f"{run_stack.url}/threads/{thread_id}/stream"
    first = httpx.Client(timeout=30)
    with first.stream("GET", url) as watching:  # a watch: the thread's events are kept
        wait_for(lambda: run_stack.redis.hexists(KEYS.thread(thread_id), "watch") or None)
        sdk.runs.wait(thread_id, "agent", input={"ask": False})
        assert watching.status_code == 200
    first.close()
    replay = sdk.threads.join_stream(thread_id, last_event_id="-1", stream_mode="lifecycle")
    for part in replay:
        starts = part
        break
    assert starts.event == "metadata" and set(starts.data) == {"run_id", "attempt"}
    refused = httpx.get(url, headers={"Last-Event-ID": "yesterday"})
    assert refused.status_code == 422
    assert refused.json() == {"detail": "Invalid last-event-id: must be a valid Redis stream ID"}


JS_JOIN = """
import { Client } from "@langchain/langgraph-sdk";
const client = new Client({ apiUrl: process.env.API_URL });
const thread = await client.threads.create();
const streamed = [];
for await (const part of client.runs.stream(thread.thread_id, "agent", {
  input: { ask: false }, streamMode: ["values", "messages-tuple", "custom", "tools"],
  streamResumable: true,
})) streamed.push([part.event, part.id ?? null]);
const runId = (await client.runs.list(thread.thread_id))[0].run_id;
const joined = [];
for await (const part of client.runs.joinStream(thread.thread_id, runId, {
  lastEventId: "-1", streamMode: ["values"],
})) joined.push(part.event);
console.log(JSON.stringify({ streamed, joined }));
"""


def test_the_js_sdk_joins_with_minus_one(run_node: RunNode, run_stack: RunStack) -> None:
    got = json.loads(run_node(JS_JOIN, {"API_URL": run_stack.url}))
    assert [event for event, _ in got["streamed"]] == ["metadata", "values", "values"]
    assert all(event_id for _, event_id in got["streamed"][1:])  # resumable: ids to rejoin
    assert got["joined"] == ["metadata", "values", "values"]
