"""The RQ jobs: thin entry points that take ids and options and call app code.

Each is queued by the name threadwatch.queues gives it: app code never imports this
package.
"""

from __future__ import annotations

import threading
from dataclasses import asdict
from typing import Any

from redis import Redis
from rq import get_current_job

from threadwatch import faults
from threadwatch.graphs import load_registry
from threadwatch.ops.sweeper import run_sweep, schedule_sweep
from threadwatch.runs.cron_firing import check_crons, schedule_cron_check
from threadwatch.runs.runner import Runner
from threadwatch.settings import Settings, get_settings
from threadwatch.store.stores import Stores
from threadwatch.webhooks import delivery

_runner: Runner | None = None
# Redis connections a run (or a worker thread) may hold at once: a blocking dequeue or a
# running script, the cancel watcher, checkpoint reads and writes.
CONNECTIONS_EACH = 4


def pool_size(threads: int) -> int:
    """Connections for a pool shared by ``threads`` threads (redis-py's default is 100,
    which 50 runs at once exceed)."""
    return max(100, CONNECTIONS_EACH * threads + 20)


_lock = threading.Lock()


def runner(concurrency: int | None = None) -> Runner:
    """This process's Runner: one Redis pool and one graph registry, built on first use;
    the pool holds enough connections for ``concurrency`` runs at once."""
    global _runner
    with _lock:
        if _runner is None:
            settings = get_settings()
            if not settings.redis_url:
                raise RuntimeError("REDIS_URL is not set")
            runs = concurrency or settings.worker_concurrency
            redis = Redis.from_url(settings.redis_url, max_connections=pool_size(runs))
            _runner = Runner(
                Stores.on(redis, settings, inline_checkpoints=True),
                load_registry(settings.graphs_config),
                settings.run_timeout_seconds,
                settings.webhook_secret,
                settings.webhook_allow_private,
            )
        return _runner


def execute_run(run_id: str, thread_id: str | None = None) -> str | None:
    """Execute the run (a no-op if it already ended or was cancelled before starting).
    Jobs name the run and its thread (jobs of earlier versions the run only)."""
    faults.pause(faults.Point.JOB_STARTED)
    ended = runner().execute(run_id, thread_id)
    faults.pause(faults.Point.JOB_RETURNED)
    return ended


def _job_redis(settings: Settings) -> Redis:
    """The current job's connection (a call outside RQ: one of REDIS_URL)."""
    job = get_current_job()
    if job is not None:
        return job.connection
    if settings.redis_url:
        return Redis.from_url(settings.redis_url)
    raise RuntimeError("REDIS_URL is not set")


def sweep() -> dict[str, float]:
    """One sweep, then the next one scheduled (app/ops/sweeper.py)."""
    settings = get_settings()
    redis = _job_redis(settings)
    report = run_sweep(redis, settings)
    schedule_sweep(redis, settings.sweep_interval_seconds)
    return asdict(report)


def fire_crons() -> dict[str, int]:
    """Fire the due crons, then schedule the next check (app/runs/cron_firing.py)."""
    settings = get_settings()
    redis = _job_redis(settings)
    try:
        report = check_crons(redis, settings, runner().graphs)
    finally:
        schedule_cron_check(redis, settings.cron_interval_seconds)
    return asdict(report)


def deliver_webhook(
    url: str, body: str, headers: dict[str, str], allow_private: bool, **options: Any
) -> int:
    """One attempt to deliver a webhook (app/webhooks/delivery.py); RQ retries it."""
    return delivery.deliver_webhook(url, body, headers, allow_private, **options)
