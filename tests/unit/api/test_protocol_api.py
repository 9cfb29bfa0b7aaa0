"""The thread-centric protocol's routes refuse what is not a command or a filter with
LangGraph's codes and texts, before any command runs (the commands themselves:
tests/integration/sdk/test_thread_protocol.py)."""

from __future__ import annotations

from typing import Any

import pytest
from fakeredis import FakeRedis
from fastapi.testclient import TestClient

from tests.unit.helpers import keyspace, make_client

THREAD = "00000000-0000-4000-8000-0000000000a1"


@pytest.fixture
def client(fake_redis: FakeRedis) -> TestClient:
    return make_client(fake_redis)


@pytest.mark.parametrize("path", ["commands", "stream/events"])
@pytest.mark.parametrize("body", [b'{"id": ', b""])
def test_a_body_that_is_not_json_is_400(client: TestClient, path: str, body: bytes) -> None:
    resp = client.post(f"/threads/{THREAD}/{path}", content=body)
    assert (resp.status_code, resp.json()) == (400, {"detail": "Invalid JSON body"})


@pytest.mark.parametrize(
    "command",
    [{"method": "run.start"}, {"id": "1", "method": "run.start"}, {"id": 1}, [1], {"id": 2.0}],
)
def test_a_body_that_is_not_a_command_is_400(
    client: TestClient, fake_redis: FakeRedis, command: Any
) -> None:
    resp = client.post(f"/threads/{THREAD}/commands", json=command)
    assert resp.status_code == 400
    assert resp.json() == {
        "type": "error",
        "id": command.get("id") if isinstance(command, dict) else None,
        "error": "invalid_argument",
        "message": "Protocol commands must include an integer id and string method.",
    }
    assert keyspace(fake_redis) == set()


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({}, "channels is required and must be a non-empty array"),
        ({"channels": []}, "channels is required and must be a non-empty array"),
        (
            {"channels": ["values", "debug", 3]},
            "channels contains unsupported entries: debug, 3. Allowed: values, updates, "
            "messages, tools, custom, lifecycle, input, tasks, or any `custom:<name>`.",
        ),
    ],
)
def test_a_stream_needs_known_channels(client: TestClient, body: Any, text: str) -> None:
    resp = client.post(f"/threads/{THREAD}/stream/events", json=body)
    assert (resp.status_code, resp.json()) == (400, {"detail": text})
