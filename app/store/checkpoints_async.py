"""The async half of ``RedisSaver`` (checkpoints.py) and the step vocabulary both halves share.

An operation of the saver is a generator of steps ``(kind, payload)``:

    READ, cmds    run the commands in one pipelined round trip; the reply is their replies
    WRITE, cmds   run them in one MULTI/EXEC, which aborts (WatchError) when a watched key
                  changed; the operation is then restarted from scratch
    WATCH, keys   WATCH the keys (on a connection held until the next WRITE)
    EMIT, items   hand checkpoint tuples to the caller of a listing

A command is a callable that queues itself on a pipeline (``methodcaller("hget", k, f)``), so
the same operation runs on ``redis.Redis`` and ``redis.asyncio.Redis`` pipelines. They live
here because checkpoints.py imports this module.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Generator, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import WatchError

T = TypeVar("T")
READ, WRITE, WATCH, EMIT = "read", "write", "watch", "emit"
Step = tuple[str, Sequence[Any]]
Op = Generator[Step, Any, T]
MAX_ATTEMPTS = 50  # an optimistic transaction gives up after this many conflicts in a row


class CheckpointConflict(RuntimeError):
    """An optimistic transaction lost to concurrent writers MAX_ATTEMPTS times in a row."""


class Session(Protocol):
    """Runs the steps of one operation attempt."""

    async def run(self, step: Step) -> Any: ...

    async def close(self) -> None: ...


class AsyncSession:
    """Runs steps on a redis.asyncio client; owns the WATCH connection, if any."""

    def __init__(self, aredis: AsyncRedis) -> None:
        self.aredis = aredis
        self.watcher: Any = None

    async def run(self, step: Step) -> Any:
        kind, payload = step
        if kind == WATCH:
            if self.watcher is None:
                self.watcher = self.aredis.pipeline()
            await self.watcher.watch(*payload)
            return None
        if kind == READ:
            return await self._execute(self.aredis.pipeline(transaction=False), payload)
        assert kind == WRITE, kind
        pipe, self.watcher = self.watcher or self.aredis.pipeline(), None
        if pipe.watching:
            pipe.multi()
        return await self._execute(pipe, payload)

    @staticmethod
    async def _execute(pipe: Any, cmds: Sequence[Callable[[Any], Any]]) -> list[Any]:
        async with pipe:
            for c in cmds:
                c(pipe)
            return await pipe.execute() if cmds else []

    async def close(self) -> None:
        if self.watcher is not None:
            await self.watcher.reset()


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
    reply = None
    while True:
        try:
            step = op.send(reply)
        except StopIteration as stop:
            return stop.value
        if step[0] == EMIT:
            raise TypeError("this operation cannot emit")
        reply = await session.run(step)


class AsyncSaverMethods:
    """The async API of RedisSaver, on `self.aredis` or, without it, in a worker thread.

    The operations (``_*_op``) and the sync session come from RedisSaver.
    """

    aredis: AsyncRedis | None

    if TYPE_CHECKING:  # provided by RedisSaver

        def _sync_session(self) -> Any: ...
        def _get_tuple_op(self, config: RunnableConfig) -> Op[CheckpointTuple | None]: ...
        def _list_op(self, config: Any, filter: Any, before: Any, limit: Any) -> Op[None]: ...
        def _put_op(self, *args: Any) -> Op[RunnableConfig]: ...
        def _put_writes_op(self, *args: Any) -> Op[None]: ...
        def _delete_thread_op(self, thread_id: str) -> Op[None]: ...
        def _copy_thread_op(self, source: str, dest: str) -> Op[None]: ...
        def _prune_op(self, thread_id: str, strategy: str) -> Op[None]: ...
        def _delete_run_op(self, run_id: str) -> Op[None]: ...

    def _async_session(self) -> Session:
        if self.aredis is not None:
            return AsyncSession(self.aredis)
        return ThreadSession(self._sync_session())

    async def _arun(self, make: Callable[[], Op[T]]) -> T:
        """Run an operation, restarting it while a watched key changes under it."""
        for _ in range(MAX_ATTEMPTS):
            session = self._async_session()
            try:
                return await adrive(make(), session)
            except WatchError:
                continue
            finally:
                await session.close()
        raise CheckpointConflict(f"gave up after {MAX_ATTEMPTS} conflicting writes")

    async def aclose(self) -> None:
        """Close the async client, if any (from_url made one)."""
        if self.aredis is not None:
            await self.aredis.aclose()

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """Async get_tuple."""
        return await self._arun(lambda: self._get_tuple_op(config))

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """Async list."""
        op = self._list_op(config, filter, before, limit)
        session, reply = self._async_session(), None
        try:
            while True:
                try:
                    kind, payload = op.send(reply)
                except StopIteration:
                    return
                if kind == EMIT:
                    for item in payload:
                        yield item
                    reply = None
                else:
                    reply = await session.run((kind, payload))
        finally:
            await session.close()

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Async put."""
        args = (config, checkpoint, metadata, new_versions)
        return await self._arun(lambda: self._put_op(*args))

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Async put_writes."""
        args = (config, writes, task_id, task_path)
        await self._arun(lambda: self._put_writes_op(*args))

    async def adelete_thread(self, thread_id: str) -> None:
        """Async delete_thread."""
        await self._arun(lambda: self._delete_thread_op(str(thread_id)))

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Async copy_thread."""
        args = (str(source_thread_id), str(target_thread_id))
        await self._arun(lambda: self._copy_thread_op(*args))

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Async prune."""
        for thread_id in thread_ids:
            await self._arun(lambda t=str(thread_id): self._prune_op(t, strategy))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Async delete_for_runs."""
        for run_id in run_ids:
            await self._arun(lambda r=str(run_id): self._delete_run_op(r))
