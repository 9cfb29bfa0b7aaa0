"""Lost runs: runs whose worker (or external runtime) stopped showing signs of life.

A run in flight holds a lease that every event of it renews (our workers renew theirs with
`run.heartbeat` every third of the lease). When a lease runs out the sweeper ends the run
as `error` {"error": "WorkerLost"} through the transition script, which re-checks the
lease atomically (a heartbeat that just arrived wins) and derives the thread's status again
from its other runs. A run of our workers may instead go back to the queue (setting
`run_retries`). Our own pending runs hold no lease (RQ keeps them); those whose RQ job is
gone or failed are ended too, once older than a minimum age (the API records a run before
it queues its job).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.job_lifecycle import record_job_failure
from rq.registry import FailedJobRegistry, StartedJobRegistry

from app.domain import EventType
from app.models import RunEvent
from app.store.codec import redis_now_us, seconds_to_us, us_to_iso
from app.store.runs import RunStore

log = logging.getLogger(__name__)

WORKER_LOST = "WorkerLost"
# Jobs in these states will never execute their run.
DEAD_JOB = (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED)


@dataclass
class Reclaimed:
    """What one pass did: runs ended as lost, and runs queued again."""

    failed: int = 0
    requeued: int = 0


class LostRuns:
    """Finds and ends (or re-queues) lost runs; safe to run on several machines at once."""

    def __init__(self, runs: RunStore, queue: Queue, retries: int = 0, batch: int = 1000) -> None:
        self.runs, self.redis, self.keys = runs, runs.redis, runs.keys
        self.queue = queue
        self.retries = retries
        self.batch = batch

    def reclaim(self, min_pending_age: float) -> Reclaimed:
        """End the runs whose lease ran out, and our pending runs older than
        ``min_pending_age`` seconds whose RQ job can no longer run them."""
        done = Reclaimed()
        now = redis_now_us(self.redis)
        for raw in self.redis.zrangebyscore(self.keys.leases(), "-inf", now, 0, self.batch):
            self._reclaim_expired(raw.decode(), done)
        oldest = now - seconds_to_us(min_pending_age)
        for raw in self.redis.zrangebyscore(
            self.keys.runs_in("pending"), "-inf", oldest, 0, self.batch
        ):
            self._reclaim_orphan(raw.decode(), done)
        pipe = self.redis.pipeline(transaction=False)
        for action, n in (("failed", done.failed), ("requeued", done.requeued)):
            if n:
                pipe.hincrby(self.keys.metrics(), f"reclaimed|{action}", n)
        pipe.execute()
        return done

    def _reclaim_expired(self, run_id: str, done: Reclaimed) -> None:
        thread_id, attempts = self.redis.hmget(self.keys.run(run_id), "thread_id", "attempts")
        if thread_id is None:  # the run was deleted: drop its lease
            self.redis.zrem(self.keys.leases(), run_id)
            return
        job = self._job(run_id)
        if job is not None and int(attempts or 0) < self.retries and self._requeue(run_id, job):
            done.requeued += 1
            return
        event = self._lost_event(thread_id.decode(), run_id, "stopped renewing its lease")
        if self.runs.reclaim(event) is not None:
            done.failed += 1
            if job is not None:
                self._release_chain(job)

    def _reclaim_orphan(self, run_id: str, done: Reclaimed) -> None:
        """A pending run without a lease is ours: lost if its job cannot run it."""
        if self.redis.zscore(self.keys.leases(), run_id) is not None:
            return  # reported from elsewhere: its lease decides
        thread_id = self.redis.hget(self.keys.run(run_id), "thread_id")
        if thread_id is None:
            self.redis.zrem(self.keys.runs_in("pending"), run_id)
            return
        job = self._job(run_id)
        if job is not None and job.get_status() not in DEAD_JOB:
            return
        event = self._lost_event(thread_id.decode(), run_id, "lost its queued job")
        applied = self.runs.apply([event])
        if applied and applied[0].result == "applied":
            done.failed += 1
            log.warning("run %s of thread %s: its job is gone; ended", run_id, event.thread_id)

    def _requeue(self, run_id: str, job: Job) -> bool:
        """Back to pending (if its lease is still out) and its job back in the queue."""
        keys = self.keys
        attempts = self.runs.scripts.requeue_run(
            keys=[
                keys.run(run_id),
                keys.leases(),
                keys.runs_in("pending"),
                keys.runs_in("running"),
            ],
            args=[run_id],
        )
        if attempts == -4:
            return False
        self._fail_job(job)
        FailedJobRegistry(queue=self.queue).requeue(job)
        log.warning("run %s: its worker was lost; queued again (attempt %d)", run_id, attempts + 1)
        return True

    def _release_chain(self, job: Job) -> None:
        """The lost run's job failed: the thread's next runs (which wait on it) may go."""
        if job.get_status() in DEAD_JOB:
            return
        self._fail_job(job)
        self.queue.enqueue_dependents(job, refresh_job_status=False)

    def _fail_job(self, job: Job) -> None:
        """What RQ does with an abandoned job, without waiting for its own cleanup."""
        started = StartedJobRegistry(queue=self.queue)
        executions = [
            entry
            for entry in self.redis.zrange(started.key, 0, -1)
            if entry.decode().startswith(f"{job.id}:")
        ]
        with self.redis.pipeline() as pipe:
            record_job_failure(job, f"{WORKER_LOST}: the run's lease ran out", pipe)
            if executions:
                pipe.zrem(started.key, *executions)
            pipe.execute()

    def _job(self, run_id: str) -> Job | None:
        """The run's RQ job (job id = run id), or None for a run reported from elsewhere."""
        try:
            return Job.fetch(run_id, connection=self.redis)
        except NoSuchJobError:
            return None

    def _lost_event(self, thread_id: str, run_id: str, why: str) -> RunEvent:
        seen = self.redis.hget(self.keys.run(run_id), "updated_at")
        since = f" (last heard of at {us_to_iso(int(seen))})" if seen else ""
        return RunEvent(
            thread_id=thread_id,
            run_id=run_id,
            type=EventType.FAILED,
            error={
                "error": WORKER_LOST,
                "message": f"The run's worker {why}{since}; the sweeper ended the run.",
            },
        )
