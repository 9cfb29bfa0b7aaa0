"""Helpers for the integration tests: ids, run events over HTTP, thread shapes, and driving a
thread into any status (the way an agent runtime would, through ``POST /runs/events``)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any

import httpx

STATUSES = ("idle", "busy", "interrupted", "error")
# The seed's Output blocks show these keys; the reference (§1.1) adds the others.
SEED_KEYS = {"thread_id", "created_at", "updated_at", "metadata", "status", "config"}
THREAD_KEYS = SEED_KEYS | {"state_updated_at", "values", "interrupts", "error"}
RUN_KEYS = {
    "run_id",
    "thread_id",
    "assistant_id",
    "created_at",
    "updated_at",
    "status",
    "metadata",
    "kwargs",
    "multitask_strategy",
}
# uuid5(NAMESPACE, "agent"): the system assistant LangGraph creates for the graph "agent".
AGENT_ASSISTANT_ID = "fe096781-5601-53d2-b2f6-0d3403f7e9ca"
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")

INTERRUPTS = {"f5eb0a2c-task": [{"id": "a22d-interrupt", "value": {"question": "approve?"}}]}
ERROR = {"error": "ValueError", "message": "boom"}
# The events that take a fresh run to each thread status, and what the last one carries.
STATUS_EVENTS: dict[str, tuple[str, ...]] = {
    "idle": ("run.pending", "run.started", "run.succeeded"),
    "busy": ("run.pending", "run.started"),
    "interrupted": ("run.pending", "run.started", "run.interrupted"),
    "error": ("run.pending", "run.started", "run.failed"),
}
LAST_EVENT_FIELDS: dict[str, dict[str, Any]] = {
    "interrupted": {"interrupts": INTERRUPTS},
    "error": {"error": ERROR},
}


def new_id() -> str:
    return str(uuid.uuid4())


def event(thread_id: str, run_id: str, type: str, **fields: Any) -> dict[str, Any]:
    return {"thread_id": thread_id, "run_id": run_id, "type": type, **fields}


def post_events(http: httpx.Client, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """POST /runs/events; asserts 200 and returns the results."""
    response = http.post("/runs/events", json={"events": events})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert len(results) == len(events)
    return results


def status_events(
    thread_id: str, status: str, run_id: str | None = None, **fields: Any
) -> list[dict[str, Any]]:
    """A run's events that leave a thread with no other run in flight in ``status``.

    ``fields`` (metadata, values, at...) go on the first event, except ``values``, which a
    run reports when it ends (or on its last event when it stays busy).
    """
    run_id = run_id or new_id()
    types = STATUS_EVENTS[status]
    values = fields.pop("values", None)
    events = [event(thread_id, run_id, t) for t in types]
    events[0].update(fields)
    events[-1].update(LAST_EVENT_FIELDS.get(status, {}))
    if values is not None:
        events[-1]["values"] = values
    return events


def drive(http: httpx.Client, thread_id: str, status: str, **fields: Any) -> str:
    """Put the thread (created by its first event if needed) in ``status``; the run id."""
    run_id = fields.pop("run_id", None) or new_id()
    results = post_events(http, status_events(thread_id, status, run_id, **fields))
    assert {r["result"] for r in results} == {"applied"}, results
    thread = get_thread(http, thread_id)
    assert thread["status"] == status, thread
    return run_id


def create_thread(http: httpx.Client, **body: Any) -> dict[str, Any]:
    response = http.post("/threads", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def get_thread(http: httpx.Client, thread_id: str) -> dict[str, Any]:
    response = http.get(f"/threads/{thread_id}")
    assert response.status_code == 200, response.text
    return response.json()


def search(http: httpx.Client, **body: Any) -> list[dict[str, Any]]:
    response = http.post("/threads/search", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def search_ids(http: httpx.Client, **body: Any) -> list[str]:
    return [t["thread_id"] for t in search(http, **body)]


def assert_timestamp(value: Any) -> datetime:
    """RFC 3339 in UTC with microseconds and ``+00:00``, as LangGraph renders them."""
    assert isinstance(value, str) and RFC3339_UTC.match(value), value
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() is not None and parsed.utcoffset().total_seconds() == 0
    return parsed


def assert_thread_shape(thread: dict[str, Any]) -> None:
    """Every key of the reference Thread, with the right types."""
    assert THREAD_KEYS <= thread.keys(), sorted(THREAD_KEYS - thread.keys())
    assert str(uuid.UUID(thread["thread_id"])) == thread["thread_id"]
    for field in ("created_at", "updated_at", "state_updated_at"):
        assert_timestamp(thread[field])
    assert thread["status"] in STATUSES
    assert isinstance(thread["metadata"], dict)
    assert isinstance(thread["config"], dict)
    assert isinstance(thread["interrupts"], dict)
    assert thread["error"] is None or set(thread["error"]) == {"error", "message"}


def assert_run_shape(run: dict[str, Any]) -> None:
    """The reference Run shape (§3.1)."""
    assert RUN_KEYS <= run.keys(), sorted(RUN_KEYS - run.keys())
    assert_timestamp(run["created_at"])
    assert_timestamp(run["updated_at"])
    assert run["status"] in {"pending", "running", "error", "success", "timeout", "interrupted"}
    assert isinstance(run["metadata"], dict) and isinstance(run["kwargs"], dict)
