"""Retention of run records: a thread keeps its newest ``runs_kept_per_thread`` runs; the
sweep deletes its older ended ones (transition.lua marks the thread when a run makes it hold
more). Runs in flight stay whatever their age; 0 keeps every run."""

from __future__ import annotations

from fakeredis import FakeRedis

from tests.unit.helpers import KEYS, at, event
from threadwatch.ops.sweeper import run_sweep, trim_runs
from threadwatch.settings import Settings
from threadwatch.store.stores import Stores

T1 = "00000000-0000-4000-8000-0000000000f2"


def run_id(i: int) -> str:
    return f"00000000-0000-4000-9000-{i:012x}"


def ended_runs(stores: Stores, count: int, start: int = 0) -> None:
    events = []
    for i in range(start, start + count):
        events += [
            event(T1, run_id(i), "run.started", at=at(2 * i)),
            event(T1, run_id(i), "run.succeeded", at=at(2 * i + 1)),
        ]
    stores.runs.apply(events)


def kept(fake_redis: FakeRedis) -> list[str]:
    return [m.decode() for m in fake_redis.zrange(KEYS.thread_runs(T1), 0, -1)]


def test_the_newest_runs_stay_and_the_sweep_deletes_the_rest(fake_redis: FakeRedis) -> None:
    settings = Settings(runs_kept_per_thread=3)
    stores = Stores.on(fake_redis, settings)
    ended_runs(stores, 5)
    assert fake_redis.smembers(KEYS.runs_to_trim()) == {T1.encode()}
    status = stores.threads.get(T1)["status"]
    assert run_sweep(fake_redis, settings).trimmed_runs == 2
    assert kept(fake_redis) == [run_id(i) for i in (2, 3, 4)]
    assert not fake_redis.exists(KEYS.run(run_id(0)), KEYS.run(run_id(1)))
    assert [r["run_id"] for r in stores.runs.list(T1)] == [run_id(i) for i in (4, 3, 2)]
    assert stores.threads.get(T1)["status"] == status
    assert not fake_redis.exists(KEYS.runs_to_trim())


def test_an_old_run_in_flight_stays(fake_redis: FakeRedis) -> None:
    stores = Stores.on(fake_redis, Settings(runs_kept_per_thread=2))
    stores.runs.apply([event(T1, run_id(100), "run.started", at=at(0))])  # oldest, running
    ended_runs(stores, 3, start=1)
    assert trim_runs(stores, 2) == 1
    assert kept(fake_redis) == [run_id(100), run_id(2), run_id(3)]
    assert stores.threads.get(T1)["status"] == "busy"


def test_zero_keeps_every_run(fake_redis: FakeRedis) -> None:
    settings = Settings(runs_kept_per_thread=0)
    stores = Stores.on(fake_redis, settings)
    ended_runs(stores, 5)
    assert not fake_redis.exists(KEYS.runs_to_trim())
    assert run_sweep(fake_redis, settings).trimmed_runs == 0
    assert len(kept(fake_redis)) == 5
