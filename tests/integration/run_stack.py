"""A whole deployment for the run tests, as real processes on the test Redis: the API (uvicorn)
with the fixture project's graphs, and `threadwatch worker` processes that execute the runs.

The `run_stack` fixture (conftest.py) starts one per test module; tests can stop, kill and
replace workers through it, find which worker process executed a run (the RQ job of a run
has the run's id and the worker's name, ``threadwatch.<host>.<pid>.<thread>``), and wait
until no run is in flight, so that one test's runs never spill into the next.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import pytest
import redis
from rq import Queue, Worker
from rq.job import Job

from tests.integration.servers import STARTUP_TIMEOUT, api_argv, spawn, wait_until_ok
from tests.support import FIXTURES, free_port, server_env
from threadwatch.queues import RUNS_QUEUE
from threadwatch.store.keys import Keys

PROJECT = FIXTURES / "graphs" / "project"
GREETING = "hello from fixture.env"  # what the agent graph's `step` node writes
WORKERS = 2
CONCURRENCY = 4
SETTLE_TIMEOUT = 20.0
KEYS = Keys()  # the default prefix, as the processes use
# Short leases and sweeps, so that a killed worker's runs are recovered within seconds.
LEASE_SECONDS = 3.0
SWEEP_INTERVAL = 1.0
IN_FLIGHT = {b"pending", b"running"}
T = TypeVar("T")


def wait_for(probe: Callable[[], T], timeout: float = 10.0, interval: float = 0.02) -> T:
    """Call ``probe`` until it returns something truthy, and return that; fail on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"still {value!r} after {timeout:g} s ({probe})", pytrace=False)
        time.sleep(interval)


def epoch(timestamp: str) -> float:
    """Seconds since the epoch of an RFC 3339 timestamp from the API."""
    return datetime.fromisoformat(timestamp).timestamp()


def worker_pid(worker_name: str) -> int:
    """The process id in a worker name ``threadwatch.<host>.<pid>.<i>`` (hosts may hold dots)."""
    return int(worker_name.rsplit(".", 2)[1])


