"""Lost runs: runs whose worker (or external runtime) stopped showing signs of life.

A run in flight holds a lease that every event of it renews (our workers renew theirs with
`run.heartbeat` every third of the lease). When a lease runs out the sweeper ends the run
as `error` {"error": "WorkerLost"} through the transition script, which re-checks the
lease atomically (a heartbeat that just arrived wins) and derives the thread's status again
from its other runs. A run of our workers may instead go back to the queue (setting
`run_retries`). Either way the thread's turn passes to its next run (lua/run_turn.lua).

Our own pending runs hold no lease: their jobs wait in RQ, or they wait for their thread's
turn. Once older than a minimum age (the API records a run before it queues its job), one
whose job failed is ended; one that RQ holds no runnable job for is recovered: its hand-off
was cut short (a process killed between a run's end and the next run's job, or between
recording a run and queueing it), its worker died as it took the job (taken off the queue,
where a run thread's BLPOP keeps no copy, or recorded started, before the run started), or
RQ's own dependency handling (of earlier versions) left it deferred. It takes its thread's
turn, or the turn passes from a holder that ended, and the job of the run holding it is
queued.

A worker that died between its run's end and RQ's record of the job leaves nothing lost,
but RQ's record says `started` for a day: the job is failed once its run ended a lease ago.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import cast

from redis.client import Pipeline
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.job_lifecycle import record_job_failure
from rq.registry import FailedJobRegistry, StartedJobRegistry

from threadwatch.domain import EventType
from threadwatch.models import RunError, RunEvent
from threadwatch.runs.jobs import RunJobs
from threadwatch.store.codec import seconds_to_us, us_to_iso
from threadwatch.store.counters import add_counts, field
from threadwatch.store.run_records import RunSummary
from threadwatch.store.runs import RunStore, Turn

log = logging.getLogger(__name__)

WORKER_LOST = "WorkerLost"
# Jobs in these states will never execute their run.
DEAD_JOB = (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED)
# Jobs RQ will execute by itself, if they are where RQ keeps them: it says `queued` of a
# job a worker popped too, until it records it started. A started job whose run is still
# pending is another matter: a worker starts the run first thing, so its start failed
# (Redis away) or its worker died in between.
WAITING_JOB = (JobStatus.QUEUED, JobStatus.SCHEDULED)
IN_FLIGHT = ("pending", "running")
# Seconds one pass may spend: after a fleet-wide outage it takes every lost run back in
# pages of ``batch``, up to this, and the next sweep goes on from there.
RECLAIM_BUDGET = 10.0
# The run timeout a reclaimed run's next job gets when none is given (Settings' default).
DEFAULT_RUN_TIMEOUT = 86_400.0


@dataclass
class Reclaimed:
    """What one pass did: runs ended as lost, runs queued again, and pending runs whose
    thread's turn was handed on (their jobs queued) where a crash had cut it short."""

    failed: int = 0
    requeued: int = 0
    resumed: int = 0


