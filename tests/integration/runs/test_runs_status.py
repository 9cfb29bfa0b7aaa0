"""Runs executed by real `threadwatch worker` processes, through the Python SDK: the seed's
status queries on threads that REAL runs left idle, busy, interrupted and in error; a resume
executed by another worker process than the interrupted run; and what /wait and /join answer
(values, ``__interrupt__``, ``__error__``, stateless runs and their temporary threads)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import SyncLangGraphClient
from langgraph_sdk.errors import NotFoundError

from tests.integration.helpers import AGENT_ASSISTANT_ID, assert_run_shape, assert_thread_shape
from tests.integration.run_stack import GREETING, RunStack, wait_for

QUESTION = {"question": "approve?", "count": 1}  # what the agent's `ask` node interrupts with
ERROR = {"error": "ValueError", "message": "step failed on purpose"}


def run_status(sdk: SyncLangGraphClient, thread_id: str, run_id: str) -> str:
    return sdk.runs.get(thread_id, run_id)["status"]


def assert_interrupts(interrupts: dict[str, Any]) -> None:
    """``{task_id: [{"id", "value", ...}]}`` with the `ask` node's one interrupt."""
    ((task_id, items),) = interrupts.items()
    assert uuid.UUID(task_id)
    (item,) = items
    assert item["value"] == QUESTION and isinstance(item["id"], str) and item["id"]


def test_seed_status_queries_on_threads_left_by_real_runs(
    sdk: SyncLangGraphClient, run_stack: RunStack
) -> None:
    case = {"case": str(uuid.uuid4())}
    ids = {s: sdk.threads.create(metadata=case)["thread_id"] for s in ("idle", "int", "err")}
    ids["busy"] = sdk.threads.create(metadata=case)["thread_id"]  # the newest: created last
    busy = sdk.runs.create(ids["busy"], "agent", input={"sleep": 3, "ask": False})
    assert sdk.runs.wait(ids["idle"], "agent", input={"ask": False})["count"] == 1
    assert "__interrupt__" in sdk.runs.wait(ids["int"], "agent", input={})
    assert "__error__" in sdk.runs.wait(
        ids["err"], "agent", input={"fail": True}, raise_error=False
    )
    wait_for(lambda: run_status(sdk, ids["busy"], busy["run_id"]) == "running")

    # The how-to's queries, as the seed writes them (both clients answer the same).
    found = {
        "idle": sdk.threads.search(status="idle", limit=1),
        "interrupted": sdk.threads.search(status="interrupted", limit=1),
        "busy": sdk.threads.search(status="busy", limit=1),
        "error": sdk.threads.search(status="error", limit=1),
    }
    assert {s: [t["thread_id"] for t in page] for s, page in found.items()} == {
        "idle": [ids["idle"]],
        "interrupted": [ids["int"]],
        "busy": [ids["busy"]],
        "error": [ids["err"]],
    }
    assert asyncio.run(async_queries(run_stack.url, ids)) == {
        "idle": ids["idle"],
        "interrupted": ids["int"],
        "busy": ids["busy"],
        "error": ids["err"],
        "by_id": "idle",
        "by_metadata": "busy",
    }
    assert sdk.threads.get(ids["idle"])["status"] == "idle"
    assert sdk.threads.get(ids["busy"])["status"] == "busy"
    assert sdk.threads.search(metadata={"graph_id": "agent"}, limit=1)[0]["status"] == "busy"
    assert sdk.threads.count(metadata={"graph_id": "agent", **case}) == 4
    assert sdk.threads.count(metadata=case, status="error") == 1

    for page in found.values():
        assert_thread_shape(page[0])
        assert page[0]["metadata"] == {
            **case,
            "graph_id": "agent",
            "assistant_id": AGENT_ASSISTANT_ID,
        }
    idle, interrupted = found["idle"][0], found["interrupted"][0]
    error, busy_thread = found["error"][0], found["busy"][0]
    assert idle["values"] == {"count": 1, "greeting": GREETING, "ask": False}
    assert idle["interrupts"] == {} and idle["error"] is None
    assert interrupted["values"] == {"count": 1, "greeting": GREETING}
    assert_interrupts(interrupted["interrupts"])
    assert interrupted["error"] is None
    assert error["error"] == ERROR and error["interrupts"] == {}
    assert busy_thread["values"] is None and busy_thread["interrupts"] == {}

    sdk.runs.join(ids["busy"], busy["run_id"])
    assert sdk.threads.get(ids["busy"])["status"] == "idle"


async def async_queries(url: str, ids: dict[str, str]) -> dict[str, str]:
    """The seed's queries through the async client: newest thread of each status, the
    status by id, and the status of the newest thread a metadata search finds."""
    async with get_client(url=url) as client:
        found = {
            status: (await client.threads.search(status=status, limit=1))[0]["thread_id"]
            for status in ("idle", "interrupted", "busy", "error")
        }
        found["by_id"] = (await client.threads.get(ids["idle"]))["status"]
        by_metadata = await client.threads.search(metadata={"graph_id": "agent"}, limit=1)
        found["by_metadata"] = by_metadata[0]["status"]
        return found


