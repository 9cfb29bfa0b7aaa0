"""lua/expire_runs.lua: an ended run whose TTL ran out is deleted whole and leaves its
thread's runs; one not yet due, or in flight, stays; the thread itself is untouched. How
runs get their TTL and the sweep picks them is in tests/unit/ops/test_run_retention.py."""

from __future__ import annotations

from fakeredis import FakeRedis

from tests.unit.helpers import KEYS, at, event
from threadwatch.store.stores import Stores

T1 = "00000000-0000-4000-8000-0000000000e1"
RUNS = [f"00000000-0000-4000-9000-0000000000e{i}" for i in range(3)]
NOW_US = 1_900_000_000_000_000  # after fakeredis's clock: nothing is due then


def expire(stores: Stores, run_ids: list[str]) -> int:
    keys = [KEYS.runs_expiring()]
    for run_id in run_ids:
        keys += [KEYS.run(run_id), KEYS.thread_runs(T1), KEYS.run_output(run_id)]
        keys += [KEYS.run_stream(run_id), KEYS.run_cancel(run_id)]
    return stores.runs.scripts.expire_runs(keys, run_ids)


def runs_of(fake_redis: FakeRedis) -> list[str]:
    return [m.decode() for m in fake_redis.zrange(KEYS.thread_runs(T1), 0, -1)]


def test_due_ended_runs_go_whole_the_rest_stay(stores: Stores, fake_redis: FakeRedis) -> None:
    due, later, running = RUNS
    stores.runs.apply(
        [
            event(T1, due, "run.started", at=at(1)),
            event(T1, due, "run.succeeded", at=at(2)),
            event(T1, later, "run.started", at=at(3)),
            event(T1, later, "run.failed", at=at(4)),
            event(T1, running, "run.started", at=at(5)),
        ]
    )
    fake_redis.set(KEYS.run_output(due), b"{}")
    fake_redis.zadd(KEYS.runs_expiring(), {due: 1, later: NOW_US, running: 1})
    thread_before = fake_redis.hgetall(KEYS.thread(T1))
    assert expire(stores, RUNS) == 1
    assert not fake_redis.exists(KEYS.run(due), KEYS.run_output(due))
    assert runs_of(fake_redis) == [later, running]
    assert fake_redis.hget(KEYS.run(running), "status") == b"running"
    # The run not yet due keeps its entry; the due ones leave the index, deleted or not.
    assert fake_redis.zrange(KEYS.runs_expiring(), 0, -1) == [later.encode()]
    assert fake_redis.hgetall(KEYS.thread(T1)) == thread_before


def test_a_run_gone_already_only_leaves_the_index(stores: Stores, fake_redis: FakeRedis) -> None:
    fake_redis.zadd(KEYS.runs_expiring(), {RUNS[0]: 1})
    assert expire(stores, RUNS[:1]) == 0
    assert not fake_redis.exists(KEYS.runs_expiring())
