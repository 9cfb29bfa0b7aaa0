"""The RQ jobs that execute runs: one per run, job id = run id, queued when the run takes
its thread's turn (lua/run_turn.lua) and by no one else.

RQ holds no order between a thread's runs: the turn does. A job queued twice (a sweep
that recovers a hand-off a crash cut short, just as it completes) is harmless: the run
starts once (RunStore.start), and its other job finds it started and does nothing.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from redis.client import Pipeline
from rq import Queue
from rq.job import Job

from threadwatch.queues import EXECUTE_RUN
from threadwatch.store.codec import text
from threadwatch.store.runs import RunStore, Turn

# Seconds RQ keeps a finished or failed run job (the run record is the source of truth).
FINISHED_JOB_TTL = 600
FAILED_JOB_TTL = 86_400


class RunJobs:
    """Queues the jobs of runs that took their thread's turn."""

    def __init__(self, queue: Queue, run_timeout: float) -> None:
        self.queue = queue
        self.options: dict[str, Any] = {
            "job_timeout": int(run_timeout) + 60,
            "result_ttl": FINISHED_JOB_TTL,
            "failure_ttl": FAILED_JOB_TTL,
        }

    def enqueue(self, turn: Turn, pipeline: Pipeline | None = None) -> Job:
        """Queue ``turn``'s run: at once, or after its delay (RQ schedules in whole seconds:
        rounded up, so that a run never starts early)."""
        options = {**self.options, "job_id": turn.run_id, "description": f"run {turn.run_id}"}
        args = (EXECUTE_RUN, turn.run_id, turn.thread_id)
        if turn.delay > 0:
            delay = timedelta(seconds=math.ceil(turn.delay))
            return self.queue.enqueue_in(delay, *args, **options)
        return self.queue.enqueue(*args, pipeline=pipeline, **options)

    def held_ids(self) -> set[str]:
        """The ids of the jobs RQ holds in the runs queue, or in its intermediate list (a
        worker's job taken and not started yet), in one read."""
        redis, keys = self.queue.connection, self._lists()
        pipe = redis.pipeline(transaction=False)
        for key in keys:
            pipe.lrange(key, 0, -1)
        return {text(job_id) for ids in pipe.execute() for job_id in ids}

    def holds(self, job_id: str) -> bool:
        """Whether RQ holds the job in the runs queue or its intermediate list now."""
        redis = self.queue.connection
        return any(redis.lpos(key, job_id) is not None for key in self._lists())

    def _lists(self) -> tuple[str, str]:
        return self.queue.key, self.queue.intermediate_queue_key

    def pass_turn(self, runs: RunStore, thread_id: str, run_id: str) -> Turn | None:
        """``run_id`` ended or is gone: the thread's next run takes the turn, if ``run_id``
        held it, and its job is queued."""
        turn = runs.pass_turn(thread_id, run_id)
        if turn is not None:
            self.enqueue(turn)
        return turn
