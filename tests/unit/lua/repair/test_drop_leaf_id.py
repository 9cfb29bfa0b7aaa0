"""lua/repair/drop_leaf_id.lua (threadwatch doctor): a leaf id none of whose sets has
members is dropped, if the leaf still has that id."""

from __future__ import annotations

from fakeredis import FakeRedis

from tests.unit.helpers import KEYS
from threadwatch.domain import ThreadStatus
from threadwatch.store.scripts import RepairScripts

LEAF = KEYS.metadata_leaf('["team","a"]')


def drop(redis: FakeRedis, leaf_id: str) -> bool:
    sets = [KEYS.leaf_set(status, leaf_id) for status in ThreadStatus]
    return RepairScripts(redis).drop_leaf_id([KEYS.leaf_ids(), *sets], [LEAF, leaf_id])


def test_only_an_unused_id_the_leaf_still_has_is_dropped(fake_redis: FakeRedis) -> None:
    fake_redis.hset(KEYS.leaf_ids(), LEAF, "7")
    fake_redis.sadd(KEYS.leaf_set("error", "7"), b"m")
    assert drop(fake_redis, "7") is False  # used
    fake_redis.delete(KEYS.leaf_set("error", "7"))
    assert drop(fake_redis, "8") is False  # the leaf has another id
    assert fake_redis.hget(KEYS.leaf_ids(), LEAF) == b"7"
    assert drop(fake_redis, "7") is True
    assert fake_redis.hget(KEYS.leaf_ids(), LEAF) is None
