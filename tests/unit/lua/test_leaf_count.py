"""lua/leaf_count.lua: the threads holding every leaf of a metadata filter, in one status or
in any, from the per-status leaf sets. ThreadSearch.count uses it (tests/unit/test_search.py
checks it against a reference)."""

from __future__ import annotations

from tests.unit.helpers import KEYS, event
from threadwatch.store.stores import Stores

TEAM_A, USER_U = KEYS.metadata_leaf('["team","a"]'), KEYS.metadata_leaf('["user","u"]')


def count(stores: Stores, status: str, *leaves: str) -> int:
    return stores.search.scripts.leaf_count(KEYS.leaf_index, [status, *leaves])


def test_counts_per_status_and_across_them(stores: Stores) -> None:
    busy = stores.threads.create(None, {"team": "a", "user": "u"})["thread_id"]
    stores.threads.create(None, {"team": "a", "user": "u"})
    stores.threads.create(None, {"team": "a"})
    stores.runs.apply([event(busy, "00000000-0000-4000-8000-000000000001", "run.started")])
    assert count(stores, "", TEAM_A) == 3
    assert count(stores, "", TEAM_A, USER_U) == 2  # SINTERCARD of both leaves
    assert count(stores, "busy", TEAM_A, USER_U) == 1
    assert count(stores, "idle", TEAM_A) == 2
    assert count(stores, "error", TEAM_A) == 0


def test_a_leaf_no_thread_holds_counts_nothing(stores: Stores) -> None:
    stores.threads.create(None, {"team": "a"})
    assert count(stores, "", KEYS.metadata_leaf('["team","z"]')) == 0
    assert count(stores, "", TEAM_A, KEYS.metadata_leaf('["team","z"]')) == 0
