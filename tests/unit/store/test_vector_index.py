"""app/store/vector_index.py where the server has no vector index (fakeredis): detection,
and the exact path as the answer. The index itself is tested on a real one in
tests/integration/store/test_vector_index.py."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from fakeredis import FakeRedis
from redis.exceptions import ResponseError

from tests.unit.graphs.test_redis_store import DIMS, embeddings
from tests.unit.helpers import KEYS
from threadwatch.graphs.memory import MemoryStore, StoreIndex
from threadwatch.graphs.store import RedisStore
from threadwatch.store import vector_index
from threadwatch.store.items import ItemStore
from threadwatch.store.vector_index import VectorIndex, has_search, under_tags


class Refusing:
    """A client whose server refuses COMMAND and answers MODULE LIST with ``modules``
    (or refuses it too: None)."""

    def __init__(self, modules: Any) -> None:
        self.modules = modules

    def execute_command(self, *args: Any) -> Any:
        if args[0] == "MODULE LIST" and self.modules is not None:
            return self.modules
        raise ResponseError("NOPERM this user has no permissions to run that command")


def memory(redis: FakeRedis, **kw: Any) -> MemoryStore:
    return MemoryStore(ItemStore(redis, KEYS), StoreIndex(embeddings(), DIMS, ("text",)), **kw)


def test_fakeredis_has_no_search_and_gets_no_index(fake_redis: FakeRedis) -> None:
    assert not has_search(fake_redis)
    assert memory(fake_redis).vector_index is None
    assert fake_redis.keys("*") == []  # no marker: puts write no vector documents


@pytest.mark.parametrize(
    ("modules", "found"),
    [
        ([{b"name": b"search", b"ver": 21005}], True),  # RESP3
        ([[b"name", b"search", b"ver", 21005]], True),  # RESP2
        ([[b"name", b"lua", b"ver", 1]], False),
        ([], False),
        (None, False),  # MODULE refused too
    ],
)
def test_a_server_refusing_command_is_asked_module_list(modules: Any, found: bool) -> None:
    assert has_search(Refusing(modules)) is found  # type: ignore[arg-type]


def test_an_index_of_other_dims_is_not_used(
    fake_redis: FakeRedis, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(vector_index, "has_search", lambda redis: True)
    fake_redis.set(KEYS.store_vector_marker(), DIMS + 1)
    with caplog.at_level(logging.WARNING):
        assert memory(fake_redis).vector_index is None
    assert "dims" in caplog.text


def test_a_failed_create_keeps_the_exact_path(
    fake_redis: FakeRedis, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(vector_index, "has_search", lambda redis: True)
    with caplog.at_level(logging.WARNING):
        assert memory(fake_redis).vector_index is None  # fakeredis has no FT.CREATE
    assert "no vector index" in caplog.text
    assert fake_redis.get(KEYS.store_vector_marker()) is None


def test_the_index_is_asked_for_once_per_item_store(
    fake_redis: FakeRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[int] = []
    monkeypatch.setattr(VectorIndex, "on", classmethod(lambda cls, items, dims: asked.append(dims)))
    items = ItemStore(fake_redis, KEYS)
    for _ in range(3):  # a worker builds a memory store per run
        MemoryStore(items, StoreIndex(embeddings(), DIMS, ("text",)))
    assert asked == [DIMS]


def test_a_search_the_index_cannot_answer_is_exact(
    fake_redis: FakeRedis, caplog: pytest.LogCaptureFixture
) -> None:
    fast, exact = memory(fake_redis), memory(fake_redis, use_vector_index=False)
    fast.vector_index = VectorIndex(fake_redis, KEYS, DIMS)  # as if the server had one
    fake_redis.set(KEYS.store_vector_marker(), DIMS)
    ours, reference = RedisStore(fast), RedisStore(exact)
    for i, text in enumerate(["redis lua", "graph node", "lua scripts", "memory"]):
        ours.put(("a", str(i % 2)), f"k{i}", {"text": text})
    ours.put(("a",), "plain", {"text": "redis"}, index=False)
    with caplog.at_level(logging.WARNING):
        found = ours.search(("a",), query="lua redis", limit=10)
    assert "vector search failed" in caplog.text
    expected = reference.search(("a",), query="lua redis", limit=10)
    assert [(i.key, i.score) for i in found] == [(i.key, i.score) for i in expected]
    assert found[-1].key == "plain" and found[-1].score is None


def test_the_under_tags_match_a_prefix_by_whole_labels() -> None:
    tags = under_tags("a.b.c").split(",")
    assert len(tags) == 3 and under_tags("a.b") == ",".join(tags[:2])
    assert under_tags("a.bc").split(",")[1] not in tags
    assert under_tags("a,b") != under_tags("a.b")  # a label's own characters never split
