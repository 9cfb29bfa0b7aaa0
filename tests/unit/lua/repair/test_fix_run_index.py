"""lua/repair/fix_run_index.lua (threadwatch doctor): a run is in the run indexes its hash
says (pending, running, leased only in flight); a missing run leaves them all."""

from __future__ import annotations

import uuid

from fakeredis import FakeRedis

from tests.unit.helpers import KEYS, event
from threadwatch.store.scripts import RepairScripts
from threadwatch.store.stores import Stores


def fix(redis: FakeRedis, run_id: str) -> bool:
    keys = [KEYS.run(run_id), KEYS.runs_in("pending"), KEYS.runs_in("running"), KEYS.leases()]
    return RepairScripts(redis).fix_run_index(keys, [run_id])


def indexes(redis: FakeRedis, run_id: str) -> list[bool]:
    keys = (KEYS.runs_in("pending"), KEYS.runs_in("running"), KEYS.leases())
    return [redis.zscore(key, run_id) is not None for key in keys]


def test_each_run_goes_where_its_hash_says(stores: Stores, fake_redis: FakeRedis) -> None:
    thread_id, pending, running, ended = (str(uuid.uuid4()) for _ in range(4))
    stores.runs.apply(
        [
            event(thread_id, pending, "run.pending"),
            event(thread_id, running, "run.started"),
            event(thread_id, ended, "run.succeeded"),
        ]
    )
    fake_redis.zrem(KEYS.runs_in("pending"), pending)
    fake_redis.zadd(KEYS.runs_in("pending"), {running: 1})
    fake_redis.zadd(KEYS.runs_in("running"), {ended: 1})
    fake_redis.zadd(KEYS.leases(), {ended: 1})
    assert all(fix(fake_redis, run_id) for run_id in (pending, running, ended))
    assert indexes(fake_redis, pending) == [True, False, True]  # its lease is left as it was
    assert indexes(fake_redis, running) == [False, True, True]
    assert indexes(fake_redis, ended) == [False, False, False]


def test_a_missing_run_leaves_them_and_a_rankless_one_is_left(fake_redis: FakeRedis) -> None:
    gone, rankless = str(uuid.uuid4()), str(uuid.uuid4())
    for key in (KEYS.runs_in("pending"), KEYS.runs_in("running"), KEYS.leases()):
        fake_redis.zadd(key, {gone: 1, rankless: 1})
    fake_redis.hset(KEYS.run(rankless), "status", "pending")
    assert fix(fake_redis, gone) is True
    assert indexes(fake_redis, gone) == [False, False, False]
    assert fix(fake_redis, rankless) is False
    assert indexes(fake_redis, rankless) == [True, True, True]
