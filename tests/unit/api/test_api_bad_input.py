"""Bad input of every class gets a 4xx and changes nothing: the whole store (every key,
DUMPed) is the same before and after each request.

The classes: metadata and filters too wide or too deep, strings of a megabyte, keys and ids
holding Redis-pattern and control characters, bodies that are not UTF-8 or not JSON, huge
limits and offsets, garbage event batches, and ids that are not UUIDs as LangGraph reads them.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest
from fakeredis import FakeRedis
from fastapi.testclient import TestClient

from tests.unit.helpers import make_client

THREAD = "00000000-0000-4000-8000-0000000000a1"
RUN = "00000000-0000-4000-8000-000000000001"
WIDE = {f"k{i}": i for i in range(10_000)}
MEGABYTE = "x" * (1 << 20)


def deep(levels: int) -> Raw:
    """``{"k": {"k": ... 1}}``, ``levels`` objects deep (deeper than orjson writes)."""
    return Raw(b'{"k":' * levels + b"1" + b"}" * levels)


class Raw(bytes):
    """JSON text spliced into a body as it is."""


def body_bytes(value: Any) -> bytes:
    if isinstance(value, Raw):
        return value
    if isinstance(value, dict):
        return (
            b"{"
            + b",".join(orjson.dumps(k) + b":" + body_bytes(v) for k, v in value.items())
            + b"}"
        )
    if isinstance(value, list):
        return b"[" + b",".join(body_bytes(v) for v in value) + b"]"
    return orjson.dumps(value)


def event(type_: str = "run.started", **fields: Any) -> dict[str, Any]:
    return {"thread_id": str(uuid.uuid4()), "run_id": str(uuid.uuid4()), "type": type_, **fields}


ITEM = {"namespace": ["docs"], "key": "k2", "value": {"a": 1}}
ODD_KEYS = ["a:b", "*", "{tag}", "line\nbreak", "nul\x00", "tw:thread:*"]
# Ids Python's uuid.UUID reads, or nearly, that LangGraph's canonical form refuses.
REFUSED_IDS = [
    "not-a-uuid",
    "0" * 31,
    "0" * 33,
    "g" * 32,
    THREAD + "0",
    THREAD[:-1],
    "*",
    "tw:thread:*",
    "%00",
    "%0a" + THREAD,
]

# (name, method, path, body: JSON value, or bytes sent as they are)
CASES: list[tuple[str, str, str, Any]] = [
    ("wide metadata", "POST", "/threads", {"metadata": WIDE}),
    ("deep metadata", "POST", "/threads", {"metadata": deep(1_001)}),
    ("deeper than JSON's limit", "POST", "/threads", {"metadata": deep(1_100)}),
    ("wide patch", "PATCH", f"/threads/{THREAD}", {"metadata": WIDE}),
    ("deep patch", "PATCH", f"/threads/{THREAD}", {"metadata": deep(1_001)}),
    ("wide filter", "POST", "/threads/search", {"metadata": WIDE}),
    ("deep filter", "POST", "/threads/count", {"metadata": deep(1_001)}),
    ("wide event metadata", "POST", "/runs/events", {"events": [event(metadata=WIDE)]}),
    ("wide assistant filter", "POST", "/assistants/search", {"metadata": WIDE}),
    ("wide cron filter", "POST", "/runs/crons/search", {"metadata": WIDE}),
    ("wide store filter", "POST", "/store/items/search", {"filter": WIDE}),
    ("megabyte metadata value", "POST", "/threads", {"metadata": {"a": MEGABYTE}}),
    ("megabyte thread id", "POST", "/threads", {"thread_id": MEGABYTE}),
    ("megabyte event type", "POST", "/runs/events", {"events": [event(MEGABYTE)]}),
    ("megabyte store key", "PUT", "/store/items", {"namespace": ["a"], "key": MEGABYTE}),
    ("not UTF-8", "POST", "/threads", b'{"metadata": {"a": "\xff\xfe"}}'),
    ("not UTF-8 key", "POST", "/threads/search", b'{"metadata": {"\xc3\x28": 1}}'),
    ("not JSON", "POST", "/runs/events", b"{events: []}"),
    ("trailing garbage", "POST", "/threads", b'{"metadata": {}} {}'),
    ("huge limit", "POST", "/threads/search", {"limit": 10**12}),
    ("negative offset", "POST", "/threads/search", {"offset": -1}),
    ("float limit", "POST", "/threads/search", {"limit": 1e308}),
    ("huge run limit", "GET", f"/threads/{THREAD}/runs?limit=1000000000000", None),
    ("float store limit", "POST", "/store/items/search", {"limit": 1e308}),
    ("negative store offset", "POST", "/store/items/search", {"offset": -1}),
    ("events not a list", "POST", "/runs/events", {"events": {"a": 1}}),
    ("events of scalars", "POST", "/runs/events", {"events": [1, "x", None]}),
    ("one bad event", "POST", "/runs/events", {"events": [event(), event("run.exploded")]}),
    ("1,001 events", "POST", "/runs/events", {"events": [event() for _ in range(1_001)]}),
    ("event at 1e308", "POST", "/runs/events", {"events": [event(at=1e308)]}),
    ("batch not an object", "POST", "/runs/events", [event()]),
    *(
        (f"id {i}", "POST", "/threads", {"thread_id": bad})
        for i, bad in enumerate([*REFUSED_IDS, *ODD_KEYS])
    ),
    *(
        (f"path id {i}", "PATCH", f"/threads/{bad}", {"metadata": {"a": 1}})
        for i, bad in enumerate(REFUSED_IDS)
    ),
    *(
        (f"run id {i}", "POST", "/runs/events", {"events": [event(run_id=bad)]})
        for i, bad in enumerate([*REFUSED_IDS, *ODD_KEYS])
    ),
    *(
        (f"sort key {i}", "POST", "/threads/search", {"sort_by": bad})
        for i, bad in enumerate(ODD_KEYS)
    ),
    *((f"status {i}", "POST", "/threads/count", {"status": bad}) for i, bad in enumerate(ODD_KEYS)),
    *(
        (f"store namespace {i}", "PUT", "/store/items", {**ITEM, "namespace": ["ns", bad]})
        for i, bad in enumerate(["", "a.b", "nul\x00"])
    ),
]


@pytest.fixture(scope="module")
def client() -> TestClient:
    """One store for every case: as each leaves it unchanged, they cannot disturb each
    other."""
    redis = FakeRedis()
    client = make_client(redis)
    created = client.post("/threads", json={"thread_id": THREAD, "metadata": {"team": "a"}})
    assert created.status_code == 200, created.text
    started = {"events": [{"thread_id": THREAD, "run_id": RUN, "type": "run.started"}]}
    assert client.post("/runs/events", json=started).status_code == 200
    put = {"namespace": ["docs"], "key": "k", "value": {"a": 1}}
    assert client.put("/store/items", json=put).status_code == 204
    client.app.state.test_redis = redis
    return client


def snapshot(redis: FakeRedis) -> dict[bytes, bytes | None]:
    """Every key with its serialized value (DUMP), TTLs aside."""
    return {key: redis.dump(key) for key in redis.scan_iter(count=1000)}


@pytest.mark.parametrize(
    ("method", "path", "body"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_is_a_4xx_that_changes_nothing(
    client: TestClient, method: str, path: str, body: Any
) -> None:
    redis: FakeRedis = client.app.state.test_redis
    before = snapshot(redis)
    content = body if body is None or type(body) is bytes else body_bytes(body)
    response = client.request(method, path, content=content)
    assert 400 <= response.status_code < 500, response.text[:300]
    if response.headers.get("content-type") == "application/json":
        assert isinstance(response.json()["detail"], str | list)
    assert snapshot(redis) == before


def test_odd_keys_are_data_never_key_names(fake_redis: FakeRedis) -> None:
    """Keys with Redis-pattern and control characters, in metadata, filters and the memory
    store, are taken as data: every key in Redis stays under the service's prefix."""
    client, redis = make_client(fake_redis), fake_redis
    odd = {key: key for key in ODD_KEYS}
    created = client.post("/threads", json={"metadata": odd})
    assert created.status_code == 200, created.text
    thread_id = created.json()["thread_id"]
    found = client.post("/threads/search", json={"metadata": odd}).json()
    assert [t["thread_id"] for t in found] == [thread_id]
    for key in ODD_KEYS[:4]:
        put = {"namespace": ["odd", key], "key": key, "value": odd}
        assert client.put("/store/items", json=put).status_code == 204
    assert all(key.startswith(b"tw:") for key in redis.scan_iter(count=1000))
    assert client.delete(f"/threads/{thread_id}").status_code == 204
