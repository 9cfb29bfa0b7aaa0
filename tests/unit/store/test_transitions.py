"""Run events -> thread status (reference §1.3), through RunStore.apply and transition.lua.

The rule: busy while any run is pending or running; otherwise the outcome of the terminal
event with the greatest (at, run_id). A run's events only move forward, so duplicates and
late events change nothing, and every delivery order leaves the same thread.
"""

from __future__ import annotations

import uuid
from operator import methodcaller
from typing import Any

import pytest
from fakeredis import FakeRedis
from redis.backoff import NoBackoff
from redis.connection import Connection
from redis.exceptions import ConnectionError
from redis.retry import Retry

from tests.unit.helpers import (
    KEYS,
    at,
    event,
    index_violations,
    leaf_holders,
    make_stores,
    thread_hash,
    us,
)
from threadwatch.domain import ASSISTANT_NAMESPACE, EventResult
from threadwatch.errors import RunNotFound, RunThreadMismatch, ThreadNotFound
from threadwatch.models import RunEvent
from threadwatch.store.codec import RawJSON, materialize, now_us, thread_member
from threadwatch.store.runs import EVENTS_PER_CALL
from threadwatch.store.stores import Stores

T1, T2 = "00000000-0000-4000-8000-0000000000a1", "00000000-0000-4000-8000-0000000000a2"
R1, R2, R3, R4 = (f"00000000-0000-4000-8000-00000000000{i}" for i in (1, 2, 3, 4))


def apply(stores: Stores, *events: RunEvent) -> list[EventResult]:
    return [a.result for a in stores.runs.apply(list(events))]


def thread(stores: Stores, thread_id: str = T1) -> dict[str, Any]:
    return materialize(stores.threads.get(thread_id))


def run(stores: Stores, run_id: str, thread_id: str = T1) -> dict[str, Any]:
    return materialize(stores.runs.get(thread_id, run_id))


# -- busy while any run is in flight ---------------------------------------------------------


def test_pending_makes_the_thread_busy_from_its_time(stores: Stores) -> None:
    (applied,) = stores.runs.apply([event(T1, R1, "run.pending", at=at(5))])
    assert (applied.result, applied.old_status, applied.new_status) == ("applied", "idle", "busy")
    t = thread(stores)
    assert t["status"] == "busy" and us(t["status_since"]) == us(at(5))
    assert run(stores, R1)["status"] == "pending"


def test_started_keeps_busy_since_the_pending(stores: Stores) -> None:
    apply(stores, event(T1, R1, "run.pending", at=at(5)), event(T1, R1, "run.started", at=at(6)))
    t = thread(stores)
    assert t["status"] == "busy" and us(t["status_since"]) == us(at(5))
    assert run(stores, R1)["status"] == "running"


def test_busy_while_another_run_is_in_flight(stores: Stores) -> None:
    apply(
        stores,
        event(T1, R1, "run.pending", at=at(1)),
        event(T1, R2, "run.started", at=at(2)),
        event(T1, R1, "run.failed", at=at(3)),
    )
    assert thread(stores)["status"] == "busy"
    assert us(thread(stores)["status_since"]) == us(at(1))
    (applied,) = stores.runs.apply([event(T1, R2, "run.succeeded", at=at(4))])
    # R2's success at 4 is the latest terminal event, so it decides.
    assert (applied.old_status, applied.new_status) == ("busy", "idle")
    assert us(thread(stores)["status_since"]) == us(at(4))


# -- outcomes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type", "fields", "thread_status", "run_status"),
    [
        ("run.succeeded", {}, "idle", "success"),
        ("run.interrupted", {}, "interrupted", "success"),
        ("run.failed", {}, "error", "error"),
        ("run.timeout", {}, "error", "timeout"),
        ("run.cancelled", {}, "interrupted", "interrupted"),
        ("run.cancelled", {"next": ["node"]}, "interrupted", "interrupted"),
        ("run.cancelled", {"next": []}, "idle", "interrupted"),
        (
            "run.cancelled",
            {"next": [], "interrupts": {"t": [{"value": 1}]}},
            "interrupted",
            "interrupted",
        ),
    ],  # fmt: skip
)
def test_terminal_outcomes(
    stores: Stores, type: str, fields: dict[str, Any], thread_status: str, run_status: str
) -> None:
    apply(stores, event(T1, R1, "run.started", at=at(1)), event(T1, R1, type, at=at(2), **fields))
    t = thread(stores)
    assert t["status"] == thread_status and us(t["status_since"]) == us(at(2))
    assert run(stores, R1)["status"] == run_status


