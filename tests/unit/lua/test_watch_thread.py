"""lua/watch_thread.lua: a client watches a thread's event stream for a while (renewable),
never shortening another client's watch. The streams themselves are tested in
tests/unit/test_thread_stream.py."""

from __future__ import annotations

import uuid

import pytest
from fakeredis import FakeRedis

from tests.unit.helpers import KEYS, thread_hash
from threadwatch.errors import ThreadNotFound
from threadwatch.store.stores import Stores


def watch(stores: Stores, thread_id: str, us: int) -> str:
    keys = [KEYS.thread(thread_id), KEYS.thread_stream(thread_id)]
    return stores.threads.scripts.watch_thread(thread_id, keys, [us])


def test_a_watch_lasts_and_is_never_shortened(stores: Stores, fake_redis: FakeRedis) -> None:
    thread_id = stores.threads.create()["thread_id"]
    assert watch(stores, thread_id, 60_000_000) == "0-0"  # no entry yet
    long = int(thread_hash(fake_redis, thread_id)["watch"])
    assert long > int(thread_hash(fake_redis, thread_id)["updated_at"]) + 59_000_000
    watch(stores, thread_id, 1_000_000)
    assert int(thread_hash(fake_redis, thread_id)["watch"]) == long
    entry = fake_redis.xadd(KEYS.thread_stream(thread_id), {"event": "x", "data": "{}"})
    assert watch(stores, thread_id, 120_000_000) == entry.decode()
    assert int(thread_hash(fake_redis, thread_id)["watch"]) > long


def test_a_missing_thread_is_not_found(stores: Stores, fake_redis: FakeRedis) -> None:
    with pytest.raises(ThreadNotFound):
        watch(stores, str(uuid.uuid4()), 1_000_000)
    assert fake_redis.keys() == []
