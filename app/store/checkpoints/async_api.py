"""The async API of ``RedisSaver``: the same operations, run by the async drivers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import WatchError

from threadwatch.store.checkpoints.drivers import (
    AsyncSession,
    Done,
    InlineSession,
    Session,
    ThreadSession,
    adrive,
    advance,
)
from threadwatch.store.checkpoints.steps import EMIT, MAX_ATTEMPTS, CheckpointConflict, Op
from threadwatch.store.checkpoints.thread_ops import ThreadOps
from threadwatch.store.checkpoints.write_buffer import flush_current, open_buffer

T = TypeVar("T")


class AsyncSaverMethods(ThreadOps):
    """The async API of RedisSaver: on `self.aredis`; without it, in a worker thread, or
    inline (blocking the loop) when `self.inline` is set."""

    aredis: AsyncRedis | None
    inline: bool

    if TYPE_CHECKING:  # provided by RedisSaver

        def _sync_session(self) -> Any: ...

    def _async_session(self) -> Session:
        if self.aredis is not None:
            return AsyncSession(self.aredis)
        if self.inline:
            return InlineSession(self._sync_session())
        return ThreadSession(self._sync_session())

    async def _arun(self, make: Callable[[], Op[T]]) -> T:
        """Run an operation, restarting it while a watched key changes under it (after the
        writes a group commit holds, which it must see)."""
        flush_current()
        for _ in range(MAX_ATTEMPTS):
            session = self._async_session()
            try:
                return await adrive(make(), session)
            except WatchError:
                continue
            finally:
                await session.close()
        raise CheckpointConflict(f"gave up after {MAX_ATTEMPTS} conflicting writes")

    async def _awrite(self, make: Callable[[], Op[T]]) -> T:
        """Run a write-only operation, or queue it in the group commit in progress."""
        buffer = open_buffer()
        if buffer is None:
            return await self._arun(make)
        return buffer.queue(make())

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
        flush_current()
        op, reply = self._list_op(config, filter, before, limit), None
        session = self._async_session()
        try:
            while not isinstance(step := advance(op, reply), Done):
                if step[0] == EMIT:
                    for item in step[1]:
                        yield item
                    reply = None
                else:
                    reply = await session.run(step)
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
        return await self._awrite(lambda: self._put_op(*args))

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Async put_writes."""
        args = (config, writes, task_id, task_path)
        await self._awrite(lambda: self._put_writes_op(*args))

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
