"""app/store/integrity.py: each way the indexes can disagree with the hashes is found, repaired by
`fix`, and a second check is clean (tests/unit/helpers.py index_violations agrees)."""

from __future__ import annotations

from collections.abc import Callable

import orjson
import pytest
from fakeredis import FakeRedis

from tests.unit.helpers import KEYS, at, event, index_violations, thread_hash
from threadwatch.domain import ThreadStatus
from threadwatch.store.codec import thread_id_of, thread_member
from threadwatch.store.integrity import Doctor, DoctorReport
from threadwatch.store.metadata_index import metadata_leaves
from threadwatch.store.search import ThreadQuery
from threadwatch.store.stores import Stores

T1, T2, T3 = (f"00000000-0000-4000-8000-0000000000a{i}" for i in (1, 2, 3))
R1, R2 = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"
GHOST = "00000000-0000-4000-8000-00000000dead"


@pytest.fixture
def populated(stores: Stores) -> Stores:
    """Three threads with metadata, one busy with a run in flight, one with a finished run."""
    stores.threads.create(T1, {"team": "a", "n": 1, "tags": ["x"]})
    stores.threads.create(T2, {"team": "b"})
    stores.threads.create(T3, {"team": "a", "nested": {"k": "v"}})
    stores.runs.apply([event(T1, R1, "run.pending", at=at(1))])
    stores.runs.apply(
        [event(T2, R2, "run.started", at=at(1)), event(T2, R2, "run.succeeded", at=at(2))]
    )
    assert index_violations(stores.redis) == []
    return stores


def doctor(stores: Stores, batch: int = 2) -> Doctor:
    # A batch smaller than the data exercises the batching.
    return Doctor(stores.redis, KEYS, batch=batch)


def found(report: DoctorReport) -> dict[str, int]:
    return {p.name: p.found for p in report.found_problems()}


def test_consistent_store_is_clean(populated: Stores) -> None:
    report = doctor(populated).check()
    assert found(report) == {}
    assert report.clean
    assert report.threads == 3
    assert report.runs == 2
    # One set per (status, leaf): T1 is busy, T2 and T3 idle.
    assert report.leaf_sets == len(
        {
            (status, leaf)
            for status, m in (
                ("busy", {"team": "a", "n": 1, "tags": ["x"]}),
                ("idle", {"team": "b"}),
                ("idle", {"team": "a", "nested": {"k": "v"}}),
            )
            for leaf in metadata_leaves(m)
        }
    )


def status_of(redis: FakeRedis, thread_id: str) -> str:
    return thread_hash(redis, thread_id)["status"]


def remove_from_status_set(r: FakeRedis) -> None:
    r.zrem(KEYS.status(status_of(r, T2)), thread_member(T2))


def add_to_second_status_set(r: FakeRedis) -> None:
    r.zadd(KEYS.status("error"), {thread_member(T3): 5})


def wrong_status_score(r: FakeRedis) -> None:
    r.zadd(KEYS.status(status_of(r, T3)), {thread_member(T3): 12345})


def dangling_status_member(r: FakeRedis) -> None:
    r.zadd(KEYS.status("interrupted"), {thread_member(GHOST): 1})


def dangling_order_entry(r: FakeRedis) -> None:
    r.zadd(KEYS.order("updated_at"), {thread_member(GHOST): 1})


def missing_order_entry(r: FakeRedis) -> None:
    r.zrem(KEYS.order("created_at"), thread_member(T1))


def wrong_order_score(r: FakeRedis) -> None:
    r.zadd(KEYS.order("thread_id"), {thread_member(T1): 7})


def leaf_id(r: FakeRedis, leaf: str) -> str:
    return r.hget(KEYS.leaf_ids(), KEYS.metadata_leaf(leaf)).decode()


def move_leaves(r: FakeRedis, thread_id: str, to: str) -> None:
    """The thread's leaf entries, as if its status were ``to``."""
    old = status_of(r, thread_id)
    for i in thread_hash(r, thread_id)["leaves"].split():
        r.smove(KEYS.leaf_set(old, i), KEYS.leaf_set(to, i), thread_member(thread_id))


