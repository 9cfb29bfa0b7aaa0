"""A Redis outage or a full Redis pauses a `threadwatch worker`, never ends it (issue 14, item
2). On a Redis server of its own, which the test crashes and starts again on its data, or
fills (maxmemory with noeviction: writes answer OOM), a worker lives on; afterwards all its
RQ worker threads beat again, the run in flight has ended, sweeps go on (RQ's scheduler
serves again) and a new run succeeds. A worker started before its Redis waits for it."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from langgraph_sdk import get_sync_client
from langgraph_sdk.client import SyncLangGraphClient
from rq import Queue, Worker

from tests.integration.run_stack import (
    CONCURRENCY,
    KEYS,
    PROJECT,
    RunStack,
    wait_for,
    worker_pid,
)
from tests.integration.servers import OwnRedis, spawn
from tests.support import server_env
from threadwatch.cli.processes import stop_process
from threadwatch.queues import RUNS_QUEUE
from threadwatch.store.codec import redis_now_us

OUTAGE = 3.0  # seconds Redis stays crashed, or full
THREADS = CONCURRENCY + 2  # a worker's RQ worker threads: its runs, sweeps and webhooks
# Bounds for the waits below, not speeds: a worker serves again within a few seconds.
RECOVERY = 30.0


def threads_beating_since(client: redis.Redis, pid: int, since: datetime) -> list[str]:
    """Names of the RQ worker threads of process ``pid`` registered with RQ that sent a
    heartbeat (or were born) at ``since`` or later."""
    return [
        w.name
        for w in Worker.all(connection=client)
        if worker_pid(w.name) == pid and w.last_heartbeat is not None and w.last_heartbeat >= since
    ]


def last_sweep(client: redis.Redis) -> int:
    """When the last sweep finished (Redis time, µs; 0 before the first)."""
    return int(client.hget(KEYS.sweeper(), "last_finished_at") or 0)


def ended(sdk: SyncLangGraphClient, thread_id: str, run_id: str) -> str | None:
    status = sdk.runs.get(thread_id, run_id)["status"]
    return None if status in ("pending", "running") else status


def start_a_long_run(sdk: SyncLangGraphClient) -> tuple[str, str]:
    """(thread id, run id) of a run sleeping in its graph (2 s), once it runs."""
    thread_id = sdk.threads.create()["thread_id"]
    run_id = sdk.runs.create(thread_id, "agent", input={"sleep": 2, "ask": False})["run_id"]
    wait_for(lambda: sdk.runs.get(thread_id, run_id)["status"] == "running")
    return thread_id, run_id


def assert_serving_again(
    stack: RunStack, sdk: SyncLangGraphClient, in_flight: tuple[str, str], since: datetime
) -> None:
    """The worker lives, every one of its threads beats again, the run that was in flight
    has ended, sweeps go on and a new run succeeds."""
    (worker,) = stack.workers
    client = stack.redis
    swept = redis_now_us(client)

    def every_thread_beats() -> bool:
        return len(threads_beating_since(client, worker.pid, since)) == THREADS

    def sweeps_go_on() -> bool:  # so RQ's scheduler serves again
        return last_sweep(client) > swept

    wait_for(every_thread_beats, timeout=RECOVERY)
    assert worker.poll() is None, stack.log(worker)
    status = wait_for(lambda: ended(sdk, *in_flight), timeout=RECOVERY)
    assert status in ("success", "error"), status
    wait_for(sweeps_go_on, timeout=RECOVERY)
    assert sdk.runs.wait(None, "echo", input={"n": 1})["echo"] == {"n": 1}
    assert worker.poll() is None, stack.log(worker)


def test_a_worker_lives_through_a_redis_crash_and_a_full_redis(
    own_redis: OwnRedis, tmp_path: Path
) -> None:
    (tmp_path / "stack").mkdir()
    stack = RunStack.start(own_redis.url, tmp_path / "stack", workers=1)
    (worker,) = stack.workers
    try:
        with get_sync_client(url=stack.url) as sdk:
            in_flight = start_a_long_run(sdk)
            own_redis.crash()
            time.sleep(OUTAGE)
            own_redis.start()
            restarted = datetime.now(UTC)
            assert_serving_again(stack, sdk, in_flight, restarted)

            in_flight = start_a_long_run(sdk)
            stack.redis.config_set("maxmemory-policy", "noeviction")
            stack.redis.config_set("maxmemory", 1)
            with pytest.raises(redis.exceptions.OutOfMemoryError):
                stack.redis.set("full?", "yes")
            time.sleep(OUTAGE)
            stack.redis.config_set("maxmemory", 0)
            freed = datetime.now(UTC)
            assert_serving_again(stack, sdk, in_flight, freed)
    finally:
        if own_redis.server is None:
            own_redis.start()
        codes = stack.close()
    assert codes[0] == 0, stack.log(worker)  # and a warm stop still ends it


def test_a_worker_started_before_its_redis_waits_for_it(
    own_redis: OwnRedis, tmp_path: Path
) -> None:
    own_redis.crash()
    env = server_env(own_redis.url)
    env["THREADWATCH_GRAPHS_CONFIG"] = str(PROJECT / "langgraph.json")
    log = tmp_path / "worker.log"
    argv = [sys.executable, "-m", "threadwatch.cli", "worker", "--concurrency", str(CONCURRENCY)]
    worker = spawn(argv, env, tmp_path, log)
    try:
        wait_for(lambda: "waiting for Redis" in log.read_text() or worker.poll() is not None)
        assert worker.poll() is None, log.read_text()
        own_redis.start()
        with redis.Redis.from_url(own_redis.url) as client:
            job = Queue(RUNS_QUEUE, connection=client).enqueue("os.getpid")
            wait_for(lambda: job.get_status(refresh=True) in ("finished", "failed"), RECOVERY)
            assert job.return_value() == worker.pid, log.read_text()
    finally:
        stop_process(worker)
