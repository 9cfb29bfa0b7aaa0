"""The how-to's curl tab: its bodies and headers sent with httpx exactly as curl sends them,
the literal commands run with curl (and jq) when installed, and the HTTP details around
them: content types, pagination headers, error envelopes and limits."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import httpx
import pytest

from tests.integration.helpers import (
    assert_thread_shape,
    create_thread,
    drive,
    new_id,
    search_ids,
)

JSON = {"Content-Type": "application/json"}
# What `curl -d` sends when no content type is given.
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
AGENT = {"graph_id": "agent"}


def seed_threads(http: httpx.Client) -> dict[str, str]:
    """One thread per status (the idle one tagged foo=bar); {status: thread_id}."""
    ids = {status: new_id() for status in ("interrupted", "busy", "error", "idle")}
    for status, thread_id in ids.items():
        extra = {"foo": "bar"} if status == "idle" else {}
        drive(http, thread_id, status, metadata={**AGENT, **extra})
    return ids


# -- the seed's bodies, sent by httpx -------------------------------------------------------


def test_seed_bodies(http: httpx.Client) -> None:
    created = http.post("/threads", headers=JSON, content=b"{}")
    assert created.status_code == 200
    assert_thread_shape(created.json())
    assert created.headers["content-type"] == "application/json"
    http.delete(f"/threads/{created.json()['thread_id']}")
    ids = seed_threads(http)
    for status in ("idle", "interrupted", "busy"):
        body = f'{{"status": "{status}", "limit": 1}}'.encode()
        response = http.post("/threads/search", headers=JSON, content=body)
        assert response.status_code == 200
        (thread,) = response.json()
        assert_thread_shape(thread)
        assert (thread["thread_id"], thread["status"]) == (ids[status], status)
        assert thread["metadata"]["graph_id"] == "agent"
    got = http.get(f"/threads/{ids['idle']}", headers=JSON)
    assert got.status_code == 200 and got.json()["status"] == "idle"
    body = b'{"metadata": {"foo":"bar"}, "limit": 1}'
    response = http.post("/threads/search", headers=JSON, content=body)
    assert response.status_code == 200 and response.json()[0]["status"] == "idle"


def test_form_content_type_is_still_json(http: httpx.Client) -> None:
    """`curl -d` without a header labels the body form data; it is parsed as JSON anyway."""
    thread_id = new_id()
    body = json.dumps({"thread_id": thread_id, "metadata": {"a": "b=c&d"}}).encode()
    created = http.post("/threads", headers=FORM, content=body)
    assert created.status_code == 200, created.text
    assert created.json()["metadata"] == {"a": "b=c&d"}
    found = http.post("/threads/search", headers=FORM, content=b'{"metadata": {"a": "b=c&d"}}')
    assert [t["thread_id"] for t in found.json()] == [thread_id]
    patched = http.patch(f"/threads/{thread_id}", headers=FORM, content=b'{"metadata": {"x": 1}}')
    assert patched.json()["metadata"] == {"a": "b=c&d", "x": 1}
    counted = http.post("/threads/count", headers={"Content-Type": "text/plain"}, content=b"{}")
    assert counted.json() == 1


def test_bodies_are_optional_where_the_schema_allows(http: httpx.Client) -> None:
    assert http.post("/threads").status_code == 200
    assert http.post("/threads/search").json()[0]["status"] == "idle"
    assert http.post("/threads/count").json() == 1


# -- pagination headers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "offset", "size", "next_", "total"),
    [
        (2, 0, 2, "2", "3"),  # more rows: Next = offset+limit, Total = offset+limit+1
        (2, 2, 2, "4", "5"),
        (2, 4, 1, None, "5"),  # last page: Total = offset+len(page) only
        (5, 0, 5, None, "5"),  # exactly the rest
        (10, 0, 5, None, "5"),
        (2, 7, 0, None, "7"),
    ],
)
def test_pagination_headers(
    http: httpx.Client, limit: int, offset: int, size: int, next_: str | None, total: str
) -> None:
    for _ in range(5):
        create_thread(http)
    response = http.post("/threads/search", json={"limit": limit, "offset": offset})
    assert len(response.json()) == size
    assert response.headers.get("X-Pagination-Next") == next_
    assert response.headers["X-Pagination-Total"] == total


def test_pagination_headers_with_filters(http: httpx.Client) -> None:
    for i in range(3):
        create_thread(http, metadata={"team": "a" if i < 2 else "b"})
    response = http.post("/threads/search", json={"metadata": {"team": "a"}, "limit": 1})
    assert response.headers["X-Pagination-Next"] == "1"
    response = http.post("/threads/search", json={"metadata": {"team": "a"}, "offset": 1})
    assert "X-Pagination-Next" not in response.headers
    assert response.headers["X-Pagination-Total"] == "2"


# -- errors ---------------------------------------------------------------------------------


def detail(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"detail"} and isinstance(body["detail"], str), body
    return body["detail"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/threads/not-a-uuid"),
        ("PATCH", "/threads/not-a-uuid"),
        ("DELETE", "/threads/not-a-uuid"),
        ("POST", "/threads/not-a-uuid/copy"),
        ("GET", "/threads/123/runs"),
    ],
)
def test_non_uuid_path_id(http: httpx.Client, method: str, path: str) -> None:
    response = http.request(method, path, json={} if method == "PATCH" else None)
    assert detail(response, 422) == "Invalid thread ID: must be a UUID"


def test_non_uuid_thread_id_in_body(http: httpx.Client) -> None:
    response = http.post("/threads", json={"thread_id": "abc"})
    assert detail(response, 422) == "Invalid thread ID: must be a UUID"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/threads"),
        ("POST", "/threads/search"),
        ("POST", "/threads/count"),
        ("POST", "/runs/events"),
        ("PATCH", f"/threads/{new_id()}"),
    ],
)
def test_invalid_json(http: httpx.Client, method: str, path: str) -> None:
    response = http.request(method, path, headers=JSON, content=b'{"status": ')
    assert detail(response, 422) == "Invalid JSON in request body"


def test_validation_errors_name_the_field(http: httpx.Client) -> None:
    text = detail(http.post("/threads", json={"if_exists": "bogus"}), 422)
    assert "if_exists" in text and "bogus" in text
    assert "limit" in detail(http.post("/threads/search", json={"limit": 0}), 422)
    assert "sort_by" in detail(http.post("/threads/search", json={"sort_by": "x"}), 422)
    assert "thread_ids" in detail(http.post("/threads/prune", json={}), 422)


def oversized_body() -> bytes:
    return json.dumps({"metadata": {"x": "a" * (1024 * 1024 + 10)}}).encode()


def test_body_over_1_mib_is_413(http: httpx.Client) -> None:
    response = http.post("/threads", headers=JSON, content=oversized_body())
    assert detail(response, 413).startswith("Request body is larger than")
    assert http.post("/threads/count").json() == 0
    ok = json.dumps({"metadata": {"x": "a" * (1024 * 1024 - 100)}}).encode()
    assert http.post("/threads", headers=JSON, content=ok).status_code == 200


def test_chunked_body_over_1_mib_is_413(http: httpx.Client) -> None:
    """Without Content-Length the limit still holds (a regression: FastAPI used to turn the
    middleware's error into 400 "There was an error parsing the body")."""
    body = oversized_body()

    def chunks() -> Any:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    response = http.post("/threads", headers=JSON, content=chunks())
    assert detail(response, 413).startswith("Request body is larger than")
    small = json.dumps({"metadata": {"x": "a" * 200_000}}).encode()
    chunked = http.post("/threads", headers=JSON, content=iter([small[:1000], small[1000:]]))
    assert chunked.status_code == 200 and chunked.json()["metadata"]["x"] == "a" * 200_000


def test_not_found_and_conflict_texts(http: httpx.Client) -> None:
    thread_id = new_id()
    expected = f"Thread with ID {thread_id} not found"
    assert detail(http.get(f"/threads/{thread_id}"), 404) == expected
    assert detail(http.delete(f"/threads/{thread_id}"), 404) == expected
    assert detail(http.patch(f"/threads/{thread_id}", json={}), 404) == expected
    assert detail(http.get(f"/threads/{thread_id}/runs"), 404) == expected
    create_thread(http, thread_id=thread_id)
    conflict = http.post("/threads", json={"thread_id": thread_id})
    assert detail(conflict, 409) == f"Thread with ID {thread_id} already exists"
    run_id = new_id()
    assert detail(http.get(f"/threads/{thread_id}/runs/{run_id}"), 404) == (
        f"Run with ID {run_id} not found"
    )


def test_delete_and_minimal_patch_have_no_body(http: httpx.Client) -> None:
    thread_id = create_thread(http)["thread_id"]
    patched = http.patch(
        f"/threads/{thread_id}", json={"metadata": {"a": 1}}, headers={"Prefer": "return=minimal"}
    )
    assert (patched.status_code, patched.content) == (204, b"")
    deleted = http.delete(f"/threads/{thread_id}")
    assert (deleted.status_code, deleted.content) == (204, b"")


def test_count_is_a_bare_integer(http: httpx.Client) -> None:
    create_thread(http)
    response = http.post("/threads/count", json={})
    assert response.content == b"1"


def test_framework_errors_use_the_same_envelope(http: httpx.Client) -> None:
    assert detail(http.get("/nope"), 404) == "Not Found"
    assert detail(http.put("/threads", json={}), 405) == "Method Not Allowed"


def test_ok(http: httpx.Client) -> None:
    response = http.get("/ok")
    assert response.status_code == 200 and response.json() == {"ok": True}


@pytest.mark.parametrize("number", ["1e20", "100000000000000000000", "-1.5e300"])
def test_numbers_beyond_64_bits_are_stored_and_matched(http: httpx.Client, number: str) -> None:
    """JSON numbers have no size limit (Postgres numeric neither): no 500, and the value
    round-trips and is found (a regression: 1e20 and 10**20 used to give 500)."""
    body = f'{{"metadata": {{"n": {number}}}}}'.encode()
    created = http.post("/threads", headers=JSON, content=body)
    assert created.status_code == 200, created.text
    assert created.json()["metadata"]["n"] == json.loads(number)
    found = http.post("/threads/search", headers=JSON, content=body)
    assert [t["thread_id"] for t in found.json()] == [created.json()["thread_id"]]
    patched = http.patch(f"/threads/{created.json()['thread_id']}", headers=JSON, content=body)
    assert patched.status_code == 200, patched.text
    event_body = {"thread_id": new_id(), "run_id": new_id(), "type": "run.succeeded"}
    raw = json.dumps({"events": [event_body]}).replace(
        '"run.succeeded"',
        f'"run.succeeded", "values": {{"n": {number}}}, "metadata": {{"m": {number}}}',
    )
    assert http.post("/runs/events", headers=JSON, content=raw.encode()).status_code == 200
    values = http.post(
        "/threads/search", headers=JSON, content=f'{{"values": {{"n": {number}}}}}'.encode()
    )
    assert [t["thread_id"] for t in values.json()] == [event_body["thread_id"]]


def test_1e20_and_10_to_the_20_are_equal_filters(http: httpx.Client) -> None:
    """Postgres compares numerics by value: 1e20 = 100000000000000000000 = 1.0e20."""
    a = http.post("/threads", headers=JSON, content=b'{"metadata": {"n": 1e20}}').json()
    b = http.post(
        "/threads", headers=JSON, content=b'{"metadata": {"n": 100000000000000000000}}'
    ).json()
    for text in (b"1e20", b"100000000000000000000", b"1.0e20"):
        body = b'{"metadata": {"n": ' + text + b'}, "sort_order": "asc"}'
        found = http.post("/threads/search", headers=JSON, content=body)
        assert [t["thread_id"] for t in found.json()] == [a["thread_id"], b["thread_id"]], text


# -- the literal curl commands --------------------------------------------------------------

CREATE = """curl --request POST \\
  --url <DEPLOYMENT_URL>/threads \\
  --header 'Content-Type: application/json' \\
  --data '{}'"""
SEARCH = """curl --request POST \\
--url <DEPLOYMENT_URL>/threads/search \\
--header 'Content-Type: application/json' \\
--data '{"status": "<STATUS>", "limit": 1}'"""
GET_STATUS = """curl --request GET \\
--url <DEPLOYMENT_URL>/threads/<THREAD_ID> \\
--header 'Content-Type: application/json' | jq -r '.status'"""
METADATA_STATUS = """curl --request POST \\
--url <DEPLOYMENT_URL>/threads/search \\
--header 'Content-Type: application/json' \\
--data '{"metadata": {"foo":"bar"}, "limit": 1}' | jq -r '.[0].status'"""


def shell(command: str) -> str:
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.skipif(not shutil.which("curl"), reason="curl is not installed")
def test_literal_curl_commands(api_url: str, http: httpx.Client) -> None:
    created = json.loads(shell(CREATE.replace("<DEPLOYMENT_URL>", api_url)))
    assert_thread_shape(created)
    assert created["status"] == "idle" and created["metadata"] == {}
    http.delete(f"/threads/{created['thread_id']}")
    ids = seed_threads(http)
    for status in ("idle", "interrupted", "busy"):
        command = SEARCH.replace("<DEPLOYMENT_URL>", api_url).replace("<STATUS>", status)
        (thread,) = json.loads(shell(command))
        assert_thread_shape(thread)
        assert (thread["thread_id"], thread["status"]) == (ids[status], status)
    assert search_ids(http, status="error") == [ids["error"]]


@pytest.mark.skipif(
    not (shutil.which("curl") and shutil.which("jq")), reason="curl and jq are needed"
)
def test_literal_curl_jq_commands(api_url: str, http: httpx.Client) -> None:
    ids = seed_threads(http)
    get_status = GET_STATUS.replace("<DEPLOYMENT_URL>", api_url)
    assert shell(get_status.replace("<THREAD_ID>", ids["idle"])) == "idle\n"
    assert shell(get_status.replace("<THREAD_ID>", ids["busy"])) == "busy\n"
    assert shell(METADATA_STATUS.replace("<DEPLOYMENT_URL>", api_url)) == "idle\n"