def stale_leaf_member(r: FakeRedis) -> None:
    r.sadd(KEYS.leaf_set(status_of(r, T1), leaf_id(r, '["team","b"]')), thread_member(T1))


def leaf_member_of_another_status(r: FakeRedis) -> None:
    r.sadd(KEYS.leaf_set("error", leaf_id(r, '["team","a"]')), thread_member(T3))


def dangling_leaf_member(r: FakeRedis) -> None:
    r.sadd(KEYS.leaf_set("idle", leaf_id(r, '["team","a"]')), thread_member(GHOST))


def missing_leaf_member(r: FakeRedis) -> None:
    r.srem(KEYS.leaf_set(status_of(r, T3), leaf_id(r, '["team","a"]')), thread_member(T3))


def wrong_inflight(r: FakeRedis) -> None:
    r.hset(KEYS.thread(T2), "inflight", 3)


def idle_with_a_run_in_flight(r: FakeRedis) -> None:
    # T1's run is pending, but the thread says idle with nothing in flight.
    since = thread_hash(r, T1)["status_since"]
    move_leaves(r, T1, "idle")
    r.zrem(KEYS.status("busy"), thread_member(T1))
    r.zadd(KEYS.status("idle"), {thread_member(T1): int(since)})
    r.hset(KEYS.thread(T1), mapping={"status": "idle", "inflight": 0})


def busy_without_runs_in_flight(r: FakeRedis) -> None:
    # T2's run finished: its counter says 0, but it is marked busy.
    since = thread_hash(r, T2)["status_since"]
    move_leaves(r, T2, "busy")
    r.zrem(KEYS.status(status_of(r, T2)), thread_member(T2))
    r.zadd(KEYS.status("busy"), {thread_member(T2): int(since)})
    r.hset(KEYS.thread(T2), "status", "busy")


def dangling_pending_run(r: FakeRedis) -> None:
    r.zadd(KEYS.runs_in("pending"), {GHOST: 1})


def pending_run_missing_from_index(r: FakeRedis) -> None:
    r.zrem(KEYS.runs_in("pending"), R1)


def finished_run_still_running(r: FakeRedis) -> None:
    r.zadd(KEYS.runs_in("running"), {R2: 1})
    r.zadd(KEYS.leases(), {R2: 1})


def unused_leaf_id(r: FakeRedis) -> None:
    r.hset(KEYS.leaf_ids(), KEYS.metadata_leaf('["team","gone"]'), "999")


def legacy_leaf_set(r: FakeRedis) -> None:
    r.sadd(KEYS.metadata_leaf('["team","a"]'), thread_member(T1))


def wrong_leaves_field(r: FakeRedis) -> None:
    r.hset(KEYS.thread(T3), "leaves", "999")


CORRUPTIONS: dict[str, tuple[Callable[[FakeRedis], None], dict[str, int]]] = {
    "remove from status set": (remove_from_status_set, {"status_missing": 1}),
    "in two status sets": (add_to_second_status_set, {"status_extra": 1}),
    "wrong status score": (wrong_status_score, {"status_score": 1}),
    "dangling status member": (dangling_status_member, {"status_dangling": 1}),
    "dangling order entry": (dangling_order_entry, {"order_dangling": 1}),
    "missing order entry": (missing_order_entry, {"order_missing": 1}),
    "wrong order score": (wrong_order_score, {"order_score": 1}),
    "stale leaf member": (stale_leaf_member, {"leaf_stale": 1}),
    "leaf member of another status": (leaf_member_of_another_status, {"leaf_stale": 1}),
    "dangling leaf member": (dangling_leaf_member, {"leaf_dangling": 1}),
    "missing leaf member": (missing_leaf_member, {"leaf_missing": 1}),
    "wrong inflight": (wrong_inflight, {"inflight": 1}),
    "idle with a run in flight": (
        idle_with_a_run_in_flight,
        {"inflight": 1, "status_derivation": 1},
    ),
    "busy without runs in flight": (busy_without_runs_in_flight, {"status_derivation": 1}),
    "dangling pending run": (dangling_pending_run, {"run_dangling": 1}),
    "pending run missing from index": (pending_run_missing_from_index, {"run_index": 1}),
    "finished run still running": (finished_run_still_running, {"run_index": 1}),
    "unused leaf id": (unused_leaf_id, {"leaf_unused": 1}),
    "leaf set of the earlier layout": (legacy_leaf_set, {"legacy_index": 1}),
    "wrong leaves field": (wrong_leaves_field, {"leaf_ids": 1}),
}


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_finds_and_repairs(populated: Stores, name: str) -> None:
    corrupt, expected = CORRUPTIONS[name]
    before = {k: thread_hash(populated.redis, k) for k in (T1, T2, T3)}
    corrupt(populated.redis)

    report = doctor(populated).check()
    assert found(report) == expected
    assert not report.clean
    assert all(p.examples for p in report.found_problems())

    fixed = doctor(populated).fix()
    assert found(fixed) == expected
    assert fixed.fixed == fixed.found
    assert fixed.remaining is not None and found(fixed.remaining) == {}
    assert fixed.clean

    assert found(doctor(populated).check()) == {}
    assert index_violations(populated.redis) == []
    if name != "busy without runs in flight":  # the hash was the corrupted part there
        after = {k: thread_hash(populated.redis, k) for k in (T1, T2, T3)}
        assert after == before


