"""`threadwatch worker` processes under load and under stress: eight 2 s runs overlap on two
workers of four threads each, bad input is refused with LangGraph's
texts, a graph that raises (or fails to import) harms nothing else, and SIGTERM is a warm
stop (the runs in progress finish)."""

from __future__ import annotations

import signal
import time
import uuid
from collections import Counter
from typing import Any

import httpx
import pytest
from langgraph_sdk.client import SyncLangGraphClient
from langgraph_sdk.errors import NotFoundError, UnprocessableEntityError

from tests.integration.helpers import AGENT_ASSISTANT_ID
from tests.integration.run_stack import (
    CONCURRENCY,
    GREETING,
    LEASE_SECONDS,
    SWEEP_INTERVAL,
    WORKERS,
    RunStack,
    wait_for,
)
from threadwatch_workers.scheduling import STALE_AFTER
from threadwatch_workers.worker import IDLE_POLL, SCHEDULER_CHECK

LOADED = ["agent", "named", "factory", "async_factory", "echo", "echo_async", "shout"]
# Idle worker threads see a stop request within one poll of the queue.
WARM_STOP_TIMEOUT = IDLE_POLL + 3.0


def running(sdk: SyncLangGraphClient, thread_id: str, run_id: str) -> dict[str, Any] | None:
    run = sdk.runs.get(thread_id, run_id)
    return run if run["status"] == "running" else None


def test_eight_2s_runs_overlap_on_two_workers_of_four(
    sdk: SyncLangGraphClient, run_stack: RunStack
) -> None:
    """Runs on different threads run at once, on both workers (the LangGraph dev server runs
    one at a time); how fast is bench_runs.py's business."""
    assert WORKERS * CONCURRENCY == 8
    threads = [sdk.threads.create()["thread_id"] for _ in range(8)]
    runs = [sdk.runs.create(t, "agent", input={"sleep": 2, "ask": False}) for t in threads]

    def several_running() -> bool:
        statuses = [sdk.runs.get(r["thread_id"], r["run_id"])["status"] for r in runs]
        return statuses.count("running") >= 2

    assert wait_for(several_running, interval=0.05)
    for run in runs:
        assert sdk.runs.join(run["thread_id"], run["run_id"])["count"] == 1
    ended = [sdk.runs.get(r["thread_id"], r["run_id"]) for r in runs]
    by_worker = Counter(run_stack.executed_by(r["run_id"]) for r in runs)
    assert {r["status"] for r in ended} == {"success"}
    assert len(by_worker) == WORKERS  # both processes took runs


def test_unknown_assistant_is_422_with_langgraphs_text(sdk: SyncLangGraphClient) -> None:
    thread_id = sdk.threads.create()["thread_id"]
    with pytest.raises(UnprocessableEntityError) as caught:
        sdk.runs.create(thread_id, "nope", input={})
    assert caught.value.response.json() == {
        "detail": "Invalid assistant: 'nope'. Must be either:\n"
        "- A valid assistant UUID, or\n"
        f"- One of the registered graphs: {', '.join(LOADED)}"
    }
    with pytest.raises(httpx.HTTPStatusError) as waited:  # runs.wait raises untyped errors
        sdk.runs.wait(None, "nope", input={})
    assert waited.value.response.status_code == 422
    assert sdk.runs.list(thread_id) == []
    assert sdk.threads.get(thread_id)["status"] == "idle"


def test_unknown_thread_is_404_unless_if_not_exists_create(sdk: SyncLangGraphClient) -> None:
    thread_id = str(uuid.uuid4())
    with pytest.raises(NotFoundError) as caught:
        sdk.runs.create(thread_id, "agent", input={})
    assert caught.value.response.json() == {"detail": "Thread or assistant not found."}
    with pytest.raises(NotFoundError):
        sdk.threads.get(thread_id)

    run = sdk.runs.create(
        thread_id, "agent", input={"ask": False}, if_not_exists="create", metadata={"k": "v"}
    )
    assert run["thread_id"] == thread_id
    assert sdk.runs.join(thread_id, run["run_id"])["greeting"] == GREETING
    thread = sdk.threads.get(thread_id)
    assert thread["metadata"] == {
        "graph_id": "agent",
        "assistant_id": AGENT_ASSISTANT_ID,
        "k": "v",
    }
    assert thread["status"] == "idle"


