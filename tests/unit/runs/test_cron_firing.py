"""The cron scheduler (app/runs/cron_firing.py) on a fake clock: each due firing makes one
run through the RunService (the thread turns busy, the run carries the cron's id and
metadata), stateless crons get a new thread each time, `enabled`, `end_time` and deleted
threads are honoured, and concurrent schedulers fire each firing once."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fakeredis import FakeRedis

from tests.support import FIXTURES, load_project_graphs
from threadwatch.graphs import GraphRegistry
from threadwatch.models import CronCreate, CronPatch
from threadwatch.runs.cron_firing import CronScheduler
from threadwatch.runs.crons import CronService
from threadwatch.runs.service import RunService
from threadwatch.store.codec import datetime_to_us, materialize
from threadwatch.store.crons import Cron, CronStore
from threadwatch.store.keys import Keys
from threadwatch.store.search import ThreadQuery
from threadwatch.store.stores import Stores

START = datetime(2026, 1, 5, 12, 0, 30, tzinfo=UTC)  # a Monday


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture(scope="module")
def registry() -> GraphRegistry:
    return load_project_graphs(FIXTURES / "graphs" / "project", TW_FIXTURE_GREETING="")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def runs(fake_redis: FakeRedis, stores: Stores, registry: GraphRegistry) -> RunService:
    return RunService(stores, registry, 100)


@pytest.fixture
def crons(stores: Stores, registry: GraphRegistry, clock: Clock) -> CronService:
    return CronService(stores, registry, clock=clock)


@pytest.fixture
def scheduler(stores: Stores, runs: RunService, clock: Clock) -> CronScheduler:
    return CronScheduler(stores.crons, runs, clock=clock)


def cron(crons: CronService, thread_id: str | None = None, **fields: Any) -> str:
    body = CronCreate.model_validate({"assistant_id": "agent", "schedule": "* * * * *", **fields})
    return str(crons.create(thread_id, body)["cron_id"])


def runs_of(stores: Stores, thread_id: str) -> list[dict[str, Any]]:
    return materialize(stores.runs.list(thread_id, limit=100))


def all_threads(stores: Stores) -> list[dict[str, Any]]:
    return materialize(stores.search.search(ThreadQuery(limit=100)).threads)


def test_nothing_fires_before_its_time(
    stores: Stores, crons: CronService, scheduler: CronScheduler
) -> None:
    cron(crons)
    assert scheduler.check().fired == 0
    assert all_threads(stores) == []


def test_a_due_firing_makes_one_run_on_the_thread(
    stores: Stores, crons: CronService, scheduler: CronScheduler, clock: Clock
) -> None:
    thread_id = stores.threads.create(None, {})["thread_id"]
    cron_id = cron(crons, thread_id, input={"topic": "x"}, metadata={"team": "a"})
    clock.advance(seconds=30)
    assert scheduler.check().fired == 1
    assert scheduler.check().fired == 0  # the same firing, checked again
    (run,) = runs_of(stores, thread_id)
    assert run["status"] == "pending"
    assert run["metadata"]["team"] == "a"
    assert run["kwargs"]["config"]["configurable"]["cron_id"] == cron_id
    assert run["kwargs"]["input"] == {"topic": "x"}
    assert stores.threads.get(thread_id)["status"] == "busy"
    assert stores.crons.get(cron_id)["next_run_date"] == "2026-01-05T12:02:00.000000+00:00"


def test_missed_firings_collapse_into_one(
    stores: Stores, crons: CronService, scheduler: CronScheduler, clock: Clock
) -> None:
    cron_id = cron(crons)
    clock.advance(hours=3)
    assert scheduler.check().fired == 1
    assert stores.crons.get(cron_id)["next_run_date"] == "2026-01-05T15:01:00.000000+00:00"


def test_each_stateless_firing_runs_on_a_new_thread(
    stores: Stores, crons: CronService, scheduler: CronScheduler, clock: Clock
) -> None:
    cron(crons, metadata={"job": "digest"}, on_run_completed="keep")
    for _ in range(3):
        clock.advance(minutes=1)
        assert scheduler.check().fired == 1
    threads = all_threads(stores)
    assert len(threads) == 3
    for thread in threads:
        assert thread["metadata"]["job"] == "digest"
        (run,) = runs_of(stores, thread["thread_id"])
        assert run["kwargs"]["temporary"] is True
        assert run["kwargs"]["on_completion"] == "keep"


def test_stateless_runs_delete_their_thread_by_default(
    stores: Stores, crons: CronService, scheduler: CronScheduler, clock: Clock
) -> None:
    cron(crons)
    clock.advance(minutes=1)
    scheduler.check()
    (thread,) = all_threads(stores)
    (run,) = runs_of(stores, thread["thread_id"])
    assert run["kwargs"]["on_completion"] == "delete"


def test_a_disabled_cron_does_not_fire_until_enabled(
    stores: Stores, crons: CronService, scheduler: CronScheduler, clock: Clock
) -> None:
    cron_id = cron(crons, enabled=False)
    clock.advance(minutes=5)
    assert scheduler.check().fired == 0
    crons.update(cron_id, CronPatch(enabled=True))
    assert scheduler.check().fired == 1  # its missed firing, once, as on LangGraph
    assert scheduler.check().fired == 0


def test_disabling_stops_the_firings(
    crons: CronService, scheduler: CronScheduler, clock: Clock
) -> None:
    cron_id = cron(crons)
    crons.update(cron_id, CronPatch(enabled=False))
    clock.advance(minutes=5)
    assert scheduler.check().fired == 0


def test_no_firing_after_end_time(
    stores: Stores, crons: CronService, scheduler: CronScheduler, clock: Clock
) -> None:
    cron_id = cron(crons, end_time=(START + timedelta(minutes=2)).isoformat())
    clock.advance(minutes=1)
    assert scheduler.check().fired == 1
    clock.advance(minutes=1)
    assert scheduler.check().fired == 1  # now is end_time: not past it yet
    clock.advance(minutes=1)
    assert scheduler.check().fired == 0
    assert stores.crons.due(10**18, 10) == []
    assert stores.crons.get(cron_id) is not None  # kept, as on LangGraph


def test_clearing_end_time_resumes(
    crons: CronService, scheduler: CronScheduler, clock: Clock
) -> None:
    cron_id = cron(crons, end_time=START.isoformat())
    clock.advance(minutes=1)
    assert scheduler.check().fired == 0
    crons.update(cron_id, CronPatch.model_validate({"end_time": None, "schedule": "* * * * *"}))
    clock.advance(minutes=1)
    assert scheduler.check().fired == 1


def test_a_new_schedule_moves_the_next_firing(
    stores: Stores, crons: CronService, scheduler: CronScheduler, clock: Clock
) -> None:
    cron_id = cron(crons)
    crons.update(cron_id, CronPatch(schedule="0 * * * *"))
    clock.advance(minutes=5)
    assert scheduler.check().fired == 0
    assert stores.crons.get(cron_id)["next_run_date"] == "2026-01-05T13:00:00.000000+00:00"


def test_a_cron_of_a_deleted_thread_goes_with_it(
    stores: Stores, crons: CronService, scheduler: CronScheduler, clock: Clock
) -> None:
    thread_id = stores.threads.create(None, {})["thread_id"]
    cron_id = cron(crons, thread_id)
    stores.threads.delete(thread_id)
    clock.advance(minutes=1)
    report = scheduler.check()
    assert (report.fired, report.failed) == (0, 1)
    assert stores.crons.get(cron_id) is None


def test_a_refused_run_leaves_the_cron_for_its_next_firing(
    stores: Stores, crons: CronService, scheduler: CronScheduler, clock: Clock
) -> None:
    """multitask_strategy=reject on a busy thread: no run, as on LangGraph; the cron stays."""
    thread_id = stores.threads.create(None, {})["thread_id"]
    cron_id = cron(crons, thread_id, multitask_strategy="reject")
    clock.advance(minutes=1)
    assert scheduler.check().fired == 1  # the thread is busy with it now
    clock.advance(minutes=1)
    assert scheduler.check().failed == 1
    assert len(runs_of(stores, thread_id)) == 1
    assert stores.crons.get(cron_id) is not None


def test_concurrent_schedulers_fire_each_firing_once(
    stores: Stores, runs: RunService, crons: CronService, clock: Clock
) -> None:
    threads = [stores.threads.create(None, {})["thread_id"] for _ in range(10)]
    for thread_id in threads:
        cron(crons, thread_id)
    clock.advance(minutes=1)
    schedulers = [CronScheduler(stores.crons, runs, clock=clock, batch=3) for _ in range(6)]
    barrier = threading.Barrier(len(schedulers))
    fired: list[int] = []

    def check(scheduler: CronScheduler) -> None:
        barrier.wait()
        fired.append(scheduler.check().fired)

    workers = [threading.Thread(target=check, args=(s,)) for s in schedulers]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sum(fired) == 10
    assert [len(runs_of(stores, thread_id)) for thread_id in threads] == [1] * 10


@pytest.mark.parametrize(
    "patch",
    [
        {"metadata": {"x": 1}},
        {"enabled": True},
        {"end_time": "2099-01-01T00:00:00Z"},
        {"input": {}},
    ],
)
def test_a_patch_racing_a_claim_never_fires_a_firing_twice(
    stores: Stores,
    crons: CronService,
    scheduler: CronScheduler,
    clock: Clock,
    registry: GraphRegistry,
    patch: dict[str, Any],
) -> None:
    """The PATCH reads the cron, a check fires its due firing, then the PATCH writes what it
    read: the firing already fired stays fired."""
    cron_id = cron(crons)
    clock.advance(minutes=1)

    class FireAfterRead(CronStore):
        def read(self, cron_id: str) -> Cron | None:
            found = super().read(cron_id)
            assert scheduler.check().fired == 1
            return found

    racing_store = FireAfterRead(stores.redis, Keys(), stores.runs.scripts)
    racing = CronService(replace(stores, crons=racing_store), registry, clock=clock)
    racing.update(cron_id, CronPatch.model_validate(patch))
    assert scheduler.check().fired == 0
    assert len(all_threads(stores)) == 1
    assert stores.crons.due(10**18, 10) == [(cron_id, datetime_to_us(START) + 90_000_000)]


def test_a_schedule_with_no_further_firing_fires_its_last(
    stores: Stores, crons: CronService, scheduler: CronScheduler, clock: Clock
) -> None:
    """Its firing fires; then it leaves the due set, and its next_run_date is null."""
    cron_id = cron(crons)
    stores.redis.hset(stores.crons.keys.cron(cron_id), "schedule", "0 0 31 2 *")
    clock.advance(minutes=1)
    assert scheduler.check().fired == 1
    assert stores.crons.due(10**18, 10) == []
    assert stores.crons.get(cron_id)["next_run_date"] is None
    crons.update(cron_id, CronPatch(enabled=True))  # nothing to fire: it stays out
    clock.advance(days=400)
    assert scheduler.check().fired == 0


def test_one_crons_failure_does_not_hold_up_the_others(
    stores: Stores,
    runs: RunService,
    crons: CronService,
    scheduler: CronScheduler,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broken = cron(crons, metadata={"broken": True})
    cron(crons)
    create = runs.create

    def flaky(thread_id: str | None, body: Any, streamed: bool = False) -> dict[str, Any]:
        if (body.metadata or {}).get("broken"):
            raise RuntimeError("a bug")
        return create(thread_id, body, streamed)

    monkeypatch.setattr(runs, "create", flaky)
    clock.advance(minutes=1)
    report = scheduler.check()
    assert (report.fired, report.failed) == (1, 1)
    assert len(all_threads(stores)) == 1
    assert stores.crons.get(broken) is not None


def test_firings_are_counted_for_prometheus(
    stores: Stores, crons: CronService, scheduler: CronScheduler, clock: Clock
) -> None:
    thread_id = stores.threads.create(None, {})["thread_id"]
    cron(crons, thread_id, multitask_strategy="reject")
    clock.advance(minutes=1)
    scheduler.check()
    clock.advance(minutes=1)
    scheduler.check()  # refused: the thread is busy with the first
    counters = stores.redis.hgetall(Keys().metrics())
    assert (counters[b"crons|fired"], counters[b"crons|failed"]) == (b"1", b"1")


def test_each_run_carries_the_crons_webhook(
    stores: Stores, crons: CronService, scheduler: CronScheduler, clock: Clock
) -> None:
    """The run's webhook is called when it ends, as any run's (app/runs/runner.py)."""
    thread_id = stores.threads.create(None, {})["thread_id"]
    cron(crons, thread_id, webhook="https://8.8.8.8/hook")
    clock.advance(minutes=1)
    scheduler.check()
    (run,) = runs_of(stores, thread_id)
    assert run["kwargs"]["webhook"] == "https://8.8.8.8/hook"
