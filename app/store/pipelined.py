"""Commands and reads that share a round trip: each store hands out what it would send, and
whoever combines them sends them in one pipeline."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from redis import Redis

A = TypeVar("A")
B = TypeVar("B")

# A command that queues itself on a pipeline (e.g. ``methodcaller("hset", key, field, v)``).
QueuedCommand = Callable[[Any], Any]


@dataclass(frozen=True)
class Read(Generic[A]):
    """One store read: the command it sends, and what its reply means."""

    command: QueuedCommand
    decode: Callable[[Any], A]


def read_both(redis: Redis, first: Read[A], second: Read[B]) -> tuple[A, B]:
    """Two reads in one round trip (not atomic: each is as its key was when read)."""
    pipe = redis.pipeline(transaction=False)
    first.command(pipe)
    second.command(pipe)
    one, two = pipe.execute()
    return first.decode(one), second.decode(two)
