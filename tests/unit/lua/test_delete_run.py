"""lua/delete_run.lua: a run record goes (DELETE of a run, a rolled-back run) and the thread's
status is derived again from what is left, atomically; RunStore.delete raises RunNotFound for
its {0}."""

from __future__ import annotations

import uuid

import pytest
from fakeredis import FakeRedis

from tests.unit.helpers import KEYS, at, event, index_violations, leaf_holders, thread_hash
from threadwatch.errors import RunNotFound
from threadwatch.store.codec import thread_member
from threadwatch.store.stores import Stores


def new_id() -> str:
    return str(uuid.uuid4())


def delete_run(stores: Stores, thread_id: str, run_id: str) -> list[object]:
    """The script's raw reply, its KEYS and ARGV as its header lists them."""
    keys = [
        KEYS.thread(thread_id),
        KEYS.run(run_id),
        KEYS.thread_runs(thread_id),
        *KEYS.statuses,
        KEYS.order("updated_at"),
        KEYS.thread_transitions(thread_id),
        KEYS.leases(),
        KEYS.runs_in("pending"),
        KEYS.runs_in("running"),
        KEYS.metrics(),
        *KEYS.leaf_index,
    ]
    args = [thread_id, run_id, 100, thread_member(thread_id)]
    return stores.runs.scripts.lua_delete_run(keys=keys, args=args)


def test_deleting_the_run_in_flight_derives_the_status_again(
    stores: Stores, fake_redis: FakeRedis
) -> None:
    thread_id, done, pending = new_id(), new_id(), new_id()
    stores.threads.create(thread_id, {"team": "a"})
    stores.runs.apply(
        [
            event(thread_id, done, "run.interrupted", at=at(1)),
            event(thread_id, pending, "run.pending", at=at(2)),
        ]
    )
    assert thread_hash(fake_redis, thread_id)["status"] == "busy"
    assert delete_run(stores, thread_id, pending) == [1, b"busy", b"interrupted"]
    h = thread_hash(fake_redis, thread_id)
    assert (h["status"], h["inflight"]) == ("interrupted", "0")
    assert h["status_since"] == str(round(at(1).timestamp() * 1e6))  # its outcome's time
    assert not fake_redis.exists(KEYS.run(pending))
    assert fake_redis.zrange(KEYS.thread_runs(thread_id), 0, -1) == [done.encode()]
    for index in (KEYS.leases(), KEYS.runs_in("pending")):
        assert fake_redis.zscore(index, pending) is None
    assert leaf_holders(fake_redis, '["team","a"]', "interrupted") == {thread_id}
    latest = fake_redis.lindex(KEYS.thread_transitions(thread_id), 0).decode()
    assert latest.endswith(f"|busy|interrupted|{pending}")
    assert fake_redis.hget(KEYS.metrics(), "transitions|busy|interrupted") == b"1"
    assert index_violations(fake_redis) == []


def test_deleting_one_of_two_runs_in_flight_keeps_the_thread_busy(
    stores: Stores, fake_redis: FakeRedis
) -> None:
    thread_id, first, second = new_id(), new_id(), new_id()
    stores.runs.apply(
        [
            event(thread_id, first, "run.started", at=at(1)),
            event(thread_id, second, "run.pending", at=at(2)),
        ]
    )
    since = thread_hash(fake_redis, thread_id)["status_since"]
    assert delete_run(stores, thread_id, second) == [1, b"busy", b"busy"]
    h = thread_hash(fake_redis, thread_id)
    assert (h["status"], h["inflight"], h["status_since"]) == ("busy", "1", since)
    assert index_violations(fake_redis) == []


def test_a_run_of_another_thread_is_not_found(stores: Stores, fake_redis: FakeRedis) -> None:
    thread_id, other, run_id = new_id(), new_id(), new_id()
    stores.runs.apply([event(thread_id, run_id, "run.pending", at=at(1))])
    stores.threads.create(other)
    before = {key: fake_redis.dump(key) for key in fake_redis.keys()}
    assert delete_run(stores, other, run_id) == [0]
    with pytest.raises(RunNotFound):
        stores.runs.delete(other, run_id)
    with pytest.raises(RunNotFound):
        stores.runs.delete(thread_id, new_id())
    assert {key: fake_redis.dump(key) for key in fake_redis.keys()} == before


def test_the_run_of_a_thread_that_is_gone_is_deleted(stores: Stores, fake_redis: FakeRedis) -> None:
    thread_id, run_id = new_id(), new_id()
    stores.runs.apply([event(thread_id, run_id, "run.started", at=at(1))])
    fake_redis.delete(KEYS.thread(thread_id))
    assert delete_run(stores, thread_id, run_id) == [1, b"", b""]
    assert not fake_redis.exists(KEYS.run(run_id))
    assert fake_redis.zscore(KEYS.runs_in("running"), run_id) is None
    assert not fake_redis.exists(KEYS.thread(thread_id))  # not brought back
