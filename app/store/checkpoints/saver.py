"""``RedisSaver``: the LangGraph checkpointer on plain Redis, its clients and its sync API."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)
from langgraph.checkpoint.serde.base import SerializerProtocol
from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import WatchError

from threadwatch.store.checkpoints.async_api import AsyncSaverMethods
from threadwatch.store.checkpoints.drivers import Done, SyncSession, advance, drive
from threadwatch.store.checkpoints.steps import EMIT, MAX_ATTEMPTS, CheckpointConflict, Op
from threadwatch.store.checkpoints.write_buffer import WriteBuffer, current_buffer
from threadwatch.store.keys import Keys

T = TypeVar("T")


class RedisSaver(AsyncSaverMethods):
    """LangGraph checkpointer on plain Redis; sync and async (see async_api.py).

    `redis` must return bytes (decode_responses=False). The async methods use `aredis`
    when given and otherwise run the sync client in a worker thread, or, with
    ``inline=True``, in the calling coroutine: for an event loop that serves a single run.
    """

    def __init__(
        self,
        redis: Redis,
        keys: Keys | None = None,
        *,
        aredis: AsyncRedis | None = None,
        serde: SerializerProtocol | None = None,
        inline: bool = False,
        server_metadata: bool = False,
    ) -> None:
        super().__init__(serde=serde)
        for client in (redis, aredis):
            if client is not None and client.get_connection_kwargs().get("decode_responses"):
                raise ValueError("RedisSaver needs a client with decode_responses=False")
        self.redis, self.aredis, self.keys = redis, aredis, keys or Keys()
        self.inline = inline
        # The server's saver keys checkpoint metadata as LangGraph's server does (see
        # checkpoint_metadata); LangGraph's library savers, and the conformance suite, don't.
        self.server_metadata = server_metadata

    @classmethod
    def from_url(cls, url: str, keys: Keys | None = None, **kwargs: Any) -> RedisSaver:
        """A saver with a sync and an async client on `url`."""
        aredis = AsyncRedis.from_url(url)
        return cls(Redis.from_url(url), keys, aredis=aredis, **kwargs)

    def close(self) -> None:
        """Close the sync client (its connection pool); see aclose() for the async one."""
        self.redis.close()

    @contextmanager
    def group_commit(self, delay: float) -> Iterator[WriteBuffer]:
        """Within this block, the async puts of this context (and of the tasks it starts)
        are written together: before the next read, ``delay`` seconds after the first one
        waits, and at the end of the block (see write_buffer.py). The writes go out on
        the sync client, blocking the loop: for an inline saver's run."""
        buffer = WriteBuffer(self.redis, delay)
        token = current_buffer.set(buffer)
        try:
            yield buffer
        finally:
            current_buffer.reset(token)
            buffer.close()

    # -- sync API ------------------------------------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint named by `config`, or the thread's latest one in its namespace."""
        return self._run(lambda: self._get_tuple_op(config))

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """Checkpoints newest first per (thread, namespace), as InMemorySaver lists them."""
        session = SyncSession(self.redis)
        op, reply = self._list_op(config, filter, before, limit), None
        # a listing only reads: no WATCH to release
        while not isinstance(step := advance(op, reply), Done):
            if step[0] == EMIT:
                yield from step[1]
                reply = None
            else:
                reply = session.run(step)

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store a checkpoint and the channel values of `new_versions` in one MULTI/EXEC."""
        return self._run(lambda: self._put_op(config, checkpoint, metadata, new_versions))

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store a task's writes; idempotent per (task_id, idx), special channels overwrite."""
        self._run(lambda: self._put_writes_op(config, writes, task_id, task_path))

    def delete_thread(self, thread_id: str) -> None:
        """Remove every checkpoint, blob and write of the thread, in all namespaces."""
        self._run(lambda: self._delete_thread_op(str(thread_id)))

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy all checkpoints (the whole parent chain) and writes into another thread."""
        self._run(lambda: self._copy_thread_op(str(source_thread_id), str(target_thread_id)))

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """``keep_latest``: keep each namespace's latest checkpoint (and the ancestors its
        DeltaChannels replay from); ``delete``: delete the threads."""
        for thread_id in thread_ids:
            self._run(lambda t=str(thread_id): self._prune_op(t, strategy))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Remove the checkpoints (and their writes) that these runs made."""
        for run_id in run_ids:
            self._run(lambda r=str(run_id): self._delete_run_op(r))

    def get_next_version(self, current: str | None, channel: None) -> str:
        """Zero-padded counter plus a random fraction, as InMemorySaver makes them."""
        if current is None:
            current_v = 0
        elif isinstance(current, int):
            current_v = current
        else:
            current_v = int(current.split(".")[0])
        return f"{current_v + 1:032}.{random.random():016}"

    def _sync_session(self) -> SyncSession:
        return SyncSession(self.redis)

    def _run(self, make: Callable[[], Op[T]]) -> T:
        """Run an operation, restarting it while a watched key changes under it."""
        for _ in range(MAX_ATTEMPTS):
            session = SyncSession(self.redis)
            try:
                return drive(make(), session)
            except WatchError:
                continue
            finally:
                session.close()
        raise CheckpointConflict(f"gave up after {MAX_ATTEMPTS} conflicting writes")
