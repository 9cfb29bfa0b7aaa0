"""The sweeper: an RQ job on the maintenance queue, every `sweep_interval_seconds`.

Each sweep ends lost runs (app/runs/liveness.py), deletes threads whose TTL ran out
(app/store/ttl.py) and the memory store's items whose TTL ran out (app/store/items.py), and
fires, re-notifies and resolves stuck-thread alerts (app/alerts),
then schedules the next one with RQ's scheduler. Sweeps are scheduled in fixed time slots
with one job id per slot, so the workers that each keep the chain going (one sweep at
start, then a check every minute) schedule each slot once; every part of a sweep is
idempotent and decided atomically in Redis, so two sweeps at once are harmless too.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from redis import Redis
from rq import Queue

from threadwatch.ops.alerts.evaluate import evaluate_rules
from threadwatch.ops.alerts.rules import AlertRuleError, load_rules
from threadwatch.queues import MAINTENANCE_QUEUE, RUNS_QUEUE, SWEEP
from threadwatch.runs.liveness import LostRuns
from threadwatch.settings import Settings
from threadwatch.store.keys import Keys
from threadwatch.store.stores import Stores
from threadwatch.store.sweeps import record_sweep
from threadwatch.store.ttl import expire_threads
from threadwatch.webhooks.delivery import webhook_queue

log = logging.getLogger(__name__)


@dataclass
class SweepReport:
    """What one sweep did."""

    reclaimed: int = 0
    requeued: int = 0
    resumed: int = 0
    expired: int = 0
    expired_items: int = 0
    trimmed_runs: int = 0
    expired_runs: int = 0
    alerts: int = 0
    duration_ms: float = 0.0


def run_sweep(redis: Redis, settings: Settings, by: str = "worker") -> SweepReport:
    """One sweep over the store at ``redis`` (also `threadwatch sweep`, worker start and the
    API processes' watchdog); ``by`` names who swept, in the report kept."""
    began = time.perf_counter()
    stores = Stores.on(redis, settings)
    keys, threads = stores.threads.keys, stores.threads
    lost = LostRuns(
        stores.runs,
        Queue(RUNS_QUEUE, connection=redis),
        settings.run_retries,
        run_timeout=settings.run_timeout_seconds,
    )
    reclaimed = lost.reclaim(min_pending_age=settings.lease_seconds)
    expired = expire_threads(threads)
    expired_items = stores.items.expire_due()
    trimmed = trim_runs(stores, settings.runs_kept_per_thread)
    expired_runs = stores.runs.records.expire_ended(EXPIRED_RUNS_PER_SWEEP)
    alerts = _evaluate_alerts(redis, keys, settings)
    report = SweepReport(
        reclaimed=reclaimed.failed,
        requeued=reclaimed.requeued,
        resumed=reclaimed.resumed,
        expired=expired,
        expired_items=expired_items,
        trimmed_runs=trimmed,
        expired_runs=expired_runs,
        alerts=alerts,
        duration_ms=round((time.perf_counter() - began) * 1000, 3),
    )
    record_sweep(
        redis,
        keys,
        {
            "by": by,
            "last_duration_ms": report.duration_ms,
            "reclaimed": report.reclaimed,
            "requeued": report.requeued,
            "resumed": report.resumed,
            "expired": report.expired,
            "expired_items": report.expired_items,
            "trimmed_runs": report.trimmed_runs,
            "expired_runs": report.expired_runs,
            "alerts": report.alerts,
        },
    )
    counts = (report.reclaimed, report.requeued, report.resumed, report.expired)
    deleted = (report.expired_items, report.trimmed_runs, report.expired_runs)
    if any(counts) or any(deleted) or report.alerts:
        log.info("sweep: %s", report)
    return report


# Threads trimmed per round trip pair, and per sweep at most (the rest wait for the next
# sweep): at 2,500 runs ended a second on 20,000 threads, every thread needs a trim each
# 15 s sweep (bench/bench_soak.py).
TRIM_THREADS = 200
TRIM_THREADS_PER_SWEEP = 100_000
# Of the time a sweep spends trimming, the part it works: between rounds it pauses, so that
# the deletes of a busy sweep (tens of thousands of runs) spread out instead of holding
# Redis in one burst that searches wait behind.
TRIM_DUTY = 0.5
# Ended runs whose TTL ran out deleted per sweep at most (settings.ended_run_ttl_seconds).
EXPIRED_RUNS_PER_SWEEP = 100_000


def trim_runs(stores: Stores, keep: int) -> int:
    """Delete the ended runs of threads beyond the ``keep`` newest each (0 keeps all);
    how many runs went."""
    if keep <= 0:
        return 0
    records, trimmed = stores.runs.records, 0
    for _ in range(TRIM_THREADS_PER_SWEEP // TRIM_THREADS):
        began = time.perf_counter()
        threads = records.threads_to_trim(TRIM_THREADS)
        trimmed += records.trim(threads, keep)
        if len(threads) < TRIM_THREADS:
            break
        time.sleep((time.perf_counter() - began) * (1 - TRIM_DUTY) / TRIM_DUTY)
    return trimmed


def _evaluate_alerts(redis: Redis, keys: Keys, settings: Settings) -> int:
    """Alerts queued by the stuck-thread rules (read again each sweep: edits apply without a
    restart); a rules file that became invalid is logged and skipped, not fatal."""
    try:
        rules = load_rules(settings)
    except AlertRuleError as exc:
        log.error("stuck-thread alerts skipped: %s", exc)
        return 0
    return evaluate_rules(
        redis,
        keys,
        rules,
        queue=webhook_queue(redis),
        secret=settings.webhook_secret,
        allow_private=settings.webhook_allow_private,
    ).total


def next_slot(interval: float) -> int:
    """The next sweep's time slot (slot n starts at n * interval seconds since the epoch)."""
    return int(time.time() // interval) + 1


def schedule_sweep(redis: Redis, interval: float) -> int:
    """Schedule the sweep of the next time slot (idempotent: one job id per slot); the slot."""
    slot = next_slot(interval)
    job_id = f"threadwatch-sweep-{slot}"
    Queue(MAINTENANCE_QUEUE, connection=redis).enqueue_at(
        datetime.fromtimestamp(slot * interval, UTC),
        SWEEP,
        job_id=job_id,
        job_timeout=max(60, int(interval) * 4),
        result_ttl=max(60, int(interval) * 4),
        failure_ttl=86_400,
        description="threadwatch sweep",
    )
    return slot