def test_durability_exit_keeps_only_the_final_checkpoint(sdk: SyncLangGraphClient) -> None:
    histories = {}
    for durability in ("async", "exit"):
        thread_id = sdk.threads.create()["thread_id"]
        done = sdk.runs.wait(
            thread_id, "agent", input={"fail": False, "ask": False}, durability=durability
        )
        assert sdk.threads.get(thread_id)["status"] == "idle"
        histories[durability] = sdk.threads.get_history(thread_id, limit=100)
        assert histories[durability][0]["values"] == done
    assert len(histories["async"]) > 1
    assert len(histories["exit"]) == 1


def test_a_graph_that_raises_fails_its_run_only(
    sdk: SyncLangGraphClient, run_stack: RunStack
) -> None:
    thread_id = sdk.threads.create()["thread_id"]
    failed = sdk.runs.create(thread_id, "agent", input={"fail": True})
    assert sdk.runs.join(thread_id, failed["run_id"])["__error__"]["error"] == "ValueError"
    assert sdk.runs.get(thread_id, failed["run_id"])["status"] == "error"
    assert sdk.threads.get(thread_id)["status"] == "error"
    worker = run_stack.worker(run_stack.executed_by(failed["run_id"]))
    assert worker.poll() is None  # the worker process goes on
    assert len(run_stack.registered(worker.pid)) == CONCURRENCY  # and all its threads
    after = sdk.runs.wait(thread_id, "agent", input={"fail": False, "ask": False})
    assert after["count"] == 1
    thread = sdk.threads.get(thread_id)
    assert thread["status"] == "idle" and thread["error"] is None


def test_the_broken_graph_is_refused_and_the_others_run(sdk: SyncLangGraphClient) -> None:
    thread_id = sdk.threads.create()["thread_id"]
    with pytest.raises(UnprocessableEntityError) as caught:
        sdk.runs.create(thread_id, "broken", input={})
    detail = caught.value.response.json()["detail"]
    assert "'broken'" in detail and "broken on purpose" in detail, detail
    with pytest.raises(httpx.HTTPStatusError) as waited:
        sdk.runs.wait(None, "broken", input={})
    assert waited.value.response.status_code == 422
    assert sdk.runs.list(thread_id) == []

    assert sdk.runs.wait(None, "factory", input={"text": "hi"}) == {"text": "hi!", "suffix": "!"}
    async_made = sdk.runs.wait(None, "async_factory", input={"text": "hi"})
    assert async_made == {"text": "hi?", "suffix": "?"}
    assert sdk.runs.wait(None, "shout", input={"text": "hi"}) == {"text": "HI"}
    assert sdk.runs.wait(None, "echo_async", input={"n": 1}) == {"echo": {"n": 1}}
    named = sdk.runs.wait(thread_id, "named", input={"ask": False})
    assert named == {"count": 1, "greeting": GREETING, "ask": False}


def sigterm_during_a_run(
    sdk: SyncLangGraphClient, run_stack: RunStack
) -> tuple[Any, dict[str, Any], float]:
    """SIGTERM to the worker executing a 2 s run; (that worker, the ended run, the time
    between the signal and the run's end)."""
    thread_id = sdk.threads.create()["thread_id"]
    run = sdk.runs.create(thread_id, "agent", input={"sleep": 2, "ask": False})
    wait_for(lambda: running(sdk, thread_id, run["run_id"]))
    worker = run_stack.worker(run_stack.executed_by(run["run_id"]))
    worker.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    sdk.runs.join(thread_id, run["run_id"])
    return worker, sdk.runs.get(thread_id, run["run_id"]), time.monotonic() - signalled


def test_sigterm_lets_the_running_run_finish(sdk: SyncLangGraphClient, run_stack: RunStack) -> None:
    worker, run, _ = sigterm_during_a_run(sdk, run_stack)
    try:
        assert run["status"] == "success"
        thread = sdk.threads.get(run["thread_id"])
        assert thread["status"] == "idle" and thread["values"]["count"] == 1
    finally:
        run_stack.replace(worker)


def test_sigterm_exits_the_worker_once_its_runs_end(
    sdk: SyncLangGraphClient, run_stack: RunStack
) -> None:
    """Its idle threads too: they must not wait for a job forever."""
    worker, run, _ = sigterm_during_a_run(sdk, run_stack)
    try:
        assert run["status"] == "success"
        assert run_stack.wait_exit(worker, WARM_STOP_TIMEOUT) == 0
        assert run_stack.registered(worker.pid) == []  # it said goodbye to RQ
    finally:
        run_stack.replace(worker)