@dataclass
class RunStack:
    """The API process and the worker processes; every process here was started by us."""

    url: str
    redis: redis.Redis
    env: dict[str, str]
    workdir: Path
    api: subprocess.Popen | None = None
    # API processes beside the first (`url`'s): base URL -> process, for the load tests.
    more_apis: dict[str, subprocess.Popen] = field(default_factory=dict)
    workers: list[subprocess.Popen] = field(default_factory=list)
    logs: dict[int, Path] = field(default_factory=dict)

    @classmethod
    def start(
        cls,
        redis_url: str,
        workdir: Path,
        workers: int = WORKERS,
        env: dict[str, str] | None = None,
    ) -> RunStack:
        """Flush the test db, then start the API and ``workers`` workers (all at once),
        with ``env`` added to their environment."""
        extra = env or {}
        env = server_env(redis_url)
        env["THREADWATCH_GRAPHS_CONFIG"] = str(PROJECT / "langgraph.json")
        env["THREADWATCH_WEBHOOK_ALLOW_PRIVATE"] = "true"
        env["THREADWATCH_LEASE_SECONDS"] = str(LEASE_SECONDS)
        env["THREADWATCH_SWEEP_INTERVAL_SECONDS"] = str(SWEEP_INTERVAL)
        env.update(extra)
        port = free_port()
        stack = cls(f"http://127.0.0.1:{port}", redis.Redis.from_url(redis_url), env, workdir)
        stack.redis.flushdb()
        stack.api = stack._spawn(api_argv(port), "api.log")
        started = [stack._spawn_worker() for _ in range(workers)]
        wait_until_ok(stack.url, stack.api, stack.logs[stack.api.pid], STARTUP_TIMEOUT)
        for proc in started:
            stack.wait_registered(proc)
        return stack

    @property
    def queue(self) -> Queue:
        return Queue(RUNS_QUEUE, connection=self.redis)

    # -- processes -----------------------------------------------------------------------

    def _spawn(
        self, argv: list[str], log_name: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen:
        log = self.workdir / log_name
        proc = spawn(argv, {**self.env, **(env or {})}, self.workdir, log)
        self.logs[proc.pid] = log
        return proc

    def _spawn_worker(self, env: dict[str, str] | None = None) -> subprocess.Popen:
        argv = [
            sys.executable,
            "-m",
            "threadwatch.cli",
            "worker",
            "--concurrency",
            str(CONCURRENCY),
        ]
        proc = self._spawn(argv, f"worker-{len(self.logs)}.log", env)
        self.workers.append(proc)
        return proc

    def wait_registered(self, proc: subprocess.Popen, timeout: float = STARTUP_TIMEOUT) -> None:
        """Until all the worker's threads are registered with RQ (listening on the queue)."""
        deadline = time.monotonic() + timeout
        while len(self.registered(proc.pid)) < CONCURRENCY:
            if proc.poll() is not None:
                pytest.fail(f"worker exited with {proc.returncode}:\n{self.log(proc)}", False)
            if time.monotonic() > deadline:
                pytest.fail(f"worker not ready in {timeout:g} s:\n{self.log(proc)}", False)
            time.sleep(0.05)

    def registered(self, pid: int) -> list[str]:
        """Names of the RQ workers (threads) of process ``pid`` registered in Redis."""
        names = [w.name for w in Worker.all(connection=self.redis, queue=self.queue)]
        return [n for n in names if worker_pid(n) == pid]

    def log(self, proc: subprocess.Popen) -> str:
        return self.logs[proc.pid].read_text(errors="replace")

    def apis(self) -> dict[str, subprocess.Popen]:
        """Every API process by its base URL, the first (`url`'s) first."""
        assert self.api is not None
        return {self.url: self.api, **self.more_apis}

    def add_api(self) -> str:
        """Start one more API process on the same Redis, ready; its base URL."""
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        self.more_apis[url] = self._spawn(api_argv(port), f"api-{len(self.logs)}.log")
        self.wait_api(url)
        return url

    def restart_api(self, url: str, wait: bool = True) -> subprocess.Popen:
        """SIGKILL the API process at ``url`` and start a fresh one on its port, ready unless
        not ``wait`` (then `wait_api`). Children die with the thread that started them
        (cli/processes.py): call this from a thread that outlives them, not a helper one."""
        self.kill(self.apis()[url])
        port = int(url.rsplit(":", 1)[1])
        proc = self._spawn(api_argv(port), f"api-{len(self.logs)}.log")
        if url == self.url:
            self.api = proc
        else:
            self.more_apis[url] = proc
        if wait:
            self.wait_api(url)
        return proc

    def wait_api(self, url: str) -> None:
        """Until the API process at ``url`` answers GET /ok."""
        proc = self.apis()[url]
        wait_until_ok(url, proc, self.logs[proc.pid], STARTUP_TIMEOUT)

    def start_worker(self, env: dict[str, str] | None = None) -> subprocess.Popen:
        """A worker more, with ``env`` added to its environment; once it listens."""
        proc = self._spawn_worker(env)
        self.wait_registered(proc)
        return proc

    def start_api(self, env: dict[str, str] | None = None) -> tuple[str, subprocess.Popen]:
        """Another API process on the same Redis, with ``env`` added: its URL and process
        (the caller's to stop)."""
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = self._spawn(api_argv(port), f"api-{len(self.logs)}.log", env)
        wait_until_ok(url, proc, self.logs[proc.pid], STARTUP_TIMEOUT)
        return url, proc

    def worker(self, pid: int) -> subprocess.Popen:
        (proc,) = (p for p in self.workers if p.pid == pid)
        return proc

    def live_workers(self) -> list[subprocess.Popen]:
        return [p for p in self.workers if p.poll() is None]

    @staticmethod
    def wait_exit(proc: subprocess.Popen, timeout: float) -> int | None:
        """The exit code, or None if the process still runs after ``timeout`` seconds."""
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    @staticmethod
    def kill(proc: subprocess.Popen) -> int:
        """SIGKILL the process and its group (the RQ scheduler is a forked child in it)."""
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return proc.wait()

    def drop(self, proc: subprocess.Popen) -> int:
        """SIGKILL the worker (if it still runs) and forget it; its exit code."""
        code = self.kill(proc)
        self.workers.remove(proc)
        return code

    def replace(self, proc: subprocess.Popen, wait: bool = True) -> subprocess.Popen:
        """Kill the worker (if it still runs) and start a fresh one in its place, registered
        unless not ``wait`` (then `wait_registered`); from a thread that outlives it, as
        `restart_api`."""
        self.kill(proc)
        self.workers.remove(proc)
        fresh = self._spawn_worker()
        if wait:
            self.wait_registered(fresh)
        return fresh

    def close(self, grace: float = 5.0) -> list[int | None]:
        """SIGTERM everything, SIGKILL what is left after ``grace`` s; the exit codes."""
        procs = [*self.workers, *self.apis().values()]
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in procs:
            if self.wait_exit(proc, max(0.0, deadline - time.monotonic())) is None:
                self.kill(proc)
        codes = [p.poll() for p in procs]
        self.redis.flushdb()
        self.redis.close()
        return codes

    # -- runs ----------------------------------------------------------------------------

    def job(self, run_id: str) -> Job:
        return Job.fetch(run_id, connection=self.redis)

    def executed_by(self, run_id: str) -> int:
        """The pid of the worker process that executed (or executes) the run."""
        name = self.job(run_id).worker_name
        assert name, f"run {run_id} was not taken by any worker"
        return worker_pid(name)

    def in_flight(self) -> list[tuple[str, str]]:
        """(run_id, status) of every run pending or running, from the run records."""
        found = []
        depth = KEYS.run("x").count(":")
        for key in self.redis.scan_iter(match=KEYS.run("*"), count=1000):
            if key.decode().count(":") != depth:
                continue
            status = self.redis.hget(key, "status")
            if status in IN_FLIGHT:
                found.append((key.decode().rsplit(":", 1)[1], status.decode()))
        return found

    def settle(self, timeout: float = SETTLE_TIMEOUT) -> None:
        """Wait until no run is in flight and RQ holds no job for one; workers still alive."""

        def settled() -> bool:
            started = self.queue.started_job_registry.get_job_count()
            deferred = self.queue.deferred_job_registry.get_job_count()
            return not self.in_flight() and not (self.queue.count + started + deferred)

        deadline = time.monotonic() + timeout
        while not settled():
            if time.monotonic() > deadline:
                pytest.fail(f"runs still in flight after {timeout:g} s: {self.in_flight()}")
            time.sleep(0.05)
        dead = [p for p in self.workers if p.poll() is not None]
        assert not dead, [f"worker {p.pid} exited: {self.log(p)}" for p in dead]
