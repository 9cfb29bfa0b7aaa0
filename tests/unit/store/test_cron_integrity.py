"""The doctor's cron pass (app/store/cron_integrity.py): a healthy store of crons is clean;
each broken cron index is found, repaired from the hashes, and the store is clean again."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fakeredis import FakeRedis

from tests.unit.helpers import KEYS
from threadwatch.store.crons import Cron
from threadwatch.store.integrity import Doctor
from threadwatch.store.stores import Stores

THREAD = "3f1b7c9e-0000-4000-8000-000000000001"


def put(stores: Stores, cron_id: str, thread_id: str | None = None, enabled: bool = True) -> None:
    stores.crons.put(
        Cron(
            cron_id=cron_id,
            assistant_id="a1",
            thread_id=thread_id,
            schedule="* * * * *",
            timezone=None,
            payload={},
            metadata={},
            on_run_completed=None,
            enabled=enabled,
            end_time=None,
            next_run_date=5_000_000,
            created_at=1_000_000,
            updated_at=1_000_000,
        )
    )


@pytest.fixture
def crons(stores: Stores) -> Stores:
    put(stores, "c1", THREAD)
    put(stores, "c2")
    put(stores, "c3", enabled=False)
    return stores


def problems(stores: Stores) -> dict[str, int]:
    report = Doctor(stores.redis, KEYS, batch=2).check()
    return {p.name: p.found for p in report.found_problems()}


def test_a_healthy_store_of_crons_is_clean(crons: Stores) -> None:
    assert problems(crons) == {}


BREAKAGES: dict[str, tuple[Callable[[FakeRedis], object], str]] = {
    "not in crons": (lambda r: r.zrem(KEYS.crons(), "c1"), "cron_index"),
    "crons score": (lambda r: r.zadd(KEYS.crons(), {"c1": 7}), "cron_index"),
    "not in its assistant's set": (
        lambda r: r.srem(KEYS.crons_of_assistant("a1"), "c2"),
        "cron_index",
    ),
    "not in its thread's set": (lambda r: r.srem(KEYS.crons_of_thread(THREAD), "c1"), "cron_index"),
    "enabled, not due": (lambda r: r.zrem(KEYS.crons_due(), "c2"), "cron_index"),
    "disabled, due": (lambda r: r.zadd(KEYS.crons_due(), {"c3": 5_000_000}), "cron_index"),
    "due at another time": (lambda r: r.zadd(KEYS.crons_due(), {"c2": 9}), "cron_index"),
    "gone from crons": (lambda r: r.zadd(KEYS.crons(), {"gone": 1}), "cron_dangling"),
    "gone from due": (lambda r: r.zadd(KEYS.crons_due(), {"gone": 1}), "cron_dangling"),
    "gone from a set": (lambda r: r.sadd(KEYS.crons_of_assistant("a1"), "gone"), "cron_dangling"),
    "another's set": (lambda r: r.sadd(KEYS.crons_of_assistant("a2"), "c1"), "cron_dangling"),
    "a stateless cron in a thread set": (
        lambda r: r.sadd(KEYS.crons_of_thread(THREAD), "c2"),
        "cron_dangling",
    ),
}


@pytest.mark.parametrize("breakage", BREAKAGES, ids=list(BREAKAGES))
def test_each_breakage_is_found_and_repaired(crons: Stores, breakage: str) -> None:
    breaks, problem = BREAKAGES[breakage]
    breaks(crons.redis)
    assert problems(crons) == {problem: 1}
    report = Doctor(crons.redis, KEYS, batch=2).fix()
    assert report.problems[problem].fixed == 1
    assert report.remaining is not None and report.remaining.found == 0
    assert problems(crons) == {}
