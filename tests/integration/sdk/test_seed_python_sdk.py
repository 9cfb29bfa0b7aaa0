"""The "Check the Status of your Threads" how-to, Python tab, run verbatim with the SDK.

Each seed line appears below as written (``<DEPLOYMENT_URL>`` and ``<THREAD_ID>`` replaced),
against threads put in each of the four statuses first; the printed output is parsed back
and compared with the how-to's Output blocks.
"""

from __future__ import annotations

import ast
import asyncio
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client, get_sync_client

from tests.integration.helpers import SEED_KEYS, THREAD_KEYS, assert_thread_shape, drive, new_id

AGENT = {"graph_id": "agent"}


def prepare(http: httpx.Client, seed_thread_id: str, foo_thread_id: str) -> None:
    """One thread in each status; the seed's thread is the newest idle one, and an older idle
    thread carries {"foo": "bar"} (the how-to's metadata search answers 'idle')."""
    drive(http, foo_thread_id, "idle", metadata={"foo": "bar", **AGENT})
    drive(http, new_id(), "interrupted", metadata=AGENT)
    drive(http, new_id(), "busy", metadata=AGENT)
    drive(http, new_id(), "error", metadata=AGENT)
    drive(http, seed_thread_id, "idle", metadata=AGENT)


def create_foo_thread(http: httpx.Client) -> str:
    """Created before the seed's thread, so that it is not the newest idle thread."""
    response = http.post("/threads", json={})
    assert response.status_code == 200
    return response.json()["thread_id"]


def check_outputs(out: str, seed_thread: dict[str, Any]) -> None:
    """The seed prints three lists (Python reprs, read back) and two bare statuses."""
    lines = out.splitlines()
    assert len(lines) == 5, out
    idle, interrupted, busy = (ast.literal_eval(line) for line in lines[:3])
    by_id, by_metadata = lines[3:]
    for found, status in ((idle, "idle"), (interrupted, "interrupted"), (busy, "busy")):
        assert isinstance(found, list) and len(found) == 1, found
        (thread,) = found
        assert SEED_KEYS <= thread.keys()
        assert THREAD_KEYS <= thread.keys()
        assert_thread_shape(thread)
        assert thread["status"] == status
        assert thread["metadata"] == {"graph_id": "agent"}
    assert idle[0]["thread_id"] == seed_thread["thread_id"]
    assert idle[0]["created_at"] == seed_thread["created_at"]
    assert interrupted[0]["interrupts"] and interrupted[0]["error"] is None
    assert by_id == "idle"
    assert by_metadata == "idle"


def test_seed_python_async_client(
    api_url: str, http: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    foo_thread_id = create_foo_thread(http)

    async def seed() -> dict[str, Any]:
        from langgraph_sdk import get_client

        client = get_client(url=api_url)
        try:
            # Using the graph deployed with the name "agent"
            assistant_id = "agent"
            thread = await client.threads.create()
            assert assistant_id == "agent"
            prepare(http, thread["thread_id"], foo_thread_id)
            # The how-to's lines, as written (ruff format would change their spacing).
            # fmt: off
            print(await client.threads.search(status="idle",limit=1))
            print(await client.threads.search(status="interrupted",limit=1))
            print(await client.threads.search(status="busy",limit=1))
            print((await client.threads.get(thread["thread_id"]))['status'])
            print((await client.threads.search(metadata={"foo":"bar"},limit=1))[0]['status'])
            # fmt: on
            return thread
        finally:
            await client.aclose()

    capsys.readouterr()
    thread = asyncio.run(seed())
    check_outputs(capsys.readouterr().out, thread)
    assert_thread_shape(thread)
    assert thread["status"] == "idle" and thread["metadata"] == {} and thread["values"] is None


def test_seed_python_sync_client(
    api_url: str, http: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    foo_thread_id = create_foo_thread(http)
    capsys.readouterr()
    with get_sync_client(url=api_url) as client:
        thread = client.threads.create()
        prepare(http, thread["thread_id"], foo_thread_id)
        # fmt: off
        print(client.threads.search(status="idle",limit=1))
        print(client.threads.search(status="interrupted",limit=1))
        print(client.threads.search(status="busy",limit=1))
        print((client.threads.get(thread["thread_id"]))['status'])
        print((client.threads.search(metadata={"foo":"bar"},limit=1))[0]['status'])
        # fmt: on
    check_outputs(capsys.readouterr().out, thread)


def test_seed_error_threads_are_found_too(api_url: str, http: httpx.Client) -> None:
    """The fourth status the how-to does not show: search(status="error") finds it."""
    prepare(http, new_id(), new_id())

    async def main() -> list[dict[str, Any]]:
        client = get_client(url=api_url)
        try:
            return await client.threads.search(status="error", limit=1)
        finally:
            await client.aclose()

    (thread,) = asyncio.run(main())
    assert_thread_shape(thread)
    assert thread["status"] == "error"
    assert thread["error"] == {"error": "ValueError", "message": "boom"}


def test_seed_config_after_a_run_is_configurable(http: httpx.Client) -> None:
    thread_id = new_id()
    drive(http, thread_id, "idle", metadata=AGENT)
    found = http.post("/threads/search", json={"status": "idle", "limit": 1}).json()
    assert "configurable" in found[0]["config"]
