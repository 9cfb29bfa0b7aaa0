"""The HTTP surface on fakeredis: status codes, `{"detail": ...}` texts, headers, shapes.

The app is built without its lifespan (no Redis connection): the test puts stores built on
fakeredis in `app.state.stores`, which is where the lifespan would put them.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest
from fakeredis import FakeRedis
from fastapi.testclient import TestClient

from tests.unit.helpers import at, keyspace, make_client

MAX_BODY = 200_000  # room for 1,001 small events
MISSING = "00000000-0000-4000-8000-00000000dead"


@pytest.fixture
def client(fake_redis: FakeRedis) -> TestClient:
    return make_client(fake_redis, max_body_bytes=MAX_BODY)


def new_thread(client: TestClient, **body: Any) -> dict[str, Any]:
    resp = client.post("/threads", json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()


def detail(resp: Any, status: int) -> str:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert list(body) == ["detail"] and isinstance(body["detail"], str)
    return body["detail"]


# -- ids -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/threads/{}"),
        ("PATCH", "/threads/{}"),
        ("DELETE", "/threads/{}"),
        ("POST", "/threads/{}/copy"),
        ("GET", "/threads/{}/runs"),
        ("GET", "/threads/{}/runs/" + MISSING),
    ],
)
def test_non_uuid_thread_id_is_422(client: TestClient, method: str, path: str) -> None:
    resp = client.request(method, path.format("not-a-uuid"))
    assert detail(resp, 422) == "Invalid thread ID: must be a UUID"


def test_non_uuid_ids_in_bodies(client: TestClient) -> None:
    assert detail(client.post("/threads", json={"thread_id": "x"}), 422) == (
        "Invalid thread ID: must be a UUID"
    )
    resp = client.get(f"/threads/{MISSING}/runs/nope")
    assert detail(resp, 422) == "Invalid run ID: must be a UUID"
    assert "ids[1]" in detail(client.post("/threads/search", json={"ids": [MISSING, "x"]}), 422)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/threads/{}"),
        ("PATCH", "/threads/{}"),
        ("DELETE", "/threads/{}"),
        ("GET", "/threads/{}/runs"),
    ],
)
def test_unknown_thread_is_404(client: TestClient, method: str, path: str) -> None:
    resp = client.request(method, path.format(MISSING.upper()))
    assert detail(resp, 404) == f"Thread with ID {MISSING} not found"


def test_unknown_run_is_404(client: TestClient) -> None:
    thread_id = new_thread(client)["thread_id"]
    resp = client.get(f"/threads/{thread_id}/runs/{MISSING}")
    assert detail(resp, 404) == f"Run with ID {MISSING} not found"


def test_duplicate_create_is_409_and_do_nothing_returns_the_thread(client: TestClient) -> None:
    first = new_thread(client, thread_id=MISSING, metadata={"v": 1})
    resp = client.post("/threads", json={"thread_id": MISSING, "metadata": {"v": 2}})
    assert detail(resp, 409) == f"Thread with ID {MISSING} already exists"
    again = new_thread(client, thread_id=MISSING, metadata={"v": 2}, if_exists="do_nothing")
    assert again == first


# -- bodies ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/threads"),
        ("POST", "/threads/search"),
        ("POST", "/threads/count"),
        ("POST", "/runs/events"),
        ("PATCH", "/threads/" + MISSING),
    ],
)
def test_bad_json_is_422(client: TestClient, method: str, path: str) -> None:
    resp = client.request(method, path, content=b'{"metadata": ')
    assert detail(resp, 422) == "Invalid JSON in request body"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"offset": -1}, "offset"),
        ({"status": "nope"}, "status"),
        ({"sort_by": "x"}, "sort_by"),
        ({"sort_order": "up"}, "sort_order"),
        ({"select": ["context"]}, "select[0]"),
        ({"extract": {"1bad": "values.x"}}, "extract"),
        ({"extract": {"status": "values.x"}}, "extract"),
        ({"extract": {"ok": "context.x"}}, "extract"),
        ({"extract": {f"a{i}": "values.x" for i in range(11)}}, "extract"),
        ({"metadata": []}, "metadata"),
    ],
    ids=repr,
)
def test_invalid_search_field_is_422_naming_it(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    assert detail(client.post("/threads/search", json=body), 422).startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/threads", {"if_exists": "bogus"}, "if_exists"),
        ("/threads", {"ttl": -1}, "ttl.ttl"),
        ("/threads", {"metadata": "x"}, "metadata"),
        ("/threads/count", {"status": "busyish"}, "status"),
        ("/threads/prune", {}, "thread_ids"),
        ("/threads/prune", {"thread_ids": [], "strategy": "all"}, "strategy"),
    ],
)
def test_invalid_fields_elsewhere(
    client: TestClient, path: str, body: dict[str, Any], field: str
) -> None:
    assert detail(client.post(path, json=body), 422).startswith(f"{field}: ")


def test_bad_event_in_a_batch_is_422_and_nothing_is_applied(
    client: TestClient, fake_redis: FakeRedis
) -> None:
    good = {"thread_id": MISSING, "run_id": str(uuid.uuid4()), "type": "run.pending"}
    bad = {**good, "type": "run.exploded"}
    resp = client.post("/runs/events", json={"events": [good, good, bad, good]})
    assert detail(resp, 422).startswith("events[2].type: ")
    assert keyspace(fake_redis) == set()


def test_more_than_1000_events_is_422(client: TestClient) -> None:
    one = {"thread_id": MISSING, "run_id": MISSING, "type": "run.pending"}
    assert detail(client.post("/runs/events", json={"events": [one] * 1001}), 422).startswith(
        "events: "
    )


def test_events_are_applied_with_results(client: TestClient) -> None:
    run_id = str(uuid.uuid4())
    events = [
        {"thread_id": MISSING, "run_id": run_id, "type": t, "at": at(i).isoformat()}
        for i, t in enumerate(["run.pending", "run.pending", "run.failed", "run.started"])
    ]
    resp = client.post("/runs/events", json={"events": events})
    assert resp.status_code == 200
    assert [r["result"] for r in resp.json()["results"]] == [
        "applied",
        "duplicate",
        "applied",
        "stale",
    ]
    assert client.get(f"/threads/{MISSING}").json()["status"] == "error"
    run_ids = [r["run_id"] for r in client.get(f"/threads/{MISSING}/runs").json()]
    assert run_ids == [run_id]


def test_run_reused_on_another_thread_is_409(client: TestClient) -> None:
    run_id = str(uuid.uuid4())
    client.post("/runs/events", json={"events": [{"thread_id": MISSING, "run_id": run_id,
                                                  "type": "run.pending"}]})  # fmt: skip
    other = str(uuid.uuid4())
    resp = client.post(
        "/runs/events",
        json={"events": [{"thread_id": other, "run_id": run_id, "type": "run.succeeded"}]},
    )
    assert detail(resp, 409) == f"Run with ID {run_id} does not belong to thread {other}"


def test_body_over_the_limit_is_413(client: TestClient) -> None:
    resp = client.post("/threads", json={"metadata": {"x": "y" * MAX_BODY}})
    assert detail(resp, 413) == f"Request body is larger than {MAX_BODY} bytes"


def test_chunked_body_over_the_limit_is_413(client: TestClient) -> None:
    body = b'{"metadata": {"x": "' + b"y" * MAX_BODY + b'"}}'
    chunks = (body[i : i + 8192] for i in range(0, len(body), 8192))  # no Content-Length
    assert detail(client.post("/threads", content=chunks), 413).startswith("Request body")


def test_form_encoded_bodies_are_read_as_json(client: TestClient) -> None:
    resp = client.post(
        "/threads",
        content=b'{"metadata": {"via": "curl -d"}}',
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert resp.status_code == 200 and resp.json()["metadata"] == {"via": "curl -d"}


def test_no_body_and_unknown_keys_are_fine(client: TestClient) -> None:
    assert client.post("/threads").json()["status"] == "idle"
    assert client.post("/threads/search").status_code == 200
    assert client.post("/threads/count", json={"whatever": 1}).json() == 1


# -- responses -------------------------------------------------------------------------------


def test_reserved_metadata_keys_are_stripped(client: TestClient) -> None:
    reserved = {"thread_id": 1, "assistant_id": 2, "run_id": 3, "cron_id": 4}
    thread = new_thread(client, metadata={**reserved, "graph_id": "g"})
    assert thread["metadata"] == {"graph_id": "g"}
    resp = client.patch(f"/threads/{thread['thread_id']}", json={"metadata": reserved})
    assert resp.json()["metadata"] == {"graph_id": "g"}


def test_patch_prefer_minimal_is_204_without_a_body(client: TestClient) -> None:
    thread_id = new_thread(client)["thread_id"]
    resp = client.patch(
        f"/threads/{thread_id}", json={"metadata": {"a": 1}}, headers={"Prefer": "return=minimal"}
    )
    assert resp.status_code == 204 and resp.content == b""
    assert client.get(f"/threads/{thread_id}").json()["metadata"] == {"a": 1}
    assert client.patch(f"/threads/{thread_id}", json={"metadata": {"b": 2}}).json()[
        "metadata"
    ] == {"a": 1, "b": 2}


def test_delete_is_204_without_a_body(client: TestClient) -> None:
    thread_id = new_thread(client)["thread_id"]
    resp = client.delete(f"/threads/{thread_id}")
    assert resp.status_code == 204 and resp.content == b""
    assert client.get(f"/threads/{thread_id}").status_code == 404


def test_count_is_a_bare_integer(client: TestClient) -> None:
    for i in range(3):
        new_thread(client, metadata={"n": i % 2})
    resp = client.post("/threads/count", json={"metadata": {"n": 1}})
    assert resp.status_code == 200 and resp.content == b"1"
    assert client.post("/threads/count", json={}).json() == 3


@pytest.mark.parametrize(
    ("offset", "limit", "returned", "headers"),
    [
        (0, 10, 10, {"x-pagination-next": "10", "x-pagination-total": "11"}),
        (10, 10, 10, {"x-pagination-next": "20", "x-pagination-total": "21"}),
        (20, 10, 5, {"x-pagination-total": "25"}),
        (15, 10, 10, {"x-pagination-total": "25"}),
        (30, 10, 0, {"x-pagination-total": "30"}),
    ],
)
def test_search_pagination_headers(
    client: TestClient, offset: int, limit: int, returned: int, headers: dict[str, str]
) -> None:
    for _ in range(25):
        new_thread(client)
    resp = client.post("/threads/search", json={"offset": offset, "limit": limit})
    assert resp.status_code == 200 and len(resp.json()) == returned
    got = {k: v for k, v in resp.headers.items() if k.startswith("x-pagination")}
    assert got == headers


def test_search_default_page_is_10_newest_first(client: TestClient) -> None:
    created = [new_thread(client)["thread_id"] for _ in range(12)]
    page = client.post("/threads/search", json={}).json()
    assert [t["thread_id"] for t in page] == created[::-1][:10]


def test_select_and_extract(client: TestClient) -> None:
    thread_id = new_thread(client, metadata={"user": "u1", "tags": ["a", "b"]})["thread_id"]
    client.post("/runs/events", json={"events": [{
        "thread_id": thread_id, "run_id": str(uuid.uuid4()), "type": "run.succeeded",
        "values": {"messages": [{"content": "hi"}, {"content": "bye"}]},
    }]})  # fmt: skip
    body = {
        "select": ["thread_id", "status"],
        "extract": {
            "last": "values.messages[-1].content",
            "user": "metadata.user",
            "tag": "metadata.tags[1]",
            "nope": "metadata.missing.deeper",
            "quoted": 'values["messages"][0].content',
        },
    }
    (thread,) = client.post("/threads/search", json=body).json()
    assert thread == {
        "thread_id": thread_id,
        "status": "idle",
        "extracted": {"last": "bye", "user": "u1", "tag": "b", "nope": None, "quoted": "hi"},
    }


def test_get_include_ttl(client: TestClient) -> None:
    thread_id = new_thread(client, ttl=90)["thread_id"]
    assert "ttl" not in client.get(f"/threads/{thread_id}").json()
    for include in ("ttl", '["ttl"]', "foo,ttl"):
        ttl = client.get(f"/threads/{thread_id}", params={"include": include}).json()["ttl"]
        assert (ttl["ttl_minutes"], ttl["strategy"]) == (90, "delete")


def test_copy_and_prune(client: TestClient) -> None:
    source = new_thread(client, metadata={"m": 1})["thread_id"]
    copy = client.post(f"/threads/{source}/copy").json()
    assert copy["thread_id"] != source and copy["metadata"] == {"m": 1}
    resp = client.post("/threads/prune", json={"thread_ids": [source, copy["thread_id"], MISSING]})
    assert resp.json() == {"pruned_count": 2}
    assert client.post("/threads/count").json() == 0


# -- inputs that once gave a 500 ------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/threads", b'{"metadata": {"n": 1e20}}'),
        ("/threads", b'{"metadata": {"n": 100000000000000000000}}'),
        ("/threads/search", b'{"metadata": {"n": 1e20}}'),
        ("/threads/count", b'{"metadata": {"n": -1e300}}'),
    ],
)
def test_huge_numbers_are_not_a_server_error(client: TestClient, path: str, body: bytes) -> None:
    assert client.post(path, content=body).status_code < 500


def test_huge_integers_round_trip_and_match_equal_floats(client: TestClient) -> None:
    thread = client.post("/threads", content=b'{"metadata": {"n": 100000000000000000000}}')
    assert b'"n":100000000000000000000' in thread.content
    found = client.post("/threads/search", content=b'{"metadata": {"n": 1e20}}').json()
    assert [t["thread_id"] for t in found] == [thread.json()["thread_id"]]


@pytest.mark.parametrize("offset", [2**53 - 1, 2**53, 10**20])
def test_huge_offset_is_an_empty_page(client: TestClient, offset: int) -> None:
    new_thread(client, metadata={"a": 1})
    for body in ({}, {"metadata": {"a": 1}}, {"status": "idle"}, {"sort_by": "status"}):
        resp = client.post("/threads/search", json={**body, "offset": offset})
        assert (resp.status_code, resp.json()) == (200, []), body
        assert resp.headers["x-pagination-total"] == str(offset)


@pytest.mark.parametrize("ttl", [1e12, 1e308])
def test_huge_ttl_is_not_a_server_error(client: TestClient, ttl: float) -> None:
    resp = client.post("/threads", json={"ttl": ttl})
    if resp.status_code == 200:
        resp = client.get(f"/threads/{resp.json()['thread_id']}", params={"include": "ttl"})
    assert resp.status_code < 500


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/threads", b'{"metadata": {"a": "\\ud800"}}'),
        ("/threads", b'{"metadata": {"\\udc00": 1}}'),
        ("/threads/search", b'{"metadata": {"a": "\\ud800"}}'),
        ("/threads/count", b'{"metadata": {"a": ["\\ud800"]}}'),
        (
            "/runs/events",
            b'{"events": [{"thread_id": "%s", "run_id": "%s", "type": "run.pending",'
            b' "values": {"x": "\\udc00"}}]}' % (MISSING.encode(), MISSING.encode()),
        ),
    ],  # fmt: skip
)
def test_lone_surrogates_are_not_a_server_error(client: TestClient, path: str, body: bytes) -> None:
    assert client.post(path, content=body).status_code < 500


def test_nan_is_refused_or_stored_as_valid_json(client: TestClient) -> None:
    resp = client.post("/threads", content=b'{"metadata": {"a": 100000000000000000000, "b": NaN}}')
    if resp.status_code != 200:
        assert resp.status_code == 422
        return
    thread_id = resp.json()["thread_id"]
    orjson.loads(client.get(f"/threads/{thread_id}").content)  # strict JSON
    assert client.patch(f"/threads/{thread_id}", json={"metadata": {"c": 1}}).status_code == 200


WIDE = {f"k{i}": i for i in range(10_000)}
DEEP_LIST: Any = [[[{"k": [i, {"j": i}]} for i in range(300)]]]


@pytest.mark.parametrize("metadata", [WIDE, {"tags": DEEP_LIST}], ids=["wide", "nested"])
@pytest.mark.parametrize(
    "method, path, body",
    [
        ("post", "/threads", lambda m: {"metadata": m}),
        ("patch", "/threads/{id}", lambda m: {"metadata": m}),
        ("post", "/threads/search", lambda m: {"metadata": m}),
        ("post", "/threads/count", lambda m: {"metadata": m}),
        ("post", "/runs/events", lambda m: {"events": [_started(m)]}),
    ],
)
def test_metadata_over_its_bound_is_one_422_and_changes_nothing(
    fake_redis: FakeRedis, metadata: Any, method: str, path: str, body: Any
) -> None:
    client = make_client(fake_redis, max_body_bytes=1 << 20)
    thread_id = new_thread(client, metadata={"team": "a"})["thread_id"]
    before = {key: fake_redis.dump(key) for key in keyspace(fake_redis)}
    resp = client.request(method, path.format(id=thread_id), json=body(metadata))
    assert detail(resp, 422).endswith("more than 1000 keys and list items in all")
    assert {key: fake_redis.dump(key) for key in keyspace(fake_redis)} == before


def test_metadata_at_its_bound_is_taken(client: TestClient) -> None:
    metadata = {f"k{i}": i for i in range(1000)}
    thread = new_thread(client, metadata=metadata)
    found = client.post("/threads/search", json={"metadata": {"k999": 999}}).json()
    assert [t["thread_id"] for t in found] == [thread["thread_id"]]


def _started(metadata: Any) -> dict[str, Any]:
    return {
        "thread_id": str(uuid.uuid4()),
        "run_id": str(uuid.uuid4()),
        "type": "run.started",
        "metadata": metadata,
    }


def test_a_body_that_trickles_gets_408_and_reaches_no_route() -> None:
    """The body-time limit, on the middleware itself: the client sends a first chunk of its
    body, then nothing more."""
    import asyncio

    from threadwatch.api.middleware import JSONBodyMiddleware

    reached: list[bool] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(True)

    chunks = [{"type": "http.request", "body": b'{"a"', "more_body": True}]

    async def receive() -> dict[str, Any]:
        if chunks:
            return chunks.pop()
        await asyncio.Event().wait()  # never comes
        raise AssertionError

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    middleware = JSONBodyMiddleware(app, max_bytes=1024, max_seconds=0.05)
    scope = {"type": "http", "method": "POST", "headers": [], "path": "/threads"}
    asyncio.run(middleware(scope, receive, send))
    assert not reached
    assert sent[0]["status"] == 408
    assert orjson.loads(sent[1]["body"]) == {"detail": "Request body not received within 0.05 s"}
