"""The Procfile, run for real with honcho on the test Redis: `web` and `worker` start, serve the
seed's calls and a run of a real graph through the Python SDK, and stop cleanly on SIGTERM to
the formation (a run in progress finishes first; no traceback, no SIGKILL)."""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import sys
import time
from pathlib import Path

import redis
from langgraph_sdk import get_sync_client

from tests.deploy import PROCFILE, procfile_env
from tests.integration.run_stack import GREETING, wait_for
from tests.integration.servers import STARTUP_TIMEOUT, running_api, spawn, wait_until_ok
from tests.support import free_port, no_server

# honcho sends SIGKILL 5 s after the first process stops; a clean stop never gets there.
STOP_TIMEOUT = 20.0
BUSY_RUN_SECONDS = 1.0  # the run in progress at SIGTERM (finishes within honcho's 5 s)


def started_pids(output: str) -> dict[str, int]:
    """honcho's "web.1 started (pid=N)" lines: with `exec` in the Procfile, N is threadwatch,
    and the leader of a process group holding everything it started."""
    return {name: int(pid) for name, pid in re.findall(r"(\w+)\.1 started \(pid=(\d+)\)", output)}


def group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def test_procfile_serves_the_seed_and_stops_cleanly_on_sigterm(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    if importlib.util.find_spec("honcho") is None:
        no_server("honcho is needed to run the Procfile (pip install -e '.[test]')")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "honcho.log"
    # -d: a temp app root, so that no stray .env is read; the processes run there too.
    argv = [sys.executable, "-m", "honcho", "start", "--no-colour", "-f", str(PROCFILE)]
    honcho = spawn(argv + ["-d", str(tmp_path)], procfile_env(redis_url, port), tmp_path, log)
    try:
        wait_until_ok(url, honcho, log, STARTUP_TIMEOUT)
        with get_sync_client(url=url) as client:
            foo = client.threads.create(metadata={"foo": "bar"})["thread_id"]
            echoed = client.runs.wait(foo, "echo", input={"n": 1})
            assert echoed["echo"] == {"n": 1}
            asked = client.threads.create()["thread_id"]
            client.runs.wait(asked, "agent", input={})  # stops at its interrupt()
            working = client.threads.create()["thread_id"]
            busy_run = client.runs.create(
                working, "agent", input={"sleep": BUSY_RUN_SECONDS, "ask": False}
            )
            thread = client.threads.create()  # the seed's thread
            # The seed's calls.
            idle = client.threads.search(status="idle", limit=1)
            interrupted = client.threads.search(status="interrupted", limit=1)
            busy = client.threads.search(status="busy", limit=1)
            by_id = client.threads.get(thread["thread_id"])["status"]
            by_metadata = client.threads.search(metadata={"foo": "bar"}, limit=1)[0]["status"]
            counts = {s: client.threads.count(status=s) for s in ("idle", "interrupted", "busy")}
            foo_count = client.threads.count(metadata={"foo": "bar"})
            wait_for(lambda: client.runs.get(working, busy_run["run_id"])["status"] == "running")
        assert [t["status"] for t in idle] == ["idle"]
        assert [t["thread_id"] for t in interrupted] == [asked]
        assert interrupted[0]["interrupts"]
        assert [t["thread_id"] for t in busy] == [working]
        assert (by_id, by_metadata) == ("idle", "idle")
        assert counts == {"idle": 2, "interrupted": 1, "busy": 1} and foo_count == 1

        # SIGTERM to honcho's process group, as a terminal's Ctrl-C or a PaaS would.
        os.killpg(honcho.pid, signal.SIGTERM)
        stopping = time.monotonic()
        code = honcho.wait(STOP_TIMEOUT)
        took = time.monotonic() - stopping
    finally:
        if honcho.poll() is None:
            os.killpg(honcho.pid, signal.SIGKILL)
            honcho.wait()
    output = log.read_text()
    assert code == 143, output  # honcho's own code after a SIGTERM
    # (The fixture project's `broken` graph logs a traceback at start, on purpose.)
    shutdown = output[output.index("SIGTERM received") :]
    assert "Traceback" not in shutdown and "SIGKILL" not in shutdown, output
    # uvicorn re-raises the SIGTERM it handled once its shutdown is complete.
    assert "web.1 stopped (rc=-15)" in output and "Application shutdown complete" in output
    assert "worker.1 stopped (rc=0)" in output, output  # a warm stop
    print(f"\nProcfile formation stopped {took:.2f} s after SIGTERM")
    for name, pid in started_pids(output).items():  # nothing left behind (RQ's scheduler)
        assert wait_for(lambda pid=pid: group_gone(pid), timeout=5.0), name

    # The run in progress at SIGTERM finished; an API started again on the data says so.
    workdir = tmp_path / "after"
    workdir.mkdir()
    with running_api(redis_url, workdir) as after, get_sync_client(url=after) as client:
        run = client.runs.get(working, busy_run["run_id"])
        assert run["status"] == "success"
        state = client.threads.get(working)
    assert state["status"] == "idle"
    assert state["values"]["count"] == 1 and state["values"]["greeting"] == GREETING
