"""Runner.execute on fakeredis with a plain callable graph: both job forms (the run and its
thread; the run only, as jobs of earlier versions name it) start a pending run once."""

from __future__ import annotations

import pytest
from fakeredis import FakeRedis

from tests.support import FIXTURES, load_project_graphs
from tests.unit.helpers import KEYS, event
from threadwatch.runs.runner import Runner
from threadwatch.settings import Settings
from threadwatch.store.codec import materialize
from threadwatch.store.stores import Stores

PROJECT = FIXTURES / "graphs" / "project"
T1 = "00000000-0000-4000-8000-0000000000b1"
R1 = "00000000-0000-4000-8000-0000000000e1"


@pytest.fixture
def runner(fake_redis: FakeRedis) -> Runner:
    stores = Stores.on(fake_redis, Settings(), inline_checkpoints=True)
    return Runner(stores, load_project_graphs(PROJECT), run_timeout=30)


@pytest.mark.parametrize("job_names_thread", [True, False])
def test_a_pending_run_is_executed_once(
    runner: Runner, stores: Stores, job_names_thread: bool
) -> None:
    kwargs = {"graph_id": "echo", "input": {"x": 1}}
    stores.runs.apply([event(T1, R1, "run.pending", kwargs=kwargs)])
    thread = T1 if job_names_thread else None
    assert runner.execute(R1, thread) == "run.succeeded"
    assert stores.runs.get(T1, R1)["status"] == "success"
    assert materialize(stores.threads.get(T1)["values"])["echo"] == {"x": 1}
    assert runner.execute(R1, thread) is None  # ended: nothing to do


def test_a_deleted_run_is_not_brought_back(runner: Runner, stores: Stores) -> None:
    stores.runs.apply([event(T1, R1, "run.pending")])
    stores.runs.delete(T1, R1)
    assert runner.execute(R1, T1) is None
    assert runner.execute(R1) is None
    assert not stores.redis.exists(KEYS.run(R1))


R2 = "00000000-0000-4000-8000-0000000000e2"
R3 = "00000000-0000-4000-8000-0000000000e3"
ECHO = {"graph_id": "echo", "input": {"x": 1}}


def admit(stores: Stores, run_id: str) -> None:
    stores.runs.admit(event(T1, run_id, "run.pending", kwargs=ECHO), reject_if_busy=False)
    stores.runs.take_turn(T1, run_id)


def test_a_run_that_ends_queues_the_next_run_of_its_thread(runner: Runner, stores: Stores) -> None:
    for run_id in (R1, R2):
        admit(stores, run_id)
    assert runner.execute(R1, T1) == "run.succeeded"
    assert runner.jobs.queue.get_job_ids() == [R2]
    assert stores.runs.turn_of(T1)[0] == R2


def test_a_job_whose_run_was_cancelled_while_queued_passes_the_turn(
    runner: Runner, stores: Stores
) -> None:
    for run_id in (R1, R2):
        admit(stores, run_id)
    stores.runs.apply([event(T1, R1, "run.cancelled")])  # the API's pass did not happen
    assert runner.execute(R1, T1) is None
    assert runner.jobs.queue.get_job_ids() == [R2]


def test_a_job_of_a_run_executing_elsewhere_keeps_the_turn(runner: Runner, stores: Stores) -> None:
    """A job queued twice: the second finds the run started and leaves the turn alone."""
    for run_id in (R1, R2):
        admit(stores, run_id)
    stores.runs.start(T1, R1)
    assert runner.execute(R1, T1) is None
    assert runner.jobs.queue.get_job_ids() == []
    assert stores.runs.turn_of(T1)[0] == R1


def test_a_run_end_waits_out_a_redis_outage(
    runner: Runner, stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis away (or full) as the run ends: its end is written once Redis is back."""
    from redis.exceptions import ConnectionError, OutOfMemoryError

    failures = [ConnectionError("gone"), OutOfMemoryError("OOM command not allowed")]
    end_run = runner.runs.end_run

    def flaky(*args, **kwargs):  # type: ignore[no-untyped-def]
        if failures:
            raise failures.pop(0)
        return end_run(*args, **kwargs)

    monkeypatch.setattr(runner.runs, "end_run", flaky)
    monkeypatch.setattr("threadwatch.store.availability.FIRST_WAIT", 0.001)
    for run_id in (R1, R2):
        admit(stores, run_id)
    assert runner.execute(R1, T1) == "run.succeeded"
    assert failures == []
    assert stores.runs.get(T1, R1)["status"] == "success"
    assert runner.jobs.queue.get_job_ids() == [R2]