class LostRuns:
    """Finds and ends (or re-queues) lost runs; safe to run on several machines at once."""

    def __init__(
        self,
        runs: RunStore,
        queue: Queue,
        retries: int = 0,
        batch: int = 1000,
        run_timeout: float = DEFAULT_RUN_TIMEOUT,
        budget: float = RECLAIM_BUDGET,
    ) -> None:
        self.runs, self.records = runs, runs.records
        self.queue = queue
        self.jobs = RunJobs(queue, run_timeout)
        self.retries = retries
        self.batch = batch
        self.budget = budget
        # The job ids RQ holds in the runs queue, read once a pass, when first needed.
        self._held: set[str] | None = None

    def reclaim(self, min_pending_age: float) -> Reclaimed:
        """End the runs whose lease ran out, and our pending runs older than
        ``min_pending_age`` seconds whose RQ job can no longer run them."""
        done = Reclaimed()
        self._held = None
        now = self.records.now_us()
        deadline = time.monotonic() + self.budget
        seen: list[str] = []
        while time.monotonic() < deadline:
            # Each one reclaimed leaves the lease index: the next page holds the next ones.
            expired = self.records.expired_leases(now, self.batch)
            if expired == seen:  # none of these could be reclaimed now: the next sweep
                break
            for run_id in expired:
                self._reclaim_expired(run_id, done)
            if len(expired) < self.batch:
                break
            seen = expired
        oldest = now - seconds_to_us(min_pending_age)
        start = 0
        while time.monotonic() < deadline:  # pending runs mostly stay: page through them
            pending = self.records.pending_since(oldest, self.batch, start)
            leased = self.records.have_leases(pending)  # one round trip a page
            for run_id, reported in zip(pending, leased, strict=True):
                if not reported:  # one reported from elsewhere: its lease decides
                    self._reclaim_orphan(run_id, oldest / 1e6, done)
            if len(pending) < self.batch:
                break
            start += self.batch
        if time.monotonic() < deadline:
            self._end_abandoned_jobs(oldest)
        counts = {"failed": done.failed, "requeued": done.requeued, "resumed": done.resumed}
        add_counts(
            self.runs.redis,
            self.runs.keys,
            {field("reclaimed", action): n for action, n in counts.items()},
        )
        return done

    def _reclaim_expired(self, run_id: str, done: Reclaimed) -> None:
        run = self.records.summary(run_id)
        if run.thread_id is None:  # the run was deleted: drop its lease
            self.records.drop_lease(run_id)
            return
        job = self._job(run_id)
        if job is not None and run.attempts < self.retries and self._requeue(run_id, job):
            done.requeued += 1
            return
        event = self._lost_event(run, run_id, "stopped renewing its lease")
        if self.runs.reclaim(event) is not None:
            done.failed += 1
            if job is not None and job.get_status() not in DEAD_JOB:
                self._fail_job(job)
            self._queue(self.runs.pass_turn(event.thread_id, run_id))

    def _reclaim_orphan(self, run_id: str, taken_before: float, done: Reclaimed) -> None:
        """A pending run without a lease is ours: lost if its job failed, resumed if RQ
        holds no job that will run it and its turn came before ``taken_before`` (seconds
        since the epoch: a turn taken since may not have its job queued yet)."""
        run = self.records.summary(run_id)
        if run.thread_id is None:
            self.records.drop_pending(run_id)
            return
        thread_id = run.thread_id
        job = self._job(run_id)
        status = job.get_status() if job is not None else None
        if job is not None and self._will_run(job, status, taken_before):
            return
        started_at = job.started_at if status == JobStatus.STARTED and job else None
        if started_at is not None and started_at.timestamp() > taken_before:
            return  # a worker took it a moment ago: it starts the run within moments
        if status in DEAD_JOB:
            event = self._lost_event(run, run_id, "lost its queued job")
            applied = self.runs.apply([event])
            if applied and applied[0].result == "applied":
                done.failed += 1
                log.warning("run %s of thread %s: its job failed; ended", run_id, thread_id)
            self._queue(self.runs.pass_turn(thread_id, run_id))
            return
        turn = self._resume(thread_id, run_id, taken_before)
        if job is not None and turn is not None and turn.run_id == run_id:
            self._drop_executions(run_id)  # RQ's record of a worker that died taking it
        if self._queue(turn):
            done.resumed += 1

    def _will_run(self, job: Job, status: JobStatus | None, taken_before: float) -> bool:
        """Whether RQ will execute ``job`` by itself: scheduled, and in its registry; or
        queued, and not taken off its queue by a worker that died (``_taken``)."""
        if status == JobStatus.SCHEDULED:
            return job.id in self.queue.scheduled_job_registry
        return status == JobStatus.QUEUED and not self._taken(job.id, taken_before)

    def _taken(self, job_id: str, seen_before: float) -> bool:
        """Whether a `queued` job is in no list of its queue, and was already so for a pass
        before ``seen_before`` (seconds since the epoch): a worker took it off and died
        before it started it. A run thread serves two queues, so RQ takes jobs with BLPOP,
        which keeps no copy (a worker of one queue moves its job to the queue's
        intermediate list, from which RQ's maintenance recovers it), and would never run
        it. A live worker starts the job it took within moments: the first sighting is
        marked (with RQ's own first-seen marker of jobs taken and not started), and only a
        later pass resumes the run. Queued twice all the same, a run starts once
        (app/runs/jobs.py)."""
        if self._held is None:  # one read a pass; a job queued since is looked for alone
            self._held = self.jobs.held_ids()
        if job_id in self._held or self.jobs.holds(job_id):
            return False
        taken = self.queue.intermediate_queue
        if taken.set_first_seen(job_id):
            return False
        first_seen = taken.get_first_seen(job_id)
        return first_seen is not None and first_seen.timestamp() <= seen_before

    def _resume(self, thread_id: str, run_id: str, taken_before: float) -> Turn | None:
        """The run that may go now on the thread of ``run_id``, a pending run that RQ holds
        no runnable job for: the turn passes from a holder that ended, or this run takes
        (or waits for) it; None while the holder is in flight or took it too recently."""
        holder, taken_at = self.runs.turn_of(thread_id)
        if holder == run_id and taken_at is not None and taken_at > taken_before:
            return None
        if holder is not None and holder != run_id:
            if self.records.summary(holder).status in IN_FLIGHT:
                self.runs.take_turn(thread_id, run_id)  # waits (again, if it was lost)
                return None
            return self.runs.pass_turn(thread_id, holder)
        return self.runs.take_turn(thread_id, run_id)

    def _queue(self, turn: Turn | None) -> bool:
        """Queue the job of the run that took its thread's turn, if any."""
        if turn is None:
            return False
        self.jobs.enqueue(turn)
        log.warning("run %s of thread %s: its turn came; queued", turn.run_id, turn.thread_id)
        return True

    def _requeue(self, run_id: str, job: Job) -> bool:
        """Back to pending (if its lease is still out) and its job back in the queue."""
        attempts = self.records.requeue(run_id)
        if attempts is None:
            return False
        self._fail_job(job)
        FailedJobRegistry(queue=self.queue).requeue(job)
        log.warning("run %s: its worker was lost; queued again (attempt %d)", run_id, attempts + 1)
        return True

    def _end_abandoned_jobs(self, ended_before: int) -> None:
        """RQ's record of the jobs whose worker died between their run's end and RQ's record
        of it, whose run ended before ``ended_before`` (µs): failed, as RQ itself records
        them only once their timeout (a day) ran out. Runs deleted since are left to it."""
        started = StartedJobRegistry(queue=self.queue)
        entries = cast(list[bytes], self.queue.connection.zrange(started.key, 0, -1))
        run_ids = sorted({entry.decode().split(":", 1)[0] for entry in entries})
        for run_id, run in zip(run_ids, self.records.summaries(run_ids), strict=True):
            if run.status in (None, *IN_FLIGHT) or (run.updated_at_us or 0) >= ended_before:
                continue
            job = self._job(run_id)
            if job is not None and job.get_status() == JobStatus.STARTED:
                self._fail_job(job, "its worker died after the run ended")
            else:
                self._drop_executions(run_id)
            log.warning("run %s: its job's worker died after the run ended; job failed", run_id)

    def _fail_job(self, job: Job, why: str = "the run's lease ran out") -> None:
        """What RQ does with an abandoned job, without waiting for its own cleanup."""
        with job.connection.pipeline() as pipe:
            record_job_failure(job, f"{WORKER_LOST}: {why}", pipe)
            self._drop_executions(job.id, pipe)
            pipe.execute()

    def _drop_executions(self, job_id: str, pipe: Pipeline | None = None) -> None:
        """Take the job out of RQ's started registry, where a dead worker left it."""
        started = StartedJobRegistry(queue=self.queue)
        connection = self.queue.connection
        executions = [
            entry
            for entry in cast(list[bytes], connection.zrange(started.key, 0, -1))
            if entry.decode().startswith(f"{job_id}:")
        ]
        if executions:
            (pipe if pipe is not None else connection).zrem(started.key, *executions)

    def _job(self, run_id: str) -> Job | None:
        """The run's RQ job (job id = run id), or None for a run reported from elsewhere."""
        try:
            return Job.fetch(run_id, connection=self.queue.connection)
        except NoSuchJobError:
            return None

    def _lost_event(self, run: RunSummary, run_id: str, why: str) -> RunEvent:
        seen = run.updated_at_us
        since = f" (last heard of at {us_to_iso(seen)})" if seen else ""
        return RunEvent(
            thread_id=cast(str, run.thread_id),
            run_id=run_id,
            type=EventType.FAILED,
            error=RunError(
                error=WORKER_LOST,
                message=f"The run's worker {why}{since}; the sweeper ended the run.",
            ),
        )
