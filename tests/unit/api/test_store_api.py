"""/store (app/api/routes/store.py): LangGraph's answers, as `langgraph dev` (langgraph-api
0.16.7) gives them, where it does not answer a 500."""

from __future__ import annotations

import pytest
from fakeredis import FakeRedis
from fastapi.testclient import TestClient

from tests.support import ROOT
from tests.unit.helpers import KEYS, make_client
from tests.unit.store.store_clock import Clock
from threadwatch.graphs.memory import MemoryStore, StoreIndex, StoreTTL
from threadwatch.graphs.store_config import resolve_embeddings
from threadwatch.store.items import ItemStore


@pytest.fixture
def client(fake_redis: FakeRedis) -> TestClient:
    client = make_client(fake_redis)
    embeddings = resolve_embeddings("./embed.py:embed", ROOT / "tests/fixtures/store")
    index = StoreIndex(embeddings, 64, ("text",))
    client.app.state.memory = MemoryStore(  # type: ignore[attr-defined]
        ItemStore(fake_redis, KEYS), index, StoreTTL(default_ttl=10)
    )
    return client


def put(client: TestClient, namespace: list[str], key: str, value: dict, **more: object) -> int:
    body = {"namespace": namespace, "key": key, "value": value, **more}
    return client.put("/store/items", json=body).status_code


def test_put_get_delete(client: TestClient) -> None:
    assert put(client, ["a", "b"], "k1", {"text": "hello world"}) == 204
    got = client.get("/store/items", params={"namespace": "a.b", "key": "k1"})
    assert got.status_code == 200
    item = got.json()
    assert set(item) == {"namespace", "key", "value", "created_at", "updated_at"}
    assert (item["namespace"], item["key"], item["value"]) == (
        ["a", "b"],
        "k1",
        {"text": "hello world"},
    )
    assert item["created_at"].endswith("+00:00")
    gone = client.request("DELETE", "/store/items", json={"namespace": ["a", "b"], "key": "k1"})
    assert gone.status_code == 204 and gone.content == b""
    missing = client.get("/store/items", params={"namespace": "a.b", "key": "k1"})
    assert (missing.status_code, missing.json()) == (200, None)


@pytest.mark.parametrize(
    ("call", "label"),
    [
        (lambda c: c.get("/store/items", params={"key": "k"}), ""),
        (lambda c: c.get("/store/items", params={"namespace": "a..b", "key": "k"}), ""),
        (
            lambda c: c.put("/store/items", json={"namespace": ["a.x"], "key": "k", "value": {}}),
            "a.x",
        ),
        (lambda c: c.post("/store/items/search", json={"namespace_prefix": ["a", ""]}), ""),
        (lambda c: c.post("/store/namespaces", json={"prefix": ["a.b"]}), "a.b"),
        (lambda c: c.post("/store/namespaces", json={"suffix": [""]}), ""),
    ],
)
def test_bad_labels_get_langgraphs_plain_422(client: TestClient, call: object, label: str) -> None:
    answer = call(client)  # type: ignore[operator]
    assert answer.status_code == 422
    assert "content-type" not in answer.headers
    assert answer.text == f"Namespace label {label!r} must be a non-empty string without periods"


def test_langgraphs_other_refusals(client: TestClient) -> None:
    empty = client.put("/store/items", json={"namespace": [], "key": "k", "value": {}})
    assert (empty.status_code, empty.json()) == (400, {"detail": "Namespace cannot be empty."})
    root = client.put(
        "/store/items", json={"namespace": ["langgraph", "x"], "key": "k", "value": {}}
    )
    assert root.status_code == 400
    assert root.json() == {
        "detail": "Root label for namespace cannot be \"langgraph\". Got: ('langgraph', 'x')"
    }
    nul = client.post("/store/namespaces", json={"prefix": ["a\u0000b"]})
    assert nul.status_code == 400
    assert nul.json() == {
        "detail": "Invalid namespace label 'a\x00b' found in ('a\\x00b',). Namespace labels "
        "cannot contain NUL bytes ('\\x00')."
    }
    no_key = client.get("/store/items", params={"namespace": "a"})
    assert (no_key.status_code, no_key.json()) == (400, {"error": "Key is required"})
    operator = client.post(
        "/store/items/search", json={"namespace_prefix": [], "filter": {"n": {"$foo": 1}}}
    )
    assert operator.status_code == 400
    assert operator.json() == {"detail": "Unsupported operator: $foo"}


