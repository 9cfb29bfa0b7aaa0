"""lua/store_put.lua, store_delete.lua and store_touch.lua: the memory store's items and
their index entries change together. The item store built on them is tested in
tests/unit/store/test_items.py."""

from __future__ import annotations

import struct

from fakeredis import FakeRedis

from tests.unit.helpers import KEYS
from tests.unit.store.store_clock import Clock
from threadwatch.store.scripts import Scripts

MINUTE = 60_000_000


def script_keys(ns: str) -> list[str]:
    return [
        *KEYS.store_namespace(ns),
        KEYS.store_namespaces(),
        KEYS.store_expiring(),
        KEYS.store_indexed(ns),
    ]


def documents(ns: str, key: str, count: int) -> list[str]:
    return [KEYS.store_vector_doc(ns, key, j) for j in range(count)]


def put(
    scripts: Scripts, ns: str, key: str, ttl: str = "", vectors: bytes = b"", given: int = 0
) -> tuple | int:
    keys = [*script_keys(ns), KEYS.store_vector_marker(), *documents(ns, key, given)]
    return scripts.store_put(keys, [ns, key, b'{"v":1}', ttl, vectors, "tags"])


def delete(scripts: Scripts, ns: str, mode: str, *pairs: tuple[str, int]) -> int | None:
    keys, args = script_keys(ns), [ns, mode]
    for key, given in pairs:
        keys += documents(ns, key, given)
        args += [key, given]
    return scripts.store_delete(keys, args)


def test_put_writes_every_structure_at_the_server_time(fake_redis: FakeRedis, clock: Clock) -> None:
    scripts = Scripts(fake_redis)
    assert put(scripts, "a.b", "k", "1.5", b"vec") == (clock.now_us, clock.now_us)
    expires = clock.now_us + 90_000_000
    assert fake_redis.hget(KEYS.store_items("a.b"), "k") == f'{clock.now_us}:{{"v":1}}'.encode()
    assert fake_redis.zscore(KEYS.store_updated("a.b"), "k") == clock.now_us
    assert fake_redis.zscore(KEYS.store_expiry("a.b"), "k") == expires
    assert fake_redis.hget(KEYS.store_ttl("a.b"), "k") == b"1.5"
    assert fake_redis.hget(KEYS.store_vectors("a.b"), "k") == b"vec"
    assert fake_redis.zscore(KEYS.store_namespaces(), "a.b") == 0
    assert fake_redis.zscore(KEYS.store_expiring(), "a.b") == expires


def test_the_expiring_score_stays_the_namespaces_first_expiry(
    fake_redis: FakeRedis, clock: Clock
) -> None:
    scripts = Scripts(fake_redis)
    put(scripts, "a", "soon", "1")
    put(scripts, "a", "later", "5")
    assert fake_redis.zscore(KEYS.store_expiring(), "a") == clock.now_us + MINUTE


def test_delete_keys_and_due(fake_redis: FakeRedis, clock: Clock) -> None:
    scripts = Scripts(fake_redis)
    put(scripts, "a", "k1", "1")
    put(scripts, "a", "k2", "3")
    put(scripts, "a", "k3")
    assert delete(scripts, "a", "keys", ("k3", 0), ("nope", 0)) == 1
    assert delete(scripts, "a", "due", ("k1", 0), ("k2", 0)) == 0  # none due yet
    clock.advance_minutes(1)
    assert delete(scripts, "a", "due", ("k1", 0), ("k2", 0)) == 1
    assert fake_redis.zscore(KEYS.store_expiring(), "a") == clock.now_us + 2 * MINUTE
    clock.advance_minutes(2)
    assert delete(scripts, "a", "due", ("k2", 0)) == 1
    assert fake_redis.keys("*") == []


def vector(*values: float) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


