"""lua/repair/drop_leaf.lua (threadwatch doctor): a thread leaves one leaf set unless its
hash, read again, puts it there."""

from __future__ import annotations

from fakeredis import FakeRedis

from tests.unit.helpers import KEYS, thread_hash
from threadwatch.store.codec import thread_member
from threadwatch.store.scripts import RepairScripts
from threadwatch.store.stores import Stores


def drop(redis: FakeRedis, thread_id: str, status: str, leaf_id: str) -> bool:
    return RepairScripts(redis).drop_leaf(
        [KEYS.thread(thread_id), KEYS.leaf_set(status, leaf_id)],
        [thread_member(thread_id), status, leaf_id],
    )


def test_a_member_that_belongs_stays(stores: Stores, fake_redis: FakeRedis) -> None:
    thread_id = stores.threads.create(None, {"team": "a"})["thread_id"]
    leaf_id = thread_hash(fake_redis, thread_id)["leaves"]
    assert drop(fake_redis, thread_id, "idle", leaf_id) is False
    assert fake_redis.sismember(KEYS.leaf_set("idle", leaf_id), thread_member(thread_id))


def test_a_member_of_another_status_or_leaf_goes(stores: Stores, fake_redis: FakeRedis) -> None:
    thread_id = stores.threads.create(None, {"team": "a"})["thread_id"]
    leaf_id = thread_hash(fake_redis, thread_id)["leaves"]
    member = thread_member(thread_id)
    fake_redis.sadd(KEYS.leaf_set("busy", leaf_id), member)
    fake_redis.sadd(KEYS.leaf_set("idle", "999"), member)
    assert drop(fake_redis, thread_id, "busy", leaf_id) is True
    assert drop(fake_redis, thread_id, "idle", "999") is True
    assert not fake_redis.exists(KEYS.leaf_set("busy", leaf_id), KEYS.leaf_set("idle", "999"))
    assert drop(fake_redis, thread_id, "idle", "999") is True  # not there: nothing to drop
