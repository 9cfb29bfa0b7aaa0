"""The search and count commands on a real server (fakeredis differs in places; see below).

fakeredis 2.40 answers SINTERCARD with WRONGTYPE when its first key is missing (the unit
tier patches that); here the real server answers the unit tier's queries (tests/unit/
test_search.py) on the same dataset, compared with the same brute-force reference.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
import redis

from tests.unit.helpers import make_stores
from tests.unit.store.search_dataset import (
    FILTERS,
    all_ids,
    ids_of,
    make_query,
    populate,
    reference,
)
from threadwatch.store.codec import materialize
from threadwatch.store.search import ThreadQuery
from threadwatch.store.stores import Stores


@pytest.fixture
def db(redis_client: redis.Redis) -> Stores:
    stores = make_stores(redis_client)
    populate(stores, random.Random(20251))
    return stores


@pytest.fixture
def everything(db: Stores) -> list[dict[str, Any]]:
    return materialize(db.threads.get_many(all_ids(db)))


def test_search_and_count_match_the_reference(db: Stores, everything: list[dict[str, Any]]) -> None:
    for spec in FILTERS:
        for sort_by in ("created_at", "status", "thread_id"):
            q = make_query(spec, everything, sort_by=sort_by, offset=3, limit=40)
            want = reference(everything, q)
            for plan in ("auto", "walk", "intersect"):
                page = db.search.search(q, plan=plan)
                assert ids_of(page.threads) == ids_of(want[3:43]), (spec, sort_by, plan)
                assert page.has_more == (len(want) > 43)
        q = make_query(spec, everything)
        assert db.search.count(q) == len(reference(everything, q)), spec


@pytest.mark.parametrize(
    "metadata",
    [
        {"aaa": "absent", "user": "u1"},  # the first leaf set (in key order) does not exist
        {"user": "u1", "zzz": "absent"},
    ],
)
def test_count_with_an_absent_leaf_is_zero(db: Stores, metadata: dict[str, Any]) -> None:
    assert db.search.count(ThreadQuery(metadata=metadata)) == 0
    assert db.search.count(ThreadQuery(metadata=metadata, status="idle")) == 0


def test_offset_past_the_end(db: Stores) -> None:
    for spec in ({}, {"metadata": {"user": "u1"}}, {"status": "idle"}):
        assert db.search.search(ThreadQuery(**spec, offset=10**15)).threads == []
