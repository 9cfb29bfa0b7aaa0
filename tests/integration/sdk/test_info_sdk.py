"""GET /info from a real API process, through the Python SDK's HTTP client (sync and async)
and raw HTTP: LangGraph's keys, and flags that say what this server serves."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from langgraph_sdk import get_client, get_sync_client

# langgraph-api 0.16.7 answers these keys, flags and host keys (api/meta.py).
KEYS = ["version", "langgraph_py_version", "flags", "host"]
FLAGS = [
    "assistants",
    "crons",
    "langsmith",
    "langsmith_tracing_replicas",
    "langsmith_tracing_session_on_runs",
]


def check(info: dict[str, Any]) -> None:
    assert list(info)[:4] == KEYS
    assert list(info["flags"])[:5] == FLAGS
    assert all(isinstance(value, bool) for value in info["flags"].values())
    assert info["flags"]["langsmith"] is False  # no LangSmith here
    assert info["host"]["kind"] == "self-hosted"


def test_info_through_the_sdks_and_raw_http(api_url: str) -> None:
    raw = httpx.get(f"{api_url}/info")
    assert raw.status_code == 200 and raw.headers["content-type"] == "application/json"
    check(raw.json())
    with get_sync_client(url=api_url) as sync:
        assert sync.http.get("/info") == raw.json()

    async def read() -> Any:
        async with get_client(url=api_url) as client:
            return await client.http.get("/info")

    assert asyncio.run(read()) == raw.json()
