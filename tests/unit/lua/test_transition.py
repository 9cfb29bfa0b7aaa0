"""lua/transition.lua's contract: its 22 named values per event, its reply (four values per
event) and each of its codes, with what a refusal leaves written (nothing, but the event
counters). What the applied events do to runs and threads is in tests/unit/test_transitions.py
and tests/unit/test_transition_properties.py."""

from __future__ import annotations

import re
from pathlib import Path

from fakeredis import FakeRedis

from tests.unit.helpers import KEYS, at, event, leaf_holders, thread_hash
from tests.unit.lua.helpers import transition
from threadwatch.domain import ThreadStatus
from threadwatch.store.scripts import Transition, TransitionCode
from threadwatch.store.stores import Stores

T1, T2 = "00000000-0000-4000-8000-0000000000a1", "00000000-0000-4000-8000-0000000000a2"
R1, R2, R3 = (f"00000000-0000-4000-8000-00000000000{i}" for i in (1, 2, 3))
SOURCE = Path(__file__).resolve().parents[3] / "app" / "store" / "lua" / "transition.lua"
IDLE, BUSY, ERROR = ThreadStatus.IDLE, ThreadStatus.BUSY, ThreadStatus.ERROR


def snapshot(redis: FakeRedis) -> dict[bytes, bytes]:
    """Every key's value but the metrics hash (refused events are counted there)."""
    return {key: redis.dump(key) for key in redis.keys() if key != KEYS.metrics().encode()}


def test_the_header_names_the_values_apply_unpacks() -> None:
    text = SOURCE.read_text(encoding="utf-8")
    header = text[text.index("per event in order, 22 values") : text.index("-- A watched")]
    numbered = {int(n): name for n, name in re.findall(r"(?:--|\s\s)\s*(\d+) (\w+)", header)}
    assert sorted(numbered) == list(range(1, 23))
    unpacked = re.search(r"\n  (thread_id, .*?) = unpack\(ARGV, a,", text, re.DOTALL)
    assert unpacked is not None
    names = [name.strip() for name in unpacked.group(1).split(",")]
    assert names == [numbered[i] for i in range(1, 23)]


def test_the_reply_has_four_values_per_event(stores: Stores) -> None:
    keys, args = stores.runs._operands(
        [event(T1, R1, "run.started", at=at(1)), event(T1, R1, "run.failed", at=at(2))], {}
    )
    reply = stores.runs.scripts.lua_transition(keys=keys, args=args)
    assert reply == [1, b"idle", b"busy", b"", 1, b"busy", b"error", b""]


def test_applied_duplicate_and_stale(stores: Stores) -> None:
    started, ended = event(T1, R1, "run.started", at=at(1)), event(T1, R1, "run.failed", at=at(2))
    assert transition(stores, started, ended, ended, started) == [
        Transition(TransitionCode.APPLIED, IDLE, BUSY, None),
        Transition(TransitionCode.APPLIED, BUSY, ERROR, None),
        Transition(TransitionCode.DUPLICATE, ERROR, ERROR, None),
        Transition(TransitionCode.STALE, ERROR, ERROR, None),
    ]
    assert [r.code for r in transition(stores, event(T1, R2, "run.heartbeat"))] == [
        TransitionCode.STALE  # no such run
    ]


def test_an_admitted_run_replies_the_previous_last_run(stores: Stores) -> None:
    first = transition(stores, event(T1, R1, "run.pending"), admission="queue")
    second = transition(stores, event(T1, R2, "run.pending"), admission="queue")
    assert first[0].previous_run is None
    assert second[0] == Transition(TransitionCode.APPLIED, BUSY, BUSY, R1)
    assert thread_hash(stores.redis, T1)["last_run"] == R2


def test_metadata_changed_since_read_writes_nothing(stores: Stores, fake_redis: FakeRedis) -> None:
    stores.threads.create(T1, {"a": 1})
    pending = event(T1, R1, "run.pending", at=at(1), metadata={"b": 2})
    metadata = stores.runs._read_metadata([pending])
    stores.threads.patch(T1, {"c": 3})
    before = snapshot(fake_redis)
    keys, args = stores.runs._operands([pending], metadata)
    assert stores.runs.scripts.transition(keys, args) == [
        Transition(TransitionCode.METADATA_CHANGED, None, None, None)
    ]
    assert snapshot(fake_redis) == before


