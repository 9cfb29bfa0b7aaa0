"""lua/create_thread.lua: a thread with every index entry, unless it exists (then nothing
changes and its hash comes back). What ThreadStore.create stores is in
tests/unit/test_threads_store.py."""

from __future__ import annotations

import uuid

from fakeredis import FakeRedis

from tests.unit.helpers import KEYS, thread_hash
from threadwatch.store.codec import thread_member
from threadwatch.store.stores import Stores


def create(stores: Stores, thread_id: str, ttl_minutes: str = "") -> tuple[bool, list[bytes]]:
    keys = [
        KEYS.thread(thread_id),
        KEYS.status("idle"),
        *KEYS.orders,
        KEYS.ttl(),
        *KEYS.leaf_index,
        KEYS.metadata_leaf('["team","a"]'),
    ]
    args = [thread_member(thread_id), '{"team":"a"}', "{}", "", "v1", ttl_minutes, "delete", ""]
    return stores.threads.scripts.create_thread(keys, args)


def test_created_once_then_returned_unchanged(stores: Stores, fake_redis: FakeRedis) -> None:
    thread_id = str(uuid.uuid4())
    created, raw = create(stores, thread_id)
    assert created is True
    first = dict(zip(raw[0::2], raw[1::2], strict=True))
    assert first[b"status"] == b"idle" and first[b"mver"] == b"v1"
    assert first[b"created_at"] == first[b"updated_at"] == first[b"status_since"]
    before = {key: fake_redis.dump(key) for key in fake_redis.keys()}
    again, raw_again = create(stores, thread_id, ttl_minutes="5")
    assert again is False
    assert dict(zip(raw_again[0::2], raw_again[1::2], strict=True)) == first
    assert {key: fake_redis.dump(key) for key in fake_redis.keys()} == before


def test_a_ttl_expires_its_minutes_after_creation(stores: Stores, fake_redis: FakeRedis) -> None:
    thread_id = str(uuid.uuid4())
    create(stores, thread_id, ttl_minutes="1.5")
    created = int(thread_hash(fake_redis, thread_id)["created_at"])
    assert fake_redis.zscore(KEYS.ttl(), thread_member(thread_id)) == created + 90_000_000
