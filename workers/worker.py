"""`threadwatch worker`: one process running N RQ workers as threads.

Runs mostly wait (on LLMs, tools, sleeps), so threads overlap them at the cost of a thread
each, where RQ's forking Worker costs a process per run and one SimpleWorker runs one at a
time. Every state change is in Redis. The process renews the lease of each run it executes
(a `run.heartbeat` every third of `lease_seconds`); if it dies, the sweeper ends (or
re-queues) its runs once their leases run out. Sweeps and webhooks have a thread each, so
that long runs on every run thread never hold them up.

Redis away or full (writes answering OOM) pauses the process, never ends it: it waits for
Redis at start, its checks go on, and each worker thread enters RQ's loop again once Redis
answers (RQ leaves that loop on a Redis timeout or an error it does not expect).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any, TypeVar

from redis import Redis
from redis.client import Pipeline
from redis.exceptions import (
    ConnectionError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisError,
    TimeoutError,
)
from rq import Queue, SimpleWorker
from rq.job import Job, JobStatus
from rq.scheduler import RQScheduler
from rq.timeouts import TimerDeathPenalty
from rq.utils import now
from rq.worker import WorkerStatus

from threadwatch import faults
from threadwatch.ops.alerts.rules import load_rules
from threadwatch.ops.sweeper import next_slot, run_sweep, schedule_sweep
from threadwatch.queues import MAINTENANCE_QUEUE, RUNS_QUEUE
from threadwatch.runs.cron_firing import next_check_slot, schedule_cron_check
from threadwatch.runs.runner import Runner
from threadwatch.settings import Settings
from threadwatch.webhooks.delivery import webhook_queue
from threadwatch_workers.jobs import pool_size, runner
from threadwatch_workers.scheduling import SchedulerKeeper

log = logging.getLogger(__name__)
# Seconds between checks that this process should take RQ's scheduler over.
SCHEDULER_CHECK = 2
# Seconds a worker thread waits for its command-channel listener to end as it leaves.
LISTENER_EXIT = 5.0
# Seconds an idle worker thread blocks on the queue before it checks for a stop request.
IDLE_POLL = 2
# Seconds between the worker heartbeats RQ sends on its own (three a job, three round trips
# each). They keep the worker's keys alive for 60 s or more (worker_ttl: 420 s), so one a
# second keeps them with a wide margin; those RQ queues in a pipeline are all kept.
HEARTBEAT_EVERY = 1.0
# Seconds between tries to reach Redis again while it is away or full: doubling from the
# first to the most.
PAUSE_FIRST = 0.5
PAUSE_MOST = 5.0
# What Redis answers while it is away (or loading, or a replica after a failover) or full.
REDIS_AWAY = (ConnectionError, TimeoutError, OutOfMemoryError, ReadOnlyError)
T = TypeVar("T")


class ThreadWorker(SimpleWorker):
    """A SimpleWorker that can live in a thread: signals are the process's business, and
    job timeouts use a timer instead of SIGALRM (which only the main thread receives).
    Its thread runs serve(), which outlives Redis outages."""

    death_penalty_class = TimerDeathPenalty
    # RQ logs three lines a job; the one saying how long its result is kept says the same
    # thing every time (result_ttl is fixed per run), and at hundreds of runs a second each
    # line costs.
    log_result_lifespan = False
    # RQ's own retries while it waits for a job and Redis is away double from 1 s up to
    # this (RQ's default: 60 s), so that an idle thread serves again soon after Redis does.
    max_connection_wait_time = PAUSE_MOST
    _suspension_checked = -math.inf
    _state_unsaved = False  # an idle state not written yet (see set_state)
    _started = False  # RQ's loop started (bootstrap done) since serve() last entered it

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stopping = threading.Event()  # a stop request, which ends a pause at once

    def serve(self) -> None:
        """RQ's work loop, entered again until a stop is requested.

        RQ leaves its loop on a Redis timeout and on any error it does not expect (Redis
        away, or full: writes answer OOM), and its teardown or a new start fail while Redis
        is away; a worker pauses through those instead of losing the thread. Each time the
        loop ends, the thread logs one line, waits until Redis answers (a capped backoff)
        and enters it again; a new start that fails only waits longer."""
        pauses: Iterator[float] | None = None
        while not self._stop_requested:
            self._started = False
            try:
                self.work()
                ended = "RQ's loop ended"
            except Exception as exc:  # RQ's start or teardown, with Redis away or full
                ended = f"{type(exc).__name__}: {exc}"
            self.unsubscribe()  # a start cut short leaves its listener thread running
            self.executions.clear()  # one cut short is the sweeper's now (its lease ends)
            if self._stop_requested:
                return
            if pauses is None or self._started:
                log.warning("worker %s paused (%s); resumes once Redis answers", self.name, ended)
                pauses = _pauses()
            self._wait_for_redis(pauses)

    def _wait_for_redis(self, pauses: Iterator[float]) -> None:
        """Until Redis answers a PING (or a stop is requested), one try after each pause."""
        while not self._stopping.wait(next(pauses)):
            try:
                self.connection.ping()
                return
            except RedisError:
                pass

    def bootstrap(self, *args: Any, **kwargs: Any) -> None:
        """RQ's start (its birth, its command channel), marked done: serve() tells a start
        that failed (the same outage) from a loop that ended (a new one)."""
        super().bootstrap(*args, **kwargs)
        self._started = True

    def register_birth(self) -> None:
        """RQ's birth, which refuses a name whose key shows no death. A key of this name is
        this thread's own (the name holds the host and the pid): left without its death when
        Redis was away as RQ's loop ended, or by a dead process of the same pid (a restarted
        container), so it is replaced."""
        self.connection.delete(self.key)
        super().register_birth()

    def _install_signal_handlers(self) -> None:
        pass

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        """RQ's heartbeat, at most one a HEARTBEAT_EVERY outside a pipeline, in one round
        trip instead of three."""
        if pipeline is not None:
            super().heartbeat(timeout, pipeline)
            return
        last = self.last_heartbeat
        if last is not None and (now() - last).total_seconds() < HEARTBEAT_EVERY:
            return
        with self.connection.pipeline(transaction=False) as pipe:
            super().heartbeat(timeout, pipe)
            if self._state_unsaved:
                super().set_state(self._state, pipe)
                self._state_unsaved = False
            renewed = pipe.execute()
        if renewed[0]:  # a new last_heartbeat field: the key was gone, expired or lost
            self._register_again()

    def _register_again(self) -> None:
        """Registered with RQ again, as the worker is: its key expired during a long Redis
        outage, or Redis lost its data, while this thread waited in RQ's loop."""
        log.warning("worker %s: its RQ registration was gone; registered again", self.name)
        self.register_birth()
        super().set_state(self._state)

    def check_for_suspension(self, burst: bool) -> None:
        """RQ's check for `rq suspend` (a round trip before every job), at most once a
        HEARTBEAT_EVERY: a suspension takes effect within a second."""
        if time.monotonic() - self._suspension_checked < HEARTBEAT_EVERY:
            return
        super().check_for_suspension(burst)
        self._suspension_checked = time.monotonic()

    def set_state(self, state: str, pipeline: Pipeline | None = None) -> None:
        """RQ's set_state, skipped when the worker is already in ``state`` (RQ sets idle
        after each job and again when it waits for the next). Idle, a round trip after every
        job that the next job's start overwrites at once, is written with the next heartbeat
        instead: an idle worker shows as such within a heartbeat and a queue poll."""
        if pipeline is None and state == self._state:
            return
        if pipeline is None and state == WorkerStatus.IDLE:
            self._state, self._state_unsaved = state, True
            return
        self._state_unsaved = False
        super().set_state(state, pipeline)

    def handle_execution_ended(self, job: Job, queue: Queue, heartbeat_ttl: int) -> None:
        """RQ writes the job's last heartbeat as it ends, a round trip just before the
        success transaction, which saves the whole job hash anyway: a job that succeeded
        only has it set here (a failed one keeps RQ's write, its job is not saved again)."""
        if job.get_status(refresh=False) == JobStatus.FAILED:
            super().handle_execution_ended(job, queue, heartbeat_ttl)
            return
        job.ended_at = now()
        job.last_heartbeat = job.ended_at

    def dequeue_job_and_maintain_ttl(
        self, timeout: int | None, max_idle_time: int | None = None
    ) -> tuple[Job, Queue] | None:
        """RQ's wait for a job, which only a main-thread signal handler can end, cut into
        IDLE_POLL slices so that the thread sees a stop request."""
        while not self._stop_requested:
            result = super().dequeue_job_and_maintain_ttl(timeout, max_idle_time=IDLE_POLL)
            if result is not None:
                if result[1].name == RUNS_QUEUE:
                    faults.pause(faults.Point.JOB_DEQUEUED)
                return result
        return None

    def unsubscribe(self) -> None:
        """RQ's unsubscribe from its command channel, without a wait of up to a minute.

        RQ sends UNSUBSCRIBE, then stops the listener thread, which redis-py (8.2 on) waits
        for. When the listener reads the reply first, it goes back to wait for a subscription
        for RQ's poll interval (60 s) before it sees the stop, and the worker's exit waits as
        long. Lowered first, the flag is seen as soon as the reply wakes the listener.

        Once only (serve() calls it again after RQ's teardown), and with Redis away too:
        closing the connection leaves the channel as well."""
        listener = self.pubsub_thread
        if listener is None:
            return
        self.pubsub_thread = None
        listener.stop(timeout=0)
        with contextlib.suppress(RedisError, OSError):
            self.pubsub.unsubscribe()
        # The reply wakes the listener at once; under a contended GIL it may take a moment,
        # and closing the connection under a listener still reading would fail it.
        listener.join(timeout=LISTENER_EXIT)
        self.pubsub.close()

    def stop_after_current_job(self) -> None:
        """Warm stop: finish the job in hand, then leave the loop."""
        self._stop_requested = True
        self._stopping.set()


