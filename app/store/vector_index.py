"""The server's vector index for the memory store's semantic search, where the server has
one (Redis Stack or Redis 8's query engine, valkey-search: the ``FT.*`` commands).

Each vector of an item is a small hash (keys.py: ``store:vdoc:J:L:K:N``) that the index
(FLAT, inner product, ``store.index.dims``) covers by key prefix, written and deleted by
the item's own scripts (store_put, store_delete) in the same call as the item; expiry
deletes them with the item (the sweep), and a search skips an item whose TTL ran out
before the sweep came. The scripts write documents only once the marker
``store:vindex`` holds the index's dims, so that every process, whatever it detected,
keeps the index and the items together. Vectors are stored at unit length, so the inner
product is the cosine similarity, and a zero vector scores 0 as in LangGraph's stores
(COSINE would leave it out of the index).

A search asks the index for the k nearest vectors under the namespace prefix (a TAG of
the namespace and each of its ancestors), keeps each item's best vector, loads the items
and applies the filter; when fewer than offset + limit pass (counting none that ties with
the k-th vector, whose peers may lie past k), it asks again with a larger k, up to
``MOST_NEIGHBOURS``, past which the caller falls back to exact scoring.
"""

from __future__ import annotations

import hashlib
import logging
import struct
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from redis import Redis
from redis.exceptions import RedisError

from threadwatch.store.keys import Keys

if TYPE_CHECKING:
    from threadwatch.store.items import ItemStore, StoredItem

log = logging.getLogger(__name__)

# The most neighbours one search asks the index for (Redis Stack's MAXSEARCHRESULTS is
# 10,000): a search that needs more (a filter few items pass, a deep offset) is exact.
MOST_NEIGHBOURS = 10_000
# The neighbours a search asks for first, per item of offset + limit.
NEIGHBOURS_PER_ITEM = 4
Ranked = list[tuple["StoredItem", float | None]]


def under_tags(ns: str) -> str:
    """The ``under`` TAG values of namespace ``ns``: a digest of it and of each ancestor,
    so that a prefix is one exact TAG match, whatever its labels hold."""
    labels = ns.split(".")
    return ",".join(_tag(".".join(labels[:depth])) for depth in range(1, len(labels) + 1))


def _tag(ns: str) -> str:
    return hashlib.blake2b(ns.encode(), digest_size=8).hexdigest()


def has_search(redis: Redis) -> bool:
    """Whether the server has the FT.* commands: COMMAND INFO, else MODULE LIST (a server
    may refuse either); a server that refuses both has none."""
    try:
        return all(redis.execute_command("COMMAND INFO", "FT.CREATE", "FT.SEARCH"))
    except RedisError:
        pass
    try:
        modules = redis.execute_command("MODULE LIST")
    except RedisError:
        return False
    return any(_field(module, b"name") in (b"search", b"searchlight") for module in modules)


def _field(reply: Any, name: bytes) -> Any:
    """Field ``name`` of a RESP3 map or a RESP2 flat list of pairs."""
    if isinstance(reply, dict):
        return reply.get(name)
    pairs = list(reply)
    return dict(zip(pairs[::2], pairs[1::2], strict=False)).get(name)


