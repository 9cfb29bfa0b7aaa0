"""lua/patch_thread.lua: new metadata (merged by the caller) and/or TTL, atomically with the
check that the metadata is the one the caller read. ThreadStore.patch retries on
ChangedSinceRead (tests/unit/test_threads_store.py has the merges and the retries)."""

from __future__ import annotations

import uuid

import pytest
from fakeredis import FakeRedis

from tests.unit.helpers import KEYS, leaf_holders, thread_hash
from threadwatch.errors import ThreadNotFound
from threadwatch.store.codec import thread_member
from threadwatch.store.scripts import ChangedSinceRead
from threadwatch.store.stores import Stores


def patch(stores: Stores, thread_id: str, read: str, ttl: str = "") -> list[bytes]:
    """Metadata {"team": "a"} -> {"team": "b"} as read at version ``read``."""
    keys = [
        KEYS.thread(thread_id),
        KEYS.order("updated_at"),
        KEYS.ttl(),
        *KEYS.leaf_index,
        KEYS.metadata_leaf('["team","a"]'),
        KEYS.metadata_leaf('["team","b"]'),
    ]
    args = [thread_member(thread_id), read, '{"team":"b"}', 1, ttl, "delete", "v2", ""]
    return stores.threads.scripts.patch_thread(thread_id, keys, args)


def test_patched_when_the_metadata_is_as_read(stores: Stores, fake_redis: FakeRedis) -> None:
    thread_id = stores.threads.create(None, {"team": "a"})["thread_id"]
    _, read, _ = stores.threads.read_metadata(thread_id)
    raw = patch(stores, thread_id, read, ttl="2")
    h = dict(zip(raw[0::2], raw[1::2], strict=True))
    assert (h[b"metadata"], h[b"mver"], h[b"ttl_minutes"]) == (b'{"team":"b"}', b"v2", b"2")
    assert leaf_holders(fake_redis, '["team","b"]', "idle") == {thread_id}
    assert leaf_holders(fake_redis, '["team","a"]') == set()
    updated = int(thread_hash(fake_redis, thread_id)["updated_at"])
    assert fake_redis.zscore(KEYS.ttl(), thread_member(thread_id)) == updated + 120_000_000


def test_metadata_changed_since_read_writes_nothing(stores: Stores, fake_redis: FakeRedis) -> None:
    thread_id = stores.threads.create(None, {"team": "a"})["thread_id"]
    before = {key: fake_redis.dump(key) for key in fake_redis.keys()}
    with pytest.raises(ChangedSinceRead):
        patch(stores, thread_id, read="stale")
    assert {key: fake_redis.dump(key) for key in fake_redis.keys()} == before


def test_a_missing_thread_is_not_found(stores: Stores, fake_redis: FakeRedis) -> None:
    with pytest.raises(ThreadNotFound):
        patch(stores, str(uuid.uuid4()), read="0")
    assert fake_redis.keys() == []
