"""lua/store_put.lua, store_delete.lua and store_touch.lua: the memory store's items and
their index entries change together. The item store built on them is tested in
tests/unit/store/test_items.py."""

from __future__ import annotations

from fakeredis import FakeRedis

from tests.unit.helpers import KEYS
from tests.unit.store.store_clock import Clock
from threadwatch.store.scripts import Scripts

MINUTE = 60_000_000


def script_keys(ns: str) -> list[str]:
    return [*KEYS.store_namespace(ns), KEYS.store_namespaces(), KEYS.store_expiring()]


def put(scripts: Scripts, ns: str, key: str, ttl: str = "", vectors: bytes = b"") -> tuple:
    return scripts.store_put(script_keys(ns), [ns, key, b'{"v":1}', ttl, vectors])


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
    assert scripts.store_delete(script_keys("a"), ["a", "keys", "k3", "nope"]) == 1
    assert scripts.store_delete(script_keys("a"), ["a", "due", 10]) == 0
    clock.advance_minutes(1)
    assert scripts.store_delete(script_keys("a"), ["a", "due", 10]) == 1
    assert fake_redis.zscore(KEYS.store_expiring(), "a") == clock.now_us + 2 * MINUTE
    clock.advance_minutes(2)
    assert scripts.store_delete(script_keys("a"), ["a", "due", 10]) == 1
    assert fake_redis.keys("*") == []


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
