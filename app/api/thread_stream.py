"""Server-sent events of a thread (GET /threads/{id}/stream), as LangGraph's server sends
them: each run's start (`metadata` {run_id, attempt}), its chunks (`values`, ...), its
`error` if it failed and its end (`metadata` {status: run_done, run_id}), and `state_update`
when the thread's state is updated; each with its stream entry id, for ``Last-Event-ID``.

Events are written to the thread's stream only while a client watches the thread (a
`watch` renewed by every open stream; lua/lib/thread_stream.lua), so a new client gets the
events from its start on, and one that comes back with ``Last-Event-ID`` those it missed.
The response stays open, with heartbeat comments, until the client leaves or the thread is
deleted."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from typing import Literal, get_args

import orjson

from threadwatch.api.run_stream import (
    ENTRIES_PER_READ,
    HEARTBEAT,
    HEARTBEAT_SECONDS,
    sse_event,
    stream_id,
)
from threadwatch.errors import InvalidInputError, ThreadNotFound
from threadwatch.store.run_streams import StreamReader
from threadwatch.store.threads import ThreadStore

ThreadStreamMode = Literal["run_modes", "lifecycle", "state_update"]
THREAD_STREAM_MODES = get_args(ThreadStreamMode)
# A watch lasts this long unless renewed; an open stream renews it this often.
WATCH_SECONDS = 30.0
WATCH_RENEW_SECONDS = 10.0
# XREAD waits this long for an event (well within the client's socket timeout, 5 s).
BLOCK_MS = 1000


def thread_stream_modes(values: Iterable[str]) -> frozenset[str]:
    """The modes asked for (run_modes when none). Each value is a mode, a comma list or a
    JSON array: Python's SDK repeats the parameter, the JS SDK sends a list as JSON."""
    modes = [mode.strip() for value in values for mode in _listed(value) if mode.strip()]
    for mode in modes:
        if mode not in THREAD_STREAM_MODES:
            raise InvalidInputError(f"Invalid stream mode: {mode}")
    return frozenset(modes or ["run_modes"])


def _listed(value: str) -> list[str]:
    if not value.lstrip().startswith("["):
        return value.split(",")
    try:
        items = orjson.loads(value)
    except orjson.JSONDecodeError:
        items = None
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise InvalidInputError(f"Invalid stream mode: {value}")
    return items


def thread_stream_cursor(last_event_id: str | None) -> str | None:
    """Where a thread's events are read after ``Last-Event-ID`` (None: from now on). "-" and
    "-1" replay what the stream holds; anything but a stream id is refused, with LangGraph's
    text (its server refuses "-1" here too; the JS SDK's joins send it to run streams)."""
    if not last_event_id:
        return None
    cursor = stream_id(last_event_id)
    if cursor is None:
        raise InvalidInputError("Invalid last-event-id: must be a valid Redis stream ID")
    return cursor


def sent_in(modes: frozenset[str], event: bytes) -> bool:
    """Whether ``modes`` send ``event``: run_modes every run event, lifecycle the runs'
    starts and ends only, state_update the state updates."""
    if event == b"state_update":
        return "state_update" in modes
    return "run_modes" in modes or ("lifecycle" in modes and event == b"metadata")


class ThreadEvents:
    """The events of one watched thread, read from its stream as they come."""

    def __init__(
        self, reader: StreamReader, threads: ThreadStore, thread_id: str, modes: frozenset[str]
    ) -> None:
        self.reader = reader
        self.threads = threads
        self.thread_id = thread_id
        self.modes = modes

    async def watch(self) -> str:
        """Watch the thread (404 if there is none): the id of its stream's last entry."""
        return await asyncio.to_thread(self.threads.watch, self.thread_id, WATCH_SECONDS)

    async def sse(self, cursor: str | bytes) -> AsyncIterator[bytes]:
        """The response body: the events after ``cursor``, then each as it comes, until
        the thread is deleted; a heartbeat comment after HEARTBEAT_SECONDS without one."""
        sent = watched = time.monotonic()
        while True:
            for entry in await self.reader.thread_entries(
                self.thread_id, cursor, ENTRIES_PER_READ, BLOCK_MS
            ):
                cursor = entry.id
                if sent_in(self.modes, entry.event):
                    yield sse_event(entry.event, entry.data, entry.id)
                    sent = time.monotonic()
            if time.monotonic() - sent >= HEARTBEAT_SECONDS:
                yield HEARTBEAT
                sent = time.monotonic()
            if time.monotonic() - watched >= WATCH_RENEW_SECONDS:
                try:
                    await self.watch()
                except ThreadNotFound:
                    return
                watched = time.monotonic()
