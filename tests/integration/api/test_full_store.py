"""A full Redis (maxmemory with noeviction) under the real API: writes answer a clear 503
with Retry-After and change nothing, a run-event batch says what was applied, reads go on,
and the client's next request on the same connection is served."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.integration.helpers import event, new_id, post_events
from tests.integration.servers import OwnRedis, running_api


def contents(client: redis.Redis) -> dict[bytes, bytes | None]:
    """Every key with its serialized value: equal before and after means nothing changed."""
    return {key: client.dump(key) for key in client.scan_iter(count=1000)}


@pytest.fixture
def full(own_redis: OwnRedis, tmp_path: Path) -> Iterator[tuple[httpx.Client, redis.Redis]]:
    """The API on a Redis holding one thread with metadata, then made full."""
    client = redis.Redis.from_url(own_redis.url)
    with running_api(own_redis.url, tmp_path) as url, httpx.Client(base_url=url) as http:
        thread_id = new_id()
        post_events(http, [event(thread_id, new_id(), "run.started", metadata={"team": "a"})])
        client.config_set("maxmemory-policy", "noeviction")
        client.config_set("maxmemory", 1)
        try:
            yield http, client
        finally:
            client.config_set("maxmemory", 0)
            client.close()


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "1"
    assert "Redis is full" in response.json()["detail"]


def test_writes_answer_503_and_change_nothing(full: tuple[httpx.Client, redis.Redis]) -> None:
    http, client = full
    before = contents(client)
    thread_id = new_id()
    assert_refused(http.post("/threads", json={"thread_id": thread_id}))
    threads = http.post("/threads/search", json={"limit": 1}).json()
    assert_refused(http.patch(f"/threads/{threads[0]['thread_id']}", json={"metadata": {"b": 1}}))
    events = [event(new_id(), new_id(), "run.started") for _ in range(150)]
    response = http.post("/runs/events", json={"events": events})
    assert_refused(response)
    assert response.json()["results"] == []  # none applied, and it says so
    assert contents(client) == before


def test_reads_go_on(full: tuple[httpx.Client, redis.Redis]) -> None:
    http, _ = full
    assert http.post("/threads/search", json={"metadata": {"team": "a"}}).status_code == 200
    assert http.post("/threads/count", json={"status": "busy"}).json() == 1
    assert http.get("/metrics").status_code == 200
    assert http.get("/ok").status_code == 200


def test_a_refused_write_keeps_the_connection(full: tuple[httpx.Client, redis.Redis]) -> None:
    """A 4xx, the 503 and a 422, then a good request: one keep-alive connection (the same
    local port) serves them all, and none is answered with `connection: close`."""
    http, _ = full
    answers = [http.get(f"/threads/{new_id()}"), http.post("/threads", json={})]
    assert_refused(answers[-1])
    answers.append(http.post("/threads/search", json={"limit": "many"}))
    answers.append(http.post("/threads/count", json={}))
    assert [a.status_code for a in answers] == [404, 503, 422, 200]
    assert all(a.headers.get("connection", "keep-alive") != "close" for a in answers)
    ports = {a.extensions["network_stream"].get_extra_info("client_addr")[1] for a in answers}
    assert len(ports) == 1, ports
