"""app/ops/watchdog.py on fakeredis: an API process sweeps and delivers webhook jobs only
when no worker does, and one process per time slot sweeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fakeredis import FakeRedis
from rq import Queue, Worker
from rq.job import JobStatus

from tests.unit.helpers import event
from threadwatch.ops.watchdog import WORKER_SILENCE, Watchdog, live_workers
from threadwatch.queues import MAINTENANCE_QUEUE
from threadwatch.settings import Settings
from threadwatch.store.stores import Stores
from threadwatch.webhooks.delivery import webhook_queue

T1 = "00000000-0000-4000-8000-0000000000c1"
R1 = "00000000-0000-4000-8000-0000000000d1"
NOW = 1_800_000_000.0
SETTINGS = Settings(sweep_interval_seconds=10)


def register_worker(redis: FakeRedis, queue: str, heartbeat_ago: float) -> None:
    """An RQ worker listening to ``queue`` whose last heartbeat was ``heartbeat_ago`` s ago."""
    worker = Worker([Queue(queue, connection=redis)], connection=redis)
    worker.register_birth()
    worker.last_heartbeat = datetime.fromtimestamp(NOW - heartbeat_ago, UTC)
    worker.connection.hset(worker.key, "last_heartbeat", worker.last_heartbeat.strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ"
    ))  # fmt: skip


def watchdog(redis: FakeRedis) -> Watchdog:
    return Watchdog(redis, SETTINGS, clock=lambda: NOW)


def lost_run(stores: Stores) -> None:
    """A run reported running whose lease ran out long ago."""
    stores.runs.apply([event(T1, R1, "run.started", lease_seconds=1)])
    stores.redis.zadd(stores.keys.leases(), {R1: 1})


def test_without_workers_one_process_sweeps_each_slot(
    fake_redis: FakeRedis, stores: Stores
) -> None:
    lost_run(stores)
    first, second = watchdog(fake_redis), watchdog(fake_redis)
    assert first.check().swept
    assert stores.runs.get(T1, R1)["status"] == "error"
    assert stores.threads.get(T1)["status"] != "busy"
    assert fake_redis.hget(stores.keys.sweeper(), "by") == b"watchdog"
    assert not second.check().swept  # the same slot: claimed already


def test_a_live_worker_sweeps_instead(fake_redis: FakeRedis, stores: Stores) -> None:
    lost_run(stores)
    register_worker(fake_redis, MAINTENANCE_QUEUE, heartbeat_ago=1)
    assert live_workers(fake_redis, MAINTENANCE_QUEUE, NOW) == 1
    assert not watchdog(fake_redis).check().swept
    assert stores.runs.get(T1, R1)["status"] == "running"


def test_a_silent_worker_counts_as_gone(fake_redis: FakeRedis, stores: Stores) -> None:
    lost_run(stores)
    register_worker(fake_redis, MAINTENANCE_QUEUE, heartbeat_ago=WORKER_SILENCE + 1)
    assert live_workers(fake_redis, MAINTENANCE_QUEUE, NOW) == 0
    assert watchdog(fake_redis).check().swept
    assert stores.runs.get(T1, R1)["status"] == "error"


@pytest.mark.parametrize("worker_alive", [False, True])
def test_webhook_jobs_are_delivered_when_no_worker_takes_them(
    fake_redis: FakeRedis, worker_alive: bool
) -> None:
    queue = webhook_queue(fake_redis)
    if worker_alive:
        register_worker(fake_redis, queue.name, heartbeat_ago=1)
    job = queue.enqueue("builtins.len", [1, 2, 3])
    assert watchdog(fake_redis).check().delivered is not worker_alive
    expected = JobStatus.QUEUED if worker_alive else JobStatus.FINISHED
    assert job.get_status(refresh=True) == expected


def test_a_retry_that_came_due_is_delivered(fake_redis: FakeRedis) -> None:
    queue = webhook_queue(fake_redis)
    job = queue.enqueue_at(datetime.now(UTC) - timedelta(seconds=1), "builtins.len", [1])
    assert watchdog(fake_redis).check().delivered
    assert job.get_status(refresh=True) == JobStatus.FINISHED


def test_nothing_to_deliver_starts_no_burst(fake_redis: FakeRedis) -> None:
    assert not watchdog(fake_redis).check().delivered