def test_a_run_of_another_thread_writes_nothing(stores: Stores, fake_redis: FakeRedis) -> None:
    transition(stores, event(T1, R1, "run.pending", at=at(1)))
    before = snapshot(fake_redis)
    assert transition(stores, event(T2, R1, "run.succeeded", at=at(2))) == [
        Transition(TransitionCode.OTHER_THREAD, None, None, None)
    ]
    assert snapshot(fake_redis) == before


def test_reject_admission_while_a_run_is_in_flight(stores: Stores, fake_redis: FakeRedis) -> None:
    transition(stores, event(T1, R1, "run.started", at=at(1)))
    before = snapshot(fake_redis)
    refused = transition(stores, event(T1, R2, "run.pending"), admission="reject")
    assert refused == [Transition(TransitionCode.REJECTED, BUSY, BUSY, None)]
    assert snapshot(fake_redis) == before
    transition(stores, event(T1, R1, "run.succeeded", at=at(2)))
    admitted = transition(stores, event(T1, R2, "run.pending"), admission="reject")
    assert admitted[0].code is TransitionCode.APPLIED


def test_reclaim_only_a_run_whose_lease_ran_out(stores: Stores, fake_redis: FakeRedis) -> None:
    transition(stores, event(T1, R1, "run.started"))
    lost = event(T1, R1, "run.failed")
    before = snapshot(fake_redis)
    assert transition(stores, lost, admission="reclaim")[0] == Transition(
        TransitionCode.NOT_RECLAIMED, BUSY, BUSY, None
    )
    assert snapshot(fake_redis) == before
    fake_redis.zadd(KEYS.leases(), {R1: 1})  # ran out long ago
    assert transition(stores, lost, admission="reclaim")[0].code is TransitionCode.APPLIED
    assert fake_redis.zscore(KEYS.leases(), R1) is None
    # A run without a lease (it ended) is not reclaimed either.
    assert transition(stores, lost, admission="reclaim")[0].code is TransitionCode.NOT_RECLAIMED


def test_start_admission_of_a_missing_run_writes_nothing(
    stores: Stores, fake_redis: FakeRedis
) -> None:
    stores.threads.create(T1)
    before = snapshot(fake_redis)
    assert transition(stores, event(T1, R1, "run.started"), admission="start") == [
        Transition(TransitionCode.NOT_RECLAIMED, IDLE, IDLE, None)
    ]
    assert snapshot(fake_redis) == before


def test_each_events_leaf_keys_follow_its_own(stores: Stores, fake_redis: FakeRedis) -> None:
    """KEYS per event: five keys, then its leaves to leave and to join (n_leave, n_join)."""
    stores.threads.create(T1, {"team": "a"})
    stores.threads.create(T2, {"team": "b"})
    events = [
        event(T1, R1, "run.pending", at=at(1), metadata={"team": "c", "x": 1}),
        event(T2, R2, "run.pending", at=at(1), metadata={"team": "d"}),
        event(T1, R3, "run.pending", at=at(1)),
    ]
    keys, args = stores.runs._operands(events, stores.runs._read_metadata(events))
    assert len(keys) == 16 + 5 + 3 + 5 + 2 + 5  # 16 global keys, then per event
    assert [r.code for r in stores.runs.scripts.transition(keys, args)] == [1, 1, 1]
    assert leaf_holders(fake_redis, '["team","c"]', "busy") == {T1}
    assert leaf_holders(fake_redis, '["x",1]', "busy") == {T1}
    assert leaf_holders(fake_redis, '["team","d"]', "busy") == {T2}
    assert leaf_holders(fake_redis, '["team","a"]') == leaf_holders(fake_redis, '["team","b"]')
    assert leaf_holders(fake_redis, '["team","a"]') == set()
    assert fake_redis.zscore(KEYS.runs_in("pending"), R3) is not None
