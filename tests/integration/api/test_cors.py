"""CORS against real processes: `threadwatch dev` opens the API to any origin and answers
the Private Network Access preflight, as `langgraph dev` does; `threadwatch serve` allows
the origins of THREADWATCH_CORS_ORIGINS only, and none without it."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.integration.deploy.test_cli_dev import start_dev, wait_for_ok
from tests.integration.servers import running_api
from tests.support import free_port, server_env
from threadwatch.cli.processes import stop_process

STUDIO = "https://smith.langchain.com"
UI = "https://ui.example.com"
ASKED_HEADERS = "content-type,x-api-key,x-auth-scheme"


def preflight(url: str, origin: str, private_network: bool = False) -> httpx.Response:
    """The OPTIONS a browser sends before agent-chat-ui's POST /threads/search."""
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": ASKED_HEADERS,
    }
    if private_network:
        headers["Access-Control-Request-Private-Network"] = "true"
    return httpx.options(f"{url}/threads/search", headers=headers)


def test_dev_allows_any_origin_and_private_network(redis_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = {**server_env(redis_url), "PYTHONUNBUFFERED": "1"}
    proc, output = start_dev(tmp_path, port, env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_ok(url, proc, output)
        resp = preflight(url, STUDIO, private_network=True)
        assert resp.status_code == 200, resp.text
        assert resp.headers["access-control-allow-origin"] == "*"
        assert resp.headers["access-control-allow-private-network"] == "true"
        assert resp.headers["access-control-allow-headers"] == ASKED_HEADERS
        assert "POST" in resp.headers["access-control-allow-methods"]
        assert "access-control-allow-credentials" not in resp.headers  # as langgraph dev
        info = httpx.get(f"{url}/info", headers={"Origin": "http://localhost:3000"})
        assert info.status_code == 200
        assert info.headers["access-control-allow-origin"] == "*"
        exposed = info.headers["access-control-expose-headers"].split(", ")
        assert {"x-pagination-total", "x-pagination-next", "content-location"} <= set(exposed)
    finally:
        stop_process(proc)


def test_serve_keeps_its_origins(redis_url: str, tmp_path: Path) -> None:
    env = {"THREADWATCH_CORS_ORIGINS": UI}
    with running_api(redis_url, tmp_path, env=env) as url:
        allowed = preflight(url, UI)
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == UI
        assert allowed.headers["access-control-allow-credentials"] == "true"
        other = preflight(url, STUDIO)
        assert other.status_code == 400 and "access-control-allow-origin" not in other.headers
        # Private Network Access is dev's only, unless asked for.
        private = preflight(url, UI, private_network=True)
        assert private.status_code == 400 and private.text == "Disallowed CORS private-network"


def test_serve_without_origins_sends_no_cors_headers(redis_url: str, tmp_path: Path) -> None:
    with running_api(redis_url, tmp_path) as url:
        resp = preflight(url, UI, private_network=True)
        assert "access-control-allow-origin" not in resp.headers
        assert "access-control-allow-private-network" not in resp.headers
