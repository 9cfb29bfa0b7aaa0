"""lua/search.lua's contract: its reply shapes and plans. Thin on purpose: every filter, sort
and page is compared with a reference model, with each plan, in tests/unit/test_search.py
and tests/unit/test_search_age.py, and on a real server in
tests/integration/test_search_planner.py."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.helpers import KEYS
from threadwatch.store.codec import thread_id_of
from threadwatch.store.stores import Stores

TEAM_A = KEYS.metadata_leaf('["team","a"]')


def search(
    stores: Stores,
    *leaves: str,
    plan: str = "auto",
    hashes: bool = False,
    ages: tuple[str, ...] = (),
    min_age: int | str = "",
) -> list[Any]:
    """One call, newest first, KEYS and ARGV as the header lists them."""
    keys = [KEYS.order("created_at"), KEYS.scratch(), *KEYS.leaf_index, *ages]
    args = [0, 10, 1, 0, 20_000, plan, min_age, "", len(ages), KEYS.thread("") if hashes else ""]
    return stores.search.scripts.search(keys, [*args, "", *leaves])


@pytest.fixture
def three(stores: Stores) -> list[str]:
    """Three threads, oldest first; the first and last in team a."""
    return [stores.threads.create(None, {"team": team})["thread_id"] for team in ("a", "b", "a")]


def test_no_filter_pages_the_sort_index(stores: Stores, three: list[str]) -> None:
    plan, *members = search(stores)
    assert plan == b"scan"
    assert [thread_id_of(m) for m in members] == three[::-1]


@pytest.mark.parametrize("plan", ["auto", "walk", "intersect"])
def test_each_plan_finds_the_same_page(stores: Stores, three: list[str], plan: str) -> None:
    used, *members = search(stores, TEAM_A, plan=plan)
    assert used in (b"walk", b"intersect") and (plan == "auto" or used == plan.encode())
    assert [thread_id_of(m) for m in members] == [three[2], three[0]]
    assert not stores.redis.exists(KEYS.scratch())  # the scratch key is gone


def test_with_hashes_each_id_comes_with_its_thread(stores: Stores, three: list[str]) -> None:
    _, *pairs = search(stores, TEAM_A, hashes=True)
    assert [thread_id_of(m) for m in pairs[0::2]] == [three[2], three[0]]
    assert all(b"status" in flat[0::2] for flat in pairs[1::2])


def test_a_leaf_no_thread_holds_is_empty(stores: Stores, three: list[str]) -> None:
    assert search(stores, KEYS.metadata_leaf('["team","z"]')) == [b"empty"]


def test_count_with_an_age_filter(stores: Stores, three: list[str]) -> None:
    assert search(stores, plan="count", ages=(KEYS.status("idle"),), min_age=0) == [b"count", 3]
    too_old = 10**12  # µs: none has been idle that long
    assert search(stores, plan="count", ages=(KEYS.status("idle"),), min_age=too_old) == [
        b"count",
        0,
    ]