class VectorIndex:
    """The server's vector index of the memory store, of ``dims`` dimensions."""

    def __init__(self, redis: Redis, keys: Keys, dims: int) -> None:
        self.redis = redis
        self.keys = keys
        self.dims = dims
        self.name = keys.store_vector_index()
        self.failed = False  # a search failed: the next failures are logged at debug

    @classmethod
    def on(cls, items: ItemStore, dims: int) -> VectorIndex | None:
        """The index, created if absent (and given the items stored before it); None when
        the server has no vector search, or an index of other dims (then logged)."""
        if not has_search(items.redis):
            return None
        index = cls(items.redis, items.keys, dims)
        return index if index._create(items) else None

    def _create(self, items: ItemStore) -> bool:
        marker = self.keys.store_vector_marker()
        held = self.redis.get(marker)
        if held is not None and int(held) != self.dims:
            log.warning(
                "the server's vector index has %s dims, store.index.dims is %d: semantic "
                "search scores every item instead",
                held.decode(),
                self.dims,
            )
            return False
        try:
            self.redis.execute_command(*self._schema())
        except RedisError as exc:
            if "already exists" not in str(exc).lower():
                log.warning("no vector index (%s): semantic search scores every item", exc)
                return False
        if self.redis.set(marker, self.dims, nx=True):
            self._index_existing(items)
        return int(self.redis.get(marker) or 0) == self.dims

    def _schema(self) -> list[Any]:
        vector = ["TYPE", "FLOAT32", "DIM", self.dims, "DISTANCE_METRIC", "IP"]
        return [
            "FT.CREATE",
            self.name,
            *("ON", "HASH", "PREFIX", 1, self.keys.store_vector_docs()),
            *("SCHEMA", "under", "TAG", "vec", "VECTOR", "FLAT", len(vector), *vector),
        ]

    def _index_existing(self, items: ItemStore) -> None:
        """Documents for the items put before the index (store_index.lua)."""
        written = 0
        for raw in self.redis.zrange(self.keys.store_namespaces(), 0, -1):
            ns = raw.decode()
            for key, _ in self.redis.hscan_iter(self.keys.store_vectors(ns)):
                written += items.index_item(ns, key.decode(), 4 * self.dims)
        log.info("vector index %s created; %d vectors of earlier items added", self.name, written)

    # -- search --------------------------------------------------------------------------

    def nearest(
        self,
        items: ItemStore,
        prefix: Sequence[str],
        match: Callable[[dict[str, Any]], bool] | None,
        wanted: int,
        unit_query: Sequence[float],
    ) -> Ranked | None:
        """The first ``wanted`` items under ``prefix`` (() for all) that ``match`` accepts,
        with vectors, by their best score, then those without vectors in listing order;
        None when the index cannot answer (the caller scores every item)."""
        blob = struct.pack(f"<{len(unit_query)}f", *unit_query)
        k = min(MOST_NEIGHBOURS, max(16, NEIGHBOURS_PER_ITEM * wanted))
        while True:
            hits = self._knn(".".join(prefix), blob, k)
            if hits is None:
                return None
            ranked = self._best(items, hits, match)
            if len(hits) < k:  # every vector under the prefix seen
                break
            # Those at the k-th hit's score may have peers past k: only those above count.
            floor = min(score for _, _, score in hits)
            ranked = [pair for pair in ranked if (pair[1] or 0.0) > floor]
            if len(ranked) >= wanted:
                break
            if k >= MOST_NEIGHBOURS:
                return None
            k = min(MOST_NEIGHBOURS, k * NEIGHBOURS_PER_ITEM)
        if len(ranked) < wanted:  # every vector seen: the items without any follow
            left = wanted - len(ranked)
            ranked += [(item, None) for item in items.unscored(prefix, match, left)]
        return ranked[:wanted]

    def _knn(self, prefix: str, blob: bytes, k: int) -> list[tuple[str, str, float]] | None:
        """(namespace, key, score) of the ``k`` vectors nearest ``blob`` under ``prefix``,
        in no particular order (no SORTBY: not every engine has it, and ``_best`` sorts);
        None when the index fails, is gone or is of other dims (the marker says)."""
        scope = f"@under:{{{_tag(prefix)}}}" if prefix else "*"
        query = f"{scope}=>[KNN {k} @vec $query AS distance]"
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(self.keys.store_vector_marker())
            pipe.execute_command(
                *("FT.SEARCH", self.name, query, "PARAMS", 2, "query", blob),
                *("RETURN", 3, "ns", "key", "distance"),
                *("LIMIT", 0, k, "DIALECT", 2),
            )
            try:
                marker, reply = pipe.execute()
            except RedisError as exc:
                level = logging.DEBUG if self.failed else logging.WARNING
                log.log(level, "vector search failed (%s): scoring every item instead", exc)
                self.failed = True
                return None
        if marker is None or int(marker) != self.dims:
            return None
        return [
            (_text(_field(doc, b"ns")), _text(_field(doc, b"key")), 1.0 - float(distance))
            for doc in _documents(reply)
            if (distance := _field(doc, b"distance")) is not None
        ]

    @staticmethod
    def _best(
        items: ItemStore,
        hits: list[tuple[str, str, float]],
        match: Callable[[dict[str, Any]], bool] | None,
    ) -> Ranked:
        """Each item of ``hits`` once, at its best score, if alive and accepted by
        ``match``; equal scores in listing order (newest first), as the exact path."""
        best: dict[tuple[str, str], float] = {}
        for ns, key, score in hits:
            best[ns, key] = max(score, best.get((ns, key), score))
        refs = list(best)
        ranked: Ranked = []
        for ref, item in zip(refs, items.load(refs), strict=True):
            if item is not None and (match is None or match(item.value)):
                ranked.append((item, best[ref]))
        ranked.sort(key=lambda pair: (-(pair[1] or 0.0), -pair[0].updated_us))
        return ranked


def _documents(reply: Any) -> Iterator[Any]:
    """The returned fields of each document of an FT.SEARCH reply (RESP3 or RESP2)."""
    if isinstance(reply, dict):
        for doc in reply.get(b"results", []):
            yield doc.get(b"extra_attributes", {})
        return
    yield from reply[2::2]


def _text(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)
