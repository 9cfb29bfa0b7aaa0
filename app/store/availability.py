"""Redis errors that pass: a server away (restarting, failing over, loading its data) or
full (maxmemory with noeviction). A writer that must not lose what it writes waits them
out rather than fail, for as long as waiting is still useful."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from redis.exceptions import (
    ClusterDownError,
    ConnectionError,
    MasterDownError,
    OutOfMemoryError,
    ReadOnlyError,
    TimeoutError,
    TryAgainError,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

# BusyLoadingError (a server loading its data) is a ConnectionError.
REDIS_UNAVAILABLE = (
    ConnectionError,
    TimeoutError,
    OutOfMemoryError,
    ReadOnlyError,
    MasterDownError,
    TryAgainError,
    ClusterDownError,
)


def refusal(error: Exception) -> str:
    """Why Redis refused a write, in words for an API answer."""
    if isinstance(error, OutOfMemoryError):
        return "Redis is full: maxmemory reached with noeviction"
    if isinstance(error, ReadOnlyError):
        return "Redis is a read-only replica, as during a failover"
    return f"Redis answered {type(error).__name__}"


# Seconds between attempts: doubling from the first to the last.
FIRST_WAIT, LONGEST_WAIT = 0.1, 2.0


def wait_out(call: Callable[[], T], patience: float, what: str) -> T:
    """``call()``, tried again while Redis is unavailable, for up to ``patience`` seconds;
    then its error. ``what`` names the write in the one warning logged."""
    deadline = time.monotonic() + patience
    wait = FIRST_WAIT
    while True:
        try:
            return call()
        except REDIS_UNAVAILABLE as exc:
            if time.monotonic() + wait > deadline:
                raise
            if wait == FIRST_WAIT:
                log.warning("%s: Redis is unavailable (%s); trying again", what, exc)
            time.sleep(wait)
            wait = min(wait * 2, LONGEST_WAIT)
