"""The maintenance chains each worker keeps going (workers/worker.py, Chains): a sweep and a
cron check scheduled per time slot, each once however often a worker checks."""

from __future__ import annotations

from fakeredis import FakeRedis
from rq import Queue

from threadwatch.queues import FIRE_CRONS, MAINTENANCE_QUEUE, SWEEP
from threadwatch_workers.worker import Chains

# Slots of days: no slot boundary falls between two calls of a test.
LONG = 1_000_000


def scheduled(redis: FakeRedis) -> dict[str, str]:
    queue = Queue(MAINTENANCE_QUEUE, connection=redis)
    ids = queue.scheduled_job_registry.get_job_ids()
    return {job_id: queue.fetch_job(job_id).func_name for job_id in ids}  # type: ignore[union-attr]


def test_both_chains_are_scheduled_once_a_slot(fake_redis: FakeRedis) -> None:
    chains = Chains(sweep_interval=LONG, cron_interval=LONG // 2)
    chains.keep(fake_redis, force=True)
    jobs = scheduled(fake_redis)
    assert sorted(jobs.values()) == sorted([SWEEP, FIRE_CRONS])
    assert {job_id.rsplit("-", 1)[0] for job_id in jobs} == {
        "threadwatch-sweep",
        "threadwatch-crons",
    }
    for _ in range(3):  # a worker checks every two seconds, within the same slots
        chains.keep(fake_redis)
    assert scheduled(fake_redis) == jobs


def test_another_worker_schedules_the_same_jobs(fake_redis: FakeRedis) -> None:
    Chains(LONG, LONG // 2).keep(fake_redis, force=True)
    first = scheduled(fake_redis)
    Chains(LONG, LONG // 2).keep(fake_redis, force=True)
    assert scheduled(fake_redis) == first