@pytest.mark.parametrize(
    ("type", "error"),
    [
        ("run.failed", {"error": "RunError", "message": "The run failed"}),
        ("run.timeout", {"error": "TimeoutError", "message": "The run timed out"}),
        ("run.succeeded", None),
        ("run.interrupted", None),
        ("run.cancelled", None),
    ],
)
def test_default_error(stores: Stores, type: str, error: dict[str, str] | None) -> None:
    apply(stores, event(T1, R1, type, at=at(1)))
    assert thread(stores)["error"] == error


def test_error_and_interrupts_come_from_the_winning_terminal(stores: Stores) -> None:
    boom = {"error": "ValueError", "message": "boom"}
    interrupts = {"task": [{"id": "i1", "value": {"question": "approve?"}}]}
    apply(stores, event(T1, R1, "run.failed", at=at(1), error=boom))
    assert thread(stores)["error"] == boom
    apply(stores, event(T1, R2, "run.interrupted", at=at(2), interrupts=interrupts))
    t = thread(stores)
    assert (t["status"], t["interrupts"], t["error"]) == ("interrupted", interrupts, None)
    apply(stores, event(T1, R3, "run.succeeded", at=at(3)))
    t = thread(stores)
    assert (t["status"], t["interrupts"], t["error"]) == ("idle", {}, None)


def test_latest_terminal_wins_whatever_the_delivery_order(stores: Stores) -> None:
    apply(stores, event(T1, R2, "run.failed", at=at(9)), event(T1, R1, "run.succeeded", at=at(3)))
    t = thread(stores)
    assert t["status"] == "error" and us(t["status_since"]) == us(at(9))
    assert run(stores, R1)["status"] == "success"  # the older run is still recorded


def test_equal_times_are_ordered_by_run_id(stores: Stores) -> None:
    apply(stores, event(T1, R2, "run.failed", at=at(1)), event(T1, R1, "run.succeeded", at=at(1)))
    assert thread(stores)["status"] == "error"  # R2 > R1
    apply(stores, event(T2, R4, "run.succeeded", at=at(1)), event(T2, R3, "run.failed", at=at(1)))
    assert thread(stores, T2)["status"] == "idle"  # R4 > R3, though delivered first


def test_values_come_from_the_latest_event_with_values(stores: Stores) -> None:
    apply(
        stores,
        event(T1, R1, "run.started", at=at(1), values={"v": 1}),
        event(T1, R2, "run.succeeded", at=at(5), values={"v": 5}),
        event(T1, R1, "run.succeeded", at=at(3), values={"v": 3}),  # older: ignored
        event(T1, R3, "run.failed", at=at(7)),  # no values: keeps them
    )
    assert thread(stores)["values"] == {"v": 5}


def test_values_of_a_late_in_flight_event_are_kept(stores: Stores) -> None:
    started = event(T1, R1, "run.started", at=at(1), values={"v": "started"})
    apply(stores, event(T1, R1, "run.succeeded", at=at(2)), started)  # out of order
    assert thread(stores)["values"] == {"v": "started"}  # as when delivered in order


def test_run_created_at_is_its_earliest_event(stores: Stores) -> None:
    apply(stores, event(T1, R1, "run.succeeded", at=at(9)), event(T1, R1, "run.pending", at=at(1)))
    assert us(run(stores, R1)["created_at"]) == us(at(1))


def test_event_without_at_uses_the_server_clock(stores: Stores) -> None:
    before = now_us()
    apply(stores, event(T1, R1, "run.succeeded"))
    after = now_us()
    assert before <= us(thread(stores)["status_since"]) <= after
    assert before <= us(run(stores, R1)["created_at"]) <= after


# -- duplicates and stale events -----------------------------------------------------------


