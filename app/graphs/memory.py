"""The long-term memory store as graphs and the ``/store`` API use it: items (app/store/
items.py) with LangGraph's TTL defaults and, when ``langgraph.json`` configures
``store.index``, semantic search.

A put embeds the item's indexed fields (one vector per text, as LangGraph's stores do) and
keeps the vectors beside the item. A search with a ``query`` embeds it and ranks the items
under the namespace prefix that pass the filter by cosine similarity (best vector of each
item). Where the server has a vector index (app/store/vector_index.py) it finds the
nearest items; on plain Redis or Valkey, and for a search the index cannot answer, the
search is exact: it scores every item under the prefix here in the server, at a cost that
grows with them (keep namespaces narrow: per user, per topic). Both give the same answer;
items without vectors follow the scored ones, unscored, as in LangGraph's in-memory store.
"""

from __future__ import annotations

import math
import operator
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import InitVar, dataclass, field
from typing import Any

from threadwatch.graphs.serde import jsonable
from threadwatch.store.item_filter import check_filter, item_matcher
from threadwatch.store.items import ItemStore, Namespace, StoredItem
from threadwatch.store.vector_index import VectorIndex


@dataclass(frozen=True)
class StoreIndex:
    """``store.index`` of langgraph.json, loaded: the embeddings (a LangChain ``Embeddings``),
    the vectors' dimensions, and the fields embedded by default."""

    embeddings: Any
    dims: int
    fields: tuple[str, ...] = ("$",)


@dataclass(frozen=True)
class StoreTTL:
    """``store.ttl`` of langgraph.json: LangGraph's TTLConfig."""

    refresh_on_read: bool = True
    default_ttl: float | None = None
    sweep_interval_minutes: float | None = None

    def as_config(self) -> dict[str, Any]:
        return {
            "refresh_on_read": self.refresh_on_read,
            "default_ttl": self.default_ttl,
            "sweep_interval_minutes": self.sweep_interval_minutes,
        }


@dataclass
class Scored:
    """A search result: the item and, for a semantic search, its score."""

    item: StoredItem
    score: float | None = None


