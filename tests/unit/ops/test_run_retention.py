"""Retention of run records: a thread keeps its newest ``runs_kept_per_thread`` runs; the
sweep deletes its older ended ones (transition.lua marks the thread when a run makes it hold
more). Runs in flight stay whatever their age; 0 keeps every run."""

from __future__ import annotations

import pytest
from fakeredis import FakeRedis

from tests.unit.helpers import KEYS, at, event
from tests.unit.store.store_clock import settable_clock
from threadwatch.ops import sweeper
from threadwatch.ops.sweeper import run_sweep, trim_runs
from threadwatch.settings import Settings
from threadwatch.store import run_records
from threadwatch.store.stores import Stores

T1 = "00000000-0000-4000-8000-0000000000f2"


def run_id(i: int) -> str:
    return f"00000000-0000-4000-9000-{i:012x}"


def thread_id(t: int) -> str:
    return f"00000000-0000-4000-8000-{t:012x}"


def ended_runs(stores: Stores, count: int, start: int = 0, thread: str = T1) -> None:
    events = []
    for i in range(start, start + count):
        events += [
            event(thread, run_id(i), "run.started", at=at(2 * i)),
            event(thread, run_id(i), "run.succeeded", at=at(2 * i + 1)),
        ]
    stores.runs.apply(events)


def kept(fake_redis: FakeRedis, thread: str = T1) -> list[str]:
    return [m.decode() for m in fake_redis.zrange(KEYS.thread_runs(thread), 0, -1)]


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


def test_one_sweep_trims_every_marked_thread_in_rounds(
    fake_redis: FakeRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sweeper, "TRIM_THREADS", 2)  # 5 threads: three rounds
    settings = Settings(runs_kept_per_thread=1)
    stores = Stores.on(fake_redis, settings)
    threads = [thread_id(t) for t in range(5)]
    for t, thread in enumerate(threads):
        ended_runs(stores, 3, start=10 * t, thread=thread)
    assert run_sweep(fake_redis, settings).trimmed_runs == 10
    assert [kept(fake_redis, thread) for thread in threads] == [
        [run_id(10 * t + 2)] for t in range(5)
    ]
    assert not fake_redis.exists(KEYS.runs_to_trim())


def test_a_sweep_trims_at_most_its_share_of_threads(
    fake_redis: FakeRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sweeper, "TRIM_THREADS", 2)
    monkeypatch.setattr(sweeper, "TRIM_THREADS_PER_SWEEP", 4)
    stores = Stores.on(fake_redis, Settings(runs_kept_per_thread=1))
    for t in range(5):
        ended_runs(stores, 2, start=10 * t, thread=thread_id(t))
    assert trim_runs(stores, 1) == 4
    assert fake_redis.scard(KEYS.runs_to_trim()) == 1  # the next sweep's
    assert trim_runs(stores, 1) == 1


def test_ended_runs_go_once_their_ttl_runs_out(fake_redis: FakeRedis) -> None:
    # A lease longer than the test: the sweep does not end the run in flight as lost.
    settings = Settings(runs_kept_per_thread=0, ended_run_ttl_seconds=600, lease_seconds=3600)
    with settable_clock() as clock:
        stores = Stores.on(fake_redis, settings)
        ended_runs(stores, 2)
        stores.runs.apply([event(T1, run_id(9), "run.started", at=at(10))])
        status = stores.threads.get(T1)["status"]
        clock.advance_minutes(9)
        assert run_sweep(fake_redis, settings).expired_runs == 0
        clock.advance_minutes(2)
        assert run_sweep(fake_redis, settings).expired_runs == 2
        assert kept(fake_redis) == [run_id(9)]  # in flight: it has no TTL yet
        assert not fake_redis.exists(KEYS.run(run_id(0)), KEYS.run(run_id(1)))
        assert not fake_redis.exists(KEYS.runs_expiring())
        assert stores.threads.get(T1)["status"] == status


def test_expired_runs_go_in_batches_and_gone_ones_are_unindexed(
    fake_redis: FakeRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_records, "TRIM_BATCH", 2)
    settings = Settings(runs_kept_per_thread=0, ended_run_ttl_seconds=60)
    with settable_clock() as clock:
        stores = Stores.on(fake_redis, settings)
        ended_runs(stores, 5)
        fake_redis.delete(KEYS.run(run_id(3)))  # gone meanwhile (its thread deleted, say)
        clock.advance_minutes(2)
        assert stores.runs.records.expire_ended(limit=3) == 3
        assert stores.runs.records.expire_ended(limit=10) == 1
        assert kept(fake_redis) == [run_id(3)]  # its hash was gone: only the index knew it
        assert not fake_redis.exists(KEYS.runs_expiring())


def test_no_ttl_indexes_nothing(fake_redis: FakeRedis) -> None:
    stores = Stores.on(fake_redis, Settings())
    ended_runs(stores, 2)
    assert not fake_redis.exists(KEYS.runs_expiring())
    assert run_sweep(fake_redis, Settings()).expired_runs == 0
