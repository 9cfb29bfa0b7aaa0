"""SIGTERM to the API (`threadwatch serve`, the Procfile's and compose's command) drains: it
stops accepting connections at once, and a `runs.wait` already in flight gets its answer.
(SIGTERM to a worker lets its run finish: tests/integration/test_runs_workers.py,
test_sigterm_lets_the_running_run_finish; the whole Procfile: test_procfile.py.)"""

from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import redis
from langgraph_sdk import get_sync_client

from tests.deploy import procfile_argv, procfile_env
from tests.integration.run_stack import GREETING, wait_for
from tests.integration.servers import STARTUP_TIMEOUT, spawn, wait_until_ok
from tests.support import free_port
from threadwatch.cli import GRACEFUL_SHUTDOWN_SECONDS
from threadwatch.cli.processes import stop_process

RUN_SECONDS = 2.0


def refused(url: str) -> bool:
    try:
        httpx.get(f"{url}/ok", timeout=1.0)
    except httpx.ConnectError:
        return True
    return False


def test_sigterm_to_the_api_lets_an_in_flight_runs_wait_finish(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    assert GRACEFUL_SHUTDOWN_SECONDS >= 10  # room for in-flight requests, bounded
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = procfile_env(redis_url, port)
    api_log, worker_log = tmp_path / "api.log", tmp_path / "worker.log"
    api = spawn(procfile_argv("web", port), env, tmp_path, api_log)
    worker = spawn(procfile_argv("worker"), env, tmp_path, worker_log)
    try:
        wait_until_ok(url, api, api_log, STARTUP_TIMEOUT)
        with get_sync_client(url=url) as client, ThreadPoolExecutor(1) as pool:
            thread_id = client.threads.create()["thread_id"]
            waiting = pool.submit(
                client.runs.wait, thread_id, "agent", input={"sleep": RUN_SECONDS, "ask": False}
            )
            run = wait_for(lambda: client.runs.list(thread_id), timeout=STARTUP_TIMEOUT)[0]
            wait_for(lambda: client.runs.get(thread_id, run["run_id"])["status"] == "running")
            api.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            # No new connections from here on; the one in flight gets its answer.
            wait_for(lambda: refused(url), timeout=RUN_SECONDS)
            assert not waiting.done()
            values = waiting.result(timeout=GRACEFUL_SHUTDOWN_SECONDS)
        assert values["count"] == 1 and values["greeting"] == GREETING
        assert api.wait(10) == -signal.SIGTERM  # uvicorn re-raises it once shut down
        took = time.monotonic() - signalled
        assert took < RUN_SECONDS + 5, took
    finally:
        stop_process(api)
        worker_code = stop_process(worker)
    log = api_log.read_text()
    shutdown = log[log.index("Shutting down") :]
    assert "Traceback" not in shutdown and "Application shutdown complete" in shutdown, log
    assert worker_code == 0, worker_log.read_text()
    print(f"\nAPI drained its in-flight runs.wait and exited {took:.2f} s after SIGTERM")
