"""Races against the real server (uvicorn runs sync routes on a thread pool, so these
requests really overlap in Redis), then the store's invariants checked on the raw keys."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx
import orjson
import redis

from tests.integration.helpers import (
    STATUSES,
    create_thread,
    drive,
    event,
    get_thread,
    new_id,
    search_ids,
    status_events,
)
from threadwatch.store.codec import thread_id_of
from threadwatch.store.metadata_index import metadata_leaves

T = TypeVar("T")
WORKERS = 20


def race(calls: list[Callable[[], T]]) -> list[T]:
    """Run the calls in parallel threads, released together by a barrier."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], T]) -> T:
        barrier.wait(timeout=10)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def text(value: bytes) -> str:
    return value.decode()


def check_invariants(r: redis.Redis) -> dict[str, dict[bytes, bytes]]:
    """Every thread is in exactly one status set (its hash's status), every index entry
    points at a live thread, and the metadata index holds exactly each thread's leaves."""
    threads = {
        text(key).removeprefix("tw:thread:"): r.hgetall(key)
        for key in r.scan_iter(match="tw:thread:*")
        if ":" not in text(key).removeprefix("tw:thread:")  # not :runs, :transitions
    }
    members = {
        status: {thread_id_of(m) for m in r.zrange(f"tw:status:{status}", 0, -1)}
        for status in STATUSES
    }
    for thread_id, fields in threads.items():
        in_sets = [status for status in STATUSES if thread_id in members[status]]
        assert in_sets == [text(fields[b"status"])], (thread_id, in_sets)
    for status, ids in members.items():
        assert ids <= threads.keys(), (status, ids - threads.keys())
    for field in ("created_at", "updated_at", "state_updated_at", "thread_id"):
        ordered = {thread_id_of(m) for m in r.zrange(f"tw:order:{field}", 0, -1)}
        assert ordered == threads.keys(), field
    index: dict[str, set[str]] = {thread_id: set() for thread_id in threads}
    names = {v: text(k).removeprefix("tw:mi:") for k, v in r.hgetall("tw:leaf-ids").items()}
    for key in r.scan_iter(match="tw:leaves:*"):
        status, _, leaf_id = text(key).removeprefix("tw:leaves:").partition(":")
        leaf = names[leaf_id.encode()]
        for member in r.smembers(key):
            thread_id = thread_id_of(member)
            assert thread_id in threads, ("ghost index entry", leaf, member)
            assert text(threads[thread_id][b"status"]) == status, (thread_id, key)
            index[thread_id].add(leaf)
    for thread_id, fields in threads.items():
        assert index[thread_id] == metadata_leaves(orjson.loads(fields[b"metadata"])), thread_id
    for key in r.scan_iter(match="tw:run:*"):
        owner = text(r.hget(key, "thread_id") or b"")
        assert owner in threads, ("run of a deleted thread", key)
    return threads


def test_concurrent_patches_of_different_keys(
    http: httpx.Client, redis_client: redis.Redis
) -> None:
    thread_id = create_thread(http, metadata={"base": 0})["thread_id"]

    def patch(i: int) -> Callable[[], httpx.Response]:
        return lambda: http.patch(f"/threads/{thread_id}", json={"metadata": {f"k{i}": i}})

    responses = race([patch(i) for i in range(WORKERS)])
    assert [r.status_code for r in responses] == [200] * WORKERS
    metadata = get_thread(http, thread_id)["metadata"]
    assert metadata == {"base": 0, **{f"k{i}": i for i in range(WORKERS)}}
    for i in range(WORKERS):
        assert search_ids(http, metadata={f"k{i}": i}) == [thread_id]
    assert search_ids(http, metadata={"base": 0, "k3": 3, "k17": 17}) == [thread_id]
    check_invariants(redis_client)


def test_concurrent_patches_of_the_same_key(http: httpx.Client, redis_client: redis.Redis) -> None:
    thread_id = create_thread(http)["thread_id"]
    responses = race(
        [
            (lambda i=i: http.patch(f"/threads/{thread_id}", json={"metadata": {"k": i}}))
            for i in range(WORKERS)
        ]
    )
    assert {r.status_code for r in responses} == {200}
    final = get_thread(http, thread_id)["metadata"]["k"]
    assert [t for i in range(WORKERS) for t in search_ids(http, metadata={"k": i})] == [thread_id]
    assert search_ids(http, metadata={"k": final}) == [thread_id]
    check_invariants(redis_client)


def test_concurrent_events_and_patches_on_one_thread(
    http: httpx.Client, redis_client: redis.Redis
) -> None:
    thread_id = create_thread(http)["thread_id"]
    runs = [new_id() for _ in range(10)]

    def run_events(i: int) -> Callable[[], httpx.Response]:
        events = status_events(thread_id, "idle", runs[i], metadata={f"e{i}": i})
        return lambda: http.post("/runs/events", json={"events": events})

    def patch(i: int) -> Callable[[], httpx.Response]:
        return lambda: http.patch(f"/threads/{thread_id}", json={"metadata": {f"p{i}": i}})

    calls = [f(i) for i in range(10) for f in (run_events, patch)]
    responses = race(calls)
    assert [r.status_code for r in responses] == [200] * len(calls), [r.text for r in responses]
    thread = get_thread(http, thread_id)
    assert thread["status"] == "idle"
    expected = {**{f"e{i}": i for i in range(10)}, **{f"p{i}": i for i in range(10)}}
    assert thread["metadata"] == expected
    for key, value in expected.items():
        assert search_ids(http, metadata={key: value}, status="idle") == [thread_id]
    statuses = [http.get(f"/threads/{thread_id}/runs/{r}").json()["status"] for r in runs]
    assert statuses == ["success"] * 10
    assert redis_client.hget(f"tw:thread:{thread_id}", "inflight") == b"0"
    check_invariants(redis_client)


