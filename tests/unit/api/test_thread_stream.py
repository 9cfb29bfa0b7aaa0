"""A thread's event stream: written only while a client watches the thread; runs' starts and
ends from transition.lua (whoever reports them), state updates from set_state.lua; the
modes a client asks for and the events each sends."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from fakeredis import FakeRedis

from tests.unit.helpers import KEYS, event, index_violations
from threadwatch.api.thread_stream import sent_in, thread_stream_cursor, thread_stream_modes
from threadwatch.errors import InvalidInputError, ThreadNotFound
from threadwatch.store.stores import Stores

T1 = "00000000-0000-4000-8000-0000000000a1"
R1, R2 = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"
STREAM = KEYS.thread_stream(T1)


def entries(redis: FakeRedis) -> list[tuple[str, Any]]:
    return [
        (fields[b"event"].decode(), orjson.loads(fields[b"data"]))
        for _, fields in redis.xrange(STREAM)
    ]


def test_an_unwatched_threads_runs_write_no_stream(stores: Stores, fake_redis: FakeRedis) -> None:
    stores.threads.create(T1)
    stores.runs.apply([event(T1, R1, "run.started"), event(T1, R1, "run.succeeded")])
    assert not fake_redis.exists(STREAM)


def test_a_watched_thread_gets_each_runs_start_and_end_once(
    stores: Stores, fake_redis: FakeRedis
) -> None:
    stores.threads.create(T1)
    assert stores.threads.watch(T1, 30) == "0-0"  # no entry yet
    failed = event(T1, R1, "run.failed", error={"error": "ValueError", "message": "boom"})
    stores.runs.apply([event(T1, R1, "run.pending"), event(T1, R1, "run.started"), failed])
    stores.runs.apply([event(T1, R1, "run.started"), failed])  # late and repeated: nothing
    stores.runs.apply([event(T1, R2, "run.started"), event(T1, R2, "run.cancelled")])
    assert entries(fake_redis) == [
        ("metadata", {"run_id": R1, "attempt": 1}),
        ("error", {"error": "ValueError", "message": "boom"}),
        ("metadata", {"status": "run_done", "run_id": R1}),
        ("metadata", {"run_id": R2, "attempt": 1}),
        ("metadata", {"status": "run_done", "run_id": R2}),
    ]
    assert 0 < fake_redis.ttl(STREAM)
    last = fake_redis.xrevrange(STREAM, count=1)[0][0].decode()
    assert stores.threads.watch(T1, 30) == last  # a new client starts after it
    assert index_violations(fake_redis) == []


def test_an_expired_watch_writes_nothing(stores: Stores, fake_redis: FakeRedis) -> None:
    stores.threads.create(T1)
    stores.threads.watch(T1, 30)
    fake_redis.hset(KEYS.thread(T1), "watch", "1")  # long past
    stores.runs.apply([event(T1, R1, "run.started"), event(T1, R1, "run.succeeded")])
    assert not fake_redis.exists(STREAM)


def test_a_watch_never_shortens_another_and_needs_the_thread(
    stores: Stores, fake_redis: FakeRedis
) -> None:
    stores.threads.create(T1)
    stores.threads.watch(T1, 300)
    longest = int(fake_redis.hget(KEYS.thread(T1), "watch"))
    stores.threads.watch(T1, 30)
    assert int(fake_redis.hget(KEYS.thread(T1), "watch")) == longest
    with pytest.raises(ThreadNotFound):
        stores.threads.watch("00000000-0000-4000-8000-0000000000ff", 30)
    assert not fake_redis.exists(KEYS.thread("00000000-0000-4000-8000-0000000000ff"))
    assert "watch" not in stores.threads.get(T1)  # not a Thread field


def test_a_state_update_goes_to_a_watched_threads_stream(
    stores: Stores, fake_redis: FakeRedis
) -> None:
    stores.threads.create(T1)
    stores.threads.set_state(T1, {"a": 1}, {}, False, {"values": {"a": 1}, "next": []})
    assert not fake_redis.exists(STREAM)
    stores.threads.watch(T1, 30)
    stores.threads.set_state(T1, {"a": 2}, {}, True, {"values": {"a": 2}, "next": ["n"]})
    assert entries(fake_redis) == [
        ("state_update", {"state": {"values": {"a": 2}, "next": ["n"]}, "thread_id": T1})
    ]


@pytest.mark.parametrize(
    ("values", "modes"),
    [
        ([], {"run_modes"}),
        (["lifecycle"], {"lifecycle"}),
        (["lifecycle", "state_update"], {"lifecycle", "state_update"}),  # Python SDK
        (["lifecycle,state_update"], {"lifecycle", "state_update"}),  # LangGraph's server
        (['["run_modes","state_update"]'], {"run_modes", "state_update"}),  # JS SDK
    ],
)
def test_stream_modes_in_every_form_the_clients_send(values: list[str], modes: set[str]) -> None:
    assert thread_stream_modes(values) == modes


@pytest.mark.parametrize("value", ["values", "lifecycle,everything", '["lifecycle", 1]', "[oops"])
def test_an_unknown_stream_mode_is_refused_with_langgraphs_text(value: str) -> None:
    with pytest.raises(InvalidInputError, match="Invalid stream mode: "):
        thread_stream_modes([value])


def test_what_each_mode_sends() -> None:
    run_modes, lifecycle = frozenset({"run_modes"}), frozenset({"lifecycle"})
    updates = frozenset({"state_update"})
    assert all(sent_in(run_modes, e) for e in (b"metadata", b"values", b"error", b"custom"))
    assert not sent_in(run_modes, b"state_update")
    assert sent_in(lifecycle, b"metadata") and not sent_in(lifecycle, b"values")
    assert sent_in(updates, b"state_update") and not sent_in(updates, b"metadata")


@pytest.mark.parametrize(
    ("header", "cursor"),
    [(None, None), ("", None), ("-", "0-0"), ("-1", "0-0"), ("17-2", "17-2"), ("17", "17-0")],
)
def test_where_a_thread_stream_resumes(header: str | None, cursor: str | None) -> None:
    assert thread_stream_cursor(header) == cursor


@pytest.mark.parametrize("header", ["yesterday", "1-x", "null"])
def test_a_thread_stream_refuses_other_ids_with_langgraphs_text(header: str) -> None:
    with pytest.raises(InvalidInputError) as refused:
        thread_stream_cursor(header)
    assert refused.value.detail == "Invalid last-event-id: must be a valid Redis stream ID"
