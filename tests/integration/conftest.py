"""Integration tier: the real server as a subprocess on a real Redis, and real SDK clients.

Every test here is marked `integration`; those that use the JS SDK are also marked `js`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import redis
from langgraph_sdk import get_sync_client
from langgraph_sdk.client import SyncLangGraphClient

from tests.integration.run_stack import RunStack
from tests.integration.servers import OwnRedis, running_api
from tests.support import no_server

HERE = Path(__file__).parent
JS_DIR = HERE.parent / "js"
NODE_TIMEOUT = 60.0


@pytest.hookimpl(tryfirst=True)  # before -m selects on the markers added here
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # This hook sees the whole session's items, not only this folder's.
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.integration)
            if "js_sdk_dir" in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.js)


@pytest.fixture(scope="session")
def api_url(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of the real API (a uvicorn subprocess) on the test Redis, for the session.

    It runs in a temp dir (no stray .env) and logs to <tmp>/api/server.log.
    """
    with running_api(redis_url, tmp_path_factory.mktemp("api")) as url:
        yield url


def js_missing() -> list[str]:
    """The packages of tests/js/package.json that are not in its node_modules yet."""
    wanted = json.loads((JS_DIR / "package.json").read_text())["dependencies"]
    return [name for name in wanted if not (JS_DIR / "node_modules" / name).is_dir()]


@pytest.fixture(scope="session")
def js_sdk_dir() -> Path:
    """tests/js with its packages installed (`npm install` when one is missing)."""
    npm = shutil.which("npm")
    if not shutil.which("node") or not npm:
        no_server("node and npm are needed for the JS SDK tests")
    if js_missing():
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
def run_stack_env() -> dict[str, str]:
    """Settings a test module gives its `run_stack` (override it in the module)."""
    return {}


@pytest.fixture(scope="module")
def run_stack(
    redis_url: str, tmp_path_factory: pytest.TempPathFactory, run_stack_env: dict[str, str]
) -> Iterator[RunStack]:
    """The API with the fixture project's graphs and two `threadwatch worker` processes
    (tests/integration/run_stack.py), for one test module; stopped (SIGTERM, then SIGKILL)
    at its end."""
    stack = RunStack.start(redis_url, tmp_path_factory.mktemp("runs"), env=run_stack_env)
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


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path / "redis")
    try:
        server.start()
    except Exception as exc:
        no_server(f"cannot start an embedded Redis: {exc}")
    try:
        yield server
    finally:
        server.stop()
