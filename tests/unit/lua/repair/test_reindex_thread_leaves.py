"""lua/repair/reindex_thread_leaves.lua (threadwatch doctor): a thread is in exactly the leaf
sets of its status and metadata, and its leaves field names their ids."""

from __future__ import annotations

from fakeredis import FakeRedis

from tests.unit.helpers import KEYS, index_violations, leaf_holders, thread_hash
from threadwatch.store.codec import thread_member
from threadwatch.store.scripts import RepairScripts
from threadwatch.store.stores import Stores


def reindex(redis: FakeRedis, thread_id: str, read: str) -> bool:
    return RepairScripts(redis).reindex_thread_leaves(
        [KEYS.thread(thread_id), *KEYS.leaf_index, KEYS.metadata_leaf('["team","a"]')],
        [thread_member(thread_id), read],
    )


def test_the_leaf_sets_follow_the_hash(stores: Stores, fake_redis: FakeRedis) -> None:
    thread_id = stores.threads.create(None, {"team": "a"})["thread_id"]
    _, read, _ = stores.threads.read_metadata(thread_id)
    member = thread_member(thread_id)
    leaf_id = thread_hash(fake_redis, thread_id)["leaves"]
    fake_redis.smove(KEYS.leaf_set("idle", leaf_id), KEYS.leaf_set("error", leaf_id), member)
    fake_redis.hset(KEYS.thread(thread_id), "leaves", "")
    assert reindex(fake_redis, thread_id, read) is True
    assert leaf_holders(fake_redis, '["team","a"]', "idle") == {thread_id}
    assert leaf_holders(fake_redis, '["team","a"]', "error") == set()
    assert index_violations(fake_redis) == []


def test_metadata_changed_since_read_is_skipped(stores: Stores, fake_redis: FakeRedis) -> None:
    thread_id = stores.threads.create(None, {"team": "a"})["thread_id"]
    before = {key: fake_redis.dump(key) for key in fake_redis.keys()}
    assert reindex(fake_redis, thread_id, "stale") is False
    assert {key: fake_redis.dump(key) for key in fake_redis.keys()} == before