@dataclass
class MemoryStore:
    """Items, their embeddings and LangGraph's TTL rules, on one item store."""

    items: ItemStore
    index: StoreIndex | None = None
    ttl: StoreTTL = field(default_factory=StoreTTL)
    # Whether to search through the server's vector index where it has one (tests compare).
    use_vector_index: InitVar[bool] = True
    vector_index: VectorIndex | None = field(default=None, init=False)

    def __post_init__(self, use_vector_index: bool) -> None:
        if self.index is not None and use_vector_index:
            self.vector_index = self.items.vector_index(self.index.dims)

    # -- what LangGraph's defaults make of a call --------------------------------------

    def refresh(self, asked: bool | None) -> bool:
        """refresh_ttl as asked, else the config's refresh_on_read."""
        return self.ttl.refresh_on_read if asked is None else asked

    def ttl_of(self, asked: float | None) -> float | None:
        """An item's TTL (minutes): as asked, else the config's default_ttl."""
        return self.ttl.default_ttl if asked is None else asked

    # -- embeddings --------------------------------------------------------------------

    def texts(self, value: Mapping[str, Any], index: Sequence[str] | bool | None) -> list[str]:
        """The texts of ``value`` to embed: the fields ``index`` names, else the config's;
        none when ``index`` is False or no index is configured."""
        if self.index is None or index is False:
            return []
        from langgraph.store.base import get_text_at_path, tokenize_path

        paths = self.index.fields if index is None or index is True else tuple(index)
        texts: list[str] = []
        for path in paths:
            texts += get_text_at_path(value, path if path == "$" else tokenize_path(path))
        return texts

    def embed(self, texts: list[str]) -> bytes | None:
        if not texts or self.index is None:
            return None
        return self._pack(self.index.embeddings.embed_documents(texts))

    async def aembed(self, texts: list[str]) -> bytes | None:
        if not texts or self.index is None:
            return None
        return self._pack(await self.index.embeddings.aembed_documents(texts))

    def embed_query(self, query: str | None) -> list[float] | None:
        if not query or self.index is None:
            return None
        return list(self.index.embeddings.embed_query(query))

    async def aembed_query(self, query: str | None) -> list[float] | None:
        if not query or self.index is None:
            return None
        return list(await self.index.embeddings.aembed_query(query))

    def _pack(self, vectors: Sequence[Sequence[float]]) -> bytes:
        """The vectors scaled to length 1 (a zero vector stays zero), as float32: a search
        then scores each by one dot product."""
        assert self.index is not None
        dims = self.index.dims
        for vector in vectors:
            if len(vector) != dims:
                raise ValueError(
                    f"the embeddings gave a vector of {len(vector)} dimensions; "
                    f"store.index.dims is {dims}"
                )
        flat = [x for vector in vectors for x in _unit(vector)]
        return struct.pack(f"<{len(flat)}f", *flat)

    def _unpack(self, raw: bytes) -> list[Sequence[float]]:
        """The vectors packed in ``raw`` (float32, little-endian)."""
        assert self.index is not None
        flat = struct.unpack(f"<{len(raw) // 4}f", raw)
        dims = self.index.dims
        return [flat[i : i + dims] for i in range(0, len(flat), dims)]

    # -- operations (Redis) ------------------------------------------------------------

    def put(
        self,
        namespace: Namespace,
        key: str,
        value: Mapping[str, Any],
        ttl: float | None,
        vectors: bytes | None,
    ) -> None:
        """Store the item (``ttl`` already defaulted by the caller)."""
        count = len(vectors) // (4 * self.index.dims) if vectors and self.index else 0
        self.items.put(namespace, key, jsonable(dict(value)), ttl, vectors, count)

    def delete(self, namespace: Namespace, key: str) -> None:
        self.items.delete(namespace, [key])

    def get(self, namespace: Namespace, key: str, refresh: bool) -> StoredItem | None:
        found: StoredItem | None = self.items.get([(namespace, key)], refresh)[0]
        return found

    def search(
        self,
        prefix: Namespace,
        filter: Mapping[str, Any] | None,
        limit: int,
        offset: int,
        refresh: bool,
        query_vector: list[float] | None = None,
    ) -> list[Scored]:
        """A page of items under ``prefix``: by similarity to ``query_vector`` when given,
        else most recently updated first."""
        check_filter(filter)
        match = item_matcher(filter)
        if query_vector is None:
            page = self.items.search(prefix, match, offset, limit, refresh)
            return [Scored(item) for item in page]
        found = self._nearest(prefix, match, offset, limit, query_vector)
        if refresh:
            self.items.touch(s.item for s in found)
        return found

    def _nearest(
        self,
        prefix: Namespace,
        match: Callable[[dict[str, Any]], bool] | None,
        offset: int,
        limit: int,
        query: list[float],
    ) -> list[Scored]:
        """A page of the items by similarity to ``query``: through the vector index when
        it can answer, else exact."""
        if self.vector_index is not None:
            ranked = self.vector_index.nearest(
                self.items, prefix, match, offset + limit, _unit(query)
            )
            if ranked is not None:
                return [Scored(item, score) for item, score in ranked[offset:]]
        return self._rank(self.items.candidates(prefix, match), query)[offset : offset + limit]

    def _rank(self, items: list[StoredItem], query: list[float]) -> list[Scored]:
        """Items with vectors by their best cosine similarity to ``query`` (the stored
        vectors are unit vectors), then those without, unscored, in their listing order."""
        scored, unscored = [], []
        unit_query = _unit(query)
        for item in items:
            if item.vectors:
                best = max(
                    sum(map(operator.mul, unit_query, v)) for v in self._unpack(item.vectors)
                )
                scored.append(Scored(item, best))
            else:
                unscored.append(Scored(item))
        scored.sort(key=lambda s: s.score or 0.0, reverse=True)
        return scored + unscored

    def list_namespaces(
        self,
        conditions: Sequence[tuple[str, Namespace]],
        max_depth: int | None,
        limit: int,
        offset: int,
    ) -> list[Namespace]:
        return self.items.list_namespaces(conditions, max_depth, limit, offset)


def _unit(vector: Sequence[float]) -> list[float]:
    """``vector`` scaled to length 1; a zero vector as it is (its similarities are 0)."""
    values = [float(x) for x in vector]
    norm = math.sqrt(sum(map(operator.mul, values, values)))
    return [x / norm for x in values] if norm else values
