"""Integration tier: the real server as a subprocess on a real Redis, and real SDK clients.

Every test here is marked `integration`; those that use the JS SDK are also marked `js`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
import redis
from langgraph_sdk import get_sync_client
from langgraph_sdk.client import SyncLangGraphClient

from app.processes import child_popen_kwargs, stop_process
from tests.support import free_port, no_server, server_env

if TYPE_CHECKING:  # imported in the fixture: run_stack imports this module
    from tests.integration.run_stack import RunStack

HERE = Path(__file__).parent
JS_DIR = HERE.parent / "js"
JS_SDK = JS_DIR / "node_modules" / "@langchain" / "langgraph-sdk"
STARTUP_TIMEOUT = 20.0
NODE_TIMEOUT = 60.0


@pytest.hookimpl(tryfirst=True)  # before -m selects on the markers added here
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # This hook sees the whole session's items, not only this folder's.
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.integration)
            if "js_sdk_dir" in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.js)


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


@pytest.fixture(scope="session")
def api_url(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of the real API (a uvicorn subprocess) on the test Redis, for the session.

    It runs in a temp dir (no stray .env) and logs to <tmp>/api/server.log.
    """
    port, workdir = free_port(), tmp_path_factory.mktemp("api")
    argv = [sys.executable, "-m", "uvicorn", "app.api.app:create_app", "--factory"]
    argv += ["--host", "127.0.0.1", "--port", str(port)]
    log = workdir / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            argv,
            env=server_env(redis_url),
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            **child_popen_kwargs(),
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ok(url, proc, log, STARTUP_TIMEOUT)
        yield url
    finally:
        stop_process(proc)


@pytest.fixture(scope="session")
def js_sdk_dir() -> Path:
    """tests/js with @langchain/langgraph-sdk installed (`npm install` on first use)."""
    npm = shutil.which("npm")
    if not shutil.which("node") or not npm:
        no_server("node and npm are needed for the JS SDK tests")
    if not JS_SDK.is_dir():
        result = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund"],
            cwd=JS_DIR,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if result.returncode != 0:
            pytest.fail(f"npm install failed:\n{result.stdout}\n{result.stderr}", pytrace=False)
    return JS_DIR


@pytest.fixture
def run_node(js_sdk_dir: Path) -> Callable[..., str]:
    """`run_node(script, env) -> stdout`: run an ES module with node, next to the SDK.

    The script goes under tests/js/.tmp/ so that its imports resolve to tests/js/node_modules;
    `env` is added to this environment. A non-zero exit fails the test with node's stderr.
    """
    scratch = js_sdk_dir / ".tmp"
    scratch.mkdir(exist_ok=True)

    def run(script: str, env: dict[str, str] | None = None, timeout: float = NODE_TIMEOUT) -> str:
        path = scratch / f"run_{uuid.uuid4().hex}.mjs"
        path.write_text(script)
        try:
            result = subprocess.run(
                ["node", str(path)],
                cwd=js_sdk_dir,
                env={**os.environ, **(env or {})},
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        finally:
            path.unlink(missing_ok=True)
        if result.returncode != 0:
            pytest.fail(
                f"node exited with code {result.returncode}:\n{result.stderr}\n{result.stdout}",
                pytrace=False,
            )
        return result.stdout

    return run


@pytest.fixture
def http(api_url: str, redis_client: redis.Redis) -> Iterator[httpx.Client]:
    """An httpx client on the API, on an empty database (flushed around the test)."""
    with httpx.Client(base_url=api_url, timeout=30.0) as client:
        yield client


@pytest.fixture(scope="module")
def run_stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunStack]:
    """The API with the fixture project's graphs and two `threadwatch worker` processes
    (tests/integration/run_stack.py), for one test module; stopped (SIGTERM, then SIGKILL)
    at its end."""
    from tests.integration.run_stack import RunStack

    stack = RunStack.start(redis_url, tmp_path_factory.mktemp("runs"))
    try:
        yield stack
    finally:
        codes = stack.close()
    assert None not in codes, codes


@pytest.fixture
def sdk(run_stack: RunStack) -> Iterator[SyncLangGraphClient]:
    """The Python SDK's sync client on `run_stack`; the test's runs must end by its end."""
    with get_sync_client(url=run_stack.url) as client:
        yield client
    run_stack.settle()
