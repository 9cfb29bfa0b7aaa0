"""Run events and run records. Every event goes through lua/transition.lua.

A batch is applied in two pipelined round trips: one read (which runs exist on which
thread, and the metadata of threads whose events carry metadata), one write (a
transition script per event). Metadata merges are computed here and checked in the script
against the metadata version read; an event whose thread changed meanwhile is re-applied
alone (optimistic concurrency).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import methodcaller
from typing import Any, cast

import hiredis
import orjson
from redis import Redis
from redis.connection import Connection
from redis.exceptions import NoScriptError, OutOfMemoryError, ReadOnlyError, ResponseError

from threadwatch.domain import (
    IN_FLIGHT_EVENTS,
    THREAD_OUTCOME_OF_EVENT,
    EventResult,
    EventType,
    ThreadStatus,
    assistant_of,
)
from threadwatch.errors import (
    BatchIncomplete,
    ConcurrentUpdate,
    RunNotFound,
    RunRejected,
    RunThreadMismatch,
    ThreadNotFound,
)
from threadwatch.models import RunEvent
from threadwatch.store.availability import refusal
from threadwatch.store.codec import (
    datetime_to_us,
    decode_hash,
    dumps,
    run_from_hash,
    seconds_to_us,
    thread_member,
)
from threadwatch.store.keys import Keys
from threadwatch.store.metadata_index import metadata_leaves
from threadwatch.store.pipelined import QueuedCommand
from threadwatch.store.run_records import RunRecords
from threadwatch.store.run_streams import (
    THREAD_STREAM_MAXLEN,
    THREAD_STREAM_TTL_SECONDS,
    watch_live,
)
from threadwatch.store.scripts import Scripts, Transition, TransitionCode, held_turn, transitions
from threadwatch.store.threads import DEFAULT_HISTORY_LIMIT, new_version

DEFAULT_ERRORS = {
    EventType.FAILED: {"error": "RunError", "message": "The run failed"},
    EventType.TIMEOUT: {"error": "TimeoutError", "message": "The run timed out"},
}
_DEFAULT_ERROR_JSON = {event_type: dumps(error) for event_type, error in DEFAULT_ERRORS.items()}
_RESULTS = {
    TransitionCode.APPLIED: EventResult.APPLIED,
    TransitionCode.DUPLICATE: EventResult.DUPLICATE,
    TransitionCode.STALE: EventResult.STALE,
}
CAS_ATTEMPTS = 20
# Runs kept per thread unless configured (settings.runs_kept_per_thread; 0 keeps all).
DEFAULT_RUNS_KEPT = 100
DEFAULT_LEASE_SECONDS = 30.0
# Events per transition.lua call: amortizes the call's cost, keeps each call short.
EVENTS_PER_CALL = 100


@dataclass(frozen=True)
class Applied:
    """What one event did: its result and the thread's status before and after."""

    thread_id: str
    run_id: str
    type: EventType
    result: EventResult
    old_status: ThreadStatus
    new_status: ThreadStatus
    # For a run created here: the thread's previous last run, which this one runs after.
    previous_run: str | None = None


@dataclass(frozen=True)
class Turn:
    """A run that holds its thread's turn (lua/run_turn.lua) now: its job is the caller's
    to queue, to start in ``delay`` seconds."""

    thread_id: str
    run_id: str
    delay: float = 0.0


@dataclass(frozen=True)
class StartedRun:
    """A run a worker took: its fields as they were when it was pending, and whether a
    client watches its thread's stream."""

    fields: dict[str, bytes]
    watched: bool


@dataclass
class _MetadataState:
    metadata: dict[str, Any]
    version: str
    exists: bool = True  # whether the thread existed when its metadata was read


