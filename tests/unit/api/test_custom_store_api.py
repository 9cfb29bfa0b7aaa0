"""With langgraph.json's ``store.path``, the /store API serves the user's store, called as
langgraph-api calls it, in the same shapes as the Redis store's; Redis holds no item."""

from __future__ import annotations

from fakeredis import FakeRedis
from langgraph.store.memory import InMemoryStore

from tests.unit.helpers import KEYS, make_client
from threadwatch.api.app import use_store
from threadwatch.store.items import ItemStore


def test_the_store_api_serves_the_users_store(fake_redis: FakeRedis) -> None:
    client = make_client(fake_redis)
    users = InMemoryStore()
    use_store(client.app, users)  # type: ignore[arg-type]
    item = {"namespace": ["notes", "u1"], "key": "a", "value": {"text": "hi"}}
    assert client.put("/store/items", json=item).status_code == 204
    stored = users.get(("notes", "u1"), "a")
    assert stored is not None and stored.value == {"text": "hi"}
    got = client.get("/store/items", params={"namespace": "notes.u1", "key": "a"}).json()
    assert {k: got[k] for k in ("namespace", "key", "value")} == item
    assert got["created_at"] == stored.created_at.isoformat()
    found = client.post("/store/items/search", json={"namespace_prefix": ["notes"]}).json()
    assert [i["key"] for i in found["items"]] == ["a"] and "score" in found["items"][0]
    spaces = client.post("/store/namespaces", json={"prefix": ["notes"]}).json()
    assert spaces == {"namespaces": [["notes", "u1"]]}
    assert ItemStore(fake_redis, KEYS).get([(("notes", "u1"), "a")]) == [None]
    delete = {"namespace": ["notes", "u1"], "key": "a"}
    assert client.request("DELETE", "/store/items", json=delete).status_code == 204
    assert users.get(("notes", "u1"), "a") is None


def test_bad_input_is_refused_before_the_users_store(fake_redis: FakeRedis) -> None:
    client = make_client(fake_redis)
    users = InMemoryStore()
    use_store(client.app, users)  # type: ignore[arg-type]
    bad = {"namespace": ["no.dots"], "key": "a", "value": {}}
    assert client.put("/store/items", json=bad).status_code == 422
    reserved = {"namespace": ["langgraph", "x"], "key": "a", "value": {}}
    assert client.put("/store/items", json=reserved).status_code in (400, 422)
    with_ttl = {"namespace": ["notes"], "key": "a", "value": {}, "ttl": 5}
    refused = client.put("/store/items", json=with_ttl)
    assert refused.status_code == 422
    assert refused.json() == {
        "detail": "TTL is not supported by InMemoryStore; put the item without one"
    }
    assert users.search(()) == []
