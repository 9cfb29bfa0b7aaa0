"""`threadwatch worker`: one process running N RQ workers as threads.

Runs mostly wait (on LLMs, tools, sleeps), so threads overlap them at the cost of a thread
each, where RQ's forking Worker costs a process per run and one SimpleWorker runs one at a
time. Every state change is in Redis; recovering the runs of a crashed worker (leases and a
sweeper) is the liveness work that builds on this.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
from types import FrameType

from redis import Redis
from rq import Queue, SimpleWorker
from rq.job import Job
from rq.timeouts import TimerDeathPenalty

from app.settings import Settings
from workers import RUNS_QUEUE
from workers.runs import runner
from workers.webhooks import webhook_queue

log = logging.getLogger(__name__)
# Seconds an idle worker thread blocks on the queue before it checks for a stop request.
IDLE_POLL = 2


class ThreadWorker(SimpleWorker):
    """A SimpleWorker that can live in a thread: signals are the process's business, and
    job timeouts use a timer instead of SIGALRM (which only the main thread receives)."""

    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self) -> None:
        pass

    def dequeue_job_and_maintain_ttl(
        self, timeout: int | None, max_idle_time: int | None = None
    ) -> tuple[Job, Queue] | None:
        """RQ's wait for a job, which only a main-thread signal handler can end, cut into
        IDLE_POLL slices so that the thread sees a stop request."""
        while not self._stop_requested:
            result = super().dequeue_job_and_maintain_ttl(timeout, max_idle_time=IDLE_POLL)
            if result is not None:
                return result
        return None

    def stop_after_current_job(self) -> None:
        """Warm stop: finish the job in hand. The scheduler process (if this thread started
        one) is asked to stop now, without waiting: it would otherwise outlive us."""
        self._stop_requested = True
        process = getattr(self.scheduler, "_process", None) if self.scheduler else None
        if process is not None and process.pid:
            with contextlib.suppress(OSError):
                os.kill(process.pid, signal.SIGTERM)


def run_worker(settings: Settings, concurrency: int | None = None) -> None:
    """Serve the runs queue with ``concurrency`` threads until SIGTERM/SIGINT (warm stop:
    runs in progress finish; a second signal exits at once)."""
    if not settings.redis_url:
        raise RuntimeError("REDIS_URL is not set")
    runner()  # load the graphs before taking any job
    connection = Redis.from_url(settings.redis_url)
    queues = [Queue(RUNS_QUEUE, connection=connection), webhook_queue(connection)]
    count = concurrency or settings.worker_concurrency
    prefix = f"threadwatch.{socket.gethostname()}.{os.getpid()}"
    workers = [
        ThreadWorker(queues, connection=connection, name=f"{prefix}.{i}") for i in range(count)
    ]
    threads = [
        threading.Thread(target=w.work, kwargs={"with_scheduler": i == 0}, name=w.name, daemon=True)
        for i, w in enumerate(workers)
    ]
    _install_stop_handlers(workers)
    for thread in threads:
        thread.start()
    log.info("worker %s: %d runs at once, queues %s", prefix, count, [q.name for q in queues])
    for thread in threads:
        while thread.is_alive():
            thread.join(timeout=0.5)


def _install_stop_handlers(workers: list[ThreadWorker]) -> None:
    stops: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stops.append(signum)
        if len(stops) > 1:
            log.warning("second stop signal: exiting now; unfinished runs will be recovered")
            os._exit(1)
        log.info("stopping: runs in progress finish first (signal again to exit now)")
        for worker in workers:
            worker.stop_after_current_job()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
