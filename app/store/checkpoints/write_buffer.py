"""Group commit of a run's checkpoint writes (``RedisSaver.group_commit``).

A one-node graph puts three checkpoints and two sets of writes: five round trips for a run
that computes for a millisecond. While a ``WriteBuffer`` is current (a context variable, so
the graph's tasks inherit it), ``aput`` and ``aput_writes`` add their WriteBatch to the
buffer's, which goes out merged (write_batch.py: one command per key and kind, not per put)
in one MULTI/EXEC: before the next checkpoint read, ``delay`` seconds after the first queued
write, and when the buffer closes. LangGraph's default durability ("async": a checkpoint is
written while the next step runs) promises no more.
"""

from __future__ import annotations

import asyncio
from contextvars import ContextVar
from typing import Any, TypeVar

from redis import Redis

from threadwatch.store.checkpoints.drivers import SyncSession, drive
from threadwatch.store.checkpoints.steps import WRITE, Op, Step
from threadwatch.store.checkpoints.write_batch import WriteBatch

T = TypeVar("T")
current_buffer: ContextVar[WriteBuffer | None] = ContextVar("checkpoint_writes", default=None)


class WriteBuffer:
    """The queued checkpoint writes of one run, on one event loop."""

    def __init__(self, redis: Redis, delay: float) -> None:
        self.redis, self.delay = redis, delay
        self.batch = WriteBatch()
        self.closed = False
        self._timer: asyncio.TimerHandle | None = None

    def queue(self, op: Op[T]) -> T:
        """Run a write-only operation into the queue; what it returns."""
        value = drive(op, self)
        if self.batch and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.delay, self._flush_later)
        return value

    def run(self, step: Step) -> list[Any]:
        """Add a WRITE step's batch to the queue (``drive`` feeds each step here)."""
        kind, batch = step
        if kind != WRITE or not isinstance(batch, WriteBatch):
            raise TypeError(f"only WriteBatch writes can be queued, not {kind}")
        self.batch.extend(batch)
        return []

    def flush(self) -> None:
        """Write what is queued in one MULTI/EXEC (kept queued if that fails)."""
        self._cancel_timer()
        if not self.batch:
            return
        SyncSession(self.redis).run((WRITE, self.batch))
        self.batch = WriteBatch()

    def take(self) -> WriteBatch:
        """The queued writes, for the caller to send with its own; writes made after this
        are not queued (as after ``close``)."""
        self.closed = True
        self._cancel_timer()
        batch, self.batch = self.batch, WriteBatch()
        return batch

    def close(self) -> None:
        """Flush; writes made after this (by a run's leftover tasks) are not queued."""
        self.closed = True
        self.flush()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _flush_later(self) -> None:
        self._timer = None
        try:
            self.flush()
        except Exception:  # Redis away: the next read, write or the close tries again
            self._timer = asyncio.get_running_loop().call_later(self.delay, self._flush_later)


def open_buffer() -> WriteBuffer | None:
    """The current context's buffer, unless it is closed."""
    buffer = current_buffer.get()
    return None if buffer is None or buffer.closed else buffer


def flush_current() -> None:
    """Write the current context's queued writes before a read sees the store."""
    buffer = open_buffer()
    if buffer is not None:
        buffer.flush()
