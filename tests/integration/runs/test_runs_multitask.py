"""The four multitask strategies (reference §3.4) with real workers, through the Python SDK:
`reject` (409 with LangGraph's text, also when two creates race), `enqueue` (in order, one at
a time), `interrupt` (the run in flight is kept, `interrupted`) and `rollback` (it is deleted,
and the thread does not stay `busy` as on the LangGraph dev server)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import SyncLangGraphClient
from langgraph_sdk.errors import ConflictError, NotFoundError

from tests.integration.run_stack import GREETING, RunStack, epoch, wait_for

REJECTED = (
    "Thread is already running a task. Wait for it to finish or choose a different multitask "
    "strategy."
)


def start_running(sdk: SyncLangGraphClient, thread_id: str, seconds: float) -> dict[str, Any]:
    """A run sleeping ``seconds`` in its `step` node, once a worker has started it."""
    run = sdk.runs.create(thread_id, "agent", input={"sleep": seconds, "ask": False})
    wait_for(lambda: sdk.runs.get(thread_id, run["run_id"])["status"] == "running")
    return run


def test_reject_while_busy_is_409_and_creates_nothing(sdk: SyncLangGraphClient) -> None:
    thread_id = sdk.threads.create()["thread_id"]
    first = sdk.runs.create(thread_id, "agent", input={"sleep": 1, "ask": False})
    with pytest.raises(ConflictError) as caught:
        sdk.runs.create(thread_id, "agent", input={}, multitask_strategy="reject")
    assert caught.value.response.status_code == 409
    assert caught.value.response.json() == {"detail": REJECTED}
    assert [r["run_id"] for r in sdk.runs.list(thread_id)] == [first["run_id"]]
    assert sdk.threads.get(thread_id)["status"] == "busy"
    sdk.runs.join(thread_id, first["run_id"])
    # Idle again: reject admits the run.
    run = sdk.runs.create(thread_id, "agent", input={}, multitask_strategy="reject")
    assert run["multitask_strategy"] == "reject"
    assert sdk.runs.join(thread_id, run["run_id"])["count"] == 2


def test_reject_race_admits_exactly_one(run_stack: RunStack, sdk: SyncLangGraphClient) -> None:
    """Two `reject` creates at once on an idle thread: one run, one 409 (five times)."""

    async def race(client: Any, thread_id: str) -> list[Any]:
        create = client.runs.create(
            thread_id, "agent", input={"sleep": 0.5, "ask": False}, multitask_strategy="reject"
        )
        again = client.runs.create(
            thread_id, "agent", input={"sleep": 0.5, "ask": False}, multitask_strategy="reject"
        )
        return await asyncio.gather(create, again, return_exceptions=True)

    async def main() -> list[tuple[str, list[Any]]]:
        async with get_client(url=run_stack.url) as client:
            results = []
            for _ in range(5):
                thread_id = (await client.threads.create())["thread_id"]
                results.append((thread_id, await race(client, thread_id)))
            return results

    for thread_id, outcomes in asyncio.run(main()):
        runs = [o for o in outcomes if isinstance(o, dict)]
        errors = [o for o in outcomes if not isinstance(o, dict)]
        assert len(runs) == 1 and len(errors) == 1, outcomes
        assert isinstance(errors[0], ConflictError), errors
        assert errors[0].response.json() == {"detail": REJECTED}
        assert [r["run_id"] for r in sdk.runs.list(thread_id)] == [runs[0]["run_id"]]


def test_enqueue_runs_one_after_the_other(sdk: SyncLangGraphClient) -> None:
    """The default strategy; the second run starts once the first has ended, the thread is
    busy until the last ends, and its status comes from the last run."""
    thread_id = sdk.threads.create()["thread_id"]
    first = sdk.runs.create(thread_id, "agent", input={"sleep": 1, "fail": True})
    second = sdk.runs.create(thread_id, "agent", input={"sleep": 1, "fail": False, "ask": False})
    assert second["multitask_strategy"] == "enqueue"
    wait_for(lambda: sdk.runs.get(thread_id, first["run_id"])["status"] == "running")
    assert sdk.runs.get(thread_id, second["run_id"])["status"] == "pending"
    assert sdk.runs.join(thread_id, first["run_id"])["__error__"]["error"] == "ValueError"
    # The first run failed, but the thread's status is not `error`: a run is in flight.
    assert sdk.threads.get(thread_id)["status"] == "busy"
    sdk.runs.join(thread_id, second["run_id"])
    first_run, second_run = (sdk.runs.get(thread_id, r["run_id"]) for r in (first, second))
    assert (first_run["status"], second_run["status"]) == ("error", "success")
    # The second run slept 1 s after it started, so it started after the first had ended.
    assert epoch(second_run["updated_at"]) - epoch(first_run["updated_at"]) >= 0.95
    thread = sdk.threads.get(thread_id)
    assert thread["status"] == "idle" and thread["error"] is None
    assert thread["values"] == {
        "count": 1,
        "greeting": GREETING,
        "sleep": 1,
        "fail": False,
        "ask": False,
    }


def test_interrupt_keeps_the_interrupted_run(sdk: SyncLangGraphClient) -> None:
    thread_id = sdk.threads.create()["thread_id"]
    first = start_running(sdk, thread_id, 3)
    second = sdk.runs.create(thread_id, "echo", input={"x": 1}, multitask_strategy="interrupt")
    assert sdk.threads.get(thread_id)["status"] == "busy"
    output = sdk.runs.join(thread_id, second["run_id"])
    assert output == {"echo": {"x": 1}, "thread_id": thread_id}
    assert sdk.runs.get(thread_id, first["run_id"])["status"] == "interrupted"
    statuses = [r["status"] for r in sdk.runs.list(thread_id)]
    assert statuses == ["success", "interrupted"]
    thread = sdk.threads.get(thread_id)
    assert thread["status"] == "idle" and thread["metadata"]["graph_id"] == "echo"


def test_rollback_deletes_the_run_in_flight(sdk: SyncLangGraphClient) -> None:
    thread_id = sdk.threads.create()["thread_id"]
    first = start_running(sdk, thread_id, 3)
    second = sdk.runs.create(
        thread_id, "agent", input={"ask": False}, multitask_strategy="rollback"
    )
    output = sdk.runs.join(thread_id, second["run_id"])
    # The rolled-back run's checkpoints are gone: the second run starts from nothing.
    assert output == {"count": 1, "greeting": GREETING, "ask": False}
    with pytest.raises(NotFoundError):
        sdk.runs.get(thread_id, first["run_id"])
    assert [r["run_id"] for r in sdk.runs.list(thread_id)] == [second["run_id"]]
    # Not `busy` forever (the LangGraph dev server's defect): idle from the second run.
    thread = wait_for(lambda: sdk.threads.get(thread_id), timeout=2)
    assert thread["status"] == "idle" and thread["values"] == output


def test_rollback_alone_leaves_the_thread_idle(sdk: SyncLangGraphClient) -> None:
    """Rolled back with nothing after it, the thread is idle again, never stuck busy."""
    thread_id = sdk.threads.create()["thread_id"]
    run = start_running(sdk, thread_id, 3)
    sdk.runs.cancel(thread_id, run["run_id"], action="rollback")
    thread = wait_for(lambda: (t := sdk.threads.get(thread_id))["status"] != "busy" and t, 2)
    assert thread["status"] == "idle"
    assert sdk.runs.list(thread_id) == []
