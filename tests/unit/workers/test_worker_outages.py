"""A worker thread outlives Redis going away or filling up (ThreadWorker.serve): RQ's loop
ends, the thread waits until Redis answers and enters it again, replacing the registration
its own teardown could not end; a stop request ends a wait at once, a registration lost
while the thread waited is made again, and leaving the command channel survives a Redis
that is gone. RQ's scheduler process is forked again only once Redis takes writes. (The
whole worker process: tests/integration/test_worker_outages.py.)"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import fakeredis
import pytest
from redis.exceptions import ConnectionError, OutOfMemoryError, RedisError
from rq import Queue, Worker
from rq.job import Job
from rq.scheduler import RQScheduler

import threadwatch_workers.worker
from threadwatch_workers.scheduling import SchedulerKeeper
from threadwatch_workers.worker import ThreadWorker

# Commands a full Redis refuses (those RQ sends, of the ones flagged denyoom).
DENIED_WHEN_FULL = {"SET", "HSET", "SADD", "ZADD", "LPUSH", "RPUSH", "LMOVE", "BLMOVE"}
# Bounds for the waits below, not speeds: with the pauses lowered, a worker serves again
# within its queue poll (IDLE_POLL).
TIMEOUT = 15.0


class FlakyRedis(fakeredis.FakeRedis):
    """A fake Redis whose next ``failures`` commands (a pipeline counts as one) raise
    ``error``: any command while Redis is away, only writes while it is full."""

    failures = 0
    error: type[RedisError] = ConnectionError
    writes_only = False

    def fail(self, failures: int, error: type[RedisError], writes_only: bool = False) -> None:
        self.failures, self.error, self.writes_only = failures, error, writes_only

    def _maybe_fail(self, commands: list[str]) -> None:
        if self.failures <= 0:
            return
        if self.writes_only and not DENIED_WHEN_FULL.intersection(commands):
            return
        self.failures -= 1
        raise self.error("Redis is away" if self.error is ConnectionError else "OOM")

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        self._maybe_fail([str(args[0]).upper()])
        return super().execute_command(*args, **kwargs)

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Any:
        pipe = super().pipeline(transaction, shard_hint)
        execute = pipe.execute

        def flaky(raise_on_error: bool = True) -> Any:
            self._maybe_fail([str(c[0][0]).upper() for c in pipe.command_stack])
            return execute(raise_on_error)

        pipe.execute = flaky
        return pipe


@pytest.fixture(autouse=True)
def short_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threadwatch_workers.worker, "PAUSE_FIRST", 0.01)
    monkeypatch.setattr(threadwatch_workers.worker, "PAUSE_MOST", 0.05)


@pytest.fixture
def server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


@pytest.fixture
def client(server: fakeredis.FakeServer) -> fakeredis.FakeRedis:
    """The test's own client: it never fails."""
    return fakeredis.FakeRedis(server=server)


@pytest.fixture
def flaky(server: fakeredis.FakeServer) -> FlakyRedis:
    """The worker's client."""
    return FlakyRedis(server=server)


@pytest.fixture
def worker(flaky: FlakyRedis) -> Iterator[ThreadWorker]:
    """A ThreadWorker on `flaky`, made while Redis answers; stopped after the test."""
    made = ThreadWorker([Queue("q", connection=flaky)], connection=flaky, name="w1")
    yield made
    made.stop_after_current_job()


def until(probe: Callable[[], object]) -> None:
    """Wait until ``probe()`` is true; fail after TIMEOUT."""
    deadline = time.monotonic() + TIMEOUT
    while not probe():
        if time.monotonic() > deadline:
            pytest.fail(f"still false after {TIMEOUT:g} s: {probe}", pytrace=False)
        time.sleep(0.01)


def serving(worker: ThreadWorker) -> threading.Thread:
    """The worker's thread, as `threadwatch worker` runs it."""
    thread = threading.Thread(target=worker.serve, daemon=True)
    thread.start()
    return thread


def runs_a_job(client: fakeredis.FakeRedis) -> None:
    job = Queue("q", connection=client).enqueue(len, "abc")
    until(lambda: job.get_status(refresh=True) == "finished")
    assert Job.fetch(job.id, connection=client).return_value() == 3


def registered(client: fakeredis.FakeRedis) -> bool:
    """Whether w1 is registered with RQ, alive (no death written)."""
    names = [w.name for w in Worker.all(connection=client)]
    return names == ["w1"] and not client.hexists("rq:worker:w1", "death")


def stops(worker: ThreadWorker, thread: threading.Thread) -> None:
    worker.stop_after_current_job()
    thread.join(TIMEOUT)
    assert not thread.is_alive()


