"""The time-in-status filter (``min_status_age_seconds``) of search and count, against the
brute-force reference on the search dataset (search_dataset.py): every plan, sort and page,
with the cutoff falling between the dataset's whole-second status times.

The dataset's run events happened at BASE_TIME + i seconds; threads without events became
idle when the test created them (now, long after NOW below), so they are never old enough
at NOW: each query has threads on both sides of its cutoff.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from itertools import cycle
from typing import Any

import fakeredis
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.helpers import at, event, make_client, us
from tests.unit.store.search_dataset import FILTERS, ids_of, make_query, reference
from threadwatch.store.codec import now_us
from threadwatch.store.search import ThreadQuery
from threadwatch.store.stores import Stores

NOW = us(at(400))
# Cutoffs NOW - age: at(149.5) (about half the evented threads), at(9.5) (a handful), no
# thread (older than the dataset), and NOW itself (every evented thread).
AGES = [250.5, 390.5, 10**6, 0]
SORTS = ["created_at", "updated_at", "state_updated_at", "thread_id", "status"]
PAGES = [(0, 10), (7, 25), (0, 1000), (40, 3), (299, 5)]


def aged(
    spec: dict[str, Any], search_threads: list[dict[str, Any]], age: float, **kw: Any
) -> ThreadQuery:
    return make_query(spec, search_threads, min_status_age_seconds=age, now_us=NOW, **kw)


def check_page(search_db: Stores, search_threads: list[dict[str, Any]], q: ThreadQuery) -> None:
    want = reference(search_threads, q)
    for plan in ("auto", "walk", "intersect"):
        page = search_db.search.search(q, plan=plan)
        where = f"{plan} {q.sort_by} {q.sort_order} offset={q.offset} limit={q.limit}"
        assert ids_of(page.threads) == ids_of(want[q.offset : q.offset + q.limit]), where
        assert page.has_more == (len(want) > q.offset + q.limit), where


def test_the_cutoffs_split_the_dataset(search_threads: list[dict[str, Any]]) -> None:
    sizes = [len(reference(search_threads, ThreadQuery(min_status_age_seconds=a, now_us=NOW)))
             for a in AGES]  # fmt: skip
    assert 0 < sizes[1] < sizes[0] < sizes[3] < len(search_threads)
    assert sizes[2] == 0


@pytest.mark.parametrize("age", AGES)
@pytest.mark.parametrize("spec", FILTERS, ids=repr)
def test_search_matches_reference(
    search_db: Stores, search_threads: list[dict[str, Any]], spec: dict[str, Any], age: float
) -> None:
    pages = cycle(PAGES)
    for i, sort_by in enumerate(SORTS):
        order = "asc" if i % 2 else "desc"  # both orders, the same on every run
        offset, limit = next(pages)
        q = aged(spec, search_threads, age, sort_by=sort_by, sort_order=order, offset=offset,
                 limit=limit)  # fmt: skip
        check_page(search_db, search_threads, q)


@pytest.mark.parametrize("age", AGES)
@pytest.mark.parametrize("spec", FILTERS, ids=repr)
def test_count_matches_reference(
    search_db: Stores, search_threads: list[dict[str, Any]], spec: dict[str, Any], age: float
) -> None:
    q = aged(spec, search_threads, age)
    assert search_db.search.count(q) == len(reference(search_threads, q))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    status=st.sampled_from([None, "idle", "busy", "interrupted", "error"]),
    metadata=st.sampled_from([{}, {"user": "u1"}, {"team": "red"}, {"tags": ["a"]},
                              {"user": "u2", "team": "blue"}, {"items": [{"k": 1}]}]),
    age=st.floats(min_value=0, max_value=420, allow_nan=False),
    sort_by=st.sampled_from(SORTS),
    sort_order=st.sampled_from(["asc", "desc"]),
    offset=st.integers(0, 60),
    limit=st.integers(1, 80),
)  # fmt: skip
def test_property_any_filter_and_age(
    search_db: Stores, search_threads: list[dict[str, Any]], **kw: Any
) -> None:
    q = ThreadQuery(min_status_age_seconds=kw.pop("age"), now_us=NOW, **kw)
    check_page(search_db, search_threads, q)
    assert search_db.search.count(q) == len(reference(search_threads, q))


@pytest.mark.parametrize(
    ("spec", "age"),
    [
        ({"metadata": {"team": "red"}}, 390.5),  # a few old threads, a large set: ranges
        ({"metadata": {"user": "u1", "n": 2.5}}, 0),  # many old threads, a small set: members
        ({"status": "busy", "metadata": {"user": "u3", "team": "red"}}, 0),
        ({"status": "error", "metadata": {"team": "blue"}}, 250.5),
    ],
    ids=repr,
)
def test_both_sides_of_the_intersection(
    search_db: Stores, search_threads: list[dict[str, Any]], spec: dict[str, Any], age: float
) -> None:
    for offset, limit in ((0, 1000), (2, 3)):
        check_page(
            search_db, search_threads, aged(spec, search_threads, age, offset=offset, limit=limit)
        )
    q = aged(spec, search_threads, age)
    assert reference(search_threads, q)
    assert search_db.search.count(q) == len(reference(search_threads, q))


def test_an_age_nothing_is_old_enough_for_is_empty(search_db: Stores) -> None:
    q = ThreadQuery(min_status_age_seconds=10**6, now_us=NOW, metadata={"user": "u1"})
    assert search_db.search.search(q).plan == "empty"
    assert search_db.search.count(q) == 0
    assert search_db.search.count(replace(q, metadata={})) == 0


def test_now_is_the_server_clock(search_db: Stores, search_threads: list[dict[str, Any]]) -> None:
    """Without now_us the script reads Redis TIME (fakeredis: this machine's clock)."""
    cutoff = us(at(149.5))
    for spec in ({}, {"status": "interrupted"}, {"metadata": {"team": "red"}}):
        # The cutoff lands between the dataset's whole seconds, so milliseconds of drift
        # between here and the script do not change the answer.
        q = ThreadQuery(**spec, min_status_age_seconds=(now_us() - cutoff) / 1e6, limit=1000)
        want = reference(search_threads, replace(q, now_us=cutoff + q.min_age_us))
        assert ids_of(search_db.search.search(q).threads) == ids_of(want), spec
        assert search_db.search.count(q) == len(want), spec
    # Age 0: every thread, the ones created a moment ago too.
    assert search_db.search.count(ThreadQuery(min_status_age_seconds=0)) == len(search_threads)


# -- the API ---------------------------------------------------------------------------------


@pytest.fixture
def client(fake_redis: fakeredis.FakeRedis) -> TestClient:
    return make_client(fake_redis)


def test_api_search_and_count(client: TestClient, fake_redis: fakeredis.FakeRedis) -> None:
    """An hour-old interrupted thread, a fresh interrupted one and a fresh idle one."""
    old, fresh, idle = (str(uuid.uuid4()) for _ in range(3))
    for thread_id in (old, fresh, idle):
        assert client.post("/threads", json={"thread_id": thread_id}).status_code == 200
    long_ago = now_us() - 3_600_000_000
    stores = client.app.state.stores  # type: ignore[attr-defined]
    stores.runs.apply([
        event(old, str(uuid.uuid4()), "run.interrupted", at=us_to_datetime(long_ago)),
        event(fresh, str(uuid.uuid4()), "run.interrupted"),
    ])  # fmt: skip
    body = {"status": "interrupted", "min_status_age_seconds": 1800}
    assert [t["thread_id"] for t in client.post("/threads/search", json=body).json()] == [old]
    assert client.post("/threads/count", json=body).json() == 1
    # As a query parameter (what the SDKs' `params=` sends), without a status.
    found = client.post("/threads/search", params={"min_status_age_seconds": 1800}, json={})
    assert [t["thread_id"] for t in found.json()] == [old]
    assert client.post("/threads/count", params={"min_status_age_seconds": "0"}).json() == 3
    assert client.post("/threads/count", json={"min_status_age_seconds": 0}).json() == 3
    assert client.post("/threads/count", json={"min_status_age_seconds": 7200}).json() == 0


@pytest.mark.parametrize("path", ["/threads/search", "/threads/count"])
@pytest.mark.parametrize("value", [-1, "60", True, 1e11, None])
def test_api_invalid_age_is_422_naming_it(client: TestClient, path: str, value: Any) -> None:
    if value is None:  # an invalid query parameter
        resp = client.post(path, params={"min_status_age_seconds": "soon"}, json={})
    else:
        resp = client.post(path, json={"min_status_age_seconds": value})
    assert resp.status_code == 422, resp.text
    assert resp.json()["detail"].startswith("min_status_age_seconds: ")


def us_to_datetime(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1e6, tz=UTC)
