"""ThreadWorker's cheaper RQ bookkeeping: heartbeats in one round trip, at most one a
HEARTBEAT_EVERY outside a pipeline, no rewrite of the state the worker is already in, idle
written with the next heartbeat, and a succeeded job's end saved with its result."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import fakeredis
import pytest
from rq import Queue
from rq.utils import now

from threadwatch_workers.worker import HEARTBEAT_EVERY, ThreadWorker


class CountingRedis(fakeredis.FakeRedis):
    """Counts the round trips: plain commands and pipeline executions."""

    round_trips = 0

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        CountingRedis.round_trips += 1
        return super().execute_command(*args, **kwargs)

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Any:
        pipe = super().pipeline(transaction, shard_hint)
        execute = pipe.execute

        def counted(raise_on_error: bool = True) -> Any:
            CountingRedis.round_trips += 1
            return execute(raise_on_error)

        pipe.execute = counted
        return pipe


@pytest.fixture
def worker() -> ThreadWorker:
    redis = CountingRedis(server=fakeredis.FakeServer())
    made = ThreadWorker([Queue("q", connection=redis)], connection=redis, name="w1")
    made.register_birth()
    return made


def trips(action: Callable[[], Any]) -> int:
    """Round trips that ``action`` made."""
    before = CountingRedis.round_trips
    action()
    return CountingRedis.round_trips - before


def test_a_heartbeat_is_one_round_trip_that_renews_the_worker_key(worker: ThreadWorker) -> None:
    worker.connection.expire(worker.key, 5)
    worker.last_heartbeat = now() - timedelta(seconds=HEARTBEAT_EVERY + 1)
    assert trips(lambda: worker.heartbeat(100)) == 1
    assert 95 <= worker.connection.ttl(worker.key) <= 100
    assert worker.connection.hget(worker.key, "last_heartbeat") is not None


def test_heartbeats_closer_than_heartbeat_every_are_skipped(worker: ThreadWorker) -> None:
    worker.last_heartbeat = now() - timedelta(seconds=HEARTBEAT_EVERY + 1)
    worker.heartbeat()
    first = worker.last_heartbeat
    assert trips(worker.heartbeat) == 0
    assert worker.last_heartbeat == first


def test_a_heartbeat_in_a_pipeline_is_always_queued(worker: ThreadWorker) -> None:
    worker.heartbeat()
    worker.connection.expire(worker.key, 5)
    with worker.connection.pipeline() as pipe:
        worker.heartbeat(200, pipeline=pipe)
        pipe.execute()
    assert worker.connection.ttl(worker.key) > 100


def test_the_state_is_written_only_when_it_changes(worker: ThreadWorker) -> None:
    worker.set_state("busy")
    assert worker.connection.hget(worker.key, "state") == b"busy"
    assert trips(lambda: worker.set_state("busy")) == 0
    assert trips(lambda: worker.set_state("suspended")) == 1
    assert worker.connection.hget(worker.key, "state") == b"suspended"
    assert worker.get_state() == "suspended"


def test_idle_is_written_with_the_next_heartbeat(worker: ThreadWorker) -> None:
    worker.set_state("busy")
    assert trips(lambda: worker.set_state("idle")) == 0
    assert worker.get_state() == "idle"
    assert worker.connection.hget(worker.key, "state") == b"busy"
    worker.last_heartbeat = now() - timedelta(seconds=HEARTBEAT_EVERY + 1)
    assert trips(worker.heartbeat) == 1
    assert worker.connection.hget(worker.key, "state") == b"idle"
    assert trips(lambda: worker.set_state("busy")) == 1  # a change away from idle: at once
    assert worker.connection.hget(worker.key, "state") == b"busy"


def test_a_job_that_succeeds_saves_its_end_and_heartbeat_with_its_result(
    worker: ThreadWorker,
) -> None:
    queue = worker.queues[0]
    job = queue.enqueue(len, "abc")
    dequeued = queue.dequeue_any([queue], None, connection=worker.connection)
    assert dequeued is not None and dequeued[0].id == job.id
    trips_of_job = trips(lambda: worker.execute_job(dequeued[0], queue))
    # Start and success transactions only: no heartbeat write of its own, no idle write.
    assert trips_of_job == 3
    saved = worker.connection.hmget(job.key, "status", "ended_at", "last_heartbeat")
    assert saved[0] == b"finished" and saved[1] is not None and saved[1] == saved[2]
    assert job.latest_result().return_value == 3