@pytest.mark.parametrize(
    "type", ["run.pending", "run.started", "run.succeeded", "run.failed", "run.cancelled"]
)
def test_duplicate_changes_nothing(stores: Stores, fake_redis: FakeRedis, type: str) -> None:
    again = event(T1, R1, type, at=at(1), values={"v": 1}, metadata={"m": 1})
    apply(stores, again)
    # Besides the counters, a repeated event of a run in flight only renews its lease.
    liveness = {KEYS.metrics().encode(), KEYS.leases().encode()}
    before = {k: fake_redis.dump(k) for k in fake_redis.keys("*") if k not in liveness}
    assert apply(stores, again) == ["duplicate"]
    after = {k: fake_redis.dump(k) for k in fake_redis.keys("*") if k not in liveness}
    assert after == before
    assert fake_redis.hget(KEYS.metrics(), "events|duplicate") == b"1"


@pytest.mark.parametrize(
    ("first", "late", "run_status"),
    [
        ("run.started", "run.pending", "running"),
        ("run.succeeded", "run.pending", "success"),
        ("run.succeeded", "run.started", "success"),
        ("run.succeeded", "run.failed", "success"),
        ("run.failed", "run.cancelled", "error"),
        ("run.timeout", "run.succeeded", "timeout"),
    ],
)
def test_stale_event_changes_neither_run_nor_thread(
    stores: Stores, first: str, late: str, run_status: str
) -> None:
    apply(stores, event(T1, R1, first, at=at(5)))
    before = thread(stores)
    results = stores.runs.apply([event(T1, R1, late, at=at(9))])
    assert [r.result for r in results] == ["stale"]
    assert results[0].old_status == results[0].new_status == before["status"]
    assert run(stores, R1)["status"] == run_status
    assert thread(stores) == before


# -- threads created by events, metadata ---------------------------------------------------


def test_first_event_creates_the_thread(stores: Stores, fake_redis: FakeRedis) -> None:
    apply(stores, event(T1, R1, "run.pending", at=at(1), metadata={"graph_id": "g", "n": 1}))
    t = thread(stores)
    assert t["status"] == "busy"
    assert t["metadata"] == {"graph_id": "g", "n": 1}
    assert t["config"] == {"configurable": {}}  # as after a run on LangGraph
    assert t["values"] is None and t["interrupts"] == {}
    assert t["created_at"] == t["updated_at"]
    assert index_violations(fake_redis) == []


def test_event_metadata_is_merged_and_moves_leaf_sets(
    stores: Stores, fake_redis: FakeRedis
) -> None:
    stores.threads.create(T1, {"graph_id": "old", "user": "u1"})
    apply(stores, event(T1, R1, "run.pending", at=at(1), metadata={"graph_id": "new"}))
    assert thread(stores)["metadata"] == {"graph_id": "new", "user": "u1"}
    assert leaf_holders(fake_redis, '["graph_id","old"]') == set()
    assert fake_redis.hget(KEYS.leaf_ids(), KEYS.metadata_leaf('["graph_id","old"]')) is None
    assert leaf_holders(fake_redis, '["graph_id","new"]') == {T1}
    assert index_violations(fake_redis) == []


def test_metadata_of_several_events_in_one_batch(stores: Stores, fake_redis: FakeRedis) -> None:
    apply(
        stores,
        event(T1, R1, "run.pending", at=at(1), metadata={"a": 1, "b": 1}),
        event(T2, R2, "run.pending", at=at(1), metadata={"a": 2}),
        event(T1, R1, "run.succeeded", at=at(2), metadata={"b": 2}),
        event(T1, R3, "run.succeeded", at=at(3), metadata={"c": 3}),
    )
    assert thread(stores)["metadata"] == {"a": 1, "b": 2, "c": 3}
    assert thread(stores, T2)["metadata"] == {"a": 2}
    assert index_violations(fake_redis) == []


