"""A run's entries in its stream and its thread's (the worker's side) and their SSE form
(the API's side)."""

from __future__ import annotations

import time

import pytest
from fakeredis import FakeRedis

from tests.unit.helpers import KEYS
from threadwatch.api.run_stream import (
    event_names,
    join_modes,
    mode_of,
    sse_event,
    stream_cursor,
    stream_id,
)
from threadwatch.store.run_streams import (
    END,
    STREAM_TTL_SECONDS,
    THREAD_STREAM_TTL_SECONDS,
    MessageParts,
    RunStreamWriter,
    stream_modes,
    watch_live,
)

THREAD = "00000000-0000-4000-8000-0000000000aa"
RUN = "00000000-0000-4000-8000-000000000001"


def entries(redis: FakeRedis, key: str = KEYS.run_stream(RUN)) -> list[tuple[bytes, bytes]]:
    return [(f[b"event"], f[b"data"]) for _, f in redis.xrange(key)]


def writer(
    redis: FakeRedis, modes: list[str], streamed: bool = True, watched: bool = False
) -> RunStreamWriter:
    return RunStreamWriter(redis, KEYS, THREAD, RUN, modes, streamed=streamed, watched=watched)


def test_only_the_modes_asked_for_are_written_messages_tuple_as_messages(
    fake_redis: FakeRedis,
) -> None:
    run = writer(fake_redis, ["updates", "messages-tuple"])
    assert run.graph_modes == ["updates", "messages"]
    run.publish("values", {"a": 1})  # every run reads values; this one did not ask
    run.publish("updates", {"step": {"a": 1}})
    run.publish("messages", [{"content": "hi"}, {"langgraph_node": "step"}])
    assert entries(fake_redis) == [
        (b"updates", b'{"step":{"a":1}}'),
        (b"messages", b'[{"content":"hi"},{"langgraph_node":"step"}]'),
    ]
    assert 0 < fake_redis.ttl(KEYS.run_stream(RUN)) <= STREAM_TTL_SECONDS
    assert not fake_redis.exists(KEYS.thread_stream(THREAD))  # nobody watches the thread


def test_a_subgraphs_chunks_are_named_after_its_namespace(fake_redis: FakeRedis) -> None:
    run = writer(fake_redis, ["updates"])
    run.publish("updates", {"a": {"n": 1}}, ("inner:1f", "deeper:2e"))
    run.publish("updates", {"inner": {"n": 1}})
    assert entries(fake_redis) == [
        (b"updates|inner:1f|deeper:2e", b'{"a":{"n":1}}'),
        (b"updates", b'{"inner":{"n":1}}'),
    ]
    assert mode_of(b"updates|inner:1f|deeper:2e") == b"updates" == mode_of(b"updates")
    assert mode_of(b"messages/partial") == b"messages" == mode_of(b"messages/metadata|inner:1")


def test_message_parts_accumulate_chunks_and_send_metadata_once() -> None:
    from langchain_core.messages import AIMessage, AIMessageChunk

    parts = MessageParts()
    meta = {"langgraph_node": "model"}
    first = parts.parts((AIMessageChunk(content="hel", id="m1"), meta))
    second = parts.parts((AIMessageChunk(content="lo", id="m1"), meta))
    whole = parts.parts((AIMessage(content="done", id="m2"), meta))
    assert first[0] == ("messages/metadata", {"m1": {"metadata": meta}})
    assert [(e, [m.content for m in d]) for e, d in [first[1], *second]] == [
        ("messages/partial", ["hel"]),
        ("messages/partial", ["hello"]),
    ]
    assert [e for e, _ in whole] == ["messages/metadata", "messages/complete"]
    assert isinstance(second[0][1][0], AIMessage)  # the message so far, not a chunk


def test_a_watched_threads_stream_gets_the_chunks_while_it_is_watched(
    fake_redis: FakeRedis,
) -> None:
    run = writer(fake_redis, ["values"], streamed=False, watched=True)
    assert run.read
    run.publish("values", {"a": 1})
    run.publish("updates", {"step": {"a": 1}})  # not a mode the run asked for
    run.watched = False  # the client left
    run.publish("values", {"a": 2})
    thread_stream = KEYS.thread_stream(THREAD)
    assert entries(fake_redis, thread_stream) == [(b"values", b'{"a":1}')]
    assert 0 < fake_redis.ttl(thread_stream) <= THREAD_STREAM_TTL_SECONDS
    assert not fake_redis.exists(KEYS.run_stream(RUN))  # not a streamed run
    assert run.closing({"error": "E", "message": "m"}) == []  # its end comes from the script


def test_a_watch_is_live_until_its_expiry() -> None:
    now_us = int(time.time() * 1e6)
    assert watch_live(str(now_us + 5_000_000).encode())
    assert not watch_live(str(now_us - 1).encode())
    assert not watch_live(None)


@pytest.mark.parametrize("error", [None, {"error": "E", "message": "m"}])
def test_the_end_appends_the_error_of_a_failed_run_then_the_marker(
    fake_redis: FakeRedis, error: dict[str, str] | None
) -> None:
    pipe = fake_redis.pipeline()
    for command in writer(fake_redis, stream_modes(None)).closing(error):
        command(pipe)
    pipe.execute()
    failed = [(b"error", b'{"error":"E","message":"m"}')] if error else []
    assert entries(fake_redis) == [*failed, (END.encode(), b"null")]


def test_stream_modes_default_to_values_and_keep_their_order() -> None:
    assert stream_modes(None) == ["values"]
    assert stream_modes("updates") == ["updates"]
    assert stream_modes(["updates", "values", "updates"]) == ["updates", "values"]


def test_sse_events_and_the_names_a_join_keeps() -> None:
    assert sse_event(b"values", b'{"a":1}') == b'event: values\ndata: {"a":1}\n\n'
    assert sse_event(b"values", b"1", b"5-0") == b"id: 5-0\nevent: values\ndata: 1\n\n"
    assert event_names(None) is None and event_names([]) is None
    assert event_names(["messages-tuple", "values"]) == {b"messages", b"values", b"error"}


@pytest.mark.parametrize(
    ("header", "cursor"),
    [
        (None, "0-0"),
        ("", "0-0"),
        ("-", "0-0"),
        ("-1", "0-0"),  # the JS SDK's useStream: replay from the start
        ("1795-3", "1795-3"),
        ("1795", "1795-0"),
        ("1795-*", "1795-0"),
    ],
)
def test_last_event_id_gives_where_a_join_resumes(header: str | None, cursor: str) -> None:
    assert stream_cursor(header) == cursor


@pytest.mark.parametrize("header", ["yesterday", "1-2-3", "1-x", "--1", "null"])
def test_an_id_this_server_did_not_send_replays_the_run(header: str) -> None:
    assert stream_id(header) is None
    assert stream_cursor(header) == "0-0"  # no 422: LangGraph's server takes any value


@pytest.mark.parametrize(
    ("values", "modes"),
    [
        ([], []),
        ([""], []),
        (["values"], ["values"]),
        (["values", "updates", "values"], ["values", "updates"]),  # Python and JS SDKs
        (['["values","messages-tuple"]'], ["values", "messages-tuple"]),  # LangGraph's form
        (["values,custom"], ["values", "custom"]),
        (["tools", "no-such-mode"], ["tools", "no-such-mode"]),  # kept, match nothing
        (["[not json"], ["[not json"]),
    ],
)
def test_join_modes_in_every_form(values: list[str], modes: list[str]) -> None:
    assert join_modes(values) == modes
