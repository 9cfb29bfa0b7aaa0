"""POST /runs/events end to end over HTTP: every event type's transition, run records in the
reference Run shape, applied / duplicate / stale results, idempotent re-delivery, order
independence, batch validation, and the Python emitter on the same Redis."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import redis

from tests.integration.helpers import (
    AGENT_ASSISTANT_ID,
    ERROR,
    INTERRUPTS,
    assert_run_shape,
    assert_thread_shape,
    assert_timestamp,
    event,
    get_thread,
    new_id,
    post_events,
    search_ids,
)
from threadwatch.runs.emitter import Emitter

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def get_run(http: httpx.Client, thread_id: str, run_id: str) -> dict[str, Any]:
    response = http.get(f"/threads/{thread_id}/runs/{run_id}")
    assert response.status_code == 200, response.text
    run = response.json()
    assert_run_shape(run)
    return run


# -- transitions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "fields", "thread_status", "run_status", "error"),
    [
        ("run.succeeded", {}, "idle", "success", None),
        ("run.interrupted", {"interrupts": INTERRUPTS}, "interrupted", "success", None),
        ("run.failed", {"error": ERROR}, "error", "error", ERROR),
        ("run.failed", {}, "error", "error", {"error": "RunError", "message": "The run failed"}),
        ("run.cancelled", {}, "interrupted", "interrupted", None),
        ("run.cancelled", {"next": []}, "idle", "interrupted", None),
        ("run.cancelled", {"next": ["node"]}, "interrupted", "interrupted", None),
        (
            "run.timeout",
            {},
            "error",
            "timeout",
            {"error": "TimeoutError", "message": "The run timed out"},
        ),
    ],
)
def test_terminal_event_transitions(
    http: httpx.Client,
    type_: str,
    fields: dict[str, Any],
    thread_status: str,
    run_status: str,
    error: dict[str, str] | None,
) -> None:
    thread_id, run_id = new_id(), new_id()
    post_events(http, [event(thread_id, run_id, "run.pending", metadata={"graph_id": "agent"})])
    pending = get_thread(http, thread_id)
    assert pending["status"] == "busy"
    assert get_run(http, thread_id, run_id)["status"] == "pending"
    post_events(http, [event(thread_id, run_id, "run.started")])
    assert get_thread(http, thread_id)["status"] == "busy"
    assert get_run(http, thread_id, run_id)["status"] == "running"
    values = {"messages": ["hi"]}
    (result,) = post_events(http, [event(thread_id, run_id, type_, values=values, **fields)])
    assert result == {"run_id": run_id, "type": type_, "result": "applied"}
    thread = get_thread(http, thread_id)
    assert_thread_shape(thread)
    assert thread["status"] == thread_status
    assert thread["error"] == error
    assert thread["interrupts"] == fields.get("interrupts", {})
    assert thread["values"] == values
    assert thread["state_updated_at"] > pending["state_updated_at"]
    assert thread["updated_at"] > pending["updated_at"]
    run = get_run(http, thread_id, run_id)
    assert run["status"] == run_status
    assert (run["run_id"], run["thread_id"]) == (run_id, thread_id)
    assert run["assistant_id"] == AGENT_ASSISTANT_ID


def test_a_later_run_clears_interrupts_and_error(http: httpx.Client) -> None:
    thread_id = new_id()
    post_events(
        http,
        [
            event(thread_id, run_a := new_id(), "run.failed", at=at(1), error=ERROR),
            event(thread_id, run_b := new_id(), "run.interrupted", at=at(2), interrupts=INTERRUPTS),
        ],
    )
    thread = get_thread(http, thread_id)
    assert (thread["status"], thread["error"], thread["interrupts"]) == (
        "interrupted",
        None,
        INTERRUPTS,
    )
    post_events(http, [event(thread_id, new_id(), "run.succeeded", at=at(3))])
    thread = get_thread(http, thread_id)
    assert (thread["status"], thread["error"], thread["interrupts"]) == ("idle", None, {})
    assert {r["run_id"] for r in http.get(f"/threads/{thread_id}/runs").json()} >= {run_a, run_b}


def test_busy_while_any_run_is_in_flight(http: httpx.Client) -> None:
    thread_id, first, second = new_id(), new_id(), new_id()
    post_events(
        http,
        [
            event(thread_id, first, "run.pending", at=at(1)),
            event(thread_id, second, "run.pending", at=at(2), multitask_strategy="enqueue"),
            event(thread_id, first, "run.started", at=at(3)),
            event(thread_id, first, "run.succeeded", at=at(4)),
        ],
    )
    assert get_thread(http, thread_id)["status"] == "busy"
    post_events(http, [event(thread_id, second, "run.failed", at=at(5), error=ERROR)])
    thread = get_thread(http, thread_id)
    assert thread["status"] == "error" and thread["error"] == ERROR
    runs = http.get(f"/threads/{thread_id}/runs").json()
    assert [r["run_id"] for r in runs] == [second, first]  # newest created first
    assert [r["status"] for r in runs] == ["error", "success"]
    assert runs[0]["multitask_strategy"] == "enqueue"
    for run in runs:
        assert_run_shape(run)
    limited = http.get(f"/threads/{thread_id}/runs", params={"limit": 1, "offset": 1}).json()
    assert [r["run_id"] for r in limited] == [first]
    only = http.get(f"/threads/{thread_id}/runs", params={"status": "success"}).json()
    assert [r["run_id"] for r in only] == [first]


def test_run_record_shape_and_fields(http: httpx.Client) -> None:
    thread_id, run_id = new_id(), new_id()
    assistant = new_id()
    post_events(
        http,
        [
            event(
                thread_id,
                run_id,
                "run.pending",
                at=at(10),
                assistant_id=assistant,
                metadata={"graph_id": "agent", "k": "v"},
                kwargs={"input": {"x": 1}},
                multitask_strategy="reject",
            )
        ],
    )
    run = get_run(http, thread_id, run_id)
    assert set(run) >= {"run_id", "thread_id", "assistant_id", "created_at", "updated_at"}
    assert run["assistant_id"] == assistant
    assert run["metadata"] == {"graph_id": "agent", "k": "v"}
    assert run["kwargs"] == {"input": {"x": 1}}
    assert run["multitask_strategy"] == "reject"
    assert assert_timestamp(run["created_at"]) == T0 + timedelta(seconds=10)
    # Times in any offset (or naive, taken as UTC) are rendered in UTC.
    shifted = (T0 + timedelta(seconds=20)).astimezone(timezone(timedelta(hours=2)))
    naive = (T0 + timedelta(seconds=30)).replace(tzinfo=None)
    for moment in (shifted, naive):
        other_run = new_id()
        post_events(http, [event(thread_id, other_run, "run.pending", at=moment.isoformat())])
        created = get_run(http, thread_id, other_run)["created_at"]
        assert assert_timestamp(created) == moment.replace(tzinfo=moment.tzinfo or UTC)
    assert http.get(f"/threads/{thread_id}/runs/{new_id()}").status_code == 404
    other = new_id()
    post_events(http, [event(other, new_id(), "run.pending")])
    response = http.get(f"/threads/{other}/runs/{run_id}")  # exists, but on another thread
    assert response.status_code == 404
    assert response.json() == {"detail": f"Run with ID {run_id} not found"}


# -- results, idempotence, order ------------------------------------------------------------


def test_applied_duplicate_stale(http: httpx.Client) -> None:
    thread_id, run_id = new_id(), new_id()
    events = [
        event(thread_id, run_id, "run.pending"),
        event(thread_id, run_id, "run.started"),
        event(thread_id, run_id, "run.started"),
        event(thread_id, run_id, "run.pending"),
        event(thread_id, run_id, "run.succeeded"),
        event(thread_id, run_id, "run.succeeded"),
        event(thread_id, run_id, "run.failed"),
        event(thread_id, run_id, "run.started"),
    ]
    results = post_events(http, events)
    assert [r["result"] for r in results] == [
        "applied",
        "applied",
        "duplicate",
        "stale",
        "applied",
        "duplicate",
        "stale",
        "stale",
    ]
    assert [(r["run_id"], r["type"]) for r in results] == [(run_id, e["type"]) for e in events]
    assert get_thread(http, thread_id)["status"] == "idle"
    assert get_run(http, thread_id, run_id)["status"] == "success"


def run_history(thread_id: str, runs: list[str]) -> list[dict[str, Any]]:
    """Three runs with explicit times: the last terminal one is an interrupt."""
    return [
        event(thread_id, runs[0], "run.pending", at=at(1), metadata={"graph_id": "agent"}),
        event(thread_id, runs[0], "run.started", at=at(2)),
        event(thread_id, runs[0], "run.failed", at=at(3), error=ERROR, values={"v": 1}),
        event(thread_id, runs[1], "run.pending", at=at(4), metadata={"team": "a"}),
        event(thread_id, runs[1], "run.started", at=at(5)),
        event(thread_id, runs[2], "run.pending", at=at(6)),
        event(thread_id, runs[1], "run.interrupted", at=at(7), interrupts=INTERRUPTS),
        event(thread_id, runs[2], "run.started", at=at(8)),
        event(thread_id, runs[2], "run.cancelled", at=at(6.5), values={"v": 3}),
    ]


def test_resending_a_batch_changes_nothing(http: httpx.Client) -> None:
    thread_id = new_id()
    events = run_history(thread_id, [new_id() for _ in range(3)])
    post_events(http, events)
    before = get_thread(http, thread_id)
    runs_before = http.get(f"/threads/{thread_id}/runs").json()
    results = post_events(http, events)
    assert {r["result"] for r in results} <= {"duplicate", "stale"}
    assert get_thread(http, thread_id) == before
    assert http.get(f"/threads/{thread_id}/runs").json() == runs_before


def converged_view(http: httpx.Client, thread_id: str, runs: list[str]) -> dict[str, Any]:
    """Everything about the thread that depends only on its events (not on the clock)."""
    thread = get_thread(http, thread_id)
    view = {k: thread[k] for k in ("status", "values", "interrupts", "error", "metadata")}
    view["status_since"] = thread["status_since"]
    view["runs"] = [get_run(http, thread_id, run_id)["status"] for run_id in runs]
    return view


def test_out_of_order_delivery_converges(http: httpx.Client) -> None:
    """The thread ends the same whatever order its events arrive in (fresh ids each time)."""
    orders = [list(range(9)), list(range(9))[::-1]]
    orders += [random.Random(seed).sample(range(9), 9) for seed in (1, 2, 3)]
    views = []
    for order in orders:
        thread_id, runs = new_id(), [new_id() for _ in range(3)]
        history = run_history(thread_id, runs)
        for index in order:  # one event per request: the worst interleaving
            post_events(http, [history[index]])
        views.append(converged_view(http, thread_id, runs))
    for view in views[1:]:
        assert view == views[0]
    final = views[0]
    assert final["status"] == "interrupted"  # run 1's interrupt is the latest end
    assert final["interrupts"] == INTERRUPTS and final["error"] is None
    assert final["values"] == {"v": 3}  # run 2's cancel (at 6.5) is the latest with values
    assert final["metadata"] == {"graph_id": "agent", "team": "a"}
    assert assert_timestamp(final["status_since"]) == T0 + timedelta(seconds=7)
    assert final["runs"] == ["error", "success", "interrupted"]


def test_out_of_order_delivery_converges_run_records(http: httpx.Client) -> None:
    records = []
    for reverse in (False, True):
        thread_id, run_id = new_id(), new_id()
        events = [
            event(
                thread_id,
                run_id,
                "run.pending",
                at=at(1),
                metadata={"graph_id": "agent"},
                kwargs={"input": 1},
                multitask_strategy="enqueue",
            ),
            event(thread_id, run_id, "run.started", at=at(2)),
        ]
        for one in events[::-1] if reverse else events:
            post_events(http, [one])
        run = get_run(http, thread_id, run_id)
        records.append({k: run[k] for k in ("created_at", "assistant_id", "metadata", "kwargs")})
        records[-1]["multitask_strategy"] = run["multitask_strategy"]
    assert records[1] == records[0]


def test_values_come_from_the_latest_event_with_values(http: httpx.Client) -> None:
    thread_id, run_id = new_id(), new_id()
    post_events(
        http,
        [
            event(thread_id, run_id, "run.succeeded", at=at(5), values={"v": "new"}),
            event(thread_id, new_id(), "run.succeeded", at=at(1), values={"v": "old"}),
        ],
    )
    thread = get_thread(http, thread_id)
    assert thread["values"] == {"v": "new"} and thread["status"] == "idle"


# -- batch validation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"type": "run.exploded"}, "events[1].type"),
        ({"thread_id": "nope"}, "events[1].thread_id"),
        ({"run_id": "nope"}, "events[1].run_id"),
        ({"at": "yesterday"}, "events[1].at"),
        ({"at": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}, "events[1].at"),
        ({"at": "1999-12-31T23:59:59+00:00"}, "events[1].at"),
        ({"error": {"message": "no class"}}, "events[1].error.error"),
        ({"interrupts": [1]}, "events[1].interrupts"),
        ({"multitask_strategy": "later"}, "events[1].multitask_strategy"),
    ],
)
def test_one_invalid_event_rejects_the_batch(
    http: httpx.Client, bad: dict[str, Any], field: str
) -> None:
    thread_id = new_id()
    events = [event(thread_id, new_id(), "run.pending"), event(thread_id, new_id(), "run.started")]
    events[1].update(bad)
    response = http.post("/runs/events", json={"events": events})
    assert response.status_code == 422, response.text
    assert field in response.json()["detail"]
    assert http.get(f"/threads/{thread_id}").status_code == 404  # nothing applied


def test_missing_fields_are_named(http: httpx.Client) -> None:
    response = http.post("/runs/events", json={"events": [{"type": "run.pending"}]})
    assert response.status_code == 422
    text = response.json()["detail"]
    assert "events[0].thread_id" in text and "events[0].run_id" in text
    assert http.post("/runs/events", json={}).status_code == 422


def test_batches_over_1000_events_are_rejected(http: httpx.Client) -> None:
    thread_id, run_id = new_id(), new_id()
    events = [event(thread_id, run_id, "run.started") for _ in range(1001)]
    response = http.post("/runs/events", json={"events": events})
    assert response.status_code == 422
    assert "events" in response.json()["detail"]
    assert http.get(f"/threads/{thread_id}").status_code == 404
    assert len(post_events(http, events[:1000])) == 1000


def test_empty_batch(http: httpx.Client) -> None:
    assert post_events(http, []) == []


# -- threads created and tagged by events ---------------------------------------------------


def test_unknown_thread_is_created_by_its_first_event(http: httpx.Client) -> None:
    thread_id = new_id()
    post_events(http, [event(thread_id, new_id(), "run.started")])
    thread = get_thread(http, thread_id)
    assert_thread_shape(thread)
    assert thread["status"] == "busy" and thread["metadata"] == {} and thread["values"] is None
    assert search_ids(http, status="busy") == [thread_id]
    assert search_ids(http) == [thread_id]


def test_event_metadata_is_merged_and_searchable(http: httpx.Client) -> None:
    thread_id = new_id()
    created = http.post(
        "/threads", json={"thread_id": thread_id, "metadata": {"owner": "me", "graph_id": "old"}}
    )
    assert created.status_code == 200
    run_id = new_id()
    post_events(http, [event(thread_id, run_id, "run.pending", metadata={"graph_id": "agent"})])
    thread = get_thread(http, thread_id)
    assert thread["metadata"] == {"owner": "me", "graph_id": "agent"}
    assert search_ids(http, metadata={"graph_id": "agent"}) == [thread_id]
    assert search_ids(http, metadata={"graph_id": "old"}) == []
    assert http.post("/threads/count", json={"metadata": {"graph_id": "agent"}}).json() == 1
    assert get_run(http, thread_id, run_id)["assistant_id"] == AGENT_ASSISTANT_ID


def test_a_run_id_reused_on_another_thread_is_a_conflict(http: httpx.Client) -> None:
    first, second, run_id = new_id(), new_id(), new_id()
    post_events(http, [event(first, run_id, "run.pending")])
    response = http.post("/runs/events", json={"events": [event(second, run_id, "run.started")]})
    assert response.status_code == 409
    assert response.json() == {"detail": f"Run with ID {run_id} does not belong to thread {second}"}
    assert http.get(f"/threads/{second}").status_code == 404
    assert get_run(http, first, run_id)["status"] == "pending"
    assert get_thread(http, first)["status"] == "busy"


def test_deleting_a_thread_removes_its_runs(http: httpx.Client, redis_client: redis.Redis) -> None:
    thread_id, run_a, run_b = new_id(), new_id(), new_id()
    post_events(
        http,
        [event(thread_id, run_a, "run.succeeded"), event(thread_id, run_b, "run.pending")],
    )
    assert http.delete(f"/threads/{thread_id}").status_code == 204
    for run_id in (run_a, run_b):
        assert http.get(f"/threads/{thread_id}/runs/{run_id}").status_code == 404
    assert http.get(f"/threads/{thread_id}/runs").status_code == 404
    assert list(redis_client.scan_iter(match="tw:run:*")) == []
    assert list(redis_client.scan_iter(match=f"tw:thread:{thread_id}*")) == []
    # The run id is free again: a new thread may use it.
    post_events(http, [event(new_id(), run_a, "run.pending")])


# -- the Python emitter ---------------------------------------------------------------------


@pytest.fixture
def emitter(redis_url: str, redis_client: redis.Redis) -> Iterator[Emitter]:
    emitter = Emitter.from_url(redis_url)
    yield emitter
    emitter.store.redis.close()


def test_python_emitter_is_seen_by_the_api(emitter: Emitter, http: httpx.Client) -> None:
    thread_id, run_id = new_id(), new_id()
    applied = emitter.emit(thread_id, run_id, "run.pending", metadata={"graph_id": "agent"})
    assert (applied.result, applied.old_status, applied.new_status) == (
        "applied",
        "idle",
        "busy",
    )
    assert get_thread(http, thread_id)["status"] == "busy"
    results = emitter.emit_many(
        [
            {"thread_id": thread_id, "run_id": run_id, "type": "run.started"},
            {
                "thread_id": thread_id,
                "run_id": run_id,
                "type": "run.interrupted",
                "interrupts": INTERRUPTS,
                "values": {"v": 1},
            },
        ]
    )
    assert [r.result for r in results] == ["applied", "applied"]
    assert results[-1].new_status == "interrupted"
    thread = get_thread(http, thread_id)
    assert (thread["status"], thread["interrupts"], thread["values"]) == (
        "interrupted",
        INTERRUPTS,
        {"v": 1},
    )
    assert search_ids(http, status="interrupted", metadata={"graph_id": "agent"}) == [thread_id]
    # The HTTP API and the emitter share the run records.
    (result,) = post_events(http, [event(thread_id, run_id, "run.interrupted")])
    assert result["result"] == "duplicate"
    assert emitter.emit(thread_id, run_id, "run.started").result == "stale"


def test_emitter_and_api_interleave(emitter: Emitter, http: httpx.Client) -> None:
    thread_ids = [new_id() for _ in range(4)]
    for thread_id, turn in zip(thread_ids, itertools.cycle(("api", "emitter")), strict=False):
        run_id = new_id()
        if turn == "api":
            post_events(http, [event(thread_id, run_id, "run.failed", error=ERROR)])
        else:
            emitter.emit(thread_id, run_id, "run.failed", error=ERROR)
    assert sorted(search_ids(http, status="error")) == sorted(thread_ids)
    assert http.post("/threads/count", json={"status": "error"}).json() == 4
