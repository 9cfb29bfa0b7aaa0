"""Drivers: run an operation's steps (steps.py) on a sync or an async Redis client.

A session runs the steps of one attempt and holds the WATCH connection until the WRITE;
``drive`` / ``adrive`` feed each step's reply back into the operation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, Generic, Protocol, TypeVar

from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from threadwatch.store.checkpoints.steps import EMIT, READ, WATCH, WRITE, Cmd, Op, Step

T = TypeVar("T")


class Done(Generic[T]):
    """What an operation returned when it stopped."""

    def __init__(self, value: T) -> None:
        self.value = value


def advance(op: Op[T], reply: Any) -> Step | Done[T]:
    """Send `reply` into the operation: its next step, or Done once it has returned."""
    try:
        return op.send(reply)
    except StopIteration as stop:
        return Done(stop.value)


def non_emitting(step: Step) -> Step:
    """The step, refused if it is an EMIT (only a listing emits)."""
    if step[0] == EMIT:
        raise TypeError("this operation cannot emit")
    return step


class PipelineSession:
    """What the sync and async sessions share: which pipeline runs a step."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.watcher: Any = None

    def _watching(self) -> Any:
        """The pipeline that holds this attempt's WATCHes, made on the first one."""
        if self.watcher is None:
            self.watcher = self.client.pipeline()
        return self.watcher

    def _pipeline(self, kind: str) -> Any:
        """A pipeline for a READ, or the MULTI/EXEC (after the WATCHes, if any) of a WRITE."""
        if kind == READ:
            return self.client.pipeline(transaction=False)
        assert kind == WRITE, kind
        pipe, self.watcher = self.watcher or self.client.pipeline(), None
        if pipe.watching:
            pipe.multi()
        return pipe

    @staticmethod
    def _queue(pipe: Any, cmds: Iterable[Cmd]) -> None:
        for c in cmds:
            c(pipe)


class SyncSession(PipelineSession):
    """Runs the steps of one operation attempt on a sync client; owns its WATCH connection."""

    def __init__(self, redis: Redis) -> None:
        super().__init__(redis)

    def run(self, step: Step) -> Any:
        kind, payload = step
        if kind == WATCH:
            self._watching().watch(*payload)
            return None
        with self._pipeline(kind) as pipe:
            self._queue(pipe, payload)
            return pipe.execute() if payload else []

    def close(self) -> None:
        if self.watcher is not None:
            self.watcher.reset()


class StepRunner(Protocol):
    """Runs one step synchronously: a SyncSession, or a WriteBuffer that queues writes."""

    def run(self, step: Step) -> Any: ...


def drive(op: Op[T], session: StepRunner) -> T:
    """Run an operation that emits nothing to its end; its return value."""
    step = advance(op, None)
    while not isinstance(step, Done):
        step = advance(op, session.run(non_emitting(step)))
    return step.value


class Session(Protocol):
    """Runs the steps of one operation attempt."""

    async def run(self, step: Step) -> Any: ...

    async def close(self) -> None: ...


class AsyncSession(PipelineSession):
    """Runs steps on a redis.asyncio client; owns the WATCH connection, if any."""

    def __init__(self, aredis: AsyncRedis) -> None:
        super().__init__(aredis)

    async def run(self, step: Step) -> Any:
        kind, payload = step
        if kind == WATCH:
            await self._watching().watch(*payload)
            return None
        async with self._pipeline(kind) as pipe:
            self._queue(pipe, payload)
            return await pipe.execute() if payload else []

    async def close(self) -> None:
        if self.watcher is not None:
            await self.watcher.reset()


class InlineSession:
    """Runs steps on a sync session in the calling coroutine, blocking its event loop for
    each round trip: for a loop that serves one run (a worker thread's), where a hop to a
    thread costs more than the round trip it waits for."""

    def __init__(self, sync: Any) -> None:
        self.sync = sync

    async def run(self, step: Step) -> Any:
        return self.sync.run(step)

    async def close(self) -> None:
        self.sync.close()


class ThreadSession:
    """Runs steps on a sync session in a worker thread (no async client was given)."""

    def __init__(self, sync: Any) -> None:
        self.sync = sync

    async def run(self, step: Step) -> Any:
        return await asyncio.to_thread(self.sync.run, step)

    async def close(self) -> None:
        await asyncio.to_thread(self.sync.close)


async def adrive(op: Op[T], session: Session) -> T:
    """Run an operation that emits nothing to its end; its return value."""
    step = advance(op, None)
    while not isinstance(step, Done):
        step = advance(op, await session.run(non_emitting(step)))
    return step.value
