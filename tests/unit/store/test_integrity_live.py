"""app/store/integrity.py on a store that changes while it is checked: what a batch read sees
half-way through a write is read again at one instant, and only what that reading shows is
reported, so a write in progress is never a problem and a real corruption still is.

The writes are simulated here by tearing the doctor's batch reads; the real thing, the API
and workers writing while `threadwatch doctor` runs, is
tests/integration/runs/test_doctor_live.py."""

from __future__ import annotations

import pytest
from fakeredis import FakeRedis

from tests.unit.helpers import KEYS, at, event
from threadwatch.store.codec import thread_member
from threadwatch.store.integrity import Doctor, DoctorReport
from threadwatch.store.stores import Stores
from threadwatch.store.thread_check import ThreadReader, ThreadView

T1, T2 = "00000000-0000-4000-8000-0000000000a1", "00000000-0000-4000-8000-0000000000a2"
R1 = "00000000-0000-4000-8000-000000000001"
GHOST = "00000000-0000-4000-8000-00000000dead"


def found(report: DoctorReport) -> dict[str, int]:
    return {p.name: p.found for p in report.found_problems()}


@pytest.fixture
def busy_store(stores: Stores) -> Stores:
    stores.threads.create(T1, {"team": "a"})
    stores.threads.create(T2, {"team": "b"})
    stores.runs.apply([event(T1, R1, "run.started", at=at(1))])
    return stores


@pytest.fixture
def torn(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every batch read sees each thread as if half-way through a status change: out of
    every status set and leaf set (its hash read before, its entries after a move)."""
    batch = ThreadReader.batch

    def torn_batch(self: ThreadReader, thread_ids: list[str]) -> list[ThreadView]:
        views = batch(self, thread_ids)
        for view in views:
            view.statuses = [None] * len(view.statuses)
            view.held = [False] * len(view.held)
        return views

    monkeypatch.setattr(ThreadReader, "batch", torn_batch)


@pytest.mark.usefixtures("torn")
def test_a_torn_batch_read_is_no_problem(busy_store: Stores) -> None:
    assert found(Doctor(busy_store.redis, KEYS, batch=1).check()) == {}


@pytest.mark.usefixtures("torn")
def test_a_real_corruption_is_still_found_and_repaired(busy_store: Stores) -> None:
    r = busy_store.redis
    r.zrem(KEYS.status("idle"), thread_member(T2))
    expected = {"status_missing": 1}
    assert found(Doctor(r, KEYS, batch=1).check()) == expected
    report = Doctor(r, KEYS, batch=1).fix()
    assert found(report) == expected and report.fixed == 1
    assert report.clean


def test_a_thread_deleted_after_the_scan_is_no_problem(
    busy_store: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SCAN named a thread that is gone by the time it is read: nothing to check."""
    scan = Doctor._scan_keys

    def with_ghost(self: Doctor, prefix: str, type_: str):  # type: ignore[no-untyped-def]
        for names in scan(self, prefix, type_):
            yield [*names, GHOST] if prefix == KEYS.thread("") else names

    monkeypatch.setattr(Doctor, "_scan_keys", with_ghost)
    report = Doctor(busy_store.redis, KEYS).check()
    assert found(report) == {}
    assert report.threads == 3


def test_an_entry_removed_after_its_record_is_no_problem(
    busy_store: Stores, fake_redis: FakeRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dangling-looking entry is read again with its record at one instant: an entry that
    a delete removed meanwhile is not reported, one still there is."""
    fake_redis.zadd(KEYS.order("created_at"), {thread_member(GHOST): 1})
    doctor = Doctor(fake_redis, KEYS)
    dangles = doctor._dangles

    def deleted_meanwhile(key: str, member: bytes | str, record: str) -> bool:
        if key == KEYS.order("created_at"):
            fake_redis.zrem(key, member)
        return dangles(key, member, record)

    monkeypatch.setattr(doctor, "_dangles", deleted_meanwhile)
    assert found(doctor.check()) == {}
    fake_redis.zadd(KEYS.order("updated_at"), {thread_member(GHOST): 1})
    assert found(doctor.check()) == {"order_dangling": 1}


def test_a_run_deleted_after_the_scan_is_no_problem_a_rankless_one_is(
    busy_store: Stores, fake_redis: FakeRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    scan = Doctor._scan_keys

    def with_ghost(self: Doctor, prefix: str, type_: str):  # type: ignore[no-untyped-def]
        for names in scan(self, prefix, type_):
            yield [*names, GHOST] if prefix == KEYS.run("") else names

    monkeypatch.setattr(Doctor, "_scan_keys", with_ghost)
    assert found(Doctor(fake_redis, KEYS).check()) == {}
    fake_redis.hdel(KEYS.run(R1), "rank")
    assert found(Doctor(fake_redis, KEYS).check())["malformed_run"] == 1


def test_a_thread_hash_without_its_fields_is_malformed_not_gone(
    busy_store: Stores, fake_redis: FakeRedis
) -> None:
    fake_redis.hset(KEYS.thread(GHOST), "something", "else")
    assert found(Doctor(fake_redis, KEYS).check()) == {"malformed_thread": 1}