def _pauses() -> Iterator[float]:
    """Seconds to wait before each try to reach Redis: PAUSE_FIRST, doubling to PAUSE_MOST."""
    pause = PAUSE_FIRST
    while True:
        yield pause
        pause = min(pause * 2, PAUSE_MOST)


def run_worker(settings: Settings, concurrency: int | None = None) -> None:
    """Serve the runs queue with ``concurrency`` threads until SIGTERM/SIGINT (warm stop:
    runs in progress finish; a second signal exits at once)."""
    if not settings.redis_url:
        raise RuntimeError("REDIS_URL is not set")
    count = concurrency or settings.worker_concurrency
    run_process = runner(count)  # load the graphs before taking any job
    if not log.isEnabledFor(logging.DEBUG):
        # RQ logs two lines a job (taken, OK); the runner logs one a run, with its outcome
        # and how long it took. RQ's warnings and errors still show.
        logging.getLogger("rq.worker").setLevel(logging.WARNING)
    load_rules(settings)  # a bad alert rule stops the start, named
    # Each worker thread (the run threads, sweeps, webhooks) holds a connection while it
    # waits for a job, and more while it runs one.
    connection = Redis.from_url(settings.redis_url, max_connections=pool_size(count + 2))
    runs, webhooks = Queue(RUNS_QUEUE, connection=connection), webhook_queue(connection)
    maintenance = Queue(MAINTENANCE_QUEUE, connection=connection)
    prefix = f"threadwatch.{socket.gethostname()}.{os.getpid()}"
    scheduler = RQScheduler([runs, webhooks, maintenance], connection=connection)
    keeper = SchedulerKeeper(scheduler)
    chains = Chains(settings.sweep_interval_seconds, settings.cron_interval_seconds)
    workers: list[ThreadWorker] = []  # made once Redis answers (RQ asks it their address)
    stop = threading.Event()
    _install_stop_handlers(workers, scheduler, stop)

    def start_up() -> int:
        if not workers:
            made = [
                ThreadWorker([runs, webhooks], connection=connection, name=f"{prefix}.{i}")
                for i in range(count)
            ]
            made.append(ThreadWorker([maintenance], connection=connection, name=f"{prefix}.sweeps"))
            made.append(ThreadWorker([webhooks], connection=connection, name=f"{prefix}.webhooks"))
            workers.extend(made)
        # RQ's scheduler (delayed runs, webhook retries, sweeps) is a forked process: fork it
        # now, before any worker thread exists, so that no lock a thread holds is copied
        # into it locked.
        keeper.start()
        # Runs orphaned before this start (a crash, a restart) are taken back now.
        run_sweep(connection, settings)
        chains.keep(connection, force=True)
        return True

    started = _patiently(start_up, stop)
    if started is None or stop.is_set():  # stopped before Redis answered
        _stop_scheduler(scheduler)
        return
    threads = [threading.Thread(target=w.serve, name=w.name, daemon=True) for w in workers]
    for thread in threads:
        thread.start()
    renewal = threading.Thread(
        target=_renew_leases,
        args=(run_process, settings.lease_seconds / 3),
        name=f"{prefix}.leases",
        daemon=True,
    )
    renewal.start()
    names = [q.name for q in (runs, webhooks, maintenance)]
    log.info("worker %s: %d runs at once, queues %s", prefix, count, names)
    last_check = time.monotonic()
    failing = False  # the last check failed (logged once, not at every check)
    for thread in threads:
        while thread.is_alive():
            thread.join(timeout=0.5)
            if time.monotonic() - last_check > SCHEDULER_CHECK and not stop.is_set():
                try:
                    keeper.take_over(connection)
                    chains.keep(connection)
                except RedisError as exc:  # Redis away or full: the next check tries again
                    if not failing:
                        log.warning("worker %s: checks fail (%s); they go on", prefix, exc)
                    failing = True
                else:
                    if failing:
                        log.info("worker %s: checks succeed again", prefix)
                    failing = False
                last_check = time.monotonic()


