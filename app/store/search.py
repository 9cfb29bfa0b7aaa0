"""Thread search and count, answered from the indexes (see lua/search.lua for the planner).

Exact filters (status, metadata leaves of scalars and arrays of scalars) are decided by the
indexes alone, and so is the time in status (``min_status_age_seconds``: status_since at or
before now - N, read from the status zsets' scores; now is the Redis server's TIME). Filters
the index only narrows (``values``, long values, array elements that are objects, very deep
paths) are checked with Postgres containment on the candidates the indexes leave, page by
page.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from redis import Redis

from threadwatch.domain import ThreadStatus
from threadwatch.store.codec import (
    RawJSON,
    redis_now_us,
    thread_id_of,
    thread_member,
    threads_from_hashes,
)
from threadwatch.store.keys import Keys
from threadwatch.store.leaf_sets import NO_LEAF, leaf_ids, leaf_names
from threadwatch.store.metadata_index import CompiledFilter, compile_filter, contains
from threadwatch.store.scripts import Scripts
from threadwatch.store.threads import ThreadStore

# Ids read per script call when candidates must be verified in Python.
VERIFY_WINDOW = 500
# No index holds more ids than this; a larger offset is past the end (and Lua numbers,
# doubles, could not carry it exactly).
MAX_OFFSET = 2**53
# Status order for sort_by=status, ascending (alphabetical, as Postgres orders the text).
STATUS_ORDER = sorted(s.value for s in ThreadStatus)


@dataclass(frozen=True)
class ThreadQuery:
    """A search or count, validated by the API layer."""

    ids: tuple[str, ...] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    status: ThreadStatus | None = None
    limit: int = 10
    offset: int = 0
    sort_by: str = "created_at"
    sort_order: str = "desc"
    # Only threads in their current status for at least this many seconds.
    min_status_age_seconds: float | None = None
    # "Now" for min_status_age_seconds, µs; None reads the Redis server's TIME (queries
    # answered in several calls read it once, so that every call uses the same cutoff).
    now_us: int | None = None

    @property
    def min_age_us(self) -> int | None:
        if self.min_status_age_seconds is None:
            return None
        return round(self.min_status_age_seconds * 1_000_000)


@dataclass
class SearchPage:
    threads: list[dict[str, Any]]
    has_more: bool
    plan: str


class ThreadSearch:
    """Search and count over the thread indexes."""

    def __init__(
        self, redis: Redis, keys: Keys, threads: ThreadStore, walk_budget: int = 20_000
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.threads = threads
        self.scripts: Scripts = threads.scripts
        self.walk_budget = walk_budget

    # -- search --------------------------------------------------------------------------

    def index_layout_current(self) -> bool:
        """False when the store was written by a version before the per-status leaf sets:
        metadata filters miss its threads until ``threadwatch doctor --fix`` indexes them."""
        keys = self.keys
        return not (
            self.redis.exists(keys.order("created_at"))
            and not self.redis.hexists(keys.leaf_ids(), "#sets")
        )

    def search(self, query: ThreadQuery, plan: str = "auto") -> SearchPage:
        """One page of threads; ``has_more`` tells whether another page exists."""
        if query.offset >= MAX_OFFSET:
            return SearchPage([], False, "empty")
        threads, used = self._page(query, query.offset, query.limit + 1, plan)
        return SearchPage(threads[: query.limit], len(threads) > query.limit, used)

    def _page(
        self, query: ThreadQuery, offset: int, count: int, plan: str
    ) -> tuple[list[dict[str, Any]], str]:
        if query.sort_by == "status":
            return self._page_by_status(query, offset, count, plan), "status"
        compiled = compile_filter(query.metadata)
        if query.ids is not None:
            return self._page_of_ids(query, compiled, offset, count), "ids"
        if _exact(query, compiled):
            reply = self._call_search(query, compiled, offset, count, plan, with_threads=True)
            ids = [thread_id_of(member) for member in reply[1::2]]
            return threads_from_hashes(ids, reply[2::2]), reply[0].decode()
        query = self._pin_now(query)
        out: list[dict[str, Any]] = []
        used = "scan"
        matched = 0
        for used, batch in self._candidate_batches(query, compiled, plan):
            for thread in batch:
                if _verify(thread, query):
                    matched += 1
                    if matched > offset:
                        out.append(thread)
                        if len(out) >= count:
                            return out, used
        return out, used

    def _run_search(
        self, query: ThreadQuery, compiled: CompiledFilter, offset: int, count: int, plan: str
    ) -> tuple[str, list[str]]:
        reply = self._call_search(query, compiled, offset, count, plan)
        return reply[0].decode(), [thread_id_of(member) for member in reply[1:]]

    def _call_search(
        self,
        query: ThreadQuery,
        compiled: CompiledFilter,
        offset: int,
        count: int,
        plan: str,
        with_threads: bool = False,
    ) -> list[Any]:
        """The search script's reply: the plan, then the ids (``with_threads``: each id
        followed by its thread hash)."""
        leaves = leaf_names(self.keys, compiled.leaves)
        status = [] if leaves else self._status_keys(query)
        age = self._age_keys(query)
        min_age = query.min_age_us
        return self.scripts.search(
            keys=[
                self.keys.order(query.sort_by),
                self.keys.scratch(),
                *self.keys.leaf_index,
                *status,
                *age,
            ],
            args=[
                offset,
                count,
                1 if query.sort_order == "desc" else 0,
                len(status),
                self.walk_budget,
                plan,
                "" if min_age is None else min_age,
                "" if query.now_us is None else query.now_us,
                len(age),
                self.keys.thread("") if with_threads else "",
                ThreadStatus(query.status).value if query.status else "",
                *leaves,
            ],
        )

    def _candidate_batches(
        self, query: ThreadQuery, compiled: CompiledFilter, plan: str
    ) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        """Index candidates in sort order, VERIFY_WINDOW at a time, as threads."""
        raw_offset = 0
        while True:
            used, ids = self._run_search(query, compiled, raw_offset, VERIFY_WINDOW, plan)
            yield used, self.threads.get_many(ids)
            if len(ids) < VERIFY_WINDOW:
                return
            raw_offset += VERIFY_WINDOW

    def _page_of_ids(
        self, query: ThreadQuery, compiled: CompiledFilter, offset: int, count: int
    ) -> list[dict[str, Any]]:
        ids = list(dict.fromkeys(query.ids or ()))
        if not ids:
            return []
        query = self._pin_now(query)
        members = [thread_member(thread_id) for thread_id in ids]
        branches = self._leaf_branches(query, compiled)
        if branches is None:
            return []
        status = self._status_keys(query) if not compiled.leaves else []
        age = self._age_keys(query)
        pipe = self.redis.pipeline(transaction=False)
        pipe.zmscore(self.keys.order(query.sort_by), members)
        for key in status:
            pipe.zmscore(key, members)
        for branch in branches:
            for key in branch:
                pipe.smismember(key, members)
        for key in age:
            pipe.zmscore(key, members)
        scores, *flags = pipe.execute()
        in_status = flags[: len(status)]
        flags = flags[len(status) :]
        width = len(compiled.leaves)
        in_branches = [flags[i * width : (i + 1) * width] for i in range(len(branches))]
        since = flags[len(branches) * width :]
        old_enough = _old_enough(query, since, len(ids))
        keep = [
            (score, thread_id)
            for j, (thread_id, score) in enumerate(zip(ids, scores, strict=True))
            if score is not None
            and old_enough[j]
            and all(s[j] is not None for s in in_status)
            and (not branches or any(all(f[j] for f in sets) for sets in in_branches))
        ]
        keep.sort(reverse=query.sort_order == "desc")
        threads = self.threads.get_many(thread_id for _, thread_id in keep)
        if not _exact(query, compiled):
            threads = [t for t in threads if _verify(t, query)]
        return threads[offset : offset + count]

    def _page_by_status(
        self, query: ThreadQuery, offset: int, count: int, plan: str
    ) -> list[dict[str, Any]]:
        """sort_by=status: statuses in text order, thread_id order within each."""
        order = STATUS_ORDER if query.sort_order == "asc" else STATUS_ORDER[::-1]
        query = self._pin_now(query)
        out: list[dict[str, Any]] = []
        for status in order:
            if query.status and query.status != status:
                continue
            sub = replace(query, status=ThreadStatus(status), sort_by="thread_id")
            if offset:
                size = self.count(sub)
                if size <= offset:
                    offset -= size
                    continue
            page, _ = self._page(sub, offset, count - len(out), plan)
            out.extend(page)
            offset = 0
            if len(out) >= count:
                break
        return out

    # -- count ---------------------------------------------------------------------------

    def count(self, query: ThreadQuery) -> int:
        """Number of threads matching the filters (limit, offset and order ignored)."""
        query = replace(query, sort_by="created_at")
        compiled = compile_filter(query.metadata)
        if query.ids is not None:
            return len(self._page_of_ids(query, compiled, 0, len(query.ids)))
        if not _exact(query, compiled):
            query = self._pin_now(query)
            return sum(
                sum(1 for t in batch if _verify(t, query))
                for _, batch in self._candidate_batches(query, compiled, "auto")
            )
        if query.min_age_us is not None:
            reply = self._call_search(query, compiled, 0, 0, "count")
            return int(reply[1])
        leaves = leaf_names(self.keys, compiled.leaves)
        if leaves:
            status = ThreadStatus(query.status).value if query.status else ""
            return self.scripts.leaf_count(keys=self.keys.leaf_index, args=[status, *leaves])
        if query.status:
            return int(self.redis.zcard(self.keys.status(query.status)))
        return int(self.redis.zcard(self.keys.order("created_at")))

    # -- helpers -------------------------------------------------------------------------

    def _status_keys(self, query: ThreadQuery) -> list[str]:
        """The status zset as a filter (when filtered, without an age: that reads it)."""
        return [self.keys.status(query.status)] if query.status and query.min_age_us is None else []

    def _leaf_branches(
        self, query: ThreadQuery, compiled: CompiledFilter
    ) -> list[list[str]] | None:
        """The per-status leaf sets a match must be in, all of one branch per status (the
        filtered one, or each); none without a metadata filter, None when a leaf has no
        thread."""
        if not compiled.leaves:
            return []
        ids = leaf_ids(self.redis, self.keys, compiled.leaves)
        if NO_LEAF in ids:
            return None
        statuses = [query.status] if query.status else list(ThreadStatus)
        return [[self.keys.leaf_set(s, leaf_id) for leaf_id in ids] for s in statuses]

    def _age_keys(self, query: ThreadQuery) -> list[str]:
        """The status zsets the age filter reads: the filtered status's, or all four."""
        if query.min_age_us is None:
            return []
        return [self.keys.status(query.status)] if query.status else list(self.keys.statuses)

    def _pin_now(self, query: ThreadQuery) -> ThreadQuery:
        """The query with ``now_us`` read once from the server (queries of several calls)."""
        if query.min_age_us is None or query.now_us is not None:
            return query
        return replace(query, now_us=redis_now_us(self.redis))


def _old_enough(query: ThreadQuery, since: list[list[float | None]], n: int) -> list[bool]:
    """Per id: is it in one of the age zsets with a score at or before the cutoff?"""
    if query.min_age_us is None or query.now_us is None:
        return [True] * n
    cutoff = query.now_us - query.min_age_us
    return [any(s[j] is not None and s[j] <= cutoff for s in since) for j in range(n)]


def _exact(query: ThreadQuery, compiled: CompiledFilter) -> bool:
    return compiled.exact and not query.values


def _verify(thread: dict[str, Any], query: ThreadQuery) -> bool:
    """Postgres containment of the metadata and values filters on a fetched thread."""
    if query.metadata and not contains(_json(thread["metadata"]), query.metadata):
        return False
    return not query.values or contains(_json(thread["values"]), query.values)


def _json(value: Any) -> Any:
    return value.load() if isinstance(value, RawJSON) else value