def test_documents_are_written_only_once_the_index_marker_is_set(
    fake_redis: FakeRedis, clock: Clock
) -> None:
    scripts = Scripts(fake_redis)
    two = vector(1, 0) + vector(0, 1)
    assert put(scripts, "a.b", "k", vectors=two, given=2) == (clock.now_us, clock.now_us)
    assert fake_redis.exists(*documents("a.b", "k", 2)) == 0  # no index on the server
    fake_redis.set(KEYS.store_vector_marker(), 2)
    assert put(scripts, "a.b", "k", vectors=two, given=1) == 2  # asks for 2 keys: no write
    assert fake_redis.exists(*documents("a.b", "k", 2)) == 0
    put(scripts, "a.b", "k", vectors=two, given=2)
    first, second = documents("a.b", "k", 2)
    assert fake_redis.hgetall(first) == {
        b"ns": b"a.b",
        b"key": b"k",
        b"under": b"tags",
        b"vec": vector(1, 0),
    }
    assert fake_redis.hget(second, "vec") == vector(0, 1)
    assert fake_redis.hget(KEYS.store_indexed("a.b"), "k") == b"2"
    assert put(scripts, "a.b", "k", vectors=vector(1, 1), given=1) == 2  # it holds 2
    put(scripts, "a.b", "k", vectors=vector(1, 1), given=2)
    assert fake_redis.exists(second) == 0 and fake_redis.hget(first, "vec") == vector(1, 1)
    assert fake_redis.hget(KEYS.store_indexed("a.b"), "k") == b"1"


def test_other_dims_write_no_document(fake_redis: FakeRedis) -> None:
    scripts = Scripts(fake_redis)
    fake_redis.set(KEYS.store_vector_marker(), 3)
    put(scripts, "a", "k", vectors=vector(1, 0), given=1)
    assert fake_redis.exists(*documents("a", "k", 1)) == 0
    assert fake_redis.hget(KEYS.store_indexed("a"), "k") is None


def test_delete_and_expiry_take_the_documents(fake_redis: FakeRedis, clock: Clock) -> None:
    scripts = Scripts(fake_redis)
    fake_redis.set(KEYS.store_vector_marker(), 2)
    put(scripts, "a", "k", vectors=vector(1, 0) + vector(0, 1), given=2)
    put(scripts, "a", "t", ttl="1", vectors=vector(1, 0), given=1)
    assert delete(scripts, "a", "keys", ("k", 1)) is None  # too few keys: nothing deleted
    assert fake_redis.exists(*documents("a", "k", 2)) == 2
    assert delete(scripts, "a", "keys", ("k", 2)) == 1
    assert fake_redis.exists(*documents("a", "k", 2)) == 0
    clock.advance_minutes(1)
    assert delete(scripts, "a", "due", ("t", 1)) == 1
    assert fake_redis.keys("*") == [KEYS.store_vector_marker().encode()]


def test_index_gives_earlier_items_their_documents(fake_redis: FakeRedis) -> None:
    scripts = Scripts(fake_redis)
    put(scripts, "a", "k", vectors=vector(1, 0) + vector(0, 1), given=2)
    fake_redis.set(KEYS.store_vector_marker(), 2)
    keys = [
        KEYS.store_items("a"),
        KEYS.store_vectors("a"),
        KEYS.store_indexed("a"),
        KEYS.store_vector_marker(),
    ]
    assert scripts.store_index([*keys, *documents("a", "k", 1)], ["a", "k", "tags"]) is None
    assert scripts.store_index([*keys, *documents("a", "k", 2)], ["a", "k", "tags"]) == 2
    assert fake_redis.hget(documents("a", "k", 2)[1], "vec") == vector(0, 1)
    assert scripts.store_index([*keys, *documents("a", "k", 2)], ["a", "k", "tags"]) == 0


def test_touch_refreshes_only_live_items_with_a_ttl(fake_redis: FakeRedis, clock: Clock) -> None:
    scripts = Scripts(fake_redis)
    put(scripts, "a", "live", "2")
    put(scripts, "a", "dead", "1")
    put(scripts, "a", "none")
    clock.advance_minutes(1)
    touch_keys = [KEYS.store_expiry("a"), KEYS.store_ttl("a")]
    assert scripts.store_touch(touch_keys, ["live", "dead", "none", "missing"]) == 1
    assert fake_redis.zscore(KEYS.store_expiry("a"), "live") == clock.now_us + 2 * MINUTE
    assert fake_redis.zscore(KEYS.store_expiry("a"), "dead") == clock.now_us  # expired: kept