def test_a_worker_whose_redis_is_away_at_start_serves_once_it_answers(
    worker: ThreadWorker, flaky: FlakyRedis, client: fakeredis.FakeRedis
) -> None:
    flaky.fail(4, ConnectionError)  # its start, then three tries to reach Redis
    thread = serving(worker)
    until(lambda: flaky.failures == 0)
    until(lambda: registered(client))
    assert thread.is_alive()
    runs_a_job(client)
    stops(worker, thread)


def test_a_full_redis_pauses_a_serving_worker_which_then_serves_again(
    worker: ThreadWorker, flaky: FlakyRedis, client: fakeredis.FakeRedis
) -> None:
    """Its wait for a job fails (RQ leaves its loop), then the death RQ's teardown writes
    (the key stays, without a death), then two new starts; the third start replaces that
    key, which RQ alone refuses to do."""
    thread = serving(worker)
    until(lambda: registered(client))
    born = client.hget("rq:worker:w1", "birth")
    flaky.fail(4, OutOfMemoryError, writes_only=True)
    until(lambda: flaky.failures == 0)
    until(lambda: registered(client))
    assert client.hget("rq:worker:w1", "birth") != born  # born again
    assert thread.is_alive()
    runs_a_job(client)
    stops(worker, thread)


def test_a_stop_request_ends_the_wait_for_redis(
    worker: ThreadWorker, flaky: FlakyRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(threadwatch_workers.worker, "PAUSE_FIRST", 3600.0)
    monkeypatch.setattr(threadwatch_workers.worker, "PAUSE_MOST", 3600.0)
    flaky.fail(1, ConnectionError)
    thread = serving(worker)
    until(lambda: flaky.failures == 0)
    stops(worker, thread)


def test_a_heartbeat_registers_the_worker_again_when_its_key_is_gone(
    worker: ThreadWorker, client: fakeredis.FakeRedis
) -> None:
    """As when its key expired during a long outage, or Redis lost its data."""
    worker.register_birth()
    worker.set_state("busy")
    client.flushall()
    worker.last_heartbeat = None
    worker.heartbeat()
    assert registered(client)
    (found,) = Worker.all(connection=client)
    assert found.queue_names() == ["q"] and found.get_state() == "busy"


def test_leaving_the_command_channel_survives_a_redis_that_is_gone(
    worker: ThreadWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker.subscribe()
    listener = worker.pubsub_thread
    assert worker.pubsub is not None and listener is not None

    def gone(*_args: Any) -> None:
        raise ConnectionError("Redis is away")

    monkeypatch.setattr(worker.pubsub, "unsubscribe", gone)
    worker.unsubscribe()
    listener.join(TIMEOUT)
    assert not listener.is_alive() and worker.pubsub_thread is None
    worker.unsubscribe()  # again (serve() does, after RQ's teardown): nothing left to do


class FullRedis(fakeredis.FakeRedis):
    """A fake Redis that refuses writes while ``full`` (a class attribute: RQ's scheduler
    makes clients of its own, of the same class)."""

    full = False

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        if FullRedis.full and str(args[0]).upper() in DENIED_WHEN_FULL:
            raise OutOfMemoryError("OOM")
        return super().execute_command(*args, **kwargs)

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Any:
        pipe = super().pipeline(transaction, shard_hint)
        execute = pipe.execute

        def refused(raise_on_error: bool = True) -> Any:
            names = {str(c[0][0]).upper() for c in pipe.command_stack}
            if FullRedis.full and DENIED_WHEN_FULL & names:
                raise OutOfMemoryError("OOM")
            return execute(raise_on_error)

        pipe.execute = refused
        return pipe


def test_a_dead_scheduler_process_starts_again_once_redis_takes_writes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A full Redis lets its lock be refreshed, not its hash written: a scheduler process
    forked then would die at once, at every check."""
    redis = FullRedis()
    scheduler = RQScheduler(["q"], connection=redis)
    keeper = SchedulerKeeper(scheduler)
    forked: list[int] = []
    monkeypatch.setattr(scheduler, "start", lambda: forked.append(1))
    monkeypatch.setattr(FullRedis, "full", False)
    keeper.take_over(redis)  # takes the lock, forks its process (which then dies)
    assert forked == [1]
    monkeypatch.setattr(FullRedis, "full", True)
    with pytest.raises(OutOfMemoryError):
        keeper.take_over(redis)
    assert forked == [1]
    monkeypatch.setattr(FullRedis, "full", False)
    keeper.take_over(redis)
    assert forked == [1, 1]
