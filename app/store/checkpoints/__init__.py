"""A LangGraph checkpoint saver on plain Redis (no RedisJSON / RediSearch): ``RedisSaver``.

It keeps what ``InMemorySaver`` keeps, with the same semantics. Every operation is written
once, as a generator of steps, and run by a sync or an async driver. A put or put_writes is
one MULTI/EXEC (or joins a run's group commit); deleting, copying and pruning read under
WATCH and restart when a concurrent write changed what they read. No Lua: nothing here
needs a decision on the server.

    steps.py           the step vocabulary (READ, WRITE, WATCH, EMIT) and CheckpointConflict
    write_batch.py     WriteBatch: a put's writes by key, merged into few commands
    encoding.py        value framing, hash field names, config helpers
    checkpoint_ops.py  per-checkpoint operations: get, list, put, put_writes
    thread_ops.py      whole-thread operations: delete, copy, prune, delete_for_runs
    drivers.py         sessions that run steps on redis.Redis / redis.asyncio.Redis
    async_api.py       the async methods (aget_tuple, alist, aput, ...)
    write_buffer.py    group commit of a run's async puts (RedisSaver.group_commit)
    saver.py           RedisSaver: clients and the sync methods
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from threadwatch.store.checkpoints.drivers import SyncSession
from threadwatch.store.checkpoints.steps import CheckpointConflict

if TYPE_CHECKING:
    from threadwatch.store.checkpoints.saver import RedisSaver

__all__ = ["CheckpointConflict", "RedisSaver", "SyncSession"]


def __getattr__(name: str) -> Any:
    """``RedisSaver`` is imported on first use: it needs langgraph, an optional extra, and
    the modules here that do not (write_batch, steps) serve runs without it."""
    if name == "RedisSaver":
        from threadwatch.store.checkpoints.saver import RedisSaver

        return RedisSaver
    raise AttributeError(name)
