"""ThreadSearch against a brute-force reference on a dataset of 300 threads (see
search_dataset.py). Every query must give the reference's page with each plan (auto, walk,
intersect), and count must agree.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import cycle, islice
from typing import Any

import fakeredis
import pytest

from tests.unit.helpers import KEYS, index_violations, make_stores
from tests.unit.store.search_dataset import (
    FILTERS,
    N_THREADS,
    ids_of,
    make_query,
    reference,
)
from threadwatch.store import search as search_module
from threadwatch.store.codec import materialize
from threadwatch.store.search import ThreadQuery, ThreadSearch
from threadwatch.store.stores import Stores

SORTS = ["created_at", "updated_at", "state_updated_at", "thread_id", "status"]
PAGES = [(0, 10), (7, 25), (0, 1000), (250, 100), (3, 1), (299, 5), (400, 10)]


def queries(spec: dict[str, Any], search_threads: list[dict[str, Any]]) -> Iterator[ThreadQuery]:
    """Every sort field and order, each with two of PAGES (rotating through them)."""
    pages = cycle(PAGES)
    for sort_by in SORTS:
        for order in ("asc", "desc"):
            for offset, limit in islice(pages, 2):
                yield make_query(
                    spec,
                    search_threads,
                    sort_by=sort_by,
                    sort_order=order,
                    offset=offset,
                    limit=limit,
                )


def test_dataset_is_consistent_and_varied(
    search_db: Stores, search_threads: list[dict[str, Any]]
) -> None:
    assert index_violations(search_db.redis) == []
    assert len(search_threads) == N_THREADS
    assert {t["status"] for t in search_threads} == {"idle", "busy", "interrupted", "error"}
    for spec in FILTERS:
        if spec and spec != {"metadata": {"user": "nobody"}} and spec.get("ids") != 0:
            assert reference(search_threads, make_query(spec, search_threads)), spec


@pytest.mark.parametrize("spec", FILTERS, ids=repr)
def test_search_matches_reference(
    search_db: Stores, search_threads: list[dict[str, Any]], spec: dict[str, Any]
) -> None:
    for q in queries(spec, search_threads):
        want = reference(search_threads, q)
        expected_page = ids_of(want[q.offset : q.offset + q.limit])
        for plan in ("auto", "walk", "intersect"):
            page = search_db.search.search(q, plan=plan)
            where = f"{plan} {q.sort_by} {q.sort_order} offset={q.offset} limit={q.limit}"
            assert ids_of(page.threads) == expected_page, where
            assert page.has_more == (len(want) > q.offset + q.limit), where


@pytest.mark.parametrize("spec", FILTERS, ids=repr)
def test_count_matches_reference(
    search_db: Stores, search_threads: list[dict[str, Any]], spec: dict[str, Any]
) -> None:
    q = make_query(spec, search_threads)
    assert search_db.search.count(q) == len(reference(search_threads, q))


@pytest.mark.parametrize("metadata", [{"aaa": "absent", "user": "u1"}, {"user": "u1", "z": 0}])
def test_count_with_an_absent_leaf_is_zero(search_db: Stores, metadata: dict[str, Any]) -> None:
    assert search_db.search.count(ThreadQuery(metadata=metadata)) == 0
    assert search_db.search.count(ThreadQuery(metadata=metadata, status="idle")) == 0


def test_pages_match_the_stored_threads(
    search_db: Stores, search_threads: list[dict[str, Any]]
) -> None:
    page = search_db.search.search(ThreadQuery(metadata={"team": "red"}, limit=1000))
    by_id = {t["thread_id"]: t for t in search_threads}
    assert page.threads and all(by_id[t["thread_id"]] == materialize(t) for t in page.threads)


@pytest.mark.parametrize("window", [1, 7, 64])
def test_verification_in_windows(
    search_db: Stores,
    search_threads: list[dict[str, Any]],
    window: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Filters checked in Python read candidates a window at a time; pages span windows."""
    monkeypatch.setattr(search_module, "VERIFY_WINDOW", window)
    for spec in ({"metadata": {"items": [{"k": 1}]}}, {"values": {"step": 1}, "status": "idle"}):
        for offset, limit in ((0, 5), (6, 7), (0, 1000)):
            q = make_query(spec, search_threads, offset=offset, limit=limit, sort_order="asc")
            want = reference(search_threads, q)
            page = search_db.search.search(q)
            assert ids_of(page.threads) == ids_of(want[offset : offset + limit]), (spec, offset)
            assert page.has_more == (len(want) > offset + limit)
        assert search_db.search.count(make_query(spec, search_threads)) == len(want)


