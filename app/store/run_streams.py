"""A run's chunks, in Redis streams: the worker appends what the graph yields (one entry per
chunk: its SSE event name and JSON data) to the run's own stream when the run was created
streamed, and to its thread's stream while a client watches the thread.

``/runs/stream`` and the run's ``join_stream`` read the run's stream from the start or from
a ``Last-Event-ID``. The run's end appends the END marker in the same MULTI/EXEC as its
terminal event, so a reader that sees the marker knows the run has ended, and one that sees
the run ended has every chunk. The thread's stream (GET /threads/{id}/stream) also gets
each run's start and end, from transition.lua (lua/lib/thread_stream.lua)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import methodcaller
from typing import Any, cast

import orjson
from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from threadwatch.store.keys import Keys
from threadwatch.store.pipelined import QueuedCommand

# Kept this long after its last entry, for late joins and reconnects.
STREAM_TTL_SECONDS = 3600
# Entries kept per run (approximately): the oldest go first on a very chatty run.
STREAM_MAXLEN = 10_000
# A thread's stream: entries kept (approximately) and seconds kept after its last one.
THREAD_STREAM_MAXLEN = 10_000
THREAD_STREAM_TTL_SECONDS = 3600
# The entry that closes a run's stream; not sent to clients.
END = "__end__"
# The stream modes of the API and the graph's `astream` mode that gives each; the SSE event
# is named after the API mode ("messages-tuple" chunks go out as `messages`, as LangGraph's;
# "messages" chunks as `messages/metadata`, `messages/partial`, `messages/complete`).
GRAPH_MODE_OF = {
    "values": "values",
    "updates": "updates",
    "messages-tuple": "messages",
    "messages": "messages",
    "custom": "custom",
    "debug": "debug",
    "tasks": "tasks",
    "checkpoints": "checkpoints",
    # Not a mode of `astream`: the run's LangChain events (`astream_events`, v2).
    "events": "events",
}
EVENT_OF_GRAPH_MODE = {graph: api for api, graph in GRAPH_MODE_OF.items()}


def stream_modes(value: str | Sequence[str] | None) -> list[str]:
    """The API stream modes a run asked for (LangGraph's default: values)."""
    if not value:
        return ["values"]
    return [value] if isinstance(value, str) else list(dict.fromkeys(value))


def entry(event: str, data: Any) -> dict[str, bytes]:
    """The stream entry of one event: its name and its data as JSON."""
    return {"event": event.encode(), "data": orjson.dumps(data)}


def xadd(key: str, maxlen: int, event: str, data: Any) -> QueuedCommand:
    """The XADD of one event to a stream capped at about ``maxlen``, to queue on a pipeline."""
    return methodcaller("xadd", key, entry(event, data), maxlen=maxlen, approximate=True)


class MessageParts:
    """LangGraph's `messages` stream mode (without `messages-tuple`): a message's metadata
    when it is first seen, then the message so far (`messages/partial`, while its model
    streams it) or whole (`messages/complete`)."""

    def __init__(self) -> None:
        self.messages: dict[str, Any] = {}

    def parts(self, chunk: tuple[Any, dict[str, Any]]) -> list[tuple[str, Any]]:
        """The events of one `messages` chunk (a message and its metadata)."""
        from langchain_core.messages import BaseMessageChunk, message_chunk_to_message

        message, metadata = chunk
        events: list[tuple[str, Any]] = []
        if message.id in self.messages:
            self.messages[message.id] += message
        else:
            self.messages[message.id] = message
            events.append(("messages/metadata", {message.id: {"metadata": metadata}}))
        kind = "partial" if isinstance(message, BaseMessageChunk) else "complete"
        so_far = message_chunk_to_message(self.messages[message.id])
        return [*events, (f"messages/{kind}", [so_far])]


def watch_live(watch: bytes | None) -> bool:
    """Whether a thread hash's ``watch`` field (the watch's expiry, µs) is live."""
    return watch is not None and int(watch) > time.time() * 1e6


class RunStreamWriter:
    """Appends a run's chunks, of the modes it asked for, to its own stream if it was
    created ``streamed``, and to its thread's while the thread is ``watched`` (the worker
    updates that as it polls for a cancel). A chunk is made JSON-ready by ``encode`` only
    when it is written."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        thread_id: str,
        run_id: str,
        modes: Sequence[str],
        streamed: bool,
        watched: bool,
        encode: Callable[[Any], Any] = lambda value: value,
    ) -> None:
        self.redis = redis
        self.encode = encode
        self.key = keys.run_stream(run_id)
        self.thread_key = keys.thread_stream(thread_id)
        self.graph_modes = list(
            dict.fromkeys(GRAPH_MODE_OF[mode] for mode in modes if mode in GRAPH_MODE_OF)
        )
        # `messages` asked without `messages-tuple` (which wins, as on LangGraph's server)
        self.message_parts = (
            MessageParts() if "messages" in modes and "messages-tuple" not in modes else None
        )
        self.streamed = streamed
        self.watched = watched

    @property
    def read(self) -> bool:
        """Whether anyone reads the chunks now: the run is streamed or its thread watched."""
        return self.streamed or self.watched

    def publish(self, graph_mode: str, chunk: Any, namespace: Sequence[str] = ()) -> None:
        """Append one chunk of the graph where it is read, if the run asked for its mode
        (`messages` chunks as MessageParts' events when the run asked for those); a
        subgraph's chunk is named after its ``namespace`` too, as LangGraph's
        (``updates|inner:<task id>``)."""
        if graph_mode not in self.graph_modes or not self.read:
            return
        if graph_mode == "messages" and self.message_parts:
            for event, data in self.message_parts.parts(chunk):
                self._append_event(event, self.encode(data), namespace)
            return
        self._append_event(EVENT_OF_GRAPH_MODE[graph_mode], self.encode(chunk), namespace)

    def publish_protocol(self, event: dict[str, Any]) -> None:
        """Append one event of the thread-centric protocol (``astream_events`` v3: method,
        namespace, data) to the thread's stream, named ``<method>|<namespace>...``; the
        API numbers and filters them (app/api/protocol/)."""
        params = event.get("params") or {}
        name = "|".join([str(event.get("method", "")), *(params.get("namespace") or ())])
        pipe = self.redis.pipeline(transaction=False)
        xadd(self.thread_key, THREAD_STREAM_MAXLEN, name, self.encode(event))(pipe)
        pipe.expire(self.thread_key, THREAD_STREAM_TTL_SECONDS)
        pipe.execute()

    def _append_event(self, event: str, data: Any, namespace: Sequence[str]) -> None:
        """Append one event (JSON-ready ``data``) where it is read."""
        event = "|".join([event, *namespace])
        pipe = self.redis.pipeline(transaction=False)
        if self.streamed:
            self.append(event, data)(pipe)
            pipe.expire(self.key, STREAM_TTL_SECONDS)
        if self.watched:
            xadd(self.thread_key, THREAD_STREAM_MAXLEN, event, data)(pipe)
            pipe.expire(self.thread_key, THREAD_STREAM_TTL_SECONDS)
        pipe.execute()

    def append(self, event: str, data: Any) -> QueuedCommand:
        """The XADD of one event to the run's stream, to queue on a pipeline."""
        return xadd(self.key, STREAM_MAXLEN, event, data)

    def closing(self, error: dict[str, str] | None) -> list[QueuedCommand]:
        """What the run's end appends to its own stream, with its terminal event: the
        `error` event of a failed run, then the END marker (none for a run not streamed;
        the thread's stream gets the end from transition.lua)."""
        if not self.streamed:
            return []
        commands = [self.append("error", error)] if error else []
        return [
            *commands,
            self.append(END, None),
            methodcaller("expire", self.key, STREAM_TTL_SECONDS),
        ]


@dataclass(frozen=True)
class StreamEntry:
    """One entry of a run's or a thread's stream, as written by ``entry``; ``extra`` holds
    the other fields of a run's start or end (lua/lib/thread_stream.lua)."""

    id: bytes
    event: bytes
    data: bytes
    extra: Mapping[bytes, bytes] = field(default_factory=dict)

    @property
    def ends_the_run(self) -> bool:
        """Whether this is the END marker of a run's stream (never sent to clients)."""
        return self.event == _END_BYTES


_END_BYTES = END.encode()
_Reply = list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]]


