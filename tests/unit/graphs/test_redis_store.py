"""LangGraph's BaseStore on Redis (app/graphs/store.py), held to the contract of LangGraph's
own stores: the behaviours its InMemoryStore tests check, and the same answers as
InMemoryStore for the same calls (the order of a listing aside: LangGraph's server and
this store list most recently updated first, InMemoryStore in insertion order)."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import pytest
from fakeredis import FakeRedis
from langgraph.store.base import (
    BaseStore,
    GetOp,
    InvalidNamespaceError,
    ListNamespacesOp,
    MatchCondition,
    PutOp,
    SearchOp,
)
from langgraph.store.memory import InMemoryStore

from tests.support import ROOT
from tests.unit.helpers import KEYS
from tests.unit.store.store_clock import Clock
from threadwatch.graphs.memory import MemoryStore, StoreIndex, StoreTTL
from threadwatch.graphs.registry import GraphConfigError
from threadwatch.graphs.store import RedisStore
from threadwatch.graphs.store_config import memory_store, resolve_embeddings
from threadwatch.store.item_filter import UnsupportedOperator
from threadwatch.store.items import ItemStore

FIXTURES = ROOT / "tests" / "fixtures" / "store"
DIMS = 64


def embeddings(name: str = "embed") -> object:
    return resolve_embeddings(f"./embed.py:{name}", FIXTURES)


def redis_store(
    redis: FakeRedis, *, index: bool = False, ttl: StoreTTL | None = None, inline: bool = False
) -> RedisStore:
    found = StoreIndex(embeddings(), DIMS, ("text",)) if index else None
    memory = MemoryStore(ItemStore(redis, KEYS), found, ttl or StoreTTL())
    return RedisStore(memory, inline=inline)


@pytest.fixture
def store(fake_redis: FakeRedis) -> RedisStore:
    return redis_store(fake_redis)


def test_it_is_a_base_store_with_ttl(store: RedisStore) -> None:
    assert isinstance(store, BaseStore) and store.supports_ttl


def test_put_get_delete(store: RedisStore) -> None:
    store.put(("users", "1"), "prefs", {"theme": "dark"})
    item = store.get(("users", "1"), "prefs")
    assert item is not None
    assert (item.namespace, item.key, item.value) == (("users", "1"), "prefs", {"theme": "dark"})
    assert item.created_at.tzinfo is not None and item.created_at <= item.updated_at
    store.delete(("users", "1"), "prefs")
    assert store.get(("users", "1"), "prefs") is None


def test_batch_runs_ops_in_order(store: RedisStore) -> None:
    ns = ("a",)
    results = store.batch(
        [
            PutOp(ns, "k", {"v": 1}),
            GetOp(ns, "k"),
            PutOp(ns, "k", None),
            GetOp(ns, "k"),
            ListNamespacesOp(match_conditions=None, max_depth=None, limit=10, offset=0),
        ]
    )
    assert results[0] is None and results[2] is None
    assert results[1] is not None and results[1].value == {"v": 1}
    assert results[3] is None and results[4] == []


@pytest.mark.parametrize(
    "namespace", [("a.b",), ("",), ("a", ""), ()], ids=["dotted", "empty", "empty-2", "none"]
)
def test_invalid_namespaces_are_refused(store: RedisStore, namespace: tuple[str, ...]) -> None:
    with pytest.raises(InvalidNamespaceError):
        store.put(namespace, "k", {})
    with pytest.raises(InvalidNamespaceError):
        store.batch([PutOp(namespace, "k", {})])  # ops sent straight to batch too


def test_search_filters_and_pages(store: RedisStore) -> None:
    for i in range(6):
        store.put(("docs", "u1" if i % 2 else "u2"), f"d{i}", {"i": i, "odd": bool(i % 2)})
    store.put(("other",), "x", {"i": 99, "odd": True})
    found = store.search(("docs",), filter={"odd": True})
    assert [item.value["i"] for item in found] == [5, 3, 1]
    assert all(item.score is None for item in found)
    assert [i.value["i"] for i in store.search(("docs",), limit=2, offset=1)] == [4, 3]
    assert [i.value["i"] for i in store.search(("docs",), filter={"i": {"$gte": 4}})] == [5, 4]
    with pytest.raises(UnsupportedOperator):
        store.search(("docs",), filter={"i": {"$in": [1]}})


def test_list_namespaces(store: RedisStore) -> None:
    for ns in [("a", "b", "c"), ("a", "b", "d"), ("a", "e"), ("f",)]:
        store.put(ns, "k", {})
    assert store.list_namespaces(prefix=("a",), max_depth=2) == [("a", "b"), ("a", "e")]
    assert store.list_namespaces(suffix=("d",)) == [("a", "b", "d")]
    assert store.list_namespaces(prefix=("a", "*", "c")) == [("a", "b", "c")]
    assert store.list_namespaces(limit=1, offset=3) == [("f",)]


def test_ttl_default_and_refresh_follow_the_config(fake_redis: FakeRedis, clock: Clock) -> None:
    store = redis_store(fake_redis, ttl=StoreTTL(refresh_on_read=False, default_ttl=2))
    store.put(("a",), "default", {})
    store.put(("a",), "none", {}, ttl=None)
    clock.advance_minutes(1.5)
    assert store.get(("a",), "default") is not None  # read without refresh
    store.get(("a",), "default", refresh_ttl=True) is not None  # noqa: B015
    clock.advance_minutes(1)  # 2.5 after the put, 1 after the refresh
    assert store.get(("a",), "default") is not None
    clock.advance_minutes(1)
    assert store.get(("a",), "default") is None
    assert store.get(("a",), "none") is not None


def test_search_refreshes_what_it_returns(fake_redis: FakeRedis, clock: Clock) -> None:
    store = redis_store(fake_redis)  # refresh_on_read defaults to true
    store.put(("a",), "k", {}, ttl=1)
    clock.advance_minutes(0.75)
    assert len(store.search(("a",))) == 1
    clock.advance_minutes(0.75)
    assert len(store.search(("a",), refresh_ttl=False)) == 1
    clock.advance_minutes(0.5)
    assert store.search(("a",)) == []


def test_semantic_search_ranks_by_similarity(fake_redis: FakeRedis) -> None:
    store = redis_store(fake_redis, index=True)
    store.put(("docs",), "redis", {"text": "redis keeps data in memory"})
    store.put(("docs",), "lua", {"text": "lua scripts run atomically"})
    store.put(("docs",), "plain", {"title": "no text field"})
    store.put(("docs",), "skipped", {"text": "redis keeps data"}, index=False)
    found = store.search(("docs",), query="redis memory")
    assert [item.key for item in found[:2]] == ["redis", "lua"]
    assert found[0].score is not None and found[1].score is not None
    assert found[0].score > found[1].score
    assert {item.key for item in found[2:]} == {"plain", "skipped"}
    assert all(item.score is None for item in found[2:])
    assert [i.key for i in store.search(("docs",), query="redis memory", limit=1)] == ["redis"]


def test_put_index_names_the_fields_to_embed(fake_redis: FakeRedis) -> None:
    store = redis_store(fake_redis, index=True)
    store.put(("d",), "k", {"text": "nothing alike", "title": "lua scripts"}, index=["title"])
    [found] = store.search(("d",), query="lua scripts")
    assert found.score == pytest.approx(1.0)


def test_async_methods_with_an_async_embedding(fake_redis: FakeRedis) -> None:
    index = StoreIndex(embeddings("aembed"), DIMS, ("text",))
    store = RedisStore(MemoryStore(ItemStore(fake_redis, KEYS), index), inline=True)
    threaded = RedisStore(store.memory)

    async def scenario() -> None:
        await store.aput(("a",), "k", {"text": "hello world"})
        item = await threaded.aget(("a",), "k")
        assert item is not None and item.value == {"text": "hello world"}
        [found] = await store.asearch(("a",), query="hello")
        assert found.score is not None and found.score > 0
        assert await threaded.alist_namespaces() == [("a",)]
        await threaded.adelete(("a",), "k")
        assert await store.aget(("a",), "k") is None

    asyncio.run(scenario())


def test_a_vector_of_the_wrong_size_is_refused(fake_redis: FakeRedis) -> None:
    memory = MemoryStore(ItemStore(fake_redis, KEYS), StoreIndex(embeddings(), 8, ("text",)))
    with pytest.raises(ValueError, match="64 dimensions; store.index.dims is 8"):
        RedisStore(memory).put(("a",), "k", {"text": "x"})
    assert RedisStore(memory).get(("a",), "k") is None


def test_the_store_is_configured_by_langgraph_json(fake_redis: FakeRedis, tmp_path: Path) -> None:
    (tmp_path / "embed.py").write_text((FIXTURES / "embed.py").read_text())
    config = tmp_path / "langgraph.json"
    config.write_text(
        '{"graphs": {}, "store": {"index": {"embed": "./embed.py:embed", "dims": 64, '
        '"fields": ["text"]}, "ttl": {"refresh_on_read": false, "default_ttl": 5}}}'
    )
    memory = memory_store(ItemStore(fake_redis, KEYS), config)
    assert memory.index is not None and memory.index.dims == 64
    assert memory.index.fields == ("text",)
    assert memory.ttl == StoreTTL(refresh_on_read=False, default_ttl=5)


# -- the same calls on InMemoryStore ----------------------------------------------------------

NAMESPACES = [("a",), ("a", "b"), ("a", "c"), ("b",), ("b", "a", "c")]
WORDS = "redis lua memory scripts graph node".split()


def random_ops(rng: random.Random, count: int) -> list:
    ops: list = []
    for _ in range(count):
        ns, key = rng.choice(NAMESPACES), rng.choice("kmn")
        roll = rng.random()
        if roll < 0.5:
            text = " ".join(rng.sample(WORDS, 2))
            ops.append(PutOp(ns, key, {"text": text, "n": rng.randint(0, 3)}))
        elif roll < 0.6:
            ops.append(PutOp(ns, key, None))
        elif roll < 0.8:
            ops.append(GetOp(ns, key))
        elif roll < 0.9:
            limit = rng.randint(1, 20)
            filters = [None, {"n": rng.randint(0, 3)}, {"n": {"$gt": 1}}]
            prefix = rng.choice([(), *NAMESPACES])
            ops.append(SearchOp(prefix, rng.choice(filters), limit, 0))
        else:
            condition = MatchCondition(rng.choice(["prefix", "suffix"]), rng.choice(NAMESPACES))
            depth = rng.choice([None, 1, 2])
            ops.append(ListNamespacesOp((condition,), depth, 100, 0))
    return ops


def normalised(result: object) -> object:
    """A result compared across stores: items by what they hold, listings as sets."""
    if isinstance(result, list) and result and hasattr(result[0], "key"):
        return sorted((i.namespace, i.key, repr(i.value)) for i in result)
    if hasattr(result, "key"):
        return (result.namespace, result.key, result.value)  # type: ignore[attr-defined]
    return result


@pytest.mark.parametrize("seed", range(5))
def test_it_answers_as_the_in_memory_store(fake_redis: FakeRedis, seed: int) -> None:
    ours, theirs = redis_store(fake_redis), InMemoryStore()
    for op in random_ops(random.Random(seed), 150):
        if isinstance(op, ListNamespacesOp):
            # InMemoryStore keeps a namespace once read or emptied (a defaultdict): LangGraph's
            # server lists the namespaces that hold items, as this store does.
            for empty in [ns for ns, held in theirs._data.items() if not held]:
                del theirs._data[empty]
        [mine] = ours.batch([op])
        [reference] = theirs.batch([op])
        if isinstance(op, SearchOp):  # a page of a listing: the same size, rows of theirs
            assert len(mine) == len(reference)
            all_theirs = theirs.batch([SearchOp(op.namespace_prefix, op.filter, 10**6, 0)])
            assert set(normalised(mine)) <= set(normalised(all_theirs[0]))
        else:
            assert normalised(mine) == normalised(reference)


def test_semantic_scores_are_the_in_memory_stores(fake_redis: FakeRedis) -> None:
    index = {"embed": embeddings(), "dims": DIMS, "fields": ["text"]}
    ours, theirs = redis_store(fake_redis, index=True), InMemoryStore(index=index)  # type: ignore[arg-type]
    rng = random.Random(7)
    for i in range(30):
        text, ns = " ".join(rng.sample(WORDS, 3)), rng.choice(NAMESPACES)
        for store in (ours, theirs):
            store.put(ns, f"k{i}", {"text": text})
    for query in ["redis memory", "graph node scripts", "lua"]:
        mine = ours.search((), query=query, limit=100)
        reference = theirs.search((), query=query, limit=100)
        assert {(i.namespace, i.key): i.score for i in mine} == pytest.approx(
            {(i.namespace, i.key): i.score for i in reference}, rel=1e-5
        )


@pytest.mark.parametrize(
    ("store", "message"),
    [
        ({"index": {"embed": "./embed.py:embed", "dims": 0}}, "dims"),
        ({"index": {"embed": "./embed.py:embed", "dims": 8, "fields": "text"}}, "fields"),
        ({"index": {"embed": "./missing.py:embed", "dims": 8}}, "Could not find embeddings"),
        ({"index": {"embed": "./embed.py:nope", "dims": 8}}, "Could not find embeddings"),
        ({"index": {"dims": 8}}, "embed"),
        ({"ttl": {"default_ttl": -1}}, "default_ttl"),
        ({"ttl": {"refresh_on_read": "yes"}}, "refresh_on_read"),
        ("memory", "must be an object"),
    ],
)
def test_a_bad_store_config_is_named(
    fake_redis: FakeRedis, tmp_path: Path, store: object, message: str
) -> None:
    (tmp_path / "embed.py").write_text((FIXTURES / "embed.py").read_text())
    config = tmp_path / "langgraph.json"
    config.write_text(json.dumps({"graphs": {}, "store": store}))
    with pytest.raises(GraphConfigError, match=message):
        memory_store(ItemStore(fake_redis, KEYS), config)