@pytest.mark.parametrize("budget", [1, 64, 100])
def test_walk_falls_back_when_its_budget_runs_out(
    search_db: Stores, search_threads: list[dict[str, Any]], budget: int
) -> None:
    search = ThreadSearch(search_db.redis, KEYS, search_db.threads, walk_budget=budget)
    for spec in FILTERS[:17]:
        q = make_query(spec, search_threads, offset=20, limit=30, sort_by="updated_at")
        want = ids_of(reference(search_threads, q)[20:50])
        assert ids_of(search.search(q).threads) == want, spec


@pytest.mark.parametrize(
    ("spec", "plan", "used"),
    [
        ({}, "auto", "scan"),
        ({}, "walk", "scan"),
        ({"metadata": {"user": "u1"}}, "walk", "walk"),
        ({"metadata": {"user": "u1"}}, "intersect", "intersect"),
        ({"status": "busy"}, "intersect", "intersect"),
        ({"metadata": {"user": "nobody"}}, "auto", "empty"),
        ({"metadata": {"user": "u1"}, "status": "idle", "sort_by": "status"}, "auto", "status"),
        ({"ids": ()}, "auto", "ids"),
    ],
)
def test_plan_reported(search_db: Stores, spec: dict[str, Any], plan: str, used: str) -> None:
    assert search_db.search.search(ThreadQuery(**spec), plan=plan).plan == used


def test_walk_is_chosen_for_dense_filters_and_intersect_for_sparse_ones(search_db: Stores) -> None:
    dense = ThreadQuery(metadata={"team": "red"}, limit=5)
    sparse = ThreadQuery(metadata={"user": "u1", "team": "red", "n": 2.5})
    assert search_db.search.search(dense).plan == "walk"
    assert search_db.search.search(sparse).plan == "intersect"


def test_default_order_is_newest_created_first(
    search_db: Stores, search_threads: list[dict[str, Any]]
) -> None:
    page = search_db.search.search(ThreadQuery(limit=1000))
    assert ids_of(page.threads) == ids_of(
        reference(search_threads, ThreadQuery(sort_by="created_at", sort_order="desc"))
    )
    assert not page.has_more


def test_search_and_count_on_an_empty_store(fake_redis: fakeredis.FakeRedis) -> None:
    stores = make_stores(fake_redis)
    for spec in ({}, {"status": "idle"}, {"metadata": {"a": 1}}, {"values": {"a": 1}}):
        assert stores.search.count(ThreadQuery(**spec)) == 0
        for sort_by in SORTS:
            assert stores.search.search(ThreadQuery(**spec, sort_by=sort_by)).threads == []


def test_count_ignores_the_sort_order(
    search_db: Stores, search_threads: list[dict[str, Any]]
) -> None:
    q = ThreadQuery(values={"step": 1}, sort_by="status")
    assert search_db.search.count(q) == len(reference(search_threads, q))


@pytest.mark.parametrize("spec", [{}, {"metadata": {"user": "u1"}}], ids=repr)
def test_offset_far_past_the_end_gives_an_empty_page(
    search_db: Stores, spec: dict[str, Any]
) -> None:
    page = search_db.search.search(ThreadQuery(**spec, offset=10**20))
    assert page.threads == [] and not page.has_more


def test_count_by_status_and_one_leaf_reads_the_leaf_counts(
    search_db: Stores, search_threads: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every status x top-level scalar metadata pair: the per-status leaf counts answer
    without intersecting the sets, and agree with the reference and with the sets."""
    pairs = {
        (key, value)
        for t in search_threads
        for key, value in materialize(t)["metadata"].items()
        if isinstance(value, str | int) and not isinstance(value, bool)
    }
    queries = [
        ThreadQuery(status=status, metadata={key: value})
        for status in ("idle", "busy", "interrupted", "error")
        for key, value in sorted(pairs, key=repr)
    ]
    want = [len(reference(search_threads, q)) for q in queries]
    assert sum(want) > 0

    execute = search_db.redis.execute_command

    def no_intersection(*args: Any, **kwargs: Any) -> Any:
        assert args[0] not in ("ZINTERCARD", "SINTERCARD"), "count intersected the sets"
        return execute(*args, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(search_db.redis, "execute_command", no_intersection)
        assert [search_db.search.count(q) for q in queries] == want

    # A store not marked as fully counted reads the sets instead, with the same answers.
    search_db.redis.hdel(KEYS.leaf_ids(), "#all")
    try:
        assert [search_db.search.count(q) for q in queries] == want
    finally:
        search_db.redis.hset(KEYS.leaf_ids(), "#all", "1")
