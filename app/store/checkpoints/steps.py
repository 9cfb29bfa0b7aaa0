"""The steps an operation of ``RedisSaver`` yields, shared by the operations and the drivers.

An operation is a generator of steps ``(kind, payload)``:

    READ, cmds    run the commands in one pipelined round trip; the reply is their replies
    WRITE, cmds   run them in one MULTI/EXEC, which aborts (WatchError) when a watched key
                  changed; the operation is then restarted from scratch. A put's are a
                  WriteBatch (write_batch.py), which a group commit merges with others'
    WATCH, keys   WATCH the keys (on a connection held until the next WRITE)
    EMIT, items   hand checkpoint tuples to the caller of a listing

A command is a callable that queues itself on a pipeline (``cmd("hget", k, f)``), so the
same operation runs on ``redis.Redis`` and ``redis.asyncio.Redis`` pipelines.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable
from operator import methodcaller
from typing import Any, TypeVar

T = TypeVar("T")
READ, WRITE, WATCH, EMIT = "read", "write", "watch", "emit"
Step = tuple[str, Iterable[Any]]
Op = Generator[Step, Any, T]
Cmd = Callable[[Any], Any]
cmd = methodcaller  # cmd("hget", key, field)(pipeline) queues HGET on the pipeline
MAX_ATTEMPTS = 50  # an optimistic transaction gives up after this many conflicts in a row


class CheckpointConflict(RuntimeError):
    """An optimistic transaction lost to concurrent writers MAX_ATTEMPTS times in a row."""
