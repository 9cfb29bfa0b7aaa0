"""Runs from a checkpoint through the Python SDK (agent-chat-ui's edit and regenerate,
Studio's fork): `checkpoint` and `checkpoint_id` on create, wait and stream run the graph
from that checkpoint; the thread's values, status and history follow the fork, whose first
checkpoint has the fork point as parent, as on LangGraph's server (compared with
`langgraph dev` on the same script: docs/guides/running-graphs.md)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from langgraph_sdk.client import SyncLangGraphClient
from langgraph_sdk.errors import UnprocessableEntityError

from tests.integration.run_stack import GREETING, RunStack

UNKNOWN = "1f0c0000-0000-6000-8000-000000000000"


def ended_at(history: list[dict[str, Any]], count: int) -> dict[str, Any]:
    """The checkpoint a run left with ``count`` (nothing next)."""
    return next(h for h in history if h["values"].get("count") == count and not h["next"])


def checkpoint_ids(history: list[dict[str, Any]]) -> list[str]:
    return [h["checkpoint"]["checkpoint_id"] for h in history]


def two_runs(sdk: SyncLangGraphClient) -> tuple[str, list[dict[str, Any]]]:
    """A thread after two runs (count 1, then 2), and its history."""
    thread_id = sdk.threads.create()["thread_id"]
    for _ in range(2):
        sdk.runs.wait(thread_id, "agent", input={"ask": False})
    return thread_id, sdk.threads.get_history(thread_id, limit=50)


def test_a_run_from_an_earlier_checkpoint_forks_the_thread(sdk: SyncLangGraphClient) -> None:
    thread_id, before = two_runs(sdk)
    fork_point = ended_at(before, 1)
    output = sdk.runs.wait(
        thread_id, "agent", input={"ask": False}, checkpoint=fork_point["checkpoint"]
    )
    assert output == {"ask": False, "count": 2, "greeting": GREETING}  # 1 + 1, not 2 + 1
    thread = sdk.threads.get(thread_id)
    assert thread["status"] == "idle" and thread["values"] == output
    state = sdk.threads.get_state(thread_id)
    assert state["values"] == output
    after = sdk.threads.get_history(thread_id, limit=50)
    new = after[: len(after) - len(before)]
    assert checkpoint_ids(after[len(new) :]) == checkpoint_ids(before)  # the old branch stays
    assert state["checkpoint"]["checkpoint_id"] == new[0]["checkpoint"]["checkpoint_id"]
    assert (
        new[-1]["parent_checkpoint"]["checkpoint_id"] == fork_point["checkpoint"]["checkpoint_id"]
    )
    assert [h["metadata"]["source"] for h in new][-1] == "input"
    assert [h["metadata"]["step"] for h in new] == [6, 5, 4, 3]  # steps after the fork point's


def test_checkpoint_id_without_input_continues_from_there(sdk: SyncLangGraphClient) -> None:
    thread_id, before = two_runs(sdk)
    # The first run's checkpoint before `step` ran: only its input.
    started = next(h for h in before if h["next"] == ["step"] and not h["values"].get("count"))
    output = sdk.runs.wait(
        thread_id, "agent", input=None, checkpoint_id=started["checkpoint"]["checkpoint_id"]
    )
    assert output == {"ask": False, "count": 1, "greeting": GREETING}
    head = sdk.threads.get_history(thread_id, limit=1)[0]
    assert head["values"] == output


def test_streaming_from_a_checkpoint_sends_the_forks_values(sdk: SyncLangGraphClient) -> None:
    thread_id, before = two_runs(sdk)
    fork_point = ended_at(before, 1)
    parts = [
        (p.event, p.data)
        for p in sdk.runs.stream(
            thread_id,
            "agent",
            input={"ask": False},
            checkpoint_id=fork_point["checkpoint"]["checkpoint_id"],
            stream_mode="values",
        )
    ]
    assert [data for _, data in parts[1:]] == [
        {**fork_point["values"], "ask": False},
        {"ask": False, "count": 2, "greeting": GREETING},
    ]


def test_an_interrupt_on_a_fork_is_the_threads(sdk: SyncLangGraphClient) -> None:
    thread_id, before = two_runs(sdk)
    fork_point = ended_at(before, 1)
    sdk.runs.wait(
        thread_id,
        "agent",
        input={"ask": True},
        checkpoint_id=fork_point["checkpoint"]["checkpoint_id"],
    )
    thread = sdk.threads.get(thread_id)
    assert thread["status"] == "interrupted"
    assert [i["value"] for i in thread["interrupts"].popitem()[1]] == [
        {"question": "approve?", "count": 2}  # the fork's count, not the latest run's 3
    ]
    sdk.runs.wait(thread_id, "agent", command={"resume": "yes"})
    thread = sdk.threads.get(thread_id)
    assert thread["status"] == "idle" and thread["values"]["answer"] == "yes"
    assert thread["values"]["count"] == 2


def test_an_unknown_checkpoint_starts_from_an_empty_state(sdk: SyncLangGraphClient) -> None:
    thread_id, _ = two_runs(sdk)
    for fork in ({"checkpoint_id": UNKNOWN}, {"checkpoint": {"checkpoint_id": "not-a-uuid"}}):
        output = sdk.runs.wait(thread_id, "agent", input={"ask": False}, **fork)
        assert output == {"ask": False, "count": 1, "greeting": GREETING}  # as LangGraph's


def test_a_checkpoint_id_that_is_no_uuid_is_a_422(sdk: SyncLangGraphClient) -> None:
    thread_id, _ = two_runs(sdk)
    runs = sdk.runs.list(thread_id)
    # runs.wait raises httpx's error; runs.create the SDK's own.
    with pytest.raises(httpx.HTTPStatusError) as refused:
        sdk.runs.wait(thread_id, "agent", input={}, checkpoint_id="not-a-uuid")
    assert refused.value.response.status_code == 422
    assert refused.value.response.json() == {"detail": "Invalid checkpoint ID"}
    threads = sdk.threads.count()
    with pytest.raises(UnprocessableEntityError):
        sdk.runs.create(None, "agent", input={}, checkpoint_id="not-a-uuid")
    assert sdk.runs.list(thread_id) == runs  # nothing recorded
    assert sdk.threads.count() == threads  # no thread for the stateless run either


def test_null_checkpoint_fields_are_left_out(sdk: SyncLangGraphClient) -> None:
    thread_id, before = two_runs(sdk)
    fork_point = {**ended_at(before, 1)["checkpoint"], "checkpoint_map": None}
    output = sdk.runs.wait(thread_id, "agent", input={"ask": False}, checkpoint=fork_point)
    assert output["count"] == 2
    latest = {"checkpoint_id": None}  # no id: the latest checkpoint, as without `checkpoint`
    assert sdk.runs.wait(thread_id, "agent", input={"ask": False}, checkpoint=latest)["count"] == 3


# agent-chat-ui's regenerate: runs.stream with the parent checkpoint from the history, and
# the options its useStream sends.
JS_REGENERATE = """
import { Client } from "@langchain/langgraph-sdk";
const client = new Client({ apiUrl: process.env.API_URL });
const thread = await client.threads.create();
for (let i = 0; i < 2; i++) {
  await client.runs.wait(thread.thread_id, "agent", { input: { ask: false } });
}
const history = await client.threads.getHistory(thread.thread_id, { limit: 10 });
const firstEnd = history.find((h) => h.values.count === 1 && h.next.length === 0);
const events = [];
for await (const part of client.runs.stream(thread.thread_id, "agent", {
  input: { ask: false },
  checkpoint: firstEnd.checkpoint,
  streamMode: ["values", "messages-tuple", "custom"],
  streamSubgraphs: true,
  streamResumable: true,
  onDisconnect: "continue",
})) events.push([part.event, part.data]);
const after = await client.threads.getHistory(thread.thread_id, { limit: 10 });
console.log(JSON.stringify({
  events,
  forkPoint: firstEnd.checkpoint.checkpoint_id,
  head: after[0].values,
  parents: after.map((h) => h.parent_checkpoint?.checkpoint_id ?? null),
  ids: after.map((h) => h.checkpoint.checkpoint_id),
  status: (await client.threads.get(thread.thread_id)).status,
}));
"""


def test_agent_chat_ui_regenerates_from_a_checkpoint(
    run_node: Callable[..., str], run_stack: RunStack
) -> None:
    got = json.loads(run_node(JS_REGENERATE, {"API_URL": run_stack.url}))
    final = {"ask": False, "count": 2, "greeting": GREETING}
    assert got["events"][-1] == ["values", final]
    assert got["head"] == final and got["status"] == "idle"
    # The fork wrote four checkpoints; the first of them (its input) has the fork point as
    # parent, and the first run's end is still in the history.
    assert got["parents"].index(got["forkPoint"]) == 3
    assert got["forkPoint"] in got["ids"][4:]
