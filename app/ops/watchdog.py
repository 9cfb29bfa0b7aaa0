"""The watchdog: the API processes sweep, and deliver webhooks, when no worker does.

Workers keep the sweep going (an RQ job each time slot, app/ops/sweeper.py) and deliver the
webhooks (RQ jobs). Once every worker is gone (killed, crashed, or an events-only deployment
that runs none), lost runs would stay `busy` and stuck-thread alerts unsent. Each API
process checks once a sweep interval: when no worker listening to the maintenance queue has
sent a heartbeat for WORKER_SILENCE seconds, one API process per time slot (a key claimed
with SET NX) sweeps; when none listens to the webhooks queue, it delivers the webhook jobs
due, in a burst. Both are safe beside a worker that comes back: a sweep is idempotent and
RQ hands each job to one taker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, SimpleWorker, Worker
from rq.timeouts import TimerDeathPenalty

from threadwatch.ops.sweeper import next_slot, run_sweep
from threadwatch.queues import MAINTENANCE_QUEUE
from threadwatch.settings import Settings
from threadwatch.store.keys import Keys
from threadwatch.store.sweeps import claim_slot
from threadwatch.webhooks.delivery import webhook_queue

log = logging.getLogger(__name__)

# Seconds without a heartbeat after which a worker counts as gone. threadwatch's worker
# threads send one every second or so (threadwatch_workers.worker: HEARTBEAT_EVERY, and a
# queue poll of two seconds); RQ's own workers idle up to minutes between heartbeats, so a
# deployment mixing those may see the watchdog deliver beside them (harmless: one taker).
WORKER_SILENCE = 15.0


class DeliveryBurst(SimpleWorker):
    """An RQ worker that runs in one of the API's threads: no signal handlers (the
    process's business), job timeouts on a timer (SIGALRM reaches the main thread only)."""

    death_penalty_class = TimerDeathPenalty
    log_result_lifespan = False

    def _install_signal_handlers(self) -> None:
        pass


@dataclass
class WatchdogPass:
    """What one check did."""

    swept: bool = False
    delivered: bool = False


def live_workers(redis: Redis, queue: str, now: float) -> int:
    """Workers listening to ``queue`` that sent a heartbeat within WORKER_SILENCE seconds
    of ``now`` (seconds since the epoch)."""
    alive = 0
    for worker in Worker.all(connection=redis, queue=Queue(queue, connection=redis)):
        beat = worker.last_heartbeat
        if beat is not None and now - beat.replace(tzinfo=UTC).timestamp() <= WORKER_SILENCE:
            alive += 1
    return alive


class Watchdog:
    """One per API process; ``check`` once a sweep interval."""

    def __init__(
        self, redis: Redis, settings: Settings, clock: Callable[[], float] = time.time
    ) -> None:
        self.redis = redis
        self.settings = settings
        self.keys = Keys(settings.key_prefix)
        self.clock = clock

    def check(self) -> WatchdogPass:
        done = WatchdogPass()
        now = self.clock()
        interval = self.settings.sweep_interval_seconds
        if not live_workers(self.redis, MAINTENANCE_QUEUE, now):
            slot = next_slot(interval) - 1
            if claim_slot(self.redis, self.keys, slot, max(1, round(interval * 2))):
                log.info("watchdog: no worker sweeps; sweeping slot %d here", slot)
                run_sweep(self.redis, self.settings, by="watchdog")
                done.swept = True
        queue = webhook_queue(self.redis)
        if not live_workers(self.redis, queue.name, now) and _has_webhooks(queue):
            burst = DeliveryBurst([queue], connection=self.redis)
            burst.work(burst=True, with_scheduler=True, logging_level=None)
            done.delivered = True
        return done

    async def run(self) -> None:
        """Check once every sweep interval until cancelled; a failed check (Redis away)
        is logged and the next one tries again."""
        interval = self.settings.sweep_interval_seconds
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(self.check)
            except RedisError as exc:
                log.warning("watchdog: check failed (%s); the next one tries again", exc)
            except Exception:
                log.exception("watchdog: check failed; the next one tries again")


def _has_webhooks(queue: Queue) -> bool:
    """Jobs waiting in the queue, or retries whose time has come."""
    if queue.count:
        return True
    return bool(queue.scheduled_job_registry.get_jobs_to_schedule())