def test_event_metadata_retries_when_the_thread_changed_meanwhile(
    stores: Stores, fake_redis: FakeRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    stores.threads.create(T1, {"a": 1})
    real_read = stores.runs._read_metadata
    raced: list[bool] = []

    def read_then_race(events: list[RunEvent]) -> Any:
        got = real_read(events)
        if not raced:  # a PATCH lands between the read and the transition
            raced.append(True)
            stores.threads.patch(T1, {"b": 2})
        return got

    monkeypatch.setattr(stores.runs, "_read_metadata", read_then_race)
    results = apply(stores, event(T1, R1, "run.pending", at=at(1), metadata={"c": 3}))
    assert results == ["applied"]
    assert thread(stores)["metadata"] == {"a": 1, "b": 2, "c": 3}
    assert index_violations(fake_redis) == []


def test_run_id_reused_on_another_thread_is_refused(stores: Stores, fake_redis: FakeRedis) -> None:
    apply(stores, event(T1, R1, "run.pending", at=at(1)))
    with pytest.raises(RunThreadMismatch) as raised:
        apply(stores, event(T2, R1, "run.succeeded", at=at(2), metadata={"x": 1}))
    assert raised.value.status_code == 409
    assert not stores.threads.exists(T2)
    assert run(stores, R1)["status"] == "pending"
    assert index_violations(fake_redis) == []


def test_run_id_reused_within_one_batch_is_refused(stores: Stores) -> None:
    with pytest.raises(RunThreadMismatch):
        apply(
            stores,
            event(T1, R1, "run.pending", at=at(1)),
            event(T2, R1, "run.pending", at=at(1)),
            event(T1, R2, "run.pending", at=at(1)),
        )
    assert not stores.threads.exists(T2)
    assert run(stores, R1)["thread_id"] == T1
    assert run(stores, R2)["status"] == "pending"  # the batch's other events are applied


# -- run records ---------------------------------------------------------------------------


def test_run_record(stores: Stores) -> None:
    apply(
        stores,
        event(
            T1,
            R1,
            "run.pending",
            at=at(1),
            assistant_id="asst",
            kwargs={"input": {"x": 1}},
            metadata={"m": 1},
            multitask_strategy="enqueue",
        ),
        event(T1, R1, "run.succeeded", at=at(2), kwargs={"ignored": True}),
    )
    r = run(stores, R1)
    assert r["run_id"] == R1 and r["thread_id"] == T1
    assert (r["assistant_id"], r["status"]) == ("asst", "success")
    assert r["multitask_strategy"] == "enqueue"
    assert r["kwargs"] == {"input": {"x": 1}} and r["metadata"] == {"m": 1}
    assert us(r["created_at"]) == us(at(1))


def test_run_record_from_a_pending_event_that_arrives_late(stores: Stores) -> None:
    pending = event(T1, R1, "run.pending", at=at(1), kwargs={"k": "pending"}, assistant_id="a")
    apply(stores, event(T1, R1, "run.succeeded", at=at(2), kwargs={"k": "late"}), pending)
    r = run(stores, R1)
    assert (r["kwargs"], r["assistant_id"], r["status"]) == ({"k": "pending"}, "a", "success")


def test_run_record_without_pending_does_not_depend_on_delivery_order(stores: Stores) -> None:
    started = event(T1, R1, "run.started", at=at(1), kwargs={"k": 1}, metadata={"m": 1})
    ended = event(T1, R1, "run.succeeded", at=at(2), kwargs={"k": 2}, metadata={"m": 2})
    apply(stores, ended, started)  # out of order
    r = run(stores, R1)
    assert (r["kwargs"], r["metadata"]) == ({"k": 1}, {"m": 1})  # as when delivered in order


def test_event_config_becomes_the_thread_config(stores: Stores) -> None:
    config = {"configurable": {"model": "m1"}}
    apply(stores, event(T1, R1, "run.pending", at=at(1), config=config))
    assert thread(stores)["config"] == config
    apply(stores, event(T1, R1, "run.succeeded", at=at(2)))  # no config: kept
    assert thread(stores)["config"] == config


def test_thread_config_does_not_depend_on_delivery_order(stores: Stores) -> None:
    older = event(T1, R1, "run.pending", at=at(1), config={"configurable": {"x": "older"}})
    newer = event(T1, R2, "run.pending", at=at(2), config={"configurable": {"x": "newer"}})
    apply(stores, newer, older)  # out of order
    assert thread(stores)["config"] == {"configurable": {"x": "newer"}}


def test_assistant_id_derived_from_the_event_graph_id(stores: Stores) -> None:
    apply(stores, event(T1, R1, "run.pending", at=at(1), metadata={"graph_id": "agent"}))
    assert run(stores, R1)["assistant_id"] == str(uuid.uuid5(ASSISTANT_NAMESPACE, "agent"))


def test_assistant_id_derived_from_the_thread_graph_id(stores: Stores) -> None:
    stores.threads.create(T1, {"graph_id": "agent"})
    apply(stores, event(T1, R1, "run.pending", at=at(1)))
    assert run(stores, R1)["assistant_id"] == str(uuid.uuid5(ASSISTANT_NAMESPACE, "agent"))


def test_list_runs_newest_first_with_filters(stores: Stores) -> None:
    apply(
        stores,
        event(T1, R1, "run.succeeded", at=at(1)),
        event(T1, R2, "run.pending", at=at(3)),
        event(T1, R3, "run.failed", at=at(2)),
    )
    listed = [r["run_id"] for r in stores.runs.list(T1)]
    assert listed == [R2, R3, R1]
    assert [r["run_id"] for r in stores.runs.list(T1, limit=1, offset=1)] == [R3]
    assert [r["run_id"] for r in stores.runs.list(T1, status="success")] == [R1]
    with pytest.raises(ThreadNotFound):
        stores.runs.list(T2)


def test_get_run_of_another_thread_is_not_found(stores: Stores) -> None:
    apply(stores, event(T1, R1, "run.pending", at=at(1)), event(T2, R2, "run.pending", at=at(1)))
    with pytest.raises(RunNotFound):
        stores.runs.get(T2, R1)
    with pytest.raises(RunNotFound):
        stores.runs.get(T1, R3)


# -- timestamps ----------------------------------------------------------------------------


def test_terminal_bumps_state_updated_at_and_in_flight_events_do_not(
    stores: Stores, fake_redis: FakeRedis
) -> None:
    stores.threads.create(T1)
    past = us(at(0))
    for field in ("updated_at", "state_updated_at"):
        fake_redis.hset(KEYS.thread(T1), field, past)
        fake_redis.zadd(KEYS.order(field), {thread_member(T1): past})
    apply(stores, event(T1, R1, "run.pending", at=at(1)))
    h = thread_hash(fake_redis, T1)
    assert int(h["updated_at"]) > past and int(h["state_updated_at"]) == past
    apply(stores, event(T1, R1, "run.succeeded", at=at(2)))
    assert int(thread_hash(fake_redis, T1)["state_updated_at"]) > past
    assert index_violations(fake_redis) == []


# -- an event in the same transaction as other writes (a run's end) ----------------------


def _write(key: str, value: bytes) -> Any:
    return methodcaller("set", key, value)


def test_apply_after_writes_and_applies_in_one_transaction(
    stores: Stores, fake_redis: FakeRedis
) -> None:
    stores.runs.apply([event(T1, R1, "run.started", at=at(1))])
    applied = stores.runs.apply_after(
        [_write("out:R1", b"done")], event(T1, R1, "run.succeeded", at=at(2), values={"v": 1})
    )
    assert applied.result == EventResult.APPLIED and applied.new_status == "idle"
    assert fake_redis.get("out:R1") == b"done"
    assert materialize(stores.threads.get(T1)["values"]) == {"v": 1}
    assert index_violations(fake_redis) == []


def test_apply_after_loads_the_script_when_redis_lost_it(
    stores: Stores, fake_redis: FakeRedis
) -> None:
    stores.runs.apply([event(T1, R1, "run.started", at=at(1))])
    fake_redis.script_flush()
    applied = stores.runs.apply_after([_write("out:R1", b"x")], event(T1, R1, "run.failed"))
    assert applied.result == EventResult.APPLIED and applied.new_status == "error"
    assert fake_redis.get("out:R1") == b"x"
    assert stores.runs.get(T1, R1)["status"] == "error"


def _lifecycles(threads: int) -> list[RunEvent]:
    """A run's start then its end on each of `threads` new threads, in that order."""
    events = []
    for i in range(threads):
        thread_id, run_id = str(uuid.UUID(int=i + 1)), str(uuid.UUID(int=10**6 + i))
        events += [event(thread_id, run_id, "run.started"), event(thread_id, run_id, "run.failed")]
    return events


def _assert_lifecycles_applied(stores: Stores, fake_redis: FakeRedis, events: list[RunEvent]):
    for run_event in events[1::2]:
        assert thread(stores, run_event.thread_id)["status"] == "error"
        assert run(stores, run_event.run_id, run_event.thread_id)["status"] == "error"
    assert fake_redis.zcard(KEYS.status("error")) == len(events) // 2
    assert index_violations(fake_redis) == []


def test_a_batch_of_several_script_calls_is_applied_in_order(
    stores: Stores, fake_redis: FakeRedis
) -> None:
    # After one more event first, the last run starts in the first call, ends in the second.
    lifecycles = _lifecycles(EVENTS_PER_CALL // 2)
    events = [event(T1, R1, "run.started"), *lifecycles]
    applied = stores.runs.apply(events)
    assert [(a.run_id, a.type) for a in applied] == [(e.run_id, e.type) for e in events]
    assert {a.result for a in applied} == {EventResult.APPLIED}
    assert applied[EVENTS_PER_CALL].old_status == "busy"  # its start was applied first
    _assert_lifecycles_applied(stores, fake_redis, lifecycles)
    assert thread(stores)["status"] == "busy"


def test_a_batch_loads_the_script_when_redis_lost_it(stores: Stores, fake_redis: FakeRedis) -> None:
    stores.runs.apply([event(T1, R1, "run.started")])
    fake_redis.script_flush()
    events = _lifecycles(EVENTS_PER_CALL + 10)
    assert {a.result for a in stores.runs.apply(events)} == {EventResult.APPLIED}
    _assert_lifecycles_applied(stores, fake_redis, events)


def test_a_batch_is_sent_again_when_the_connection_drops(
    fake_redis: FakeRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replies lost with the connection: the whole batch goes again on a new one; what
    the first sending applied is repeated harmlessly (a run's start after its end is
    stale, its end again a duplicate)."""
    pool = fake_redis.connection_pool
    pool.connection_kwargs["retry"] = Retry(NoBackoff(), 1)  # redis.Redis has one by default
    stores = make_stores(fake_redis)
    fake_redis.script_load(stores.runs.scripts.lua_transition.script)
    events = _lifecycles(EVENTS_PER_CALL)
    read_response, reads = pool.connection_class.read_response, []

    def drop_once(connection: Connection, *args: Any, **kwargs: Any) -> Any:
        reads.append(1)
        if len(reads) == 2:
            connection.disconnect()
            raise ConnectionError("connection lost")
        return read_response(connection, *args, **kwargs)

    monkeypatch.setattr(pool.connection_class, "read_response", drop_once)
    applied = stores.runs.apply(events)
    assert [a.result for a in applied] == [EventResult.STALE, EventResult.DUPLICATE] * (
        EVENTS_PER_CALL
    )
    _assert_lifecycles_applied(stores, fake_redis, events)


def test_apply_after_refuses_what_apply_refuses(stores: Stores) -> None:
    stores.runs.apply([event(T1, R1, "run.started", at=at(1))])
    with pytest.raises(RunThreadMismatch):
        stores.runs.apply_after([], event(T2, R1, "run.succeeded"))
    with pytest.raises(ValueError, match="without metadata"):
        stores.runs.apply_after([], event(T1, R1, "run.succeeded", metadata={"a": 1}))
    assert stores.runs.get(T1, R1)["status"] == "running"


# -- a worker starts one of our runs ---------------------------------------------------------


def test_start_marks_a_pending_run_running_and_reads_it(stores: Stores) -> None:
    stores.runs.apply([event(T1, R1, "run.pending", at=at(1), kwargs={"input": {"x": 1}})])
    taken = stores.runs.start(T1, R1)
    assert taken is not None and taken.fields["status"] == b"pending"  # as it was when taken
    assert materialize(RawJSON(taken.fields["kwargs"]).load()) == {"input": {"x": 1}}
    assert taken.watched is False  # no client watches the thread's stream
    assert stores.runs.get(T1, R1)["status"] == "running"
    assert stores.threads.get(T1)["status"] == "busy"
    assert stores.runs.start(T1, R1) is None  # taken once only


def test_start_refuses_an_ended_a_deleted_or_another_threads_run(
    stores: Stores, fake_redis: FakeRedis
) -> None:
    stores.runs.apply([event(T1, R1, "run.pending"), event(T1, R1, "run.cancelled")])
    assert stores.runs.start(T1, R1) is None
    assert stores.runs.get(T1, R1)["status"] == "interrupted"
    stores.runs.apply([event(T1, R2, "run.pending")])
    stores.runs.delete(T1, R2)
    assert stores.runs.start(T1, R2) is None
    assert not fake_redis.exists(KEYS.run(R2))  # a rolled-back run stays gone
    stores.runs.apply([event(T1, R3, "run.pending")])
    assert stores.runs.start(T2, R3) is None
    fake_redis.script_flush()
    assert stores.runs.start(T1, R3) is not None
    assert index_violations(fake_redis) == []