@pytest.mark.parametrize(
    ("path", "method", "body"),
    [
        ("/store/items", "PUT", {"namespace": ["a"], "key": "k", "value": [1]}),
        ("/store/items", "PUT", {"namespace": ["a"], "value": {}}),
        ("/store/items", "PUT", {"namespace": ["a"], "key": "k", "value": {}, "ttl": 0}),
        ("/store/items", "PUT", {"namespace": ["a"], "key": "k", "value": {}, "index": True}),
        ("/store/items", "DELETE", {"namespace": ["a"]}),
        ("/store/items/search", "POST", {"limit": "x"}),
        ("/store/items/search", "POST", {"offset": -1}),
        ("/store/namespaces", "POST", {"max_depth": -1}),
        ("/store/namespaces", "POST", {"limit": -1}),
    ],
)
def test_invalid_bodies_are_422_and_change_nothing(
    client: TestClient, fake_redis: FakeRedis, path: str, method: str, body: dict
) -> None:
    answer = client.request(method, path, json=body)
    assert answer.status_code == 422, answer.text
    assert isinstance(answer.json()["detail"], str)
    assert fake_redis.keys("*") == []


def test_search_lists_newest_first_with_filter_and_pages(client: TestClient) -> None:
    for i in range(4):
        put(client, ["docs", str(i % 2)], f"d{i}", {"i": i, "text": f"doc {i}"})
    search = client.post("/store/items/search", json={"namespace_prefix": ["docs"]})
    items = search.json()["items"]
    assert [item["key"] for item in items] == ["d3", "d2", "d1", "d0"]
    assert all(item["score"] is None for item in items)
    filtered = client.post(
        "/store/items/search",
        json={"namespace_prefix": ["docs"], "filter": {"i": {"$gte": 2}}, "limit": 1, "offset": 1},
    )
    assert [item["key"] for item in filtered.json()["items"]] == ["d2"]
    # LangGraph reads limit 0 as its default, 10; namespace_prefix may be left out (it 500s).
    everything = client.post("/store/items/search", json={"limit": 0})
    assert len(everything.json()["items"]) == 4


def test_semantic_search_scores(client: TestClient) -> None:
    put(client, ["d"], "redis", {"text": "redis keeps data in memory"})
    put(client, ["d"], "lua", {"text": "lua scripts"})
    put(client, ["d"], "off", {"text": "redis memory"}, index=False)
    found = client.post("/store/items/search", json={"namespace_prefix": ["d"], "query": "redis"})
    items = found.json()["items"]
    assert [item["key"] for item in items] == ["redis", "lua", "off"]
    assert items[0]["score"] > items[1]["score"] and items[2]["score"] is None


def test_list_namespaces(client: TestClient) -> None:
    for ns in (["a"], ["a", "b"], ["a", "c"], ["b"]):
        put(client, ns, "k", {})
    listed = client.post("/store/namespaces", json={})
    assert listed.json() == {"namespaces": [["a"], ["a", "b"], ["a", "c"], ["b"]]}
    depth = client.post("/store/namespaces", json={"prefix": ["a"], "max_depth": 1})
    assert depth.json() == {"namespaces": [["a"]]}
    wildcard = client.post("/store/namespaces", json={"prefix": ["*", "b"]})
    assert wildcard.json() == {"namespaces": [["a", "b"]]}


def test_ttl_default_and_refresh(client: TestClient, clock: Clock) -> None:
    put(client, ["t"], "default", {})  # store.ttl.default_ttl: 10 minutes
    put(client, ["t"], "short", {}, ttl=1)
    clock.advance_minutes(0.9)
    params = {"namespace": "t", "key": "short", "refresh_ttl": "false"}
    assert client.get("/store/items", params=params).json() is not None
    clock.advance_minutes(0.2)
    assert client.get("/store/items", params=params).json() is None
    clock.advance_minutes(8.8)  # 9.9 minutes after the put
    refreshed = {"namespace": "t", "key": "default"}  # refresh_on_read defaults to true
    assert client.get("/store/items", params=refreshed).json() is not None
    clock.advance_minutes(9)
    assert client.get("/store/items", params=refreshed).json() is not None


def test_get_reads_the_last_namespace_parameter(client: TestClient) -> None:
    put(client, ["b"], "k", {"v": 1})
    got = client.get("/store/items?namespace=a&namespace=b&key=k")  # as Starlette reads it
    assert got.json()["value"] == {"v": 1}
    refresh = client.get("/store/items", params={"namespace": "b", "key": "k", "refresh_ttl": "x"})
    assert refresh.status_code == 200  # anything but "true" is false, as in LangGraph
