"""lua/requeue_run.lua: a running run whose lease ran out goes back to pending, atomically
with the lease check; otherwise TransitionCode.NOT_RECLAIMED and nothing written. The sweeper
using it is tested in tests/unit/test_liveness.py."""

from __future__ import annotations

import uuid

from fakeredis import FakeRedis

from tests.unit.helpers import KEYS, event, thread_hash
from threadwatch.store.scripts import TransitionCode
from threadwatch.store.stores import Stores


def new_id() -> str:
    return str(uuid.uuid4())


def requeue(stores: Stores, run_id: str) -> int:
    keys = [KEYS.run(run_id), KEYS.leases(), KEYS.runs_in("pending"), KEYS.runs_in("running")]
    return stores.runs.scripts.requeue_run(keys, [run_id])


def dump(redis: FakeRedis) -> dict[bytes, bytes]:
    return {key: redis.dump(key) for key in redis.keys()}


def test_a_lost_running_run_goes_back_to_pending(stores: Stores, fake_redis: FakeRedis) -> None:
    thread_id, run_id = new_id(), new_id()
    stores.runs.apply([event(thread_id, run_id, "run.started")])
    fake_redis.zadd(KEYS.leases(), {run_id: 1})  # ran out
    assert requeue(stores, run_id) == 1
    run = {k.decode(): v.decode() for k, v in fake_redis.hgetall(KEYS.run(run_id)).items()}
    assert (run["status"], run["event"], run["rank"], run["attempts"]) == (
        "pending",
        "run.pending",
        "1",
        "1",
    )
    assert "started_at" not in run
    assert fake_redis.zscore(KEYS.runs_in("pending"), run_id) == int(run["updated_at"])
    assert fake_redis.zscore(KEYS.runs_in("running"), run_id) is None
    assert fake_redis.zscore(KEYS.leases(), run_id) is None
    assert thread_hash(fake_redis, thread_id)["status"] == "busy"  # still in flight
    stores.runs.apply([event(thread_id, run_id, "run.started")])
    fake_redis.zadd(KEYS.leases(), {run_id: 1})
    assert requeue(stores, run_id) == 2  # the attempts add up


def test_a_live_missing_or_pending_lease_is_not_requeued(
    stores: Stores, fake_redis: FakeRedis
) -> None:
    thread_id, running, pending = new_id(), new_id(), new_id()
    stores.runs.apply(
        [event(thread_id, running, "run.started"), event(thread_id, pending, "run.pending")]
    )
    fake_redis.zadd(KEYS.leases(), {pending: 1})  # ran out, but the run is not running
    before = dump(fake_redis)
    assert requeue(stores, running) is TransitionCode.NOT_RECLAIMED  # lease live
    assert requeue(stores, pending) is TransitionCode.NOT_RECLAIMED
    assert requeue(stores, new_id()) is TransitionCode.NOT_RECLAIMED  # no lease at all
    assert dump(fake_redis) == before
