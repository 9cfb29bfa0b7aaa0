"""lua/repair/reindex_thread.lua (threadwatch doctor): a thread's status and order entries
follow its hash again; a missing thread leaves them; a malformed hash is left alone."""

from __future__ import annotations

import uuid

from fakeredis import FakeRedis

from tests.unit.helpers import KEYS, index_violations
from threadwatch.domain import ThreadStatus
from threadwatch.store.codec import thread_member
from threadwatch.store.keys import SORT_FIELDS
from threadwatch.store.scripts import RepairScripts
from threadwatch.store.stores import Stores


def reindex(redis: FakeRedis, thread_id: str) -> bool:
    orders = ["" if name == "thread_id" else name for name in SORT_FIELDS]
    return RepairScripts(redis).reindex_thread(
        [KEYS.thread(thread_id), *KEYS.statuses, *KEYS.orders],
        [thread_member(thread_id), *(s.value for s in ThreadStatus), *orders],
    )


def test_the_entries_follow_the_hash(stores: Stores, fake_redis: FakeRedis) -> None:
    thread_id = stores.threads.create()["thread_id"]
    member = thread_member(thread_id)
    fake_redis.zrem(KEYS.status("idle"), member)
    fake_redis.zadd(KEYS.status("error"), {member: 1})
    fake_redis.zadd(KEYS.order("updated_at"), {member: 1})
    assert reindex(fake_redis, thread_id) is True
    assert index_violations(fake_redis) == []


def test_a_missing_thread_leaves_every_index(stores: Stores, fake_redis: FakeRedis) -> None:
    thread_id = stores.threads.create()["thread_id"]
    fake_redis.delete(KEYS.thread(thread_id))
    assert reindex(fake_redis, thread_id) is True
    for key in (*KEYS.statuses, *KEYS.orders):
        assert fake_redis.zscore(key, thread_member(thread_id)) is None


def test_a_malformed_hash_is_left_alone(stores: Stores, fake_redis: FakeRedis) -> None:
    thread_id = str(uuid.uuid4())
    fake_redis.hset(KEYS.thread(thread_id), "status", "bogus")
    assert reindex(fake_redis, thread_id) is False
    assert fake_redis.keys() == [KEYS.thread(thread_id).encode()]
