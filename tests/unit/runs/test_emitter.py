"""Emitter: validates events like the API, then applies them straight to Redis."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from fakeredis import FakeRedis
from pydantic import ValidationError

from tests.unit.helpers import at, event, index_violations, keyspace, make_stores
from threadwatch.models import RunEvent
from threadwatch.runs import emitter as emitter_module
from threadwatch.runs.emitter import Emitter
from threadwatch.store.codec import materialize
from threadwatch.store.runs import Applied

T1 = "00000000-0000-4000-8000-0000000000a1"
R1, R2 = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"


def run_id(i: int) -> str:
    return f"00000000-0000-4000-8000-{i:012d}"


def error_locations(raised: pytest.ExceptionInfo[ValidationError]) -> list[tuple[Any, ...]]:
    return [e["loc"] for e in raised.value.errors()]


def test_emit_applies_one_event(fake_redis: FakeRedis) -> None:
    applied = Emitter(fake_redis).emit(T1.upper(), R1, "run.started", at=at(1), values={"v": 1})
    assert applied == Applied(T1, R1, "run.started", "applied", "idle", "busy")
    thread = materialize(make_stores(fake_redis).threads.get(T1))
    assert (thread["status"], thread["values"]) == ("busy", {"v": 1})


def test_emit_accepts_an_iso_time(fake_redis: FakeRedis) -> None:
    Emitter(fake_redis).emit(T1, R1, "run.succeeded", at="2025-01-01T00:00:05Z")
    thread = make_stores(fake_redis).threads.get(T1)
    assert thread["status_since"] == "2025-01-01T00:00:05.000000+00:00"


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"type": "run.exploded"}, ("type",)),
        ({"thread_id": "not-a-uuid"}, ("thread_id",)),
        ({"run_id": "42"}, ("run_id",)),
        ({"interrupts": []}, ("interrupts",)),
        ({"error": {"message": "no error class"}}, ("error", "error")),
        ({"at": "2999-01-01T00:00:00Z"}, ("at",)),
    ],
)
def test_emit_rejects_a_bad_event_and_applies_nothing(
    fake_redis: FakeRedis, fields: dict[str, Any], loc: tuple[Any, ...]
) -> None:
    args = {"thread_id": T1, "run_id": R1, "type": "run.pending", **fields}
    thread_id, run_id, type = args.pop("thread_id"), args.pop("run_id"), args.pop("type")
    with pytest.raises(ValidationError) as raised:
        Emitter(fake_redis).emit(thread_id, run_id, type, **args)
    assert error_locations(raised) == [loc]
    assert keyspace(fake_redis) == set()


def test_emit_many_validates_all_before_applying_any(fake_redis: FakeRedis) -> None:
    events = [
        {"thread_id": T1, "run_id": R1, "type": "run.pending"},
        event(T1, R2, "run.pending"),
        {"thread_id": T1, "run_id": R2, "type": "run.finished"},
    ]
    with pytest.raises(ValidationError) as raised:
        Emitter(fake_redis).emit_many(events)
    assert error_locations(raised) == [(2, "type")]
    assert keyspace(fake_redis) == set()


def test_emit_many_mixes_models_and_mappings_in_order(fake_redis: FakeRedis) -> None:
    results = Emitter(fake_redis).emit_many(
        [
            event(T1, R1, "run.pending", at=at(1)),
            {"thread_id": T1, "run_id": R1, "type": "run.succeeded", "at": at(2)},
            {"thread_id": T1, "run_id": R1, "type": "run.started", "at": at(3)},
        ]
    )
    assert [(r.result, r.new_status) for r in results] == [
        ("applied", "busy"),
        ("applied", "idle"),
        ("stale", "idle"),
    ]
    assert Emitter(fake_redis).emit_many([]) == []


def test_emit_many_batches_over_a_thousand_events(
    fake_redis: FakeRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    emitter = Emitter(fake_redis)
    batch_sizes: list[int] = []
    real_apply = emitter.store.apply

    def counting_apply(events: Sequence[RunEvent]) -> list[Applied]:
        batch_sizes.append(len(events))
        return real_apply(events)

    monkeypatch.setattr(emitter.store, "apply", counting_apply)
    pending = [event(T1, run_id(i), "run.pending", at=at(i)) for i in range(1, 1002)]
    # The last one ends a run whose pending event went in the first batch.
    finished = event(T1, run_id(1), "run.succeeded", at=at(2000))
    results = emitter.emit_many([*pending, finished])
    assert batch_sizes == [emitter_module.BATCH_SIZE, 2]
    assert [r.run_id for r in results] == [*(e.run_id for e in pending), run_id(1)]
    assert {r.result for r in results} == {"applied"}
    stores = make_stores(fake_redis)
    runs = stores.runs.list(T1, limit=1001)
    assert [r["status"] for r in runs].count("pending") == 1000
    assert stores.threads.get(T1)["status"] == "busy"
    assert index_violations(fake_redis) == []


def test_key_prefix(fake_redis: FakeRedis) -> None:
    Emitter(fake_redis, key_prefix="other:").emit(T1, R1, "run.pending")
    assert keyspace(fake_redis) and all(k.startswith("other:") for k in keyspace(fake_redis))


def test_context_manager_closes_the_connection(
    fake_redis: FakeRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed: list[bool] = []
    monkeypatch.setattr(fake_redis, "close", lambda: closed.append(True))
    with Emitter(fake_redis) as emitter:
        emitter.emit(T1, R1, "run.pending")
        assert not closed
    assert closed == [True]


def test_the_emitter_keeps_the_service_limits(
    fake_redis: FakeRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Built from the same Settings as the service: an emitted event trims a thread's status
    history to the deployment's limit, not a library default."""
    monkeypatch.setenv("THREADWATCH_STATUS_HISTORY_LIMIT", "500")
    monkeypatch.setenv("THREADWATCH_LEASE_SECONDS", "90")
    store = Emitter(fake_redis).store
    assert store.history_limit == 500
    assert store.lease_us == 90_000_000
    assert Emitter(fake_redis, key_prefix="x:").store.keys.prefix == "x:"