def test_a_second_sigterm_exits_at_once(run_stack: RunStack, sdk: SyncLangGraphClient) -> None:
    worker = run_stack.workers[0]
    worker.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    worker.send_signal(signal.SIGTERM)
    try:
        assert run_stack.wait_exit(worker, 2.0) == 1
    finally:
        run_stack.replace(worker)
    assert sdk.runs.wait(None, "echo", input={})["echo"] == {}


# A lost run ends within its lease plus a sweep interval, plus RQ's scheduler's takeover when
# the killed worker held it (and slack for a loaded machine, in the assertion).
RECOVERY_BOUND = LEASE_SECONDS + SWEEP_INTERVAL + STALE_AFTER + SCHEDULER_CHECK


def test_the_run_of_a_killed_worker_ends_and_the_threads_next_run_goes_on(
    sdk: SyncLangGraphClient, run_stack: RunStack
) -> None:
    """SIGKILL mid-run: the run ends as WorkerLost within lease + sweep interval, the thread
    leaves `busy`, and the run queued behind it on the same thread still executes."""
    thread_id = sdk.threads.create()["thread_id"]
    lost = sdk.runs.create(thread_id, "agent", input={"sleep": 60, "ask": False})
    wait_for(lambda: running(sdk, thread_id, lost["run_id"]))
    # (a plain callable: the agent graph would first finish the lost run's sleeping step)
    queued = sdk.runs.create(thread_id, "echo", input={"n": 1}, multitask_strategy="enqueue")
    worker = run_stack.worker(run_stack.executed_by(lost["run_id"]))
    run_stack.kill(worker)  # a crash: no chance to report anything
    killed = time.monotonic()
    ended = wait_for(lambda: _ended(sdk, thread_id, lost["run_id"]), timeout=RECOVERY_BOUND + 10)
    recovered_in = time.monotonic() - killed
    assert ended["status"] == "error"
    assert recovered_in <= RECOVERY_BOUND + 3, recovered_in
    joined = sdk.runs.join(thread_id, queued["run_id"])
    assert joined["echo"] == {"n": 1}
    thread = sdk.threads.get(thread_id)
    assert thread["status"] == "idle"
    statuses = [entry["to"] for entry in _transitions(run_stack, thread_id)]
    assert statuses[:2] == ["idle", "busy"]  # newest first: busy (both runs), then idle
    run_stack.replace(worker)
    run_stack.settle()


def test_a_restarted_worker_ends_the_runs_orphaned_before_it_started(
    sdk: SyncLangGraphClient, run_stack: RunStack
) -> None:
    """Every worker dies; a run's lease runs out with nobody to sweep; the first worker to
    start again ends it at once (its start-up sweep), before any scheduled sweep."""
    thread_id = sdk.threads.create()["thread_id"]
    lost = sdk.runs.create(thread_id, "agent", input={"sleep": 60, "ask": False})
    wait_for(lambda: running(sdk, thread_id, lost["run_id"]))
    workers = list(run_stack.workers)
    for worker in workers:
        run_stack.kill(worker)
    time.sleep(LEASE_SECONDS + 0.5)
    assert sdk.runs.get(thread_id, lost["run_id"])["status"] == "running"  # nobody swept
    for worker in workers:
        run_stack.workers.remove(worker)
    run_stack.start_worker()  # returns once it listens: after its start-up sweep
    ended = wait_for(lambda: _ended(sdk, thread_id, lost["run_id"]), timeout=1)
    assert ended["status"] == "error"
    error = sdk.threads.get(thread_id)["error"]
    assert error["error"] == "WorkerLost"
    for _ in range(len(workers) - 1):
        run_stack.start_worker()
    run_stack.settle()


def _ended(sdk: SyncLangGraphClient, thread_id: str, run_id: str) -> dict[str, Any] | None:
    run = sdk.runs.get(thread_id, run_id)
    return run if run["status"] not in ("pending", "running") else None


def _transitions(run_stack: RunStack, thread_id: str) -> list[dict[str, Any]]:
    with httpx.Client(base_url=run_stack.url) as http:
        response = http.get(f"/threads/{thread_id}/transitions")
        response.raise_for_status()
        return response.json()