class RunStore:
    """Applies run events and reads run records."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        scripts: Scripts | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        history_limit: int = DEFAULT_HISTORY_LIMIT,
        runs_kept: int = DEFAULT_RUNS_KEPT,
        ended_run_ttl: float = 0,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.scripts = scripts or Scripts(redis)
        self.lease_us = seconds_to_us(lease_seconds)
        self.history_limit = history_limit
        self.runs_kept = runs_kept
        self.ended_run_ttl_us = seconds_to_us(ended_run_ttl)
        self.records = RunRecords(redis, keys, self.scripts)

    # -- events --------------------------------------------------------------------------

    def apply(self, events: Sequence[RunEvent]) -> list[Applied]:
        """Apply validated events in order; each one atomically.

        An event whose run belongs to another thread is refused by the script (nothing of
        it is written) and raises RunThreadMismatch after the batch; the batch's other
        events are applied, and re-sending the corrected batch is harmless.
        """
        if not events:
            return []
        metadata = self._read_metadata(events)
        calls = (
            self._operands(events[start : start + EVENTS_PER_CALL], metadata)
            for start in range(0, len(events), EVENTS_PER_CALL)
        )
        replies: list[Transition | ResponseError] = []
        for call, size in zip(self._stream(calls), _call_sizes(len(events)), strict=True):
            replies += [call] * size if isinstance(call, ResponseError) else transitions(call)
        results: list[Applied] = []
        mismatch: RunEvent | None = None
        refused: ResponseError | None = None
        for event, reply in zip(events, replies, strict=True):
            if isinstance(reply, ResponseError):  # its call refused whole: Redis full
                refused = refused or reply
                continue
            if reply.code is TransitionCode.METADATA_CHANGED:
                # Nothing was written; tokens are unique, so the thread's later events in
                # the batch fail too.
                reply, _ = self._apply_one(event)
            if reply.code is TransitionCode.OTHER_THREAD:
                mismatch = mismatch or event
                continue
            results.append(_applied(event, reply))
        if refused is not None:
            raise BatchIncomplete(cast(list[object], results), len(events), refusal(refused))
        if mismatch:
            raise RunThreadMismatch(mismatch.run_id, mismatch.thread_id)
        return results

    def _stream(self, calls: Iterable[tuple[list[Any], list[Any]]]) -> list[Any]:
        """The replies of transition.lua ``calls`` (keys, args), sent on one connection
        each as soon as it is built, then read: Redis applies the first calls while the
        next are built (a pipeline sends nothing before all are). A connection error sends
        them all again, as a pipeline does (events are idempotent), and a call Redis
        answers NOSCRIPT (it lost its scripts) is sent again after loading the script."""
        script, built = self.scripts.lua_transition, []
        pending = iter(calls)

        def send_all(connection: Connection) -> list[Any]:
            for keys, args in built:
                connection.send_packed_command(_pack_evalsha(script.sha, keys, args))
            for keys, args in pending:
                built.append((keys, args))
                connection.send_packed_command(_pack_evalsha(script.sha, keys, args))
            replies: list[Any] = []
            for _ in built:
                try:
                    replies.append(connection.read_response())
                except (NoScriptError, OutOfMemoryError, ReadOnlyError) as refused:
                    replies.append(refused)  # the call was refused whole; read the rest
            return replies

        pool = self.redis.connection_pool
        connection = pool.get_connection()
        try:
            replies = connection.retry.call_with_retry(
                lambda: send_all(connection), lambda _error: connection.disconnect()
            )
        except BaseException:
            connection.disconnect()  # replies may be left unread on it
            raise
        finally:
            pool.release(connection)
        return [
            script(keys=built[i][0], args=built[i][1])
            if isinstance(reply, NoScriptError)
            else reply
            for i, reply in enumerate(replies)
        ]

    def reclaim(self, event: RunEvent) -> Applied | None:
        """Apply the terminal ``event`` of a lost run only if its lease has run out (checked
        in the same script); None when it is alive again or already ended."""
        reply, _ = self._apply_one(event, "reclaim")
        if reply.code in (TransitionCode.OTHER_THREAD, TransitionCode.NOT_RECLAIMED):
            return None
        return _applied(event, reply)

    def admit(
        self,
        event: RunEvent,
        reject_if_busy: bool,
        thread_must_exist: bool = False,
        metadata_read: tuple[dict[str, Any], str, bool] | None = None,
    ) -> Applied:
        """Record a run created here (its run.pending event) as the thread's last run.

        With ``reject_if_busy``, refuse it (RunRejected, nothing written) while any run of
        the thread is in flight; the check and the write are one script, so two racing
        creations can never both pass. With ``thread_must_exist``, an unknown thread is
        ThreadNotFound (nothing written). ``previous_run`` is the run this one comes after.
        ``metadata_read`` is the thread's (metadata, version, exists) as the caller just read
        it (ThreadStore.read_metadata), saving the first attempt that read; the script
        checks the version, so a thread changed since costs one more attempt, never a lost
        write.
        """
        return self._admit(event, reject_if_busy, thread_must_exist, metadata_read)[0]

    def admit_and_take_turn(
        self,
        event: RunEvent,
        reject_if_busy: bool,
        thread_must_exist: bool = False,
        metadata_read: tuple[dict[str, Any], str, bool] | None = None,
        delay: float = 0.0,
    ) -> Turn | None:
        """``admit``, then ``take_turn``, in one MULTI/EXEC: one round trip less on every
        run created. A take after a refused admission finds no pending run and writes
        nothing."""
        take = self._turn_call("take", event.thread_id, event.run_id, seconds_to_us(delay))
        _, held = self._admit(event, reject_if_busy, thread_must_exist, metadata_read, [take])
        return _turn(event.thread_id, held_turn(held))

    def _admit(
        self,
        event: RunEvent,
        reject_if_busy: bool,
        thread_must_exist: bool,
        metadata_read: tuple[dict[str, Any], str, bool] | None,
        after: Sequence[QueuedCommand] = (),
    ) -> tuple[Applied, Any]:
        admission = "reject" if reject_if_busy else "queue"
        first = None
        if metadata_read is not None and metadata_read[2] and event.metadata:
            first = {event.thread_id: _MetadataState(*metadata_read)}  # an existing thread
        reply, after_reply = self._apply_one(event, admission, thread_must_exist, first, after)
        if reply.code is TransitionCode.REJECTED:
            raise RunRejected()
        if reply.code is TransitionCode.OTHER_THREAD:
            raise RunThreadMismatch(event.run_id, event.thread_id)
        return _applied(event, reply), after_reply

    def _apply_one(
        self,
        event: RunEvent,
        admission: str = "",
        thread_must_exist: bool = False,
        first_read: dict[str, _MetadataState] | None = None,
        after: Sequence[QueuedCommand] = (),
    ) -> tuple[Transition, Any]:
        """The event's Transition, retried while its thread's metadata changes under it,
        and the reply of ``after``'s last command, sent in the same MULTI/EXEC (None
        without)."""
        for attempt in range(CAS_ATTEMPTS):
            if attempt == 0 and first_read is not None:
                metadata = first_read
            else:
                metadata = self._read_metadata([event])
            if thread_must_exist and not self._thread_exists(event.thread_id, metadata):
                raise ThreadNotFound(event.thread_id)
            keys, args = self._operands([event], metadata, admission)
            if after:
                _, reply, after_reply = self._send_loading([], keys, args, after)
            else:
                reply, after_reply = self.scripts.transition(keys, args)[0], None
            if reply.code is not TransitionCode.METADATA_CHANGED:
                return reply, after_reply
        raise ConcurrentUpdate(event.thread_id)

    def _thread_exists(self, thread_id: str, metadata: dict[str, _MetadataState]) -> bool:
        """Whether the thread exists: known from its metadata read, else asked."""
        state = metadata.get(thread_id)
        return state.exists if state else bool(self.redis.exists(self.keys.thread(thread_id)))

    def _read_metadata(self, events: Sequence[RunEvent]) -> dict[str, _MetadataState]:
        """Metadata (and version token) of the threads whose events carry metadata."""
        thread_ids = list(dict.fromkeys(e.thread_id for e in events if e.metadata))
        if not thread_ids:
            return {}
        pipe = self.redis.pipeline(transaction=False)
        for thread_id in thread_ids:
            pipe.hmget(self.keys.thread(thread_id), "metadata", "mver")
        return {
            thread_id: _MetadataState(
                orjson.loads(raw) if raw else {}, (mver or b"0").decode(), raw is not None
            )
            for thread_id, (raw, mver) in zip(thread_ids, pipe.execute(), strict=True)
        }

    def apply_after(self, writes: Sequence[QueuedCommand], event: RunEvent) -> Applied:
        """Apply ``event`` (one without metadata) in one MULTI/EXEC after ``writes``,
        commands queued on it (a run's last checkpoint writes and its output), so that
        whoever sees the event sees them."""
        return self.end_run(writes, event, pass_turn=False)[0]

    def end_run(
        self, writes: Sequence[QueuedCommand], event: RunEvent, pass_turn: bool = True
    ) -> tuple[Applied, Turn | None]:
        """``apply_after`` for the terminal ``event`` of one of our runs, which passes its
        thread's turn on in the same MULTI/EXEC: the run that takes it, whose job the caller
        queues."""
        if event.metadata:
            raise ValueError("end_run takes events without metadata")
        after = [self._turn_call("pass", event.thread_id, event.run_id)] if pass_turn else []
        _, result, passed = self._transact(writes, event, after=after)
        if result.code is TransitionCode.OTHER_THREAD:
            raise RunThreadMismatch(event.run_id, event.thread_id)
        return _applied(event, result), (
            _turn(event.thread_id, held_turn(passed)) if after else None
        )

    # -- the thread's turn (lua/run_turn.lua) ---------------------------------------------

    def take_turn(self, thread_id: str, run_id: str, delay: float = 0.0) -> Turn | None:
        """An admitted run takes its thread's turn, or waits for it; the Turn when it holds
        it (its job is the caller's to queue). None when it waits, or is not pending any
        more (cancelled or rolled back meanwhile)."""
        keys, args = self._turn_operands("take", thread_id, run_id, seconds_to_us(delay))
        return _turn(thread_id, self.scripts.run_turn(keys, args))

    def pass_turn(self, thread_id: str, run_id: str) -> Turn | None:
        """``run_id`` ended or is gone: if it held its thread's turn, the next waiting run
        takes it, and is returned (its job is the caller's to queue). Harmless for any run."""
        keys, args = self._turn_operands("pass", thread_id, run_id)
        return _turn(thread_id, self.scripts.run_turn(keys, args))

    def turn_of(self, thread_id: str) -> tuple[str | None, float | None]:
        """The run holding the thread's turn and since when (seconds since the epoch)."""
        turn, at = self.redis.hmget(self.keys.thread(thread_id), "turn", "turn_at")
        return (turn.decode() if turn else None), (int(at) / 1e6 if at else None)

    def is_waiting(self, thread_id: str, run_id: str) -> bool:
        """Whether the run waits for its thread's turn."""
        return self.redis.zscore(self.keys.thread_waiting(thread_id), run_id) is not None

    def _turn_operands(
        self, op: str, thread_id: str, run_id: str, delay_us: int = 0
    ) -> tuple[list[str], list[Any]]:
        keys = [
            self.keys.thread(thread_id),
            self.keys.thread_waiting(thread_id),
            self.keys.run(run_id),
        ]
        return keys, [op, thread_id, run_id, delay_us]

    def _turn_call(self, op: str, thread_id: str, run_id: str, delay_us: int = 0) -> QueuedCommand:
        keys, args = self._turn_operands(op, thread_id, run_id, delay_us)
        return methodcaller("evalsha", self.scripts.lua_run_turn.sha, len(keys), *keys, *args)

    def start(self, thread_id: str, run_id: str) -> StartedRun | None:
        """A worker takes one of our runs: its ``run.started`` (only if the run exists), a
        read of it and of its thread's watch, in one MULTI/EXEC. None when the run is not
        this worker's to execute: already started elsewhere, ended (e.g. cancelled while
        pending), deleted (rolled back) or of another thread."""
        event = RunEvent(thread_id=thread_id, run_id=run_id, type=EventType.STARTED)
        reads = [
            methodcaller("hgetall", self.keys.run(run_id)),
            methodcaller("hget", self.keys.thread(thread_id), "watch"),
        ]
        (raw, watch), result, _ = self._transact(reads, event, "start")
        if result.code is not TransitionCode.APPLIED:
            return None
        return StartedRun(decode_hash(raw), watch_live(watch))

    def _transact(
        self,
        before: Sequence[QueuedCommand],
        event: RunEvent,
        admission: str = "",
        after: Sequence[QueuedCommand] = (),
    ) -> tuple[list[Any], Transition, Any]:
        """``before``, ``event``'s transition and ``after`` in one MULTI/EXEC: the replies of
        ``before``, the event's Transition and the reply of ``after``'s last command (None
        without). Scripts go by their SHA, without the SCRIPT EXISTS a pipeline sends first;
        if Redis has lost them (a restart), they are loaded and the whole is sent again:
        commands given here are reads and idempotent writes, and the event is idempotent."""
        keys, args = self._operands([event], {}, admission)
        return self._send_loading(before, keys, args, after)

    def _send_loading(
        self,
        before: Sequence[QueuedCommand],
        keys: list[Any],
        args: list[Any],
        after: Sequence[QueuedCommand],
    ) -> tuple[list[Any], Transition, Any]:
        """``_send``, loading the scripts and sending again if Redis has lost them."""
        try:
            return self._send(before, keys, args, after)
        except NoScriptError:
            for script in (self.scripts.lua_transition, self.scripts.lua_run_turn):
                self.redis.script_load(script.script)
            return self._send(before, keys, args, after)

    def _send(
        self,
        before: Sequence[QueuedCommand],
        keys: list[Any],
        args: list[Any],
        after: Sequence[QueuedCommand],
    ) -> tuple[list[Any], Transition, Any]:
        with self.redis.pipeline() as pipe:
            for command in before:
                command(pipe)
            pipe.evalsha(self.scripts.lua_transition.sha, len(keys), *keys, *args)
            for command in after:
                command(pipe)
            replies = pipe.execute()
        n = len(before)
        return replies[:n], transitions(replies[n])[0], (replies[-1] if after else None)

    def _operands(
        self, events: Sequence[RunEvent], metadata: dict[str, _MetadataState], admission: str = ""
    ) -> tuple[list[Any], list[Any]]:
        """The keys and arguments of a transition.lua call for ``events``."""
        keys: list[Any] = [
            *self.keys.statuses,
            *self.keys.orders,
            self.keys.leases(),
            self.keys.runs_in("pending"),
            self.keys.runs_in("running"),
            self.keys.metrics(),
            *self.keys.leaf_index,
            self.keys.runs_to_trim(),
            self.keys.runs_expiring(),
        ]
        args: list[Any] = [
            self.lease_us,
            self.history_limit,
            THREAD_STREAM_MAXLEN,
            THREAD_STREAM_TTL_SECONDS,
            self.runs_kept,
            self.ended_run_ttl_us,
        ]
        for event in events:
            self._event_operands(event, metadata, keys, args, admission)
        return keys, args

    def _event_operands(
        self,
        event: RunEvent,
        metadata: dict[str, _MetadataState],
        keys: list[Any],
        args: list[Any],
        admission: str = "",
    ) -> None:
        """Append one event's keys and its 22 arguments (see transition.lua's header)."""
        expected, merged_json, leave, join, token = "", b"", [], [], ""
        state = metadata.get(event.thread_id)
        merged: dict[str, Any] = state.metadata if state else {}
        if state and event.metadata:
            merged = {**state.metadata, **event.metadata}
            if dumps(merged) != dumps(state.metadata):
                old_leaves, new_leaves = metadata_leaves(state.metadata), metadata_leaves(merged)
                leave, join = sorted(old_leaves - new_leaves), sorted(new_leaves - old_leaves)
                expected, merged_json, token = state.version, dumps(merged), new_version()
                # Later events of this batch merge into what this one leaves.
                metadata[event.thread_id] = _MetadataState(merged, token)
        keys += (
            self.keys.thread(event.thread_id),
            self.keys.run(event.run_id),
            self.keys.thread_runs(event.thread_id),
            self.keys.thread_transitions(event.thread_id),
            self.keys.thread_stream(event.thread_id),
        )
        if leave or join:
            keys += [self.keys.metadata_leaf(leaf) for leaf in (*leave, *join)]
        terminal = event.type not in IN_FLIGHT_EVENTS
        run_metadata = _run_metadata(event)
        args += (
            event.thread_id,
            event.run_id,
            event.type.value,
            _outcome(event).value if terminal else "",
            datetime_to_us(event.at) if event.at else "",
            b"" if event.values is None else dumps(event.values),
            expected,
            len(leave),
            len(join),
            merged_json,
            dumps(event.interrupts) if terminal and event.interrupts else b"{}",
            _error_json(event) if terminal else b"null",
            event.assistant_id or (assistant_of(event.metadata) if event.metadata else ""),
            dumps(run_metadata) if run_metadata else b"{}",
            dumps(event.kwargs) if event.kwargs else b"{}",
            event.multitask_strategy or "",
            token,
            assistant_of(merged) if token else "",
            dumps(event.config) if event.config else "",
            admission,
            seconds_to_us(event.lease_seconds) if event.lease_seconds else "",
            thread_member(event.thread_id),
        )

    # -- run records ---------------------------------------------------------------------

    def get(self, thread_id: str, run_id: str) -> dict[str, Any]:
        raw = self.redis.hgetall(self.keys.run(run_id))
        fields = decode_hash(raw)
        if not raw or fields.get("thread_id", b"").decode() != thread_id:
            raise RunNotFound(run_id)
        return run_from_hash(run_id, fields)

    def delete(self, thread_id: str, run_id: str) -> None:
        """Remove the run; the thread's status is derived again from its other runs."""
        self.scripts.delete_run(
            run_id,
            keys=[
                self.keys.thread(thread_id),
                self.keys.run(run_id),
                self.keys.thread_runs(thread_id),
                *self.keys.statuses,
                self.keys.order("updated_at"),
                self.keys.thread_transitions(thread_id),
                self.keys.leases(),
                self.keys.runs_in("pending"),
                self.keys.runs_in("running"),
                self.keys.metrics(),
                *self.keys.leaf_index,
            ],
            args=[thread_id, run_id, self.history_limit, thread_member(thread_id)],
        )

    def list(
        self, thread_id: str, limit: int = 10, offset: int = 0, status: str | None = None
    ) -> list[dict[str, Any]]:
        """Runs of a thread, newest first."""
        if not self.redis.exists(self.keys.thread(thread_id)):
            raise ThreadNotFound(thread_id)
        newest_first = self.redis.zrevrange(self.keys.thread_runs(thread_id), 0, -1)
        run_ids = [r.decode() for r in newest_first]
        pipe = self.redis.pipeline(transaction=False)
        for run_id in run_ids:
            pipe.hgetall(self.keys.run(run_id))
        runs = [
            run_from_hash(run_id, decode_hash(raw))
            for run_id, raw in zip(run_ids, pipe.execute(), strict=True)
            if raw
        ]
        if status:
            runs = [run for run in runs if run["status"] == status]
        return runs[offset : offset + limit]


def _call_sizes(events: int) -> list[int]:
    """Events per transition.lua call of a batch of ``events``."""
    return [min(EVENTS_PER_CALL, events - start) for start in range(0, events, EVENTS_PER_CALL)]


def _pack_evalsha(sha: str, keys: list[Any], args: list[Any]) -> list[bytes]:
    """An EVALSHA command in the Redis protocol, as Connection.send_packed_command takes
    it (hiredis packs it in one C call)."""
    return [hiredis.pack_command(("EVALSHA", sha, len(keys), *keys, *args))]


def _applied(event: RunEvent, reply: Transition) -> Applied:
    """An event transition.lua applied (or found a duplicate or stale)."""
    code, old_status, new_status, previous_run = reply
    return Applied(
        event.thread_id,
        event.run_id,
        event.type,
        _RESULTS[code],
        old_status,
        new_status,
        previous_run,
    )


def _turn(thread_id: str, held: tuple[str, int] | None) -> Turn | None:
    """The run that holds the thread's turn now (run_turn.lua), or None."""
    if held is None:
        return None
    run_id, delay_us = held
    return Turn(thread_id, run_id, delay_us / 1e6)


def _run_metadata(event: RunEvent) -> dict[str, Any]:
    return event.run_metadata if event.run_metadata is not None else (event.metadata or {})


def _outcome(event: RunEvent) -> ThreadStatus:
    if event.type is EventType.CANCELLED and event.next == [] and not event.interrupts:
        return ThreadStatus.IDLE
    return THREAD_OUTCOME_OF_EVENT[event.type]


def _error_json(event: RunEvent) -> bytes:
    """The thread's error after ``event``, a terminal event, as JSON."""
    if event.error is not None:
        return dumps(event.error.model_dump())
    return _DEFAULT_ERROR_JSON.get(event.type, b"null")
