"""The cron scheduler: fires the crons that are due, each firing exactly once.

A check is an RQ job on the maintenance queue, every `cron_interval_seconds`, scheduled as
the sweeps are (one job id per time slot, app/ops/sweeper.py), so that every worker keeps the
chain going and each slot is checked once. A check reads the due crons, computes each one's
next firing from now (missed firings collapse into one, as on LangGraph), and claims the
firing with lua/claim_cron.lua, which moves it on only if no other check did first; the
claimer then creates the run through the RunService, exactly as the API does: multitask
strategy, the thread's turn, the assistant, webhooks and the thread's status all apply.

A worker killed between a claim and the run's creation (a few milliseconds) loses that one
firing; the cron fires again at its next time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import ValidationError
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue

from threadwatch.errors import ThreadNotFound, ThreadwatchError
from threadwatch.graphs import GraphRegistry
from threadwatch.models import RunCreate
from threadwatch.queues import FIRE_CRONS, MAINTENANCE_QUEUE
from threadwatch.runs.cron_schedule import NeverFires, next_firing
from threadwatch.runs.crons import utc_now
from threadwatch.runs.service import RunService
from threadwatch.settings import Settings
from threadwatch.store.codec import datetime_to_us
from threadwatch.store.crons import Cron, CronStore
from threadwatch.store.scripts import CronClaim
from threadwatch.store.stores import Stores

log = logging.getLogger(__name__)
# Due crons read per round trip; a check goes on until none is left.
BATCH = 100


@dataclass
class CheckReport:
    """What one check did."""

    fired: int = 0
    failed: int = 0


class CronScheduler:
    """Fires the due crons of one store through one RunService."""

    def __init__(
        self,
        crons: CronStore,
        runs: RunService,
        clock: Callable[[], datetime] = utc_now,
        batch: int = BATCH,
    ) -> None:
        self.crons, self.runs, self.clock, self.batch = crons, runs, clock, batch

    def check(self) -> CheckReport:
        """Fire every cron due now (by this scheduler's clock)."""
        report = CheckReport()
        now = self.clock()
        now_us = datetime_to_us(now)
        seen: set[tuple[str, int]] = set()
        while True:
            due = [entry for entry in self.crons.due(now_us, self.batch) if entry not in seen]
            for cron_id, firing_us in due:
                seen.add((cron_id, firing_us))
                try:
                    self._fire(cron_id, firing_us, now, report)
                except RedisError:
                    raise  # Redis away: the next check tries again
                except Exception:  # one cron's failure must not hold up the others
                    log.exception("cron %s: its firing failed", cron_id)
                    report.failed += 1
            if len(due) < self.batch:
                break
        self.crons.record_check(datetime_to_us(self.clock()), report.fired, report.failed)
        return report

    def _fire(self, cron_id: str, firing_us: int, now: datetime, report: CheckReport) -> None:
        cron = self.crons.read(cron_id)
        if cron is None:  # deleted since: the claim cleans its due entry
            self.crons.claim(cron_id, firing_us, firing_us, datetime_to_us(now))
            return
        try:
            following: int | None = datetime_to_us(next_firing(cron.schedule, now, cron.timezone))
        except NeverFires:  # this firing is its last
            log.warning("cron %s: its schedule has no firing after this one", cron_id)
            following = None
        claim = self.crons.claim(cron_id, firing_us, following, datetime_to_us(now))
        if claim is not CronClaim.CLAIMED:
            return
        if self.create_run(cron):
            report.fired += 1
        else:
            report.failed += 1

    def create_run(self, cron: Cron) -> bool:
        """One run of the cron, created as the API creates runs; False if refused (the
        cron stays: its next firing tries again, as on LangGraph)."""
        payload = dict(cron.payload)
        if cron.on_run_completed == "keep":
            payload.setdefault("on_completion", "keep")
        payload["metadata"] = {**cron.metadata, **(payload.get("metadata") or {})}
        try:
            self.runs.create(cron.thread_id, RunCreate.model_validate(payload))
        except (ThreadwatchError, ValidationError) as exc:
            if cron.thread_id and _thread_gone(self.runs, cron.thread_id):
                # Its thread was deleted: the cron goes with it, as on LangGraph.
                self.crons.delete(cron.cron_id)
                log.info("cron %s deleted: its thread %s is gone", cron.cron_id, cron.thread_id)
                return False
            log.warning("cron %s: run not created: %s", cron.cron_id, _reason(exc))
            return False
        return True


def _thread_gone(runs: RunService, thread_id: str) -> bool:
    try:
        runs.threads.get(thread_id)
    except ThreadNotFound:
        return True
    return False


def _reason(exc: Exception) -> str:
    return exc.detail if isinstance(exc, ThreadwatchError) else str(exc).splitlines()[0]


def check_crons(redis: Redis, settings: Settings, graphs: GraphRegistry) -> CheckReport:
    """One check over the store at ``redis`` (the worker's job, fire_crons)."""
    stores = Stores.on(redis, settings)
    service = RunService(
        stores, graphs, settings.run_timeout_seconds, settings.webhook_allow_private
    )
    report = CronScheduler(stores.crons, service).check()
    if report.fired or report.failed:
        log.info("crons: %s", report)
    return report


def next_check_slot(interval: float) -> int:
    """The next check's time slot (slot n starts at n * interval seconds since the epoch)."""
    return int(datetime.now(UTC).timestamp() // interval) + 1


def schedule_cron_check(redis: Redis, interval: float) -> int:
    """Schedule the check of the next time slot (one job id per slot: idempotent, so every
    worker may call it); the slot."""
    slot = next_check_slot(interval)
    keep = max(10, int(interval) * 4)
    Queue(MAINTENANCE_QUEUE, connection=redis).enqueue_at(
        datetime.fromtimestamp(slot * interval, UTC),
        FIRE_CRONS,
        job_id=f"threadwatch-crons-{slot}",
        job_timeout=max(60, int(interval) * 4),
        result_ttl=keep,
        failure_ttl=86_400,
        description="threadwatch cron check",
    )
    return slot
