"""lua/repair/read_thread.lua (threadwatch doctor): a thread and its index entries read at one
instant, from the leaves the caller computed from the metadata version it names."""

from __future__ import annotations

from fakeredis import FakeRedis

from tests.unit.helpers import KEYS, thread_hash
from threadwatch.store.codec import thread_member
from threadwatch.store.scripts import RepairScripts
from threadwatch.store.stores import Stores
from threadwatch.store.thread_check import ROW_FIELDS

GHOST = "00000000-0000-4000-8000-00000000dead"


def read(redis: FakeRedis, thread_id: str, mver: str, names: list[str]) -> object:
    keys = [KEYS.thread(thread_id), *KEYS.statuses, *KEYS.orders, *KEYS.leaf_index, *names]
    return RepairScripts(redis).read_thread(keys, [thread_member(thread_id), mver, *ROW_FIELDS])


def test_a_thread_and_its_entries(stores: Stores, fake_redis: FakeRedis) -> None:
    thread_id = stores.threads.create(None, {"team": "a"})["thread_id"]
    h = thread_hash(fake_redis, thread_id)
    names = [KEYS.metadata_leaf('["team","a"]'), KEYS.metadata_leaf('["team","zz"]')]
    fake_redis.srem(KEYS.leaf_set("idle", h["leaves"]), thread_member(thread_id))
    reply = read(fake_redis, thread_id, h["mver"], names)
    assert isinstance(reply, list)
    row, statuses, orders, ids, held = reply
    assert dict(zip(ROW_FIELDS, row, strict=True))["status"] == b"idle"
    assert [s is not None for s in statuses] == [True, False, False, False]
    assert float(statuses[0]) == int(h["status_since"])
    assert all(o is not None for o in orders)
    assert ids == [h["leaves"].encode(), None]  # the second leaf has no id
    assert held == [0, 0]  # the entry removed above, and no set for a leaf without an id


def test_a_missing_thread_or_changed_metadata(stores: Stores, fake_redis: FakeRedis) -> None:
    assert read(fake_redis, GHOST, "0", []) is None
    thread_id = stores.threads.create(None, {"team": "a"})["thread_id"]
    mver = thread_hash(fake_redis, thread_id)["mver"]
    stores.threads.patch(thread_id, {"team": "b"})
    assert read(fake_redis, thread_id, mver, [KEYS.metadata_leaf('["team","a"]')]) is False