async def read_entries(
    redis: AsyncRedis, key: str, after: str | bytes, count: int, block_ms: int | None
) -> list[StreamEntry]:
    """Up to ``count`` entries of the stream ``key`` after the entry id ``after``, waiting
    up to ``block_ms`` for one (None: not at all); the client must not decode replies."""
    reply = cast(_Reply | None, await redis.xread({key: after}, count=count, block=block_ms))
    if not reply:
        return []
    return [_stream_entry(entry_id, fields) for entry_id, fields in reply[0][1]]


def _stream_entry(entry_id: bytes, fields: dict[bytes, bytes]) -> StreamEntry:
    event, data = fields.pop(b"event"), fields.pop(b"data")
    return StreamEntry(entry_id, event, data, fields)


class StreamReader:
    """What the API's SSE readers read, on an asyncio client of their own so that a stream
    waiting on Redis (XREAD BLOCK) holds no thread."""

    def __init__(self, redis: AsyncRedis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    @classmethod
    def connect(cls, url: str, keys: Keys) -> StreamReader:
        return cls(AsyncRedis.from_url(url), keys)

    async def close(self) -> None:
        await self.redis.aclose()

    async def run_entries(
        self, run_id: str, after: str | bytes, count: int, block_ms: int | None
    ) -> list[StreamEntry]:
        """Entries of the run's stream after ``after`` (see ``read_entries``)."""
        return await read_entries(self.redis, self.keys.run_stream(run_id), after, count, block_ms)

    async def thread_entries(
        self, thread_id: str, after: str | bytes, count: int, block_ms: int | None
    ) -> list[StreamEntry]:
        """Entries of the thread's stream after ``after`` (see ``read_entries``)."""
        key = self.keys.thread_stream(thread_id)
        return await read_entries(self.redis, key, after, count, block_ms)

    async def run_status(self, run_id: str) -> str | None:
        """The run's status; None once it is deleted (rolled back, or its thread gone)."""
        status = await self.redis.hget(self.keys.run(run_id), "status")
        return status.decode() if status else None

    async def run_output(self, run_id: str) -> bytes | None:
        """The ended run's output as stored (JSON; ``{"__error__": ...}`` if it failed)."""
        return cast(bytes | None, await self.redis.get(self.keys.run_output(run_id)))

    async def run_kwargs(self, run_id: str) -> bytes | None:
        """A run's options as stored (its `kwargs` JSON), for a stream reader that names the
        run's graph; None once the run is gone."""
        return cast(bytes | None, await self.redis.hget(self.keys.run(run_id), "kwargs"))
