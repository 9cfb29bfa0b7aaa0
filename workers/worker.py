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
import time
from types import FrameType

from redis import Redis
from rq import Queue, SimpleWorker
from rq.job import Job
from rq.scheduler import RQScheduler
from rq.timeouts import TimerDeathPenalty

from app.settings import Settings
from workers import RUNS_QUEUE
from workers.runs import runner
from workers.webhooks import webhook_queue

log = logging.getLogger(__name__)
# Seconds between checks that this process should take RQ's scheduler over.
SCHEDULER_CHECK = 60
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
        """Warm stop: finish the job in hand, then leave the loop."""
        self._stop_requested = True


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
    threads = [threading.Thread(target=w.work, name=w.name, daemon=True) for w in workers]
    # RQ's scheduler (delayed runs, webhook retries) is a forked process: fork it now, before
    # any worker thread exists, so that no lock a thread holds is copied into it locked.
    scheduler = RQScheduler(queues, connection=connection)
    scheduler.acquire_locks(auto_start=True)
    stop = threading.Event()
    _install_stop_handlers(workers, scheduler, stop)
    for thread in threads:
        thread.start()
    log.info("worker %s: %d runs at once, queues %s", prefix, count, [q.name for q in queues])
    last_check = time.monotonic()
    for thread in threads:
        while thread.is_alive():
            thread.join(timeout=0.5)
            if time.monotonic() - last_check > SCHEDULER_CHECK and not stop.is_set():
                # Take the scheduler over when the process holding its lock is gone.
                scheduler.acquire_locks(auto_start=True)
                last_check = time.monotonic()


def _stop_scheduler(scheduler: RQScheduler) -> None:
    """Ask the scheduler process to stop, without waiting: it would otherwise outlive us."""
    process = scheduler._process
    if process is not None and process.pid:
        with contextlib.suppress(OSError):
            os.kill(process.pid, signal.SIGTERM)


def _install_stop_handlers(
    workers: list[ThreadWorker], scheduler: RQScheduler, stop: threading.Event
) -> None:
    stops: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stops.append(signum)
        if len(stops) > 1:
            log.warning("second stop signal: exiting now; unfinished runs will be recovered")
            os._exit(1)
        log.info("stopping: runs in progress finish first (signal again to exit now)")
        stop.set()
        _stop_scheduler(scheduler)
        for worker in workers:
            worker.stop_after_current_job()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