def test_concurrent_create_with_the_same_id(http: httpx.Client, redis_client: redis.Redis) -> None:
    thread_id = new_id()
    responses = race(
        [
            (lambda i=i: http.post("/threads", json={"thread_id": thread_id, "metadata": {"i": i}}))
            for i in range(WORKERS)
        ]
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] + [409] * (WORKERS - 1)
    (winner,) = (r.json() for r in responses if r.status_code == 200)
    for response in responses:
        if response.status_code == 409:
            assert response.json() == {"detail": f"Thread with ID {thread_id} already exists"}
    assert get_thread(http, thread_id) == winner
    assert search_ids(http, metadata={"i": winner["metadata"]["i"]}) == [thread_id]
    assert http.post("/threads/count", json={}).json() == 1
    check_invariants(redis_client)


def test_concurrent_deletes_events_and_patches_leave_no_ghosts(
    http: httpx.Client, redis_client: redis.Redis
) -> None:
    """Threads deleted while events and patches race on them: afterwards every index entry
    belongs to a live thread and every live thread is indexed exactly."""
    thread_ids = [new_id() for _ in range(6)]
    for i, thread_id in enumerate(thread_ids):
        drive(http, thread_id, STATUSES[i % 4], metadata={"team": f"t{i % 2}", "n": i})

    calls: list[Callable[[], Any]] = []
    for i, thread_id in enumerate(thread_ids):
        events = [event(thread_id, new_id(), "run.failed", metadata={"late": i})]
        calls.append(lambda t=thread_id: http.delete(f"/threads/{t}"))
        calls.append(lambda e=events: http.post("/runs/events", json={"events": e}))
        calls.append(
            lambda t=thread_id, i=i: http.patch(f"/threads/{t}", json={"metadata": {"p": i}})
        )
    responses = race(calls)
    for response, kind in zip(responses, ["delete", "events", "patch"] * 6, strict=True):
        allowed = {"delete": {204, 404}, "events": {200}, "patch": {200, 404}}[kind]
        assert response.status_code in allowed, (kind, response.text)
    threads = check_invariants(redis_client)
    # Each thread was either deleted last (gone) or recreated by its late event.
    for thread_id in thread_ids:
        if thread_id in threads:
            assert get_thread(http, thread_id)["metadata"]["late"] is not None
    for thread_id in list(threads):
        assert http.delete(f"/threads/{thread_id}").status_code == 204
    assert check_invariants(redis_client) == {}
    assert list(redis_client.scan_iter(match="tw:leaves:*")) == []
    assert [k for k in redis_client.hkeys("tw:leaf-ids") if not k.startswith(b"#")] == []
    for status in STATUSES:
        assert redis_client.zcard(f"tw:status:{status}") == 0


def test_many_threads_racing_through_statuses(
    http: httpx.Client, redis_client: redis.Redis
) -> None:
    """Each thread gets several runs from different workers at once; the in-flight count and
    the status sets stay exact."""
    thread_ids = [new_id() for _ in range(4)]

    def runner(thread_id: str, status: str) -> Callable[[], httpx.Response]:
        events = status_events(thread_id, status, metadata={"graph_id": "agent"})
        return lambda: http.post("/runs/events", json={"events": events})

    calls = [runner(t, s) for t in thread_ids for s in ("idle", "busy", "error", "interrupted")]
    responses = race(calls)
    assert {r.status_code for r in responses} == {200}
    for thread_id in thread_ids:
        thread = get_thread(http, thread_id)
        assert thread["status"] == "busy"  # the "busy" run is still in flight
        assert redis_client.hget(f"tw:thread:{thread_id}", "inflight") == b"1"
    assert sorted(search_ids(http, status="busy")) == sorted(thread_ids)
    assert http.post("/threads/count", json={"status": "idle"}).json() == 0
    check_invariants(redis_client)


def test_the_same_event_delivered_concurrently_applies_once(
    http: httpx.Client, redis_client: redis.Redis
) -> None:
    thread_id, run_id = new_id(), new_id()
    body = {"events": [event(thread_id, run_id, "run.pending", metadata={"graph_id": "agent"})]}
    responses = race([lambda: http.post("/runs/events", json=body) for _ in range(WORKERS)])
    results = sorted(r.json()["results"][0]["result"] for r in responses)
    assert results == ["applied"] + ["duplicate"] * (WORKERS - 1)
    assert redis_client.hget(f"tw:thread:{thread_id}", "inflight") == b"1"
    assert len(http.get(f"/threads/{thread_id}/runs").json()) == 1
    check_invariants(redis_client)


def test_concurrent_deletes_of_one_thread(http: httpx.Client, redis_client: redis.Redis) -> None:
    thread_id = new_id()
    drive(http, thread_id, "interrupted", metadata={"team": "a"})
    responses = race([lambda: http.delete(f"/threads/{thread_id}") for _ in range(10)])
    assert sorted(r.status_code for r in responses) == [204] + [404] * 9
    assert check_invariants(redis_client) == {}
