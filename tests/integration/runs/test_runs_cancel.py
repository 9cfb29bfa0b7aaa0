"""Cancelling runs executed by real workers (reference §3.3): a running run stops at once
(the worker watches a flag in Redis) and is kept `interrupted` or, with rollback, deleted; a
pending run ends without ever starting; the texts and codes of LangGraph; POST /runs/cancel."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest
from langgraph_sdk.client import SyncLangGraphClient
from langgraph_sdk.errors import NotFoundError, UnprocessableEntityError

from tests.integration.run_stack import RunStack, epoch, wait_for

NO_MATCHING_RUN = (
    "No matching runs to cancel. Please verify the thread ID and run IDs are correct, and the "
    "runs haven't been deleted or completed."
)
SLEEP = {"sleep": 5, "ask": False}


def status(sdk: SyncLangGraphClient, thread_id: str, run_id: str) -> str:
    return sdk.runs.get(thread_id, run_id)["status"]


def running(sdk: SyncLangGraphClient, seconds: float = 5) -> tuple[str, dict[str, Any]]:
    """A new thread and a run on it sleeping ``seconds`` in `step`, once it is running."""
    thread_id = sdk.threads.create()["thread_id"]
    run = sdk.runs.create(thread_id, "agent", input={"sleep": seconds, "ask": False})
    wait_for(lambda: status(sdk, thread_id, run["run_id"]) == "running")
    return thread_id, run


def test_cancel_stops_a_running_run_at_once(sdk: SyncLangGraphClient) -> None:
    thread_id, run = running(sdk)
    assert sdk.runs.cancel(thread_id, run["run_id"]) is None  # 202, no body
    wait_for(lambda: status(sdk, thread_id, run["run_id"]) == "interrupted")
    # `step` had not finished: the thread can go on from there, as after an interrupt.
    thread = sdk.threads.get(thread_id)
    assert thread["status"] == "interrupted"
    assert thread["values"] == SLEEP and thread["error"] is None
    assert sdk.threads.get_state(thread_id)["next"] == ["step"]
    # and the run ended (cancelling it again: nothing in flight to cancel)
    with pytest.raises(NotFoundError) as caught:
        sdk.runs.cancel(thread_id, run["run_id"])
    assert caught.value.response.json() == {"detail": NO_MATCHING_RUN}


def test_cancel_with_wait_answers_once_the_run_stopped(sdk: SyncLangGraphClient) -> None:
    thread_id, run = running(sdk)
    output = sdk.runs.cancel(thread_id, run["run_id"], wait=True)
    assert output == SLEEP  # the values of the last checkpoint, before `step`
    assert status(sdk, thread_id, run["run_id"]) == "interrupted"
    assert sdk.threads.get(thread_id)["status"] == "interrupted"


def test_cancel_with_rollback_deletes_the_run(sdk: SyncLangGraphClient) -> None:
    thread_id = sdk.threads.create()["thread_id"]
    done = sdk.runs.wait(thread_id, "agent", input={"ask": False})
    run = sdk.runs.create(thread_id, "agent", input={"sleep": 5})
    wait_for(lambda: status(sdk, thread_id, run["run_id"]) == "running")
    sdk.runs.cancel(thread_id, run["run_id"], action="rollback")

    def deleted() -> bool:
        try:
            sdk.runs.get(thread_id, run["run_id"])
        except NotFoundError:
            return True
        return False

    wait_for(deleted, timeout=3)
    thread = sdk.threads.get(thread_id)
    # idle, with the values of the run before (LangGraph keeps values on rollback)
    assert thread["status"] == "idle" and thread["values"] == done
    assert sdk.threads.get_state(thread_id)["values"] == done  # its checkpoints are gone
    assert [r["status"] for r in sdk.runs.list(thread_id)] == ["success"]


def test_cancel_of_an_ended_or_unknown_run_is_404(sdk: SyncLangGraphClient) -> None:
    thread_id = sdk.threads.create()["thread_id"]
    run = sdk.runs.create(thread_id, "echo", input={})
    sdk.runs.join(thread_id, run["run_id"])
    with pytest.raises(NotFoundError) as caught:
        sdk.runs.cancel(thread_id, run["run_id"])
    assert caught.value.response.json() == {"detail": NO_MATCHING_RUN}
    with pytest.raises(NotFoundError) as caught:
        sdk.runs.cancel(thread_id, str(uuid.uuid4()))
    assert caught.value.response.json() == {"detail": "No runs found to cancel."}
    assert status(sdk, thread_id, run["run_id"]) == "success"


def test_cancel_of_a_pending_run_ends_it_before_it_starts(sdk: SyncLangGraphClient) -> None:
    thread_id, first = running(sdk, 2)
    queued = sdk.runs.create(thread_id, "agent", input={"sleep": 0, "ask": False})
    assert status(sdk, thread_id, queued["run_id"]) == "pending"
    sdk.runs.cancel(thread_id, queued["run_id"])
    cancelled = sdk.runs.get(thread_id, queued["run_id"])
    assert cancelled["status"] == "interrupted"  # directly: no worker had it
    assert sdk.threads.get(thread_id)["status"] == "busy"  # the first run goes on
    assert sdk.runs.join(thread_id, first["run_id"])["count"] == 1
    # The thread's status comes from the runs left: the first one ended last.
    thread = sdk.threads.get(thread_id)
    assert thread["status"] == "idle" and thread["values"]["count"] == 1
    time.sleep(0.3)
    # Never executed: it would have counted 2, and its record would have moved on.
    assert sdk.threads.get(thread_id)["values"]["count"] == 1
    assert sdk.runs.get(thread_id, queued["run_id"]) == cancelled


def test_rollback_of_a_pending_run_deletes_it(sdk: SyncLangGraphClient) -> None:
    thread_id, first = running(sdk, 1)
    queued = sdk.runs.create(thread_id, "agent", input={"sleep": 0, "ask": False})
    sdk.runs.cancel(thread_id, queued["run_id"], action="rollback")
    with pytest.raises(NotFoundError):
        sdk.runs.get(thread_id, queued["run_id"])
    sdk.runs.join(thread_id, first["run_id"])
    assert [r["run_id"] for r in sdk.runs.list(thread_id)] == [first["run_id"]]
    assert sdk.threads.get(thread_id)["status"] == "idle"


def test_cancelling_a_pending_run_keeps_the_ones_after_it_in_order(
    sdk: SyncLangGraphClient,
) -> None:
    thread_id, first = running(sdk, 2)
    middle = sdk.runs.create(thread_id, "agent", input={"sleep": 0, "ask": False})
    last = sdk.runs.create(thread_id, "agent", input={"sleep": 0, "ask": False})
    sdk.runs.cancel(thread_id, middle["run_id"])
    time.sleep(0.5)
    try:
        # At most one run of a thread runs at once: `last` waits for `first`.
        assert status(sdk, thread_id, last["run_id"]) == "pending"
    finally:
        sdk.runs.join(thread_id, last["run_id"])
        sdk.runs.join(thread_id, first["run_id"])
    first_end, last_end = (
        epoch(sdk.runs.get(thread_id, r["run_id"])["updated_at"]) for r in (first, last)
    )
    assert last_end > first_end


def test_cancel_many_by_status_and_by_ids(sdk: SyncLangGraphClient, run_stack: RunStack) -> None:
    by_status, run = running(sdk)
    assert sdk.runs.cancel_many(status="running") is None  # 204
    wait_for(lambda: status(sdk, by_status, run["run_id"]) == "interrupted", timeout=3)

    by_ids, first = running(sdk)
    second = sdk.runs.create(by_ids, "agent", input={"sleep": 0})
    with httpx.Client(base_url=run_stack.url) as http:
        response = http.post(
            "/runs/cancel",
            json={"thread_id": by_ids, "run_ids": [first["run_id"], second["run_id"]]},
        )
    assert response.status_code == 204 and response.content == b""
    for run_id in (first["run_id"], second["run_id"]):
        wait_for(lambda run_id=run_id: status(sdk, by_ids, run_id) == "interrupted", timeout=3)
    assert sdk.threads.get(by_ids)["status"] == "interrupted"


def test_cancel_many_needs_ids_or_a_status(sdk: SyncLangGraphClient) -> None:
    thread_id = sdk.threads.create()["thread_id"]
    run = sdk.runs.create(thread_id, "echo", input={})
    with pytest.raises(UnprocessableEntityError):
        sdk.runs.cancel_many(thread_id=thread_id, run_ids=[run["run_id"]], status="running")
    with pytest.raises(UnprocessableEntityError):
        sdk.runs.cancel_many()
    with pytest.raises(UnprocessableEntityError):
        sdk.runs.cancel_many(thread_id=thread_id)  # ids without run ids
    sdk.runs.join(thread_id, run["run_id"])
