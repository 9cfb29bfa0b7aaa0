"""API keys end to end: the real API started with THREADWATCH_API_KEYS, called by the real
Python SDK (`api_key=` goes out as `x-api-key`); and `threadwatch dev`, which ignores them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from langgraph_sdk import get_sync_client
from langgraph_sdk.errors import AuthenticationError, PermissionDeniedError

from tests.integration.deploy.test_cli_dev import start_dev, wait_for_ok
from tests.integration.servers import running_api
from tests.support import free_port, server_env
from threadwatch.api.security import MISSING_KEY, WRONG_KEY
from threadwatch.cli.processes import stop_process

KEY = "tw-test-key-1"
ROTATED = "tw-test-key-2"


@pytest.fixture(scope="module")
def keyed_url(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The API requiring one of two keys; /metrics stays protected (the default)."""
    env = {"THREADWATCH_API_KEYS": f"{KEY},{ROTATED}"}
    with running_api(redis_url, tmp_path_factory.mktemp("keyed"), env=env) as url:
        yield url


def test_sdk_with_a_key_works(keyed_url: str, redis_client: redis.Redis) -> None:
    for key in (KEY, ROTATED):
        with get_sync_client(url=keyed_url, api_key=key) as client:
            thread = client.threads.create(metadata={"team": "a"})
            found = client.threads.search(metadata={"team": "a"}, limit=10)
            assert thread["thread_id"] in [t["thread_id"] for t in found]
            assert client.threads.count(metadata={"team": "a"}) >= 1


def test_sdk_without_a_key_gets_401(keyed_url: str, redis_client: redis.Redis) -> None:
    # api_key=None: the SDK sends no key even if LANGGRAPH_API_KEY is set here.
    with get_sync_client(url=keyed_url, api_key=None) as client:
        with pytest.raises(AuthenticationError) as raised:
            client.threads.create()
        assert raised.value.status_code == 401
        with pytest.raises(AuthenticationError):
            client.threads.search()
        with pytest.raises(AuthenticationError):
            client.threads.count()
    assert redis_client.dbsize() == 0  # nothing was written


def test_sdk_with_a_wrong_key_gets_403(keyed_url: str, redis_client: redis.Redis) -> None:
    with get_sync_client(url=keyed_url, api_key="not-the-key") as client:
        with pytest.raises(PermissionDeniedError) as raised:
            client.threads.search()
        assert raised.value.status_code == 403


def test_texts_and_open_routes_over_http(keyed_url: str) -> None:
    with httpx.Client(base_url=keyed_url, timeout=10.0) as http:
        assert http.get("/ok").json() == {"ok": True}
        missing = http.post("/threads/search", json={})
        assert (missing.status_code, missing.json()) == (401, {"detail": MISSING_KEY})
        wrong = http.post("/threads/search", json={}, headers={"x-api-key": "x"})
        assert (wrong.status_code, wrong.json()) == (403, {"detail": WRONG_KEY})
        assert http.get("/metrics").status_code == 401
        metrics = http.get("/metrics", headers={"x-api-key": KEY})
        assert metrics.status_code == 200 and "threadwatch_" in metrics.text


def test_metrics_public(redis_url: str, tmp_path: Path) -> None:
    env = {"THREADWATCH_API_KEYS": KEY, "THREADWATCH_METRICS_PUBLIC": "true"}
    with running_api(redis_url, tmp_path, env=env) as url:
        assert httpx.get(f"{url}/metrics", timeout=10.0).status_code == 200
        assert httpx.post(f"{url}/threads/count", json={}, timeout=10.0).status_code == 401


def test_dev_leaves_auth_off_and_says_so(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    port = free_port()
    # Keys both in the environment and in a .env file: dev ignores both.
    (tmp_path / ".env").write_text(f"THREADWATCH_API_KEYS={KEY}\n")
    env = {**server_env(redis_url), "THREADWATCH_API_KEYS": KEY, "PYTHONUNBUFFERED": "1"}
    proc, output = start_dev(tmp_path, port, env)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_ok(url, proc, output)
        assert "auth: off (dev ignores THREADWATCH_API_KEYS" in output.read_text()
        with get_sync_client(url=url, api_key=None) as client:
            assert client.threads.count() == 0
    finally:
        stop_process(proc)
