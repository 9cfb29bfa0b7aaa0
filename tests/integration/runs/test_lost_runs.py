"""Every way a run can be lost ends with the run terminal and its thread out of `busy`, and
the thread's next run goes on: a real process is SIGKILLed at each point.

Points no timing can hit are reached through the fault hook (app/faults.py): the process
started with THREADWATCH_FAULT_PAUSE=<point> writes a marker file there and stops itself,
and the test kills it. Each wait is a liveness bound, not a speed one: what is waited for
comes within the lease plus a sweep interval (plus RQ's scheduler's take-over, or the
watchdog's WORKER_SILENCE when no worker is left); DEADLINE leaves a loaded machine room.

The module's stack has no worker of its own: each test starts the ones it needs, so that
the run goes to the worker that is to die.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk.client import SyncLangGraphClient
from rq.job import Job, JobStatus

from tests.integration.run_stack import KEYS, RunStack, wait_for
from threadwatch.faults import MARKER_VARIABLE, PAUSE_VARIABLE, Point
from threadwatch.ops.watchdog import WORKER_SILENCE

# Longer than the stacks' usual 3 s: a loaded machine must never starve a live worker's
# renewals (every third of it) into a loss the test did not cause.
LEASE_SECONDS = 6.0
# Seconds each wait may take: the lease and the sweep interval (1 s), or the watchdog's
# WORKER_SILENCE (15 s) after the last worker's end; with slack.
DEADLINE = 30.0
assert WORKER_SILENCE < DEADLINE
IN_FLIGHT = ("pending", "running")
ECHO = {"n": 1}


@pytest.fixture(scope="module")
def run_stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunStack]:
    """The API alone: each test starts its workers."""
    workdir = tmp_path_factory.mktemp("lost-runs")
    env = {"THREADWATCH_LEASE_SECONDS": str(LEASE_SECONDS)}
    stack = RunStack.start(redis_url, workdir, workers=0, env=env)
    try:
        yield stack
    finally:
        codes = stack.close()
    assert None not in codes, codes


@pytest.fixture
def stack(run_stack: RunStack, sdk: SyncLangGraphClient) -> Iterator[RunStack]:
    """The stack, whose workers this test started are stopped at its end (before `sdk`
    checks that no run is left in flight)."""
    yield run_stack
    for proc in list(run_stack.workers):
        run_stack.drop(proc)


def pause_env(point: Point, marker: Path) -> dict[str, str]:
    return {PAUSE_VARIABLE: point.value, MARKER_VARIABLE: str(marker)}


def kill_when_paused(stack: RunStack, proc: subprocess.Popen, marker: Path) -> None:
    """Once ``proc`` stopped itself at its point (its marker written), SIGKILL it."""
    wait_for(marker.exists, timeout=DEADLINE)
    pid, _ = marker.read_text().split()
    assert int(pid) == proc.pid
    if proc in stack.workers:
        stack.drop(proc)
    else:
        stack.kill(proc)


def status(sdk: SyncLangGraphClient, thread_id: str, run_id: str) -> str:
    return str(sdk.runs.get(thread_id, run_id)["status"])


def ended(sdk: SyncLangGraphClient, thread_id: str, run_id: str) -> dict[str, Any] | None:
    run = sdk.runs.get(thread_id, run_id)
    return run if run["status"] not in IN_FLIGHT else None


def not_busy(sdk: SyncLangGraphClient, thread_id: str) -> str | None:
    thread_status = sdk.threads.get(thread_id)["status"]
    return None if thread_status == "busy" else str(thread_status)


def next_run_goes_on(sdk: SyncLangGraphClient, thread_id: str) -> None:
    """The thread takes a run after its loss, and ends idle."""
    assert sdk.runs.wait(thread_id, "echo", input=ECHO)["echo"] == ECHO
    assert sdk.threads.get(thread_id)["status"] == "idle"


def job_status(stack: RunStack, run_id: str) -> JobStatus | None:
    return Job.fetch(run_id, connection=stack.redis).get_status()


# -- a worker killed while its run executes ------------------------------------------------


def test_with_no_worker_left_the_watchdog_ends_a_killed_workers_run_and_the_next_waits(
    stack: RunStack, sdk: SyncLangGraphClient
) -> None:
    """The only worker dies mid-run, a second run waiting behind the first: with no worker
    to sweep, the API's watchdog ends the first as WorkerLost and hands the turn on; the
    second waits in RQ (pending: the thread stays busy, as for any run with no worker to
    take it) and runs when a worker comes."""
    worker = stack.start_worker()
    thread_id = sdk.threads.create()["thread_id"]
    lost = sdk.runs.create(thread_id, "agent", input={"sleep": 60, "ask": False})["run_id"]
    wait_for(lambda: status(sdk, thread_id, lost) == "running", timeout=DEADLINE)
    behind = sdk.runs.create(thread_id, "echo", input=ECHO)["run_id"]
    assert status(sdk, thread_id, behind) == "pending"
    stack.drop(worker)

    run = wait_for(lambda: ended(sdk, thread_id, lost), timeout=DEADLINE)
    assert run["status"] == "error"
    assert sdk.threads.get(thread_id)["error"]["error"] == "WorkerLost"
    wait_for(lambda: job_status(stack, behind) == JobStatus.QUEUED, timeout=DEADLINE)
    assert stack.queue.get_job_ids() == [behind]
    assert stack.redis.hget(KEYS.sweeper(), "by") == b"watchdog"

    stack.start_worker()
    assert sdk.runs.join(thread_id, behind)["echo"] == ECHO
    assert wait_for(lambda: not_busy(sdk, thread_id), timeout=DEADLINE) == "idle"
    next_run_goes_on(sdk, thread_id)


# -- a worker killed as it takes a run's job from RQ ---------------------------------------


@pytest.mark.parametrize("point", [Point.JOB_DEQUEUED, Point.JOB_STARTED])
def test_a_run_whose_worker_died_taking_its_job_runs_on_another(
    stack: RunStack, sdk: SyncLangGraphClient, tmp_path: Path, point: Point
) -> None:
    """The worker dies after taking the run's job from RQ's queue, before it started the
    run: the run never ran, so the sweep queues its job again (once it is older than a
    lease) and another worker runs it to success."""
    marker = tmp_path / "paused"
    doomed = stack.start_worker(pause_env(point, marker))
    thread_id = sdk.threads.create()["thread_id"]
    run_id = sdk.runs.create(thread_id, "echo", input=ECHO)["run_id"]
    kill_when_paused(stack, doomed, marker)
    assert status(sdk, thread_id, run_id) == "pending"
    stack.start_worker()

    run = wait_for(lambda: ended(sdk, thread_id, run_id), timeout=DEADLINE)
    assert run["status"] == "success"
    assert sdk.runs.join(thread_id, run_id)["echo"] == ECHO
    assert stack.queue.started_job_registry.get_job_ids() == []  # no record of the dead
    assert wait_for(lambda: not_busy(sdk, thread_id), timeout=DEADLINE) == "idle"
    next_run_goes_on(sdk, thread_id)


def test_with_no_worker_left_the_watchdog_puts_back_the_job_a_dying_worker_took(
    stack: RunStack, sdk: SyncLangGraphClient, tmp_path: Path
) -> None:
    """The same with no worker left: the API's watchdog puts the job back in RQ's queue,
    where the run waits (pending) for the next worker to come."""
    marker = tmp_path / "paused"
    doomed = stack.start_worker(pause_env(Point.JOB_DEQUEUED, marker))
    thread_id = sdk.threads.create()["thread_id"]
    run_id = sdk.runs.create(thread_id, "echo", input=ECHO)["run_id"]
    kill_when_paused(stack, doomed, marker)
    assert stack.queue.get_job_ids() == []

    wait_for(lambda: stack.queue.get_job_ids() == [run_id], timeout=DEADLINE)
    assert stack.redis.hget(KEYS.sweeper(), "by") == b"watchdog"
    assert status(sdk, thread_id, run_id) == "pending"
    stack.start_worker()
    assert sdk.runs.join(thread_id, run_id)["echo"] == ECHO
    assert wait_for(lambda: not_busy(sdk, thread_id), timeout=DEADLINE) == "idle"
    next_run_goes_on(sdk, thread_id)


# -- a worker killed between a run's end and what follows it ---------------------------------


def test_a_run_waiting_behind_one_whose_worker_died_as_it_ended_runs(
    stack: RunStack, sdk: SyncLangGraphClient, tmp_path: Path
) -> None:
    """The worker dies right after recording its run's end, which handed the thread's turn
    to the run waiting behind, before it queued that run's job: the sweep finds the turn
    taken with no job and queues it."""
    marker = tmp_path / "paused"
    doomed = stack.start_worker(pause_env(Point.RUN_ENDED, marker))
    thread_id = sdk.threads.create()["thread_id"]
    first = sdk.runs.create(thread_id, "agent", input={"sleep": 60, "ask": False})["run_id"]
    wait_for(lambda: status(sdk, thread_id, first) == "running", timeout=DEADLINE)
    behind = sdk.runs.create(thread_id, "echo", input=ECHO)["run_id"]
    sdk.runs.cancel(thread_id, first)  # its end comes now, through the worker
    kill_when_paused(stack, doomed, marker)
    assert status(sdk, thread_id, first) == "interrupted"
    assert status(sdk, thread_id, behind) == "pending"
    stack.start_worker()

    run = wait_for(lambda: ended(sdk, thread_id, behind), timeout=DEADLINE)
    assert run["status"] == "success"
    assert wait_for(lambda: not_busy(sdk, thread_id), timeout=DEADLINE) == "idle"
    next_run_goes_on(sdk, thread_id)


def test_a_run_whose_worker_died_before_rq_recorded_its_end_stays_ended(
    stack: RunStack, sdk: SyncLangGraphClient, tmp_path: Path
) -> None:
    """The worker dies after the run's end (and the next run's job, had one waited) was
    recorded, before RQ recorded the job's end: nothing is lost, the run record being the
    truth, and RQ's record of the job, left `started`, ends too."""
    marker = tmp_path / "paused"
    doomed = stack.start_worker(pause_env(Point.JOB_RETURNED, marker))
    thread_id = sdk.threads.create()["thread_id"]
    run_id = sdk.runs.create(thread_id, "echo", input=ECHO)["run_id"]
    kill_when_paused(stack, doomed, marker)
    assert status(sdk, thread_id, run_id) == "success"
    assert job_status(stack, run_id) == JobStatus.STARTED  # RQ's record, left behind
    stack.start_worker()
    assert sdk.threads.get(thread_id)["status"] == "idle"
    next_run_goes_on(sdk, thread_id)
    wait_for(lambda: job_status(stack, run_id) != JobStatus.STARTED, timeout=DEADLINE)
    assert stack.queue.started_job_registry.get_job_ids() == []


