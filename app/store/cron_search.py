"""Searching and counting crons: the candidates come from the indexes (every cron, or those
of an assistant and/or a thread), never from a SCAN; `enabled` and `metadata` (JSON
containment, as Postgres ``@>``) filter the candidates' hashes, which are then sorted and
paged. A search costs one read of each candidate: crons are counted in thousands, not
millions; a count without a metadata filter reads the index sizes alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from threadwatch.store.crons import CronStore, api_cron
from threadwatch.store.metadata_index import contains

SORT_FIELDS = (
    "cron_id",
    "assistant_id",
    "thread_id",
    "next_run_date",
    "end_time",
    "created_at",
    "updated_at",
)
TIME_SORT = {"next_run_date", "end_time", "created_at", "updated_at"}


@dataclass(frozen=True)
class CronQuery:
    """A search's filters and page; ids already canonical."""

    assistant_id: str | None = None
    thread_id: str | None = None
    enabled: bool | None = None
    metadata: dict[str, Any] | None = None
    limit: int = 10
    offset: int = 0
    sort_by: str = "created_at"
    sort_order: str = "desc"
    select: list[str] | None = None


def search_crons(store: CronStore, query: CronQuery) -> tuple[list[dict[str, Any]], int | None]:
    """The page of crons, and the offset of the next page (None on the last)."""
    hashes = _matching(store, query)
    hashes.sort(key=lambda h: _sort_key(h, query.sort_by), reverse=query.sort_order == "desc")
    page = hashes[query.offset : query.offset + query.limit + 1]
    next_offset = query.offset + query.limit if len(page) > query.limit else None
    crons = [api_cron(h) for h in page[: query.limit]]
    if query.select:
        crons = [{k: v for k, v in cron.items() if k in query.select} for cron in crons]
    return crons, next_offset


def count_crons(store: CronStore, query: CronQuery) -> int:
    if not query.metadata and query.enabled is None:
        return store.count_of(query.assistant_id, query.thread_id)
    return len(_matching(store, query))


def _matching(store: CronStore, query: CronQuery) -> list[dict[str, bytes]]:
    hashes = store.read_many(store.candidates(query.assistant_id, query.thread_id))
    if query.enabled is not None:
        wanted = b"1" if query.enabled else b"0"
        hashes = [h for h in hashes if h.get("enabled") == wanted]
    if query.metadata:
        hashes = [h for h in hashes if contains(orjson.loads(h["metadata"]), query.metadata)]
    return hashes


def _sort_key(raw: dict[str, bytes], field: str) -> tuple[Any, ...]:
    """Crons without the field (no thread, no end time) sort above every other, as NULLs do
    in Postgres (first when descending, last when ascending); ties by id, so that pages
    never overlap."""
    value = raw.get(field) or b""
    if not value:
        return (1, 0, raw["cron_id"])
    return (0, int(value) if field in TIME_SORT else value.lower(), raw["cron_id"])
