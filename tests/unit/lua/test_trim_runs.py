"""lua/trim_runs.lua: a thread's given runs are deleted with their output, stream and
cancel flag, unless in flight; the thread itself is untouched. How the sweep picks them is in
tests/unit/ops/test_run_retention.py."""

from __future__ import annotations

from fakeredis import FakeRedis

from tests.unit.helpers import KEYS, at, event
from threadwatch.store.stores import Stores

T1 = "00000000-0000-4000-8000-0000000000f1"
RUNS = [f"00000000-0000-4000-9000-00000000000{i}" for i in range(3)]


def trim(stores: Stores, run_ids: list[str]) -> int:
    keys = [KEYS.thread_runs(T1)]
    for run_id in run_ids:
        keys += [KEYS.run(run_id), KEYS.run_output(run_id), KEYS.run_stream(run_id)]
        keys.append(KEYS.run_cancel(run_id))
    return stores.runs.scripts.trim_runs(keys, run_ids)


def test_ended_runs_go_whole_and_runs_in_flight_stay(stores: Stores, fake_redis: FakeRedis) -> None:
    ended, failed, running = RUNS
    stores.runs.apply(
        [
            event(T1, ended, "run.started", at=at(1)),
            event(T1, ended, "run.succeeded", at=at(2)),
            event(T1, failed, "run.started", at=at(3)),
            event(T1, failed, "run.failed", at=at(4)),
            event(T1, running, "run.started", at=at(5)),
        ]
    )
    fake_redis.set(KEYS.run_output(ended), b"{}")
    fake_redis.xadd(KEYS.run_stream(failed), {"event": "values", "data": "{}"})
    thread_before = fake_redis.hgetall(KEYS.thread(T1))
    assert trim(stores, RUNS) == 2
    assert [m.decode() for m in fake_redis.zrange(KEYS.thread_runs(T1), 0, -1)] == [running]
    for run_id in (ended, failed):
        assert not fake_redis.exists(
            KEYS.run(run_id), KEYS.run_output(run_id), KEYS.run_stream(run_id)
        )
    assert fake_redis.hget(KEYS.run(running), "status") == b"running"
    assert fake_redis.hgetall(KEYS.thread(T1)) == thread_before  # status, fields: as they were


def test_runs_that_are_gone_already_count_as_deleted(stores: Stores) -> None:
    assert trim(stores, RUNS[:1]) == 1  # nothing to keep: an absent run is not in flight