# -- an API process killed between recording a run and queueing its job ---------------------


@pytest.mark.parametrize(
    ("point", "strategy"), [(Point.RUN_RECORDED, "interrupt"), (Point.TURN_TAKEN, "enqueue")]
)
def test_a_run_whose_api_process_died_before_queueing_it_runs(
    stack: RunStack, sdk: SyncLangGraphClient, tmp_path: Path, point: Point, strategy: str
) -> None:
    """An API process dies after recording a run pending (and taking its thread's turn, or
    not yet: only interrupt and rollback record it first, then cancel the runs in flight),
    before queueing its job: the sweep takes the turn for it, or finds it taken with no
    job, and queues the job."""
    stack.start_worker()
    marker = tmp_path / "paused"
    url, doomed = stack.start_api(pause_env(point, marker))
    thread_id = sdk.threads.create()["thread_id"]
    with ThreadPoolExecutor(1) as pool:
        creating = pool.submit(_create_run, url, thread_id, strategy)
        wait_for(marker.exists, timeout=DEADLINE)
        kill_when_paused(stack, doomed, marker)
        with pytest.raises(httpx.TransportError):  # no answer: the process is gone
            creating.result(timeout=DEADLINE)
    (run,) = sdk.runs.list(thread_id)
    assert run["status"] == "pending"
    assert sdk.threads.get(thread_id)["status"] == "busy"

    done = wait_for(lambda: ended(sdk, thread_id, run["run_id"]), timeout=DEADLINE)
    assert done["status"] == "success"
    assert wait_for(lambda: not_busy(sdk, thread_id), timeout=DEADLINE) == "idle"
    next_run_goes_on(sdk, thread_id)


def _create_run(url: str, thread_id: str, strategy: str) -> dict[str, Any]:
    body = {"assistant_id": "echo", "input": ECHO, "multitask_strategy": strategy}
    with httpx.Client(base_url=url, timeout=DEADLINE * 2) as http:
        response = http.post(f"/threads/{thread_id}/runs", json=body)
        return dict(response.json())
