"""The small reads and writes around a run record that the run service, the runner and the
sweeper make: who owns a run and where it stands, its cancel flag, its stored output, and the
lease and pending indexes the sweeper walks. Events and the records' lifecycle are
``RunStore``'s (store/runs.py); this module keeps the field names and keys in the store."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import methodcaller
from typing import Any, cast

from redis import Redis
from redis.client import Pipeline

from threadwatch.store.codec import redis_now_us, text
from threadwatch.store.keys import Keys
from threadwatch.store.pipelined import QueuedCommand
from threadwatch.store.run_streams import watch_live
from threadwatch.store.scripts import Scripts, TransitionCode

# How long an ended run's output is kept for /join and /wait.
OUTPUT_TTL_SECONDS = 3600
# Runs deleted per trim_runs.lua call.
TRIM_BATCH = 500
_SUMMARY_FIELDS = ("thread_id", "status", "attempts", "updated_at")


@dataclass(frozen=True)
class RunSummary:
    """Where a run stands; ``thread_id`` None means there is no such run (deleted)."""

    thread_id: str | None
    status: str | None
    attempts: int
    updated_at_us: int | None

    @property
    def exists(self) -> bool:
        return self.thread_id is not None


class RunRecords:
    """Run-record fields, flags and indexes read or written one at a time."""

    def __init__(self, redis: Redis, keys: Keys, scripts: Scripts) -> None:
        self.redis = redis
        self.keys = keys
        self.scripts = scripts

    def summary(self, run_id: str) -> RunSummary:
        return _summary(self.redis.hmget(self.keys.run(run_id), _SUMMARY_FIELDS))

    def summaries(self, run_ids: Sequence[str]) -> list[RunSummary]:
        """One round trip for many runs, in order."""
        pipe = self.redis.pipeline(transaction=False)
        for run_id in run_ids:
            pipe.hmget(self.keys.run(run_id), _SUMMARY_FIELDS)
        return [_summary(raw) for raw in pipe.execute()]

    def assistants(self, run_ids: Sequence[str]) -> list[str | None]:
        """The assistant of each run, in order (None: no such run); one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for run_id in run_ids:
            pipe.hget(self.keys.run(run_id), "assistant_id")
        return [text(raw) if raw else None for raw in pipe.execute()]

    def read_after(self, run_id: str, commands: Iterable[QueuedCommand]) -> dict[bytes, bytes]:
        """The run's hash, read in the same round trip as ``commands`` (a job queued, say)."""
        with self.redis.pipeline() as pipe:
            for command in commands:
                command(pipe)
            pipe.hgetall(self.keys.run(run_id))
            *_, raw = pipe.execute()
        return cast(dict[bytes, bytes], raw)

    # -- in-flight indexes ---------------------------------------------------------------

    def in_status(self, status: str) -> list[str]:
        """Ids of every run in an in-flight status (pending or running)."""
        return [text(member) for member in self.redis.zrange(self.keys.runs_in(status), 0, -1)]

    def pending_since(self, before_us: int, limit: int, start: int = 0) -> list[str]:
        """Pending runs recorded before ``before_us``, oldest first, from the ``start``-th."""
        key = self.keys.runs_in("pending")
        return [text(m) for m in self.redis.zrangebyscore(key, "-inf", before_us, start, limit)]

    def drop_pending(self, run_id: str) -> None:
        """Unindex a pending run whose record is gone."""
        self.redis.zrem(self.keys.runs_in("pending"), run_id)

    # -- leases --------------------------------------------------------------------------

    def expired_leases(self, now_us: int, limit: int) -> list[str]:
        """Runs whose lease ran out by ``now_us``, the longest expired first."""
        key = self.keys.leases()
        return [text(m) for m in self.redis.zrangebyscore(key, "-inf", now_us, 0, limit)]

    def have_leases(self, run_ids: Sequence[str]) -> list[bool]:
        """Whether each run holds a lease (a run reported from elsewhere), in one call."""
        if not run_ids:
            return []
        scores = self.redis.zmscore(self.keys.leases(), list(run_ids))
        return [score is not None for score in scores]

    def drop_lease(self, run_id: str) -> None:
        self.redis.zrem(self.keys.leases(), run_id)

    def requeue(self, run_id: str) -> int | None:
        """Back to pending if its lease is still out (lua/requeue_run.lua): the attempts
        made so far, or None when it was not (renewed meanwhile, or ended)."""
        keys = self.keys
        indexes = [keys.leases(), keys.runs_in("pending"), keys.runs_in("running")]
        attempts = self.scripts.requeue_run(keys=[keys.run(run_id), *indexes], args=[run_id])
        return None if attempts == TransitionCode.NOT_RECLAIMED else attempts

    def now_us(self) -> int:
        """Redis's clock: the one leases are compared with."""
        return redis_now_us(self.redis)

    # -- retention ----------------------------------------------------------------------

    def threads_to_trim(self, limit: int) -> list[str]:
        """Take up to ``limit`` threads holding more runs than they keep."""
        taken = self.redis.spop(self.keys.runs_to_trim(), limit) or []
        return [text(thread_id) for thread_id in cast(list[bytes], taken)]

    def trim(self, thread_ids: Sequence[str], keep: int) -> int:
        """Delete each thread's ended runs beyond its ``keep`` newest (lua/trim_runs.lua),
        in two round trips for all of them; how many went. Runs in flight stay (the thread's
        next run marks it again)."""
        if keep <= 0 or not thread_ids:
            return 0
        pipe = self.redis.pipeline(transaction=False)
        for thread_id in thread_ids:
            pipe.zrange(self.keys.thread_runs(thread_id), 0, -keep - 1)
        beyond = pipe.execute()
        pipe = self.redis.pipeline(transaction=False)
        for thread_id, members in zip(thread_ids, beyond, strict=True):
            oldest = [text(m) for m in members]
            for start in range(0, len(oldest), TRIM_BATCH):
                self._queue_trim(pipe, thread_id, oldest[start : start + TRIM_BATCH])
        return sum(int(deleted) for deleted in pipe.execute())

    def _queue_trim(self, pipe: Pipeline, thread_id: str, run_ids: list[str]) -> None:
        keys = [self.keys.thread_runs(thread_id)]
        for run_id in run_ids:
            keys += [
                self.keys.run(run_id),
                self.keys.run_output(run_id),
                self.keys.run_stream(run_id),
                self.keys.run_cancel(run_id),
            ]
        self.scripts.trim_runs(keys=keys, args=run_ids, client=pipe)

    def expire_ended(self, limit: int) -> int:
        """Delete up to ``limit`` ended runs whose TTL ran out (lua/expire_runs.lua),
        TRIM_BATCH a call; how many went. Index entries of runs gone already are dropped."""
        expiring, deleted = self.keys.runs_expiring(), 0
        while limit > 0:
            batch = min(limit, TRIM_BATCH)
            due = self.redis.zrangebyscore(expiring, "-inf", self.now_us(), 0, batch)
            run_ids = [text(member) for member in cast(list[bytes], due)]
            if not run_ids:
                return deleted
            owners = self.redis.pipeline(transaction=False)
            for run_id in run_ids:
                owners.hget(self.keys.run(run_id), "thread_id")
            keys, present, gone = [expiring], [], []
            for run_id, thread_id in zip(run_ids, owners.execute(), strict=True):
                if thread_id is None:
                    gone.append(run_id)
                    continue
                present.append(run_id)
                keys += [
                    self.keys.run(run_id),
                    self.keys.thread_runs(text(thread_id)),
                    self.keys.run_output(run_id),
                    self.keys.run_stream(run_id),
                    self.keys.run_cancel(run_id),
                ]
            if gone:
                self.redis.zrem(expiring, *gone)
            if present:
                deleted += self.scripts.expire_runs(keys=keys, args=present)
            if len(run_ids) < batch:
                return deleted
            limit -= len(run_ids)
        return deleted

    # -- cancel flag, output -------------------------------------------------------------

    def request_cancel(self, run_id: str, action: str, ttl_seconds: int) -> None:
        """Ask the run's worker to stop it (it watches the flag, and checks it at start)."""
        self.redis.set(self.keys.run_cancel(run_id), action, ex=ttl_seconds)

    def cancel_and_watch(self, thread_id: str, run_id: str) -> tuple[str | None, bool]:
        """The cancel action asked of the run, if any, and whether a client watches its
        thread; one round trip."""
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(self.keys.run_cancel(run_id))
            pipe.hget(self.keys.thread(thread_id), "watch")
            action, watch = pipe.execute()
        return (text(action) if action else None), watch_live(watch)

    def keep_output(self, run_id: str, output: bytes) -> QueuedCommand:
        """The write of an ended run's output (JSON), to go with its terminal event."""
        return methodcaller("set", self.keys.run_output(run_id), output, ex=OUTPUT_TTL_SECONDS)

    def output(self, run_id: str) -> bytes | None:
        """The ended run's output as stored (JSON; ``{"__error__": ...}`` if it failed)."""
        return cast(bytes | None, self.redis.get(self.keys.run_output(run_id)))


def _summary(raw: list[Any]) -> RunSummary:
    thread_id, status, attempts, updated_at = raw
    return RunSummary(
        text(thread_id) if thread_id else None,
        text(status) if status else None,
        int(attempts or 0),
        int(updated_at) if updated_at else None,
    )