def test_busy_thread_repaired_to_its_outcome(populated: Stores) -> None:
    busy_without_runs_in_flight(populated.redis)
    doctor(populated).fix()
    h = thread_hash(populated.redis, T2)
    assert h["status"] == "idle"
    assert populated.redis.zscore(KEYS.status("idle"), thread_member(T2)) == int(h["status_since"])
    assert populated.redis.zscore(KEYS.status("busy"), thread_member(T2)) is None


def test_every_corruption_at_once(populated: Stores) -> None:
    for corrupt, _ in CORRUPTIONS.values():
        corrupt(populated.redis)
    report = doctor(populated, batch=1).fix()
    # Some hide others: T2's two status corruptions; T3's wrong leaves field, whose repair
    # also mends its missing leaf entry and its entry in another status's set.
    assert report.found >= len(CORRUPTIONS) - 4
    assert report.remaining is not None and found(report.remaining) == {}
    assert index_violations(populated.redis) == []


def test_malformed_thread_is_reported_not_touched(populated: Stores) -> None:
    populated.redis.hset(KEYS.thread(T3), "status", "weird")
    report = doctor(populated).fix()
    assert found(report)["malformed_thread"] == 1
    assert not report.clean
    assert thread_hash(populated.redis, T3)["status"] == "weird"


def test_repair_keeps_a_leaf_entry_the_hash_now_holds(populated: Stores) -> None:
    """A leaf entry is dropped only if, as the thread hash says at that moment, the thread
    is in another status or lacks the leaf."""
    r, d = populated.redis, doctor(populated)
    team_a = leaf_id(r, '["team","a"]')
    held = KEYS.leaf_set("idle", team_a)
    assert d._drop(held, T3, "idle", team_a) is False
    assert r.sismember(held, thread_member(T3))
    stale_leaf_member(r)
    stale = KEYS.leaf_set("busy", leaf_id(r, '["team","b"]'))
    assert d._drop(stale, T1, "busy", leaf_id(r, '["team","b"]')) is True
    assert not r.sismember(stale, thread_member(T1))


def test_many_threads_in_small_batches(stores: Stores) -> None:
    ids = [f"00000000-0000-4000-8000-{i:012d}" for i in range(250)]
    for i, thread_id in enumerate(ids):
        stores.threads.create(thread_id, {"i": i % 7})
    stores.redis.zrem(KEYS.status("idle"), thread_member(ids[100]), thread_member(ids[200]))
    report = Doctor(stores.redis, KEYS, batch=16).fix()
    assert report.threads == 250
    assert found(report) == {"status_missing": 2}
    assert report.clean


