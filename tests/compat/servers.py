"""The two servers the compatibility script compares: LangGraph's `langgraph dev` (from its own
virtualenv) and `threadwatch dev` (with its embedded Valkey), each on a fresh copy of the
fixture project, so that neither sees the other's data or a previous run's."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support import FIXTURES

# The chat graph every flow runs (tests/fixtures/graphs/chat_project/chat.py).
PROJECT = FIXTURES / "graphs" / "chat_project"
STARTUP_TIMEOUT = 120.0  # langgraph dev imports a lot on a 2-core machine
DEFAULT_LG_VENV = "/tmp/lgvenv"


@dataclass(frozen=True)
class Server:
    """One running server: its name in the report, its base URL and its log."""

    name: str
    url: str
    log: Path


def project_copy(workdir: Path, name: str) -> Path:
    """A fresh copy of the fixture project under ``workdir``/``name``."""
    folder = workdir / name
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(PROJECT, folder, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def langgraph_argv(lg_venv: Path, port: int) -> list[str]:
    langgraph = lg_venv / "bin" / "langgraph"
    if not langgraph.exists():
        raise SystemExit(
            f"{langgraph} is missing. Create it with:\n"
            f"  python3 -m venv {lg_venv} && {lg_venv}/bin/pip install 'langgraph-cli[inmem]'"
        )
    return [str(langgraph), "dev", "--no-browser", "--no-reload", "--port", str(port)]


def threadwatch_argv(port: int) -> list[str]:
    script = Path(sys.executable).with_name("threadwatch")
    return [str(script), "dev", "--port", str(port)]


def server_env() -> dict[str, str]:
    """This environment less anything that would point a server at another Redis or key."""
    dropped = {"REDIS_URL", "THREADWATCH_REDIS_URL", "THREADWATCH_API_KEYS", "VIRTUAL_ENV"}
    env = {k: v for k, v in os.environ.items() if k.upper() not in dropped}
    env["PYTHONUNBUFFERED"] = "1"
    env["LANGSMITH_TRACING"] = "false"  # no network: LangGraph's dev server would try
    return env


def wait_ready(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{url}/ok", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url}: not ready in {STARTUP_TIMEOUT:g} s:\n{log.read_text()[-4000:]}")


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's process group (its children too), SIGKILL after 15 s."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@contextmanager
def running(name: str, argv: list[str], folder: Path, port: int) -> Iterator[Server]:
    """Run ``argv`` in ``folder`` (its output in ``folder``/server.log) until ready."""
    log = folder / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            argv,
            cwd=folder,
            env=server_env(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            process_group=0,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc, log)
        yield Server(name, url, log)
    finally:
        stop(proc)


@contextmanager
def both(workdir: Path, lg_venv: Path, lg_port: int, tw_port: int) -> Iterator[list[Server]]:
    """LangGraph's dev server and threadwatch's, both ready; stopped on exit."""
    lg_argv = langgraph_argv(lg_venv, lg_port)
    with running("langgraph", lg_argv, project_copy(workdir, "langgraph"), lg_port) as lg:
        tw_folder = project_copy(workdir, "threadwatch")
        with running("threadwatch", threadwatch_argv(tw_port), tw_folder, tw_port) as tw:
            yield [lg, tw]
