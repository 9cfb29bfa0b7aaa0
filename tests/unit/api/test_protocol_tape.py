"""The thread-centric protocol's events, read from a thread's stream: the root lifecycle
and input events come from the transitions that transition.lua appends (their status
fields), the other channels from the runs' chunks; numbering and ids are the same on every
replay. Also the subscription filters and the command argument checks."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from fakeredis import FakeRedis

from tests.unit.helpers import KEYS, event
from threadwatch.api.protocol.commands import Refused, _answers, _fork_target
from threadwatch.api.protocol.tape import ProtocolTape
from threadwatch.api.protocol.wire import Subscription, read_subscription, state_payload
from threadwatch.store.run_streams import StreamEntry
from threadwatch.store.stores import Stores

T1 = "00000000-0000-4000-8000-0000000000a1"
R1, R2 = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"
STREAM = KEYS.thread_stream(T1)
INTERRUPTS = {"task-1": [{"value": {"question": "ok?"}, "id": "i-1"}]}


def stream_entries(redis: FakeRedis) -> list[StreamEntry]:
    found = []
    for entry_id, fields in redis.xrange(STREAM):
        found.append(StreamEntry(entry_id, fields.pop(b"event"), fields.pop(b"data"), fields))
    return found


def replay(redis: FakeRedis) -> list[dict[str, Any]]:
    tape = ProtocolTape(lambda run_id: "agent")
    return [e for entry in stream_entries(redis) for e in tape.events(entry)]


def protocol_event(
    method: str, data: Any, namespace: list[str] | None = None, **extra: Any
) -> dict:
    params = {"namespace": namespace or [], "timestamp": 1234, "data": data, **extra}
    return {"type": "event", "method": method, "params": params}


def add_chunk(redis: FakeRedis, name: str, data: Any) -> None:
    redis.xadd(STREAM, {"event": name, "data": orjson.dumps(data)})


@pytest.fixture
def watched(stores: Stores) -> Stores:
    stores.threads.create(T1)
    stores.threads.watch(T1, 30)
    return stores


def test_a_runs_start_and_end_carry_the_transition(watched: Stores, fake_redis: FakeRedis) -> None:
    interrupted = event(T1, R1, "run.interrupted", interrupts=INTERRUPTS, next=["review"])
    watched.runs.apply([event(T1, R1, "run.started"), interrupted])
    start, end = stream_entries(fake_redis)
    assert (start.event, orjson.loads(start.data)) == (b"metadata", {"run_id": R1, "attempt": 1})
    assert start.extra == {b"run_status": b"running", b"event_type": b"run.started"}
    assert orjson.loads(end.data) == {"status": "run_done", "run_id": R1}
    assert end.extra[b"run_status"] == b"success"
    assert end.extra[b"event_type"] == b"run.interrupted"
    assert orjson.loads(end.extra[b"interrupts"]) == INTERRUPTS


def test_an_interrupted_run_reads_as_lifecycle_values_input(
    watched: Stores, fake_redis: FakeRedis
) -> None:
    watched.runs.apply([event(T1, R1, "run.started")])
    message = {"type": "ai", "content": "hi", "id": "m1", "additional_kwargs": {}}
    values = {"messages": [message], "__interrupt__": [{"id": "i-1"}]}
    add_chunk(fake_redis, "values", protocol_event("values", values))
    at_interrupt = protocol_event("values", {"n": 2}, interrupts=[{"id": "i-1"}])
    add_chunk(fake_redis, "values", at_interrupt)
    interrupted = event(T1, R1, "run.interrupted", interrupts=INTERRUPTS, next=["review"])
    watched.runs.apply([interrupted])
    events = replay(fake_redis)
    assert [(e["seq"], e["method"]) for e in events] == [
        (1, "lifecycle"),
        (2, "values"),
        (3, "input.requested"),
        (4, "lifecycle"),
        (5, "values"),  # the interrupt's values follow, as LangGraph sends them
    ]
    assert events[4]["params"]["data"] == {"n": 2}
    assert events[4]["event_id"] == stream_entries(fake_redis)[2].id.decode()
    assert events[0]["event_id"] == f"synth:{R1}:lc||running"
    assert events[0]["params"]["data"] == {"event": "running", "graph_name": "agent"}
    assert events[1]["params"] == {
        "namespace": [],
        "timestamp": 1234,
        "data": {"messages": [{"type": "ai", "content": "hi", "id": "m1"}]},
    }
    assert events[2]["event_id"] == f"synth:{R1}:input||i-1"
    assert events[2]["params"]["data"] == {"interrupt_id": "i-1", "payload": {"question": "ok?"}}
    assert events[3]["params"]["data"] == {"event": "interrupted", "graph_name": "agent"}
    assert replay(fake_redis) == events  # every connection numbers them alike


def test_ends_map_to_lifecycle_events(watched: Stores, fake_redis: FakeRedis) -> None:
    failed = event(T1, R1, "run.failed", error={"error": "ValueError", "message": "boom"})
    watched.runs.apply([event(T1, R1, "run.started"), failed])
    watched.runs.apply([event(T1, R2, "run.started"), event(T1, R2, "run.cancelled")])
    ends = [e["params"]["data"] for e in replay(fake_redis) if e["method"] == "lifecycle"]
    assert ends == [
        {"event": "running", "graph_name": "agent"},
        {"event": "failed", "graph_name": "agent", "error": "boom"},
        {"event": "running", "graph_name": "agent"},
        {"event": "interrupted", "graph_name": "agent"},
    ]


def test_protocol_chunks_map_to_their_channels(watched: Stores, fake_redis: FakeRedis) -> None:
    watched.runs.apply([event(T1, R1, "run.started")])
    started = {"event": "started", "graph_name": "inner", "namespace": ["inner:1"]}
    add_chunk(fake_redis, "lifecycle", protocol_event("lifecycle", started))
    delta = {"event": "content-block-delta", "index": 0}
    add_chunk(fake_redis, "messages|inner:1", protocol_event("messages", [delta, {}], ["inner:1"]))
    add_chunk(fake_redis, "messages", protocol_event("messages", [{"type": "ai"}, {}]))  # legacy
    add_chunk(fake_redis, "custom:progress", protocol_event("custom:progress", {"step": 1}))
    add_chunk(fake_redis, "updates", protocol_event("updates", {"talk": {"n": 1}}))
    add_chunk(fake_redis, "updates", protocol_event("updates", {"__interrupt__": []}))
    watched.runs.apply([event(T1, R1, "run.succeeded")])
    events = replay(fake_redis)
    got = [(e["method"], e["params"]["namespace"], e["params"]["data"]) for e in events]
    assert got == [
        ("lifecycle", [], {"event": "running", "graph_name": "agent"}),
        ("lifecycle", ["inner:1"], started),
        ("messages", ["inner:1"], delta),
        ("custom", [], {"name": "progress", "payload": {"step": 1}}),
        ("updates", [], {"n": 1}),
        ("lifecycle", ["inner:1"], {"event": "completed", "graph_name": "inner"}),
        ("lifecycle", [], {"event": "completed", "graph_name": "agent"}),
    ]
    assert events[4]["params"]["node"] == "talk"


def test_chunks_of_other_runs_on_a_watched_thread(watched: Stores, fake_redis: FakeRedis) -> None:
    watched.runs.apply([event(T1, R1, "run.started")])
    add_chunk(fake_redis, "values", {"n": 1})
    add_chunk(fake_redis, "custom", {"step": 1})
    add_chunk(fake_redis, "messages", [{"type": "AIMessageChunk"}, {}])  # not the protocol's
    events = replay(fake_redis)
    assert [(e["method"], e["params"]["data"]) for e in events[1:]] == [
        ("values", {"n": 1}),
        ("custom", {"payload": {"step": 1}}),
    ]
    ids = [e["event_id"] for e in events[1:]]
    assert ids == [entry.id.decode() for entry in stream_entries(fake_redis)[1:3]]


def envelope(method: str, namespace: list[str], data: Any = None) -> dict[str, Any]:
    return {"method": method, "params": {"namespace": namespace, "data": data}}


def test_subscriptions_filter_by_channel_namespace_and_depth() -> None:
    custom = Subscription(frozenset({"custom:progress", "input"}))
    assert custom.matches(envelope("custom", [], {"name": "progress"}))
    assert not custom.matches(envelope("custom", [], {"payload": 1}))
    assert custom.matches(envelope("input.requested", []))
    assert not custom.matches(envelope("values", []))
    scoped = Subscription(frozenset({"values"}), [["agent"]], depth=1)
    assert scoped.matches(envelope("values", ["agent:1"]))
    assert scoped.matches(envelope("values", ["agent:1", "tools:2"]))
    assert not scoped.matches(envelope("values", ["agent:1", "tools:2", "x"]))
    assert not scoped.matches(envelope("values", []))


@pytest.mark.parametrize(
    "params",
    [{}, {"channels": []}, {"channels": ["values", "debug"]}, {"channels": [1]}],
)
def test_a_filter_needs_supported_channels(params: dict[str, Any]) -> None:
    assert read_subscription(params) is None


def test_a_filter_ignores_malformed_namespaces_and_depth() -> None:
    subscription = read_subscription(
        {"channels": ["custom:x"], "namespaces": [["a"], "b", [1]], "depth": True}
    )
    assert subscription is not None
    assert (subscription.namespaces, subscription.depth) == ([["a"]], None)


def test_input_respond_answers_one_or_a_batch() -> None:
    assert _answers({"interrupt_id": "i-1", "response": True}) == {"i-1": True}
    batch = {"responses": [{"interrupt_id": "a", "response": 1}, {"interrupt_id": "b"}]}
    assert _answers(batch) == {"a": 1, "b": None}
    for bad in ({}, {"responses": []}, {"interrupt_id": "a", "namespace": "x"}):
        with pytest.raises(Refused) as refused:
            _answers(bad)
        assert refused.value.code == "invalid_argument"


def test_a_fork_target_must_be_a_uuid() -> None:
    target = "1f1f27eb-ad32-6bf4-8001-1e5232be3c1b"
    assert _fork_target({"config": {"configurable": {"checkpoint_id": target}}}) == target
    assert _fork_target({"config": {}}) is None
    with pytest.raises(Refused, match="Invalid config.configurable.checkpoint_id"):
        _fork_target({"config": {"configurable": {"checkpoint_id": "nope"}}})


def test_state_payloads_use_the_protocols_message_shape() -> None:
    ai = {
        "type": "ai",
        "content": [{"type": "text", "text": "x"}, {"type": "image_url", "image_url": "u"}],
        "id": "a",
        "name": None,
        "tool_calls": [{"name": "f", "args": {"q": 1}, "id": "c", "type": "tool_call"}],
        "invalid_tool_calls": [],
        "usage_metadata": None,
    }
    tool = {"type": "tool", "content": "ok", "tool_call_id": "c", "status": "success"}
    assert state_payload({"messages": [ai, tool], "__interrupt__": [], "n": [1]}) == {
        "messages": [
            {
                "type": "ai",
                "content": [{"type": "text", "text": "x"}, {"type": "image", "url": "u"}],
                "id": "a",
                "tool_calls": [{"type": "tool_call", "name": "f", "args": {"q": 1}, "id": "c"}],
            },
            {"type": "tool", "content": "ok", "tool_call_id": "c", "status": "success"},
        ],
        "n": [1],
    }
