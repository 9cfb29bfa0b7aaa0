"""One connection's reading of a thread's protocol events: the thread's stream from its
first entry (ProtocolTape), then each entry as it comes, while the connection keeps the
thread watched (so that its runs' starts, ends and chunks are written)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

from threadwatch.api.protocol.tape import ProtocolTape
from threadwatch.errors import ThreadNotFound
from threadwatch.runs.options import RunOptions
from threadwatch.store.run_streams import StreamEntry, StreamReader
from threadwatch.store.threads import ThreadStore

# A connection watches its thread this long, renewed this often (lib/thread_stream.lua).
WATCH_SECONDS = 30.0
WATCH_RENEW_SECONDS = 10.0
# XREAD waits this long for an entry; entries read at once.
BLOCK_MS = 1000
ENTRIES_PER_READ = 200


class ThreadTapeReader:
    """Reads one thread's protocol events for one connection."""

    def __init__(self, streams: StreamReader, threads: ThreadStore, thread_id: str) -> None:
        self.streams = streams
        self.threads = threads
        self.thread_id = thread_id
        self.graphs: dict[str, str] = {}
        self.tape = ProtocolTape(lambda run_id: self.graphs.get(run_id, "root"))
        self.existed = False

    async def watch(self) -> bool:
        """Watch the thread; False once a thread that existed is gone (the stream ends).
        A thread not there yet is waited for: run.start creates it."""
        try:
            await asyncio.to_thread(self.threads.watch, self.thread_id, WATCH_SECONDS)
        except ThreadNotFound:
            return not self.existed
        self.existed = True
        return True

    async def replay(self) -> list[dict[str, Any]]:
        """The events of every entry the stream holds now (what agent.getTree needs)."""
        events: list[dict[str, Any]] = []
        cursor: bytes | str = "0-0"
        while True:
            entries = await self.streams.thread_entries(
                self.thread_id, cursor, ENTRIES_PER_READ, None
            )
            if not entries:
                return events
            for entry in entries:
                cursor = entry.id
                events.extend(await self.events_of(entry))

    async def follow(self) -> AsyncIterator[list[dict[str, Any]] | None]:
        """The events of each entry from the first, then as they come (an entry may give
        none); None once the entries already there are read, then after each quiet read
        (for heartbeats), until the thread is deleted."""
        if not await self.watch():
            return
        watched = time.monotonic()
        cursor: bytes | str = "0-0"
        caught_up = False
        while True:
            block = BLOCK_MS if caught_up else None
            entries = await self.streams.thread_entries(
                self.thread_id, cursor, ENTRIES_PER_READ, block
            )
            caught_up = caught_up or not entries
            for entry in entries:
                cursor = entry.id
                yield await self.events_of(entry)
            if not entries:
                yield None
            if time.monotonic() - watched >= WATCH_RENEW_SECONDS:
                if not await self.watch():
                    return
                watched = time.monotonic()

    async def events_of(self, entry: StreamEntry) -> list[dict[str, Any]]:
        if entry.event == b"metadata" and b"run_status" in entry.extra:
            await self._learn_graph(entry.data)
        return self.tape.events(entry)

    async def _learn_graph(self, data: bytes) -> None:
        """The graph of the run an entry names (its lifecycle events carry it)."""
        run_id = str(orjson.loads(data).get("run_id", ""))
        if run_id in self.graphs:
            return
        raw = await self.streams.run_kwargs(run_id)
        graph_id = RunOptions.from_json(raw).graph_id if raw else ""
        self.graphs[run_id] = graph_id or "root"
