"""min_status_age_seconds on a real server: the unit tier's age queries on the search
dataset (the script's TIME, ZMSCORE and BYSCORE ranges as Redis/Valkey answer them), and
the filter over HTTP (body and query parameter) and through the Python SDK's `params`.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import redis
from langgraph_sdk import get_sync_client

from tests.integration.helpers import event, new_id, post_events
from tests.unit.helpers import at, make_stores, us
from tests.unit.store.search_dataset import (
    FILTERS,
    all_ids,
    ids_of,
    make_query,
    populate,
    reference,
)
from threadwatch.store.codec import materialize, now_us
from threadwatch.store.search import ThreadQuery

NOW = us(at(400))


def test_age_queries_match_the_reference(redis_client: redis.Redis) -> None:
    stores = make_stores(redis_client)
    populate(stores, random.Random(20251))
    everything = materialize(stores.threads.get_many(all_ids(stores)))
    for spec in FILTERS:
        for age, sort_by in ((250.5, "created_at"), (390.5, "status"), (0, "thread_id")):
            q = make_query(spec, everything, min_status_age_seconds=age, now_us=NOW,
                           sort_by=sort_by, offset=2, limit=40)  # fmt: skip
            want = reference(everything, q)
            for plan in ("auto", "walk", "intersect"):
                page = stores.search.search(q, plan=plan)
                assert ids_of(page.threads) == ids_of(want[2:42]), (spec, age, plan)
            assert stores.search.count(q) == len(reference(everything, q)), (spec, age)
    # The server's clock: a cutoff between the dataset's whole seconds.
    q = ThreadQuery(min_status_age_seconds=(now_us() - us(at(149.5))) / 1e6, limit=1000)
    want = reference(everything, replace(q, now_us=us(at(149.5)) + q.min_age_us))
    assert ids_of(stores.search.search(q).threads) == ids_of(want)
    assert stores.search.count(q) == len(want)


def test_the_filter_over_http_and_the_sdk(http: httpx.Client, api_url: str) -> None:
    old, fresh = new_id(), new_id()
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    for thread_id, when in ((old, an_hour_ago), (fresh, None)):
        run_id = new_id()
        fields = {"at": when} if when else {}
        post_events(http, [event(thread_id, run_id, "run.interrupted", **fields)])

    body = {"status": "interrupted", "min_status_age_seconds": 1800}
    found = http.post("/threads/search", json=body)
    assert found.status_code == 200 and [t["thread_id"] for t in found.json()] == [old]
    assert http.post("/threads/count", json=body).json() == 1
    assert http.post("/threads/count", json={"status": "interrupted"}).json() == 2
    assert http.post("/threads/count", json={"min_status_age_seconds": 0}).json() == 2
    bad = http.post("/threads/count", json={"min_status_age_seconds": -1})
    assert bad.status_code == 422 and bad.json()["detail"].startswith("min_status_age_seconds: ")

    with get_sync_client(url=api_url) as client:
        age = {"min_status_age_seconds": 1800}
        threads = client.threads.search(status="interrupted", params=age)
        assert [t["thread_id"] for t in threads] == [old]
        assert client.threads.count(status="interrupted", params=age) == 1
        assert client.threads.count(status="interrupted") == 2


@pytest.mark.parametrize("path", ["/threads/search", "/threads/count"])
def test_an_invalid_query_parameter_is_422(http: httpx.Client, path: str) -> None:
    resp = http.post(path, params={"min_status_age_seconds": "soon"}, json={})
    assert resp.status_code == 422
    assert resp.json()["detail"].startswith("min_status_age_seconds: ")
