"""Random JSON bodies, built from the real field names, never get a 5xx.

Numbers stay within 64-bit integers and |x| < 1e15: larger ones have tests of their own
(test_api_validation.py::test_huge_numbers_are_not_a_server_error).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fakeredis import FakeRedis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.helpers import make_client

THREAD_IDS = ["00000000-0000-4000-8000-0000000000a1", "00000000-0000-4000-8000-0000000000a2"]
RUN_IDS = ["00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"]
FUZZ = settings(
    max_examples=75, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(-1e15, 1e15, allow_nan=False),
    st.text(max_size=12),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
# Values that pass validation now and then, so that bodies also reach the stores.
plausible = {
    "thread_id": st.sampled_from(THREAD_IDS),
    "run_id": st.sampled_from(RUN_IDS),
    "ids": st.lists(st.sampled_from(THREAD_IDS)),
    "thread_ids": st.lists(st.sampled_from(THREAD_IDS)),
    "type": st.sampled_from(["run.pending", "run.started", "run.succeeded", "run.cancelled"]),
    "status": st.sampled_from(["idle", "busy", "interrupted", "error"]),
    "sort_by": st.sampled_from(["thread_id", "status", "created_at", "updated_at"]),
    "sort_order": st.sampled_from(["asc", "desc"]),
    "limit": st.integers(1, 1000),
    "offset": st.integers(0, 50),
    "at": st.sampled_from(["2025-01-01T00:00:00Z", "2025-01-01T00:00:01+02:00", "2025-01-01"]),
    "select": st.lists(st.sampled_from(["thread_id", "status", "values", "metadata"])),
    "extract": st.dictionaries(
        st.sampled_from(["a", "b"]), st.sampled_from(["values.x", "metadata.a[0]", "config"])
    ),
    "metadata": st.dictionaries(st.sampled_from(["a", "b"]), json_values, max_size=2),
    "values": st.dictionaries(st.sampled_from(["a", "x"]), json_values, max_size=2),
    "ttl": st.one_of(st.floats(0.001, 1e6), st.fixed_dictionaries({"ttl": st.integers(1, 999)})),
    "next": st.lists(st.text(max_size=3), max_size=2),
    "error": st.fixed_dictionaries({"error": st.text(max_size=5)}),
    "interrupts": st.dictionaries(st.text(max_size=4), json_values, max_size=2),
    "kwargs": st.dictionaries(st.text(max_size=4), json_values, max_size=2),
    "assistant_id": st.text(max_size=8),
    "multitask_strategy": st.sampled_from(["reject", "interrupt", "rollback", "enqueue"]),
}
THREAD_FIELDS = ["thread_id", "metadata", "if_exists", "ttl"]
SEARCH_FIELDS = ["ids", "metadata", "values", "status", "limit", "offset", "sort_by",
                 "sort_order", "select", "extract"]  # fmt: skip
EVENT_FIELDS = ["thread_id", "run_id", "type", "at", "values", "interrupts", "error",
                "metadata", "next", "assistant_id", "kwargs", "multitask_strategy"]  # fmt: skip


@pytest.fixture
def client(fake_redis: FakeRedis) -> Iterator[TestClient]:
    """One app for all the examples of a test; its keyspace grows as they run."""
    yield make_client(fake_redis)


def body_of(fields: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """A dict of some of `fields`, each holding a plausible or an arbitrary JSON value."""

    def value(field: str) -> st.SearchStrategy[Any]:
        return plausible[field] | json_values if field in plausible else json_values

    return st.lists(st.sampled_from(fields), unique=True).flatmap(
        lambda chosen: st.fixed_dictionaries({f: value(f) for f in chosen})
    )


def valid_event() -> st.SearchStrategy[dict[str, Any]]:
    """An event that passes validation: plausible values only, the required fields present."""
    required = {f: plausible[f] for f in ("thread_id", "run_id", "type")}
    optional = {f: plausible[f] for f in EVENT_FIELDS if f not in required}
    return st.fixed_dictionaries(required, optional=optional)


def events_body() -> st.SearchStrategy[Any]:
    wild = body_of(EVENT_FIELDS)
    return st.one_of(
        st.fixed_dictionaries({"events": st.lists(valid_event(), min_size=1, max_size=6)}),
        st.fixed_dictionaries({"events": st.lists(valid_event() | wild, max_size=4)}),
        json_values,
    )


@FUZZ
@given(path=st.sampled_from(["/threads/search", "/threads/count"]), body=body_of(SEARCH_FIELDS))
def test_search_and_count_never_fail(client: TestClient, path: str, body: Any) -> None:
    client.post("/threads", json={"thread_id": THREAD_IDS[0], "if_exists": "do_nothing",
                                  "metadata": {"a": [1, {"b": None}]}})  # fmt: skip
    resp = client.post(path, json=body)
    assert resp.status_code < 500, (body, resp.text)


@FUZZ
@given(body=body_of(THREAD_FIELDS) | json_values)
def test_create_never_fails(client: TestClient, body: Any) -> None:
    resp = client.post("/threads", json=body)
    assert resp.status_code < 500, (body, resp.text)


@FUZZ
@given(body=events_body())
def test_events_never_fail(client: TestClient, body: Any) -> None:
    resp = client.post("/runs/events", json=body)
    assert resp.status_code < 500, (body, resp.text)
    for thread_id in THREAD_IDS:  # and what they wrote reads back
        assert client.get(f"/threads/{thread_id}").status_code in (200, 404)
        assert client.get(f"/threads/{thread_id}/runs").status_code in (200, 404)


@FUZZ
@given(body=body_of(["metadata", "ttl"]) | json_values)
def test_patch_never_fails(client: TestClient, body: Any) -> None:
    thread_id = THREAD_IDS[1]
    client.post("/threads", json={"thread_id": thread_id, "if_exists": "do_nothing"})
    resp = client.patch(f"/threads/{thread_id}", json=body)
    assert resp.status_code < 500, (body, resp.text)
