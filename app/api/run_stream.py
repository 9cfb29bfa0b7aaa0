"""Server-sent events of a run, as LangGraph's server sends them: `metadata` (the run id and
attempt) first, then the run's chunks (app/store/run_streams.py), each with its stream
entry id so that a client can resume after it (``Last-Event-ID``), and `error` if the run
failed. The response ends when the run has ended."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator, Iterable, Sequence

import orjson

from threadwatch.errors import NotFoundError
from threadwatch.runs.service import IN_FLIGHT, RunService
from threadwatch.store.run_streams import StreamReader

log = logging.getLogger(__name__)

# XREAD waits this long for a chunk before it checks that the run is still in flight.
POLL_MS = 250
# A comment line goes out after this long without an event, so that proxies keep the
# connection open while the run waits on something; clients skip comments.
HEARTBEAT_SECONDS = 5.0
HEARTBEAT = b": heartbeat\n\n"
ENTRIES_PER_READ = 100
LAST_EVENT_ID = re.compile(r"(\d+)(?:-(\d+|\*))?")
FROM_THE_START = re.compile(r"-\d+")


def sse_event(event: bytes, data: bytes, event_id: bytes | None = None) -> bytes:
    """One event in the text/event-stream format (JSON data holds no newline)."""
    head = b"id: " + event_id + b"\n" if event_id else b""
    return head + b"event: " + event + b"\ndata: " + data + b"\n\n"


def stream_id(last_event_id: str | None) -> str | None:
    """The stream entry id a ``Last-Event-ID`` names: ``<ms>-<seq>``, ``<ms>-*`` or ``<ms>``
    as sent; "0-0" (before the first entry) for "-" and for a negative number, the JS SDK's
    "-1" that useStream joins and reconnects with to replay a run; None for anything else."""
    if not last_event_id:
        return None
    if last_event_id == "-" or FROM_THE_START.fullmatch(last_event_id):
        return "0-0"
    match = LAST_EVENT_ID.fullmatch(last_event_id)
    if match is None:
        return None
    ms, seq = match.groups()
    return f"{ms}-{seq if seq and seq != '*' else 0}"


def stream_cursor(last_event_id: str | None) -> str:
    """Where a run's events are read after: the id of ``Last-Event-ID``, else the start. An
    id this server did not send cannot follow any event a client saw, so it replays them all:
    LangGraph's server takes any value there, never a 422."""
    return stream_id(last_event_id) or "0-0"


def mode_of(event: bytes) -> bytes:
    """The mode of an event's name: a subgraph's are named ``<mode>|<namespace>...``, the
    `messages` mode's ``messages/<part>``."""
    return event.split(b"|", 1)[0].split(b"/", 1)[0]


def join_modes(values: Iterable[str]) -> list[str]:
    """The stream modes a join asks for, in each form the SDKs send them: the parameter
    repeated (both SDKs), a JSON array (how LangGraph's server reads it) or a comma list.
    A mode no run streams is not refused (LangGraph's server never is): it keeps nothing."""
    modes: list[str] = []
    for value in values:
        listed = _json_list(value) if value.startswith("[") else None
        items = listed if listed is not None else value.split(",")
        modes += [mode.strip() for mode in items if mode.strip()]
    return list(dict.fromkeys(modes))


def _json_list(value: str) -> list[str] | None:
    try:
        items = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if isinstance(items, list) and all(isinstance(item, str) for item in items):
        return items
    return None


def event_names(modes: Sequence[str] | None) -> set[bytes] | None:
    """The SSE event names of stream modes (None: every event of the run)."""
    if not modes:
        return None
    return {b"messages" if m == "messages-tuple" else m.encode() for m in modes} | {b"error"}


class RunEvents:
    """The events of one run, read from its stream as they come."""

    def __init__(
        self, reader: StreamReader, service: RunService, thread_id: str, run_id: str
    ) -> None:
        self.reader = reader
        self.service = service
        self.thread_id = thread_id
        self.run_id = run_id

    async def sse(
        self,
        streamed: bool,
        events: set[bytes] | None = None,
        cursor: str = "0-0",
        cancel_on_disconnect: bool = False,
    ) -> AsyncIterator[bytes]:
        """The response body. A run that was not ``streamed`` sends no chunks: its output
        comes when it ends, as one `values` event (`error` if it failed). A client that goes
        away before the end cancels the run if ``cancel_on_disconnect``."""
        metadata = orjson.dumps({"run_id": self.run_id, "attempt": 1})
        yield sse_event(b"metadata", metadata)
        ended = False
        try:
            async for item in self._entries(cursor):
                if item is None:
                    yield HEARTBEAT
                elif events is None or mode_of(item[0]) in events:
                    yield sse_event(*item)
            ended = True
            final = None if streamed else await self._output_event()
            if final is not None and (events is None or final[0] in events):
                yield sse_event(*final)
        finally:
            if not ended and cancel_on_disconnect:
                self._cancel()

    async def _entries(
        self, cursor: str | bytes
    ) -> AsyncIterator[tuple[bytes, bytes, bytes] | None]:
        """The run's stream entries (event, data, id) after ``cursor`` until its END marker,
        or until the run is seen ended (a run that streams nothing, or one that ended
        without the marker: rolled back, or reclaimed after its worker died) and the entries
        are all read; None after every HEARTBEAT_SECONDS without an entry."""
        ended, quiet_since = False, time.monotonic()
        while True:
            entries = await self.reader.run_entries(
                self.run_id, cursor, ENTRIES_PER_READ, None if ended else POLL_MS
            )
            for entry in entries:
                cursor = entry.id
                if entry.ends_the_run:
                    return
                yield entry.event, entry.data, entry.id
            if entries:
                quiet_since = time.monotonic()
                continue
            if ended:
                return
            # Read once more after seeing the end: entries written before it.
            ended = await self.reader.run_status(self.run_id) not in IN_FLIGHT
            if time.monotonic() - quiet_since >= HEARTBEAT_SECONDS:
                quiet_since = time.monotonic()
                yield None

    async def _output_event(self) -> tuple[bytes, bytes] | None:
        """The ended run's output (what /join answers) as its final event."""
        raw = await self.reader.run_output(self.run_id)
        if raw is None:
            return None
        output = orjson.loads(raw)
        if isinstance(output, dict) and "__error__" in output:
            return b"error", orjson.dumps(output["__error__"])
        return b"values", raw

    def _cancel(self) -> None:
        try:
            self.service.cancel(self.thread_id, self.run_id, "interrupt")
        except NotFoundError:
            pass  # it ended meanwhile
        except Exception:
            log.exception("run %s: could not cancel it after its client left", self.run_id)