def test_resume_executes_on_another_worker_process(
    sdk: SyncLangGraphClient, run_stack: RunStack
) -> None:
    thread_id = sdk.threads.create()["thread_id"]
    output = sdk.runs.wait(thread_id, "agent", input={})
    assert output["__interrupt__"][0]["value"] == QUESTION
    (first,) = sdk.runs.list(thread_id)
    assert first["status"] == "success"  # an interrupt() hit is a successful run
    first_pid = run_stack.executed_by(first["run_id"])
    first_worker = run_stack.worker(first_pid)
    # The interrupted run lives in Redis only: the process that ran it may go away.
    run_stack.kill(first_worker)
    try:
        resumed = sdk.runs.wait(thread_id, "agent", command={"resume": "yes"})
        runs = sdk.runs.list(thread_id)
        assert [r["status"] for r in runs] == ["success", "success"]
        assert run_stack.executed_by(runs[0]["run_id"]) in {p.pid for p in run_stack.workers}
        assert run_stack.executed_by(runs[0]["run_id"]) != first_pid
    finally:
        run_stack.replace(first_worker)
    assert resumed == {"count": 1, "greeting": GREETING, "answer": "yes"}
    thread = sdk.threads.get(thread_id)
    assert thread["status"] == "idle" and thread["values"] == resumed
    assert thread["interrupts"] == {} and thread["error"] is None


def test_wait_answers_values_interrupts_and_errors(sdk: SyncLangGraphClient) -> None:
    thread_id = sdk.threads.create()["thread_id"]
    values = sdk.runs.wait(thread_id, "agent", input={"ask": False})
    assert values == {"count": 1, "greeting": GREETING, "ask": False}

    interrupted = sdk.runs.wait(thread_id, "agent", input={"ask": True})
    (interrupt,) = interrupted.pop("__interrupt__")
    assert interrupted == {"count": 2, "greeting": GREETING, "ask": True}
    assert interrupt["value"] == {"question": "approve?", "count": 2}
    assert interrupt["id"] and "response_schema" in interrupt
    assert sdk.threads.get(thread_id)["interrupts"] != {}

    failed = sdk.runs.wait(thread_id, "agent", input={"fail": True}, raise_error=False)
    assert failed == {"__error__": ERROR}
    with pytest.raises(Exception, match="^ValueError: step failed on purpose$"):
        sdk.runs.wait(thread_id, "agent", input={"fail": True})
    runs = sdk.runs.list(thread_id)
    assert [r["status"] for r in runs] == ["error", "error", "success", "success"]
    for run in runs:
        assert_run_shape(run)
        assert run["assistant_id"] == AGENT_ASSISTANT_ID
    thread = sdk.threads.get(thread_id)
    assert thread["status"] == "error" and thread["error"] == ERROR


def test_join_answers_the_runs_output(sdk: SyncLangGraphClient) -> None:
    thread_id = sdk.threads.create()["thread_id"]
    run = sdk.runs.create(thread_id, "agent", input={"sleep": 0.5, "ask": False})
    assert run["status"] == "pending" and run["thread_id"] == thread_id
    assert sdk.threads.get(thread_id)["status"] == "busy"  # busy from `pending` on
    expected = {"count": 1, "greeting": GREETING, "sleep": 0.5, "ask": False}
    assert sdk.runs.join(thread_id, run["run_id"]) == expected
    assert sdk.runs.join(thread_id, run["run_id"]) == expected  # again, once it has ended
    interrupted = sdk.runs.create(thread_id, "agent", input={"ask": True, "sleep": 0})
    assert sdk.runs.join(thread_id, interrupted["run_id"])["__interrupt__"]
    failed = sdk.runs.create(thread_id, "agent", input={"fail": True})
    assert sdk.runs.join(thread_id, failed["run_id"]) == {"__error__": ERROR}


def gone(sdk: SyncLangGraphClient, thread_id: str) -> bool:
    try:
        sdk.threads.get(thread_id)
    except NotFoundError:
        return True
    return False


def test_stateless_wait_deletes_its_thread_unless_kept(sdk: SyncLangGraphClient) -> None:
    output = sdk.runs.wait(None, "echo", input={"n": 1})
    assert output["echo"] == {"n": 1}
    temporary = output["thread_id"]  # the echo graph tells which thread it ran on
    assert uuid.UUID(temporary)
    wait_for(lambda: gone(sdk, temporary), timeout=2)

    kept = sdk.runs.wait(None, "echo", input={"n": 2}, on_completion="keep")
    thread = sdk.threads.get(kept["thread_id"])
    assert thread["status"] == "idle" and thread["values"] == kept
    assert thread["metadata"]["graph_id"] == "echo"
    (run,) = sdk.runs.list(kept["thread_id"])
    assert run["status"] == "success"
    assert run["kwargs"]["on_completion"] == "keep"


def test_stateless_wait_with_the_async_client(
    run_stack: RunStack, sdk: SyncLangGraphClient
) -> None:
    async def main() -> tuple[Any, Any, Any]:
        async with get_client(url=run_stack.url) as client:
            plain = await client.runs.wait(None, "echo_async", input={"a": [1, 2]})
            # Joined while it runs: once it ends, its temporary thread (and run) are gone.
            run = await client.runs.create(None, "agent", input={"sleep": 0.5, "ask": False})
            joined = await client.runs.join(run["thread_id"], run["run_id"])
            return plain, run, joined

    plain, run, joined = asyncio.run(main())
    assert plain == {"echo": {"a": [1, 2]}}
    assert joined == {"count": 1, "greeting": GREETING, "sleep": 0.5, "ask": False}
    wait_for(lambda: gone(sdk, run["thread_id"]), timeout=2)


def test_a_failed_run_leaves_its_checkpoint_values_on_the_thread(
    sdk: SyncLangGraphClient,
) -> None:
    thread_id = sdk.threads.create()["thread_id"]
    sdk.runs.wait(thread_id, "agent", input={"fail": True}, raise_error=False)
    state = sdk.threads.get_state(thread_id)
    assert state["values"] == {"fail": True} and state["next"] == ["step"]
    thread = sdk.threads.get(thread_id)
    assert thread["status"] == "error" and thread["error"] == ERROR
    assert thread["values"] == state["values"]
