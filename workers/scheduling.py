"""Keeping RQ's scheduler alive across worker crashes.

One process at a time runs RQ's scheduler for a queue: it holds the queue's scheduler lock,
which it refreshes every second and which otherwise lasts a minute. When the worker
holding it is killed, delayed runs, webhook retries and sweeps would wait for that minute
(and RQ's own fallback check); instead, a worker that sees the holder's heartbeat stale
releases its locks (token-checked, so only that holder's) and takes them.

RQ's scheduler runs in a forked process that only serves the locks it was forked with; when
this process takes more, its scheduler process is replaced by one that serves them all. A
scheduler process that died (Redis away or full) is started again once Redis takes writes.
"""

from __future__ import annotations

import logging
import os
import signal
from datetime import UTC, datetime

from redis import Redis
from rq.exceptions import SchedulerNotFound
from rq.scheduler import RQScheduler
from rq.scripts import release_lock

from threadwatch.store.codec import text

log = logging.getLogger(__name__)

# A scheduler whose heartbeat (every second) is older than this is dead.
STALE_AFTER = 5.0


class SchedulerKeeper:
    """RQ's scheduler of this process, and the locks its forked process serves."""

    def __init__(self, scheduler: RQScheduler) -> None:
        self.scheduler = scheduler
        self.served: set[str] = set()

    def start(self) -> None:
        """Take the free scheduler locks and start RQ's scheduler process if any was taken
        (fork it before any thread exists: no lock a thread holds is copied in locked)."""
        self.scheduler.acquire_locks(auto_start=True)
        self.served = set(self.scheduler.acquired_locks)

    def take_over(self, connection: Redis) -> None:
        """Free the locks of dead schedulers, take every free lock, and make sure this
        process's scheduler process serves all the locks it holds."""
        scheduler = self.scheduler
        freed = False
        for name in scheduler._queue_names:
            key = RQScheduler.get_locking_key(name)
            owner = connection.get(key)
            if owner is None or text(owner) == scheduler.name:
                continue
            if _is_stale(text(owner), connection):
                freed |= release_lock(connection, key, text(owner))
        if freed:
            log.warning("RQ's scheduler stopped beating; this worker takes it over")
        scheduler.acquire_locks()
        held = set(scheduler.acquired_locks)
        process = scheduler._process
        alive = process is not None and process.is_alive()
        if not held or (alive and held <= self.served):
            return
        # A scheduler process first writes its hash, and dies if it cannot (Redis full: the
        # lock refreshes above are allowed, writes are not). Written here first, a full Redis
        # raises now, and the next check tries again, instead of a fork dying every check.
        scheduler.register_birth()
        if alive and process is not None:  # serving fewer queues than it should: replace it
            os.kill(process.pid, signal.SIGKILL)
            process.join()
        scheduler.start()
        self.served = held


def _is_stale(name: str, connection: Redis) -> bool:
    try:
        holder = RQScheduler.fetch(name, connection)
    except SchedulerNotFound:
        return True
    beat = holder.last_heartbeat
    if beat is None:
        return True
    if beat.tzinfo is None:
        beat = beat.replace(tzinfo=UTC)
    return (datetime.now(UTC) - beat).total_seconds() > STALE_AFTER