def _to_earlier_layout(r: FakeRedis) -> int:
    """Rewrite the metadata index the way stores before the per-status leaf sets held it:
    one set per leaf (``mi:{json}``), per-status counts in ``leaf-counts``, ``#all``; no
    ``leaves`` field. Returns how many such keys there are (with ``#all``)."""
    for thread_id in (T1, T2, T3):
        h = thread_hash(r, thread_id)
        r.hdel(KEYS.thread(thread_id), "leaves")
        for leaf in metadata_leaves(orjson.loads(h["metadata"])):
            r.sadd(KEYS.metadata_leaf(leaf), thread_member(thread_id))
    for key in r.keys(KEYS.leaf_set_prefix + "*"):
        r.delete(key)
    r.delete(KEYS.leaf_ids())
    r.hset(KEYS.leaf_ids(), "#all", "1")
    r.hset(KEYS.legacy_leaf_counts(), "idle|1", 1)
    return len(r.keys(KEYS.metadata_leaf("") + "*")) + 2


def test_store_of_the_earlier_layout_is_indexed_by_fix(populated: Stores) -> None:
    """A store written before the per-status leaf sets: ``fix`` puts every thread in its
    sets, deletes the earlier index keys and marks the store indexed (``#sets``)."""
    r = populated.redis
    legacy = _to_earlier_layout(r)
    query = ThreadQuery(status=ThreadStatus.IDLE, metadata={"team": "a"})

    report = doctor(populated).check()
    assert found(report) == {
        "leaf_unindexed": 3,
        "legacy_index": legacy,
        "index_incomplete": 1,
    }
    fixed = doctor(populated).fix()
    assert fixed.remaining is not None and found(fixed.remaining) == {}
    assert index_violations(r) == []
    assert r.hget(KEYS.leaf_ids(), "#sets") == b"1"
    assert populated.search.count(query) == 1  # T3 (T1 is busy)
    page = populated.search.search(ThreadQuery(metadata={"team": "a"}))
    assert sorted(t["thread_id"] for t in page.threads) == [T1, T3]


def _to_text_members(r: FakeRedis) -> int:
    """Rewrite the status, order and leaf indexes the way stores before 16-byte members
    held them (the id's text); how many entries were rewritten."""
    rewritten = 0
    for key in (*KEYS.statuses, *KEYS.orders):
        for member, score in r.zrange(key, 0, -1, withscores=True):
            r.zrem(key, member)
            r.zadd(key, {thread_id_of(member).encode(): score})
            rewritten += 1
    for raw in r.keys(KEYS.leaf_set_prefix + "*"):
        for member in r.smembers(raw):
            r.srem(raw, member)
            r.sadd(raw, thread_id_of(member).encode())
            rewritten += 1
    return rewritten


def test_store_with_text_members_is_converted_by_fix(populated: Stores) -> None:
    """A store written before index members were 16 bytes: every status, order and leaf
    entry is the id's text. ``fix`` indexes each thread again and drops the text entries;
    searches then find every thread."""
    r = populated.redis
    rewritten = _to_text_members(r)
    report = doctor(populated).check()
    assert found(report)["text_member"] == rewritten
    assert found(report)["status_missing"] == 3

    fixed = doctor(populated).fix()
    assert fixed.remaining is not None and found(fixed.remaining) == {}
    assert index_violations(r) == []
    for key in (*KEYS.statuses, *KEYS.orders):
        assert all(len(m) == 16 for m in r.zrange(key, 0, -1)), key
    page = populated.search.search(ThreadQuery(metadata={"team": "a"}, limit=10))
    assert sorted(t["thread_id"] for t in page.threads) == sorted([T1, T3])


def test_search_reads_text_members_before_the_conversion(populated: Stores) -> None:
    """Until ``doctor --fix`` runs, a thread indexed in the text form is still found."""
    _to_text_members(populated.redis)
    page = populated.search.search(ThreadQuery(metadata={"team": "a"}, limit=10))
    assert sorted(t["thread_id"] for t in page.threads) == sorted([T1, T3])


def test_the_search_tells_a_store_of_the_earlier_layout(populated: Stores) -> None:
    assert populated.search.index_layout_current()
    _to_earlier_layout(populated.redis)
    assert not populated.search.index_layout_current()
