"""The item store against a model in Python, over random sequences of puts (with and without
TTLs), reads (with and without refresh), deletes, clock moves and sweeps: what it returns is
always the model's (expiry exact, created_at kept), and after a sweep its index sets hold
exactly the live items' namespaces."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest
from fakeredis import FakeRedis

from tests.unit.helpers import KEYS
from tests.unit.store.store_clock import Clock
from threadwatch.store.items import ItemStore, namespace_text

NAMESPACES = [("a",), ("a", "b"), ("a", "c"), ("b",)]
MINUTE = 60_000_000


@dataclass
class Modelled:
    value: dict
    created: int
    updated: int
    ttl: float | None
    expires: int | None

    def alive(self, now: int) -> bool:
        return self.expires is None or self.expires > now


class Model:
    def __init__(self) -> None:
        self.items: dict[tuple[tuple[str, ...], str], Modelled] = {}

    def put(self, ref: tuple, value: dict, ttl: float | None, now: int) -> None:
        old = self.items.get(ref)
        created = old.created if old and old.alive(now) else now
        expires = None if ttl is None else now + int(ttl * MINUTE)
        self.items[ref] = Modelled(value, created, now, ttl, expires)

    def get(self, ref: tuple, refresh: bool, now: int) -> Modelled | None:
        found = self.items.get(ref)
        if found is None or not found.alive(now):
            return None
        if refresh and found.ttl is not None:
            found.expires = now + int(found.ttl * MINUTE)
        return found

    def live(self, now: int) -> dict:
        return {ref: item for ref, item in self.items.items() if item.alive(now)}


def check_get(items: ItemStore, model: Model, ref: tuple, refresh: bool, now: int) -> None:
    [got] = items.get([ref], refresh)
    want = model.get(ref, refresh, now)
    if want is None:
        assert got is None, ref
        return
    assert got is not None, ref
    assert (got.value, got.created_us, got.updated_us) == (want.value, want.created, want.updated)


def check_search(items: ItemStore, model: Model, prefix: tuple, now: int) -> None:
    found = items.search(prefix, limit=1000)
    want = {ref for ref, item in model.live(now).items() if ref[0][: len(prefix)] == prefix}
    assert {(item.namespace, item.key) for item in found} == want
    updated = [item.updated_us for item in found]
    assert updated == sorted(updated, reverse=True)


def check_indexes(fake_redis: FakeRedis, model: Model, now: int) -> None:
    """After a sweep: the namespace index holds the live items' namespaces; the expiring
    index holds every namespace with a TTL, scored at most its first expiry, and nothing
    due (an entry left by a namespace whose TTLs went is dropped when due)."""
    live = model.live(now)
    namespaces = {namespace_text(ns) for ns, _ in live}
    indexed = {raw.decode() for raw in fake_redis.zrange(KEYS.store_namespaces(), 0, -1)}
    assert indexed == namespaces
    expiring = dict(fake_redis.zrange(KEYS.store_expiring(), 0, -1, withscores=True))
    for ns in namespaces:
        expiries = [i.expires for (n, _), i in live.items() if namespace_text(n) == ns]
        first = min((e for e in expiries if e is not None), default=None)
        score = expiring.get(ns.encode())
        assert first is None or (score is not None and score <= first)
    assert all(score > now for score in expiring.values())


@pytest.mark.parametrize("seed", range(8))
def test_the_item_store_follows_the_model(fake_redis: FakeRedis, clock: Clock, seed: int) -> None:
    rng, items, model = random.Random(seed), ItemStore(fake_redis, KEYS), Model()
    for step in range(250):
        ref = (rng.choice(NAMESPACES), rng.choice("xyz"))
        roll = rng.random()
        if roll < 0.35:
            ttl = rng.choice([None, 0.5, 1, 3])
            items.put(ref[0], ref[1], {"step": step}, ttl)
            model.put(ref, {"step": step}, ttl, clock.now_us)
        elif roll < 0.6:
            check_get(items, model, ref, rng.random() < 0.5, clock.now_us)
        elif roll < 0.68:
            items.delete(ref[0], [ref[1]])
            model.items.pop(ref, None)
        elif roll < 0.8:
            clock.advance_minutes(rng.choice([0, 0.25, 0.5, 1]))
        elif roll < 0.88:
            items.expire_due()
            model.items = model.live(clock.now_us)
            check_indexes(fake_redis, model, clock.now_us)
        elif roll < 0.95:
            check_search(items, model, rng.choice([(), *NAMESPACES]), clock.now_us)
        else:
            live = {ns for ns, _ in model.live(clock.now_us)}
            assert items.list_namespaces() == sorted(live)
