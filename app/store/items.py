"""The long-term memory store's items in Redis (LangGraph's ``/store`` API and ``BaseStore``).

Items live per namespace (keys.py: ``store:items:N`` and its companions), so a get is a few
field reads, a search walks only the namespaces under its prefix (a ZRANGEBYLEX range of the
namespace index) newest first, and listing namespaces reads that index: nothing here scans
the keyspace. Writes are Lua scripts (store_put, store_delete, store_touch, store_index)
that keep an item and every index entry of it together, its documents in the server's
vector index included (vector_index.py): a script is given those documents' keys, and one
given too few writes nothing and says how many it needs, so the caller calls again.

Expiry is exact: an item whose TTL ran out is never returned, whether or not the sweeper
(``expire_due``) has deleted it yet. Times are the Redis server's clock (µs).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

import orjson
from redis import Redis

from threadwatch.errors import ThreadwatchError
from threadwatch.store.codec import dumps, redis_now_us
from threadwatch.store.keys import Keys
from threadwatch.store.scripts import Scripts
from threadwatch.store.vector_index import VectorIndex, under_tags

# Items read from one namespace's listing order per round trip while walking it.
PAGE = 256
# Items loaded per round trip while a search filters them.
CHUNK = 256
# Namespaces (and items in each) the sweep expires per call.
SWEEP_NAMESPACES = 100
SWEEP_ITEMS = 1000

Namespace = tuple[str, ...]
Match = Callable[[dict[str, Any]], bool]


def namespace_text(namespace: Sequence[str]) -> str:
    """("users", "42") -> "users.42": labels hold no "." (validated by the callers)."""
    return ".".join(namespace)


def namespace_of(text: str | bytes) -> Namespace:
    if isinstance(text, bytes):
        text = text.decode()
    return tuple(text.split(".")) if text else ()


class InvalidNamespace(ThreadwatchError):
    """A namespace LangGraph's stores refuse (its 400 and texts)."""

    status_code = 400


def check_labels(namespace: Namespace) -> None:
    """InvalidNamespace for a label with a NUL byte (LangGraph's text). The callers refuse
    labels that are empty or hold a "." (which would address another namespace) first."""
    for label in namespace:
        if "\x00" in label:
            raise InvalidNamespace(
                f"Invalid namespace label '{label}' found in {namespace}. Namespace labels "
                "cannot contain NUL bytes ('\\x00')."
            )


def check_put_namespace(namespace: Namespace) -> None:
    """InvalidNamespace for a namespace an item cannot be put under (LangGraph's texts)."""
    if not namespace:
        raise InvalidNamespace("Namespace cannot be empty.")
    check_labels(namespace)
    if namespace[0] == "langgraph":
        raise InvalidNamespace(f'Root label for namespace cannot be "langgraph". Got: {namespace}')


@dataclass(frozen=True)
class StoredItem:
    """One item as stored: its value, its times (µs) and, when asked, its embeddings."""

    namespace: Namespace
    key: str
    value: dict[str, Any]
    created_us: int
    updated_us: int
    vectors: bytes | None = None


def matches(namespace: Namespace, path: Sequence[str], side: str) -> bool:
    """Whether ``namespace`` starts (``side="prefix"``) or ends (``"suffix"``) with ``path``,
    where a ``*`` label matches any label (LangGraph's MatchCondition)."""
    if len(namespace) < len(path):
        return False
    labels = namespace[: len(path)] if side == "prefix" else namespace[len(namespace) - len(path) :]
    return all(want in ("*", got) for got, want in zip(labels, path, strict=True))


