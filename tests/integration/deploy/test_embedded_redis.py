"""The embedded Valkey: loopback only, persistence, clean stop, dies with its parent."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from tests.support import REPO_ROOT
from threadwatch.cli import embedded_redis
from threadwatch.cli.embedded_redis import (
    JEMALLOC,
    MALLOC_TUNABLES,
    EmbeddedRedisError,
    _server_env,
    start_embedded_redis,
)


def is_alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def test_throwaway_server_binds_loopback_and_removes_its_dir() -> None:
    with start_embedded_redis(None) as server:
        client = redis.Redis.from_url(server.url)
        assert client.config_get("bind") == {"bind": "127.0.0.1"}
        assert client.config_get("appendonly") == {"appendonly": "no"}
        client.close()
    assert server.process.poll() is not None
    assert not server.data_dir.exists()


def test_server_env_sets_its_allocator(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server's environment preloads jemalloc when the system has it, and adds
    MALLOC_TUNABLES to the user's GLIBC_TUNABLES (theirs, later, win where both set one).
    (The server rewrites its /proc environ for its process title, so the function that
    builds it is what is checked.)"""
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.arena_max=2")
    monkeypatch.setenv("LD_PRELOAD", "libmine.so")
    monkeypatch.setattr(embedded_redis, "_has_jemalloc", lambda: True)
    env = _server_env()
    assert env["GLIBC_TUNABLES"] == f"{MALLOC_TUNABLES}:glibc.malloc.arena_max=2"
    assert env["LD_PRELOAD"] == f"{JEMALLOC} libmine.so"
    monkeypatch.delenv("GLIBC_TUNABLES")
    monkeypatch.delenv("LD_PRELOAD")
    monkeypatch.setattr(embedded_redis, "_has_jemalloc", lambda: False)
    env = _server_env()
    assert env["GLIBC_TUNABLES"] == MALLOC_TUNABLES and "LD_PRELOAD" not in env


def test_server_loads_jemalloc_when_the_system_has_it() -> None:
    if not embedded_redis._has_jemalloc():
        pytest.skip("no libjemalloc.so.2 on this system")
    with start_embedded_redis(None) as server:
        maps = Path(f"/proc/{server.process.pid}/maps").read_text()
        assert JEMALLOC in maps
        assert redis.Redis.from_url(server.url).ping()


def test_data_dir_keeps_data_between_restarts(tmp_path: Path) -> None:
    with start_embedded_redis(tmp_path / "data") as server:
        client = redis.Redis.from_url(server.url)
        client.set("k", "v")
        client.close()
    with start_embedded_redis(tmp_path / "data") as server:
        client = redis.Redis.from_url(server.url)
        assert client.get("k") == b"v"
        client.close()
    assert (tmp_path / "data" / "appendonlydir").is_dir()


def test_a_taken_port_is_an_error_not_someone_elses_server(tmp_path: Path) -> None:
    with start_embedded_redis(None) as first:
        with pytest.raises(EmbeddedRedisError, match="already in use"):
            start_embedded_redis(tmp_path, port=first.port)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_server_dies_with_a_killed_parent(tmp_path: Path) -> None:
    parent = (
        "import os, signal, sys\n"
        "from threadwatch.cli.embedded_redis import start_embedded_redis\n"
        "print(start_embedded_redis(sys.argv[1]).process.pid, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", parent, str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == -9, result.stderr
    pid = int(result.stdout)
    deadline = time.monotonic() + 5
    while is_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not is_alive(pid)