class Chains:
    """The chains of maintenance jobs each worker keeps going: sweeps and cron checks. Each
    job schedules the next one; a chain broken (its job failed, Redis lost it) is scheduled
    again here, at most once a slot (one job id per slot, so every worker may)."""

    def __init__(self, sweep_interval: float, cron_interval: float) -> None:
        self.sweep_interval, self.cron_interval = sweep_interval, cron_interval
        self.sweep_slot = self.cron_slot = -1

    def keep(self, connection: Redis, force: bool = False) -> None:
        if force or next_slot(self.sweep_interval) != self.sweep_slot:
            self.sweep_slot = schedule_sweep(connection, self.sweep_interval)
        if force or next_check_slot(self.cron_interval) != self.cron_slot:
            self.cron_slot = schedule_cron_check(connection, self.cron_interval)


def _patiently(step: Callable[[], T], stop: threading.Event) -> T | None:
    """``step()``, tried again while Redis is away or full (said once), with a capped
    backoff: a worker started before its Redis waits for it. None if stopped first."""
    pauses = _pauses()
    waiting = False
    while not stop.is_set():
        try:
            return step()
        except REDIS_AWAY as exc:
            if not waiting:
                log.warning("waiting for Redis (%s); the worker starts once it answers", exc)
            waiting = True
        # Slept in slices rather than in stop.wait(): the signal handler that sets the
        # event runs on this thread, and would deadlock if it came while wait() holds it.
        until = time.monotonic() + next(pauses)
        while not stop.is_set() and time.monotonic() < until:
            time.sleep(0.1)
    return None


def _renew_leases(run_process: Runner, every: float) -> None:
    """Heartbeat: renew the lease of every run this process executes, as long as it lives
    (runs still finishing after a stop request keep theirs)."""
    while True:
        time.sleep(every)
        try:
            run_process.renew_leases()
        except Exception:  # Redis away for a moment: the next beat tries again
            log.exception("could not renew the leases of this worker's runs")


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