class ItemStore:
    """Items of the long-term memory store on one Redis client."""

    def __init__(self, redis: Redis, keys: Keys, scripts: Scripts | None = None) -> None:
        self.redis = redis
        self.keys = keys
        self.scripts = scripts or Scripts(redis)
        self._vector_indexes: dict[int, VectorIndex | None] = {}

    def vector_index(self, dims: int) -> VectorIndex | None:
        """The server's vector index of ``dims`` dimensions, created if absent; None when
        the server has none (semantic search then scores every item). Asked once per
        store: every run of a worker builds its memory store on the same one."""
        if dims not in self._vector_indexes:
            self._vector_indexes[dims] = VectorIndex.on(self, dims)
        return self._vector_indexes[dims]

    def _script_keys(self, ns: str) -> list[str]:
        return [
            *self.keys.store_namespace(ns),
            self.keys.store_namespaces(),
            self.keys.store_expiring(),
            self.keys.store_indexed(ns),
        ]

    def _documents(self, ns: str, key: str, count: int) -> list[str]:
        return [self.keys.store_vector_doc(ns, key, j) for j in range(count)]

    # -- writes ------------------------------------------------------------------------

    def put(
        self,
        namespace: Namespace,
        key: str,
        value: dict[str, Any],
        ttl_minutes: float | None = None,
        vectors: bytes | None = None,
        vector_count: int = 0,
    ) -> tuple[int, int]:
        """Store ``value`` under (namespace, key); its created_at and updated_at (µs).
        ``vector_count``, the vectors in ``vectors``, saves a round trip where the server
        has a vector index."""
        ns = namespace_text(namespace)
        ttl = "" if ttl_minutes is None else repr(float(ttl_minutes))
        args = [ns, key, dumps(value), ttl, vectors or b"", under_tags(ns)]
        keys = [*self._script_keys(ns), self.keys.store_vector_marker()]
        documents = vector_count
        while True:  # again with as many document keys as the script asks for
            done = self.scripts.store_put([*keys, *self._documents(ns, key, documents)], args)
            if isinstance(done, tuple):
                return done
            documents = done

    def delete(self, namespace: Namespace, keys: Sequence[str]) -> int:
        """Delete those items of the namespace; how many there were."""
        return self._delete(namespace_text(namespace), "keys", list(keys))

    def _delete(self, ns: str, mode: str, keys: list[str], counts: list[int] | None = None) -> int:
        """store_delete of ``keys`` with their vector documents: first with ``counts`` of
        them (none when not given), then with the counts read, until they hold."""
        if not keys:
            return 0
        counts = counts or [0] * len(keys)
        while True:
            documents: list[str] = []
            args: list[str | int] = [ns, mode]
            for key, count in zip(keys, counts, strict=True):
                documents += self._documents(ns, key, count)
                args += [key, count]
            deleted = self.scripts.store_delete([*self._script_keys(ns), *documents], args)
            if deleted is not None:
                return deleted
            held = self.redis.hmget(self.keys.store_indexed(ns), keys)
            counts = [int(raw or 0) for raw in held]

    def index_item(self, ns: str, key: str, vector_size: int) -> int:
        """Give an item put before the vector index existed its documents (vectors of
        ``vector_size`` bytes); how many."""
        vectors = self.keys.store_vectors(ns)
        indexed, marker = self.keys.store_indexed(ns), self.keys.store_vector_marker()
        keys = [self.keys.store_items(ns), vectors, indexed, marker]
        while True:  # again if the vectors grew in between
            count = self.redis.hstrlen(vectors, key) // vector_size
            args = [ns, key, under_tags(ns)]
            written = self.scripts.store_index([*keys, *self._documents(ns, key, count)], args)
            if written is not None:
                return written

    def touch(self, items: Iterable[StoredItem]) -> int:
        """Refresh the TTL of the items that have one (a read with refresh_ttl)."""
        by_namespace: dict[str, list[str]] = {}
        for item in items:
            by_namespace.setdefault(namespace_text(item.namespace), []).append(item.key)
        refreshed = 0
        for ns, keys in by_namespace.items():
            script_keys = [self.keys.store_expiry(ns), self.keys.store_ttl(ns)]
            refreshed += self.scripts.store_touch(script_keys, keys)
        return refreshed

    def expire_due(self, limit: int = SWEEP_NAMESPACES) -> int:
        """The sweep: delete the items whose TTL ran out, in up to ``limit`` namespaces;
        how many items were deleted."""
        now = redis_now_us(self.redis)
        due = self.redis.zrangebyscore(self.keys.store_expiring(), "-inf", now, 0, limit)
        deleted = 0
        for raw in due:
            ns = raw.decode()
            expiry, indexed = self.keys.store_expiry(ns), self.keys.store_indexed(ns)
            keys = [
                k.decode() for k in self.redis.zrangebyscore(expiry, "-inf", now, 0, SWEEP_ITEMS)
            ]
            counts = [int(c or 0) for c in self.redis.hmget(indexed, keys)] if keys else []
            deleted += self._delete(ns, "due", keys, counts)
            if not keys:  # none due after all (refreshed): the script rescores N
                self.scripts.store_delete(self._script_keys(ns), [ns, "due"])
        return deleted

    # -- reads -------------------------------------------------------------------------

    def get(
        self, refs: Sequence[tuple[Namespace, str]], refresh: bool = False
    ) -> list[StoredItem | None]:
        """The items at (namespace, key), None for those missing or expired."""
        found = self.load([(namespace_text(ns), key) for ns, key in refs])
        if refresh:
            self.touch(item for item in found if item is not None)
        return found

    def search(
        self,
        prefix: Namespace,
        match: Match | None = None,
        offset: int = 0,
        limit: int = 10,
        refresh: bool = False,
    ) -> list[StoredItem]:
        """One page of the items under ``prefix`` that ``match`` accepts, most recently
        updated first."""
        wanted = offset + limit
        found: list[StoredItem] = []
        chunk = CHUNK if match is not None else max(1, min(wanted, CHUNK))
        walk = self._walk(self.namespaces_under(prefix), chunk)
        while len(found) < wanted and (refs := list(islice(walk, chunk))):
            for item in self.load(refs):
                if item is not None and (match is None or match(item.value)):
                    found.append(item)
        page = found[offset:wanted]
        if refresh:
            self.touch(page)
        return page

    def candidates(self, prefix: Namespace, match: Match | None = None) -> list[StoredItem]:
        """Every item under ``prefix`` that ``match`` accepts, with its embeddings, most
        recently updated first (semantic search scores them all)."""
        found: list[StoredItem] = []
        walk = self._walk(self.namespaces_under(prefix))
        while refs := list(islice(walk, CHUNK)):
            for item in self.load(refs, vectors=True):
                if item is not None and (match is None or match(item.value)):
                    found.append(item)
        return found

    def unscored(self, prefix: Namespace, match: Match | None, count: int) -> list[StoredItem]:
        """The first ``count`` items under ``prefix`` without vectors that ``match``
        accepts, most recently updated first (they follow the scored ones)."""
        found: list[StoredItem] = []
        walk = self._walk(self.namespaces_under(prefix))
        while len(found) < count and (refs := list(islice(walk, CHUNK))):
            for item in self.load(refs, vectors=True):
                if item is not None and not item.vectors and (match is None or match(item.value)):
                    found.append(item)
        return found[:count]

    def namespaces_under(self, prefix: Namespace) -> list[str]:
        """The namespaces (as text) equal to ``prefix`` or below it, from the namespace
        index: the whole index for an empty prefix, else one lexical range."""
        index = self.keys.store_namespaces()
        if not prefix:
            return [raw.decode() for raw in self.redis.zrange(index, 0, -1)]
        text = namespace_text(prefix)
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.zscore(index, text)
            # "." + 1 is "/": the range holds exactly the texts that start with text + ".".
            pipe.zrangebylex(index, f"[{text}.", f"({text}/")
            exact, below = pipe.execute()
        return ([text] if exact is not None else []) + [raw.decode() for raw in below]

    def list_namespaces(
        self,
        conditions: Sequence[tuple[str, Namespace]] = (),
        max_depth: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Namespace]:
        """The namespaces holding an item not expired that meet every condition (``prefix``
        or ``suffix``, a path where ``*`` matches any label), cut to ``max_depth`` labels,
        sorted, one page."""
        exact = [path for side, path in conditions if side == "prefix" and "*" not in path]
        texts = self.namespaces_under(exact[0] if exact else ())
        found = [namespace_of(text) for text in self._alive(texts)]
        found = [ns for ns in found if all(matches(ns, p, side) for side, p in conditions)]
        if max_depth is not None:
            found = list({ns[:max_depth] for ns in found})
        return sorted(found)[offset : offset + limit]

    def _alive(self, texts: list[str]) -> list[str]:
        """Those namespaces that hold an item not expired (the sweep may lag)."""
        if not texts:
            return []
        now = redis_now_us(self.redis)
        with self.redis.pipeline(transaction=False) as pipe:
            for ns in texts:
                pipe.zcard(self.keys.store_updated(ns))
                pipe.zcount(self.keys.store_expiry(ns), "-inf", now)
            counts = pipe.execute()
        return [
            ns
            for ns, held, gone in zip(texts, counts[::2], counts[1::2], strict=True)
            if held > gone
        ]

    def _walk(self, namespaces: list[str], page: int = PAGE) -> Iterator[tuple[str, str]]:
        """(namespace, key) of every item of the namespaces, most recently updated first,
        read ``page`` items at a time (the first pages of all of them in one round trip)."""
        with self.redis.pipeline(transaction=False) as pipe:
            for ns in namespaces:
                pipe.zrevrange(self.keys.store_updated(ns), 0, page - 1, withscores=True)
            first_pages = pipe.execute()
        walks = [
            self._newest(ns, first, page) for ns, first in zip(namespaces, first_pages, strict=True)
        ]
        seen: set[tuple[str, str]] = set()
        for _, ns, key in heapq.merge(*walks):
            if (ns, key) not in seen:  # an item updated during the walk moves up: once
                seen.add((ns, key))
                yield ns, key

    def _newest(self, ns: str, first: list[Any], size: int) -> Iterator[tuple[float, str, str]]:
        """The namespace's items newest first, from its first page on, ``size`` a page."""
        start, page = 0, first
        while page:
            for raw, score in page:
                yield -score, ns, raw.decode()
            if len(page) < size:
                return
            start += size
            updated = self.keys.store_updated(ns)
            page = self.redis.zrevrange(updated, start, start + size - 1, withscores=True)

    def load(
        self, refs: Sequence[tuple[str, str]], vectors: bool = False
    ) -> list[StoredItem | None]:
        """The items at (namespace text, key), in one round trip; None for those missing
        or expired."""
        if not refs:
            return []
        per_item = 4 if vectors else 3
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.time()
            for ns, key in refs:
                pipe.hget(self.keys.store_items(ns), key)
                pipe.zscore(self.keys.store_updated(ns), key)
                pipe.zscore(self.keys.store_expiry(ns), key)
                if vectors:
                    pipe.hget(self.keys.store_vectors(ns), key)
            (seconds, micros), *replies = pipe.execute()
        now = int(seconds) * 1_000_000 + int(micros)
        found: list[StoredItem | None] = []
        for i, (ns, key) in enumerate(refs):
            raw, updated, expires, *vector = replies[i * per_item : (i + 1) * per_item]
            if raw is None or updated is None or (expires is not None and expires <= now):
                found.append(None)
                continue
            created, _, value = raw.partition(b":")
            found.append(
                StoredItem(
                    namespace_of(ns),
                    key,
                    orjson.loads(value),
                    int(created),
                    int(updated),
                    vector[0] if vector else None,
                )
            )
        return found
