"""The long-term memory store through the Python SDK, on the real stack (API and workers on a
real Redis): a graph that writes through its ``store`` argument and reads through
``get_store()``, and ``client.store.*``, sync and async, on the same items."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest
from langgraph_sdk import get_client, get_sync_client
from langgraph_sdk.client import SyncLangGraphClient
from langgraph_sdk.errors import UnprocessableEntityError

from tests.integration.run_stack import KEYS, RunStack, wait_for
from tests.support import FIXTURES

pytestmark = pytest.mark.integration
PROJECT = FIXTURES / "store"


@pytest.fixture(scope="module")
def run_stack_env() -> dict[str, str]:
    """The store project: a graph with memory, and a store index on a local embedding."""
    return {"THREADWATCH_GRAPHS_CONFIG": str(PROJECT / "langgraph.json")}


def test_a_graph_writes_and_reads_its_store(sdk: SyncLangGraphClient) -> None:
    sdk.store.put_item(["memories", "u1"], "lua", {"text": "lua scripts run atomically"})
    thread = sdk.threads.create()
    output = sdk.runs.wait(
        thread["thread_id"],
        "memory",
        input={"user": "u1", "key": "redis", "fact": "redis keeps data in memory"},
    )
    assert output["memories"] == ["lua scripts run atomically", "redis keeps data in memory"]
    assert output["closest"] == "redis"  # semantic search, from inside the graph
    assert output["count"] == 2  # get_store() in a sync node
    item = sdk.store.get_item(["memories", "u1"], "redis")  # the graph's write, via the API
    assert item is not None and item["value"] == {"text": "redis keeps data in memory"}
    stateless = sdk.runs.wait(
        None, "memory", input={"user": "u1", "key": "lua", "fact": "lua scripts"}
    )
    assert stateless["closest"] == "lua"


def test_a_factory_gets_the_store_in_runs_and_state_reads(sdk: SyncLangGraphClient) -> None:
    thread = sdk.threads.create()
    fact = {"user": "u3", "key": "k", "fact": "graph node"}
    output = sdk.runs.wait(thread["thread_id"], "memory_factory", input=fact)
    assert output["closest"] == "k"
    state = sdk.threads.get_state(thread["thread_id"])  # the API opens the factory too
    assert state["values"]["count"] == 1


def test_the_sync_client(sdk: SyncLangGraphClient) -> None:
    store = sdk.store
    store.put_item(["docs", "a"], "d1", {"text": "redis memory", "n": 1})
    store.put_item(["docs", "b"], "d2", {"text": "graph node", "n": 2}, index=False)
    store.put_item(["docs", "b"], "d3", {"text": "graph scripts", "n": 3}, ttl=60)
    found = store.search_items(["docs"], filter={"n": {"$gte": 2}})
    assert [item["key"] for item in found["items"]] == ["d3", "d2"]
    ranked = store.search_items(["docs"], query="graph scripts", limit=2)
    assert [item["key"] for item in ranked["items"]] == ["d3", "d1"]
    assert ranked["items"][0]["score"] == pytest.approx(1.0)
    namespaces = store.list_namespaces(prefix=["docs"], max_depth=2)
    assert namespaces == {"namespaces": [["docs", "a"], ["docs", "b"]]}
    assert store.list_namespaces(suffix=["b"])["namespaces"] == [["docs", "b"]]
    store.delete_item(["docs", "b"], "d2")
    assert store.get_item(["docs", "b"], "d2") is None
    with pytest.raises(UnprocessableEntityError):
        store.search_items(["docs", ""])


def test_the_async_client(run_stack: RunStack) -> None:
    async def scenario() -> None:
        async with get_client(url=run_stack.url) as client:
            await client.store.put_item(["async"], "k", {"text": "hello"}, ttl=5)
            item = await client.store.get_item(["async"], "k", refresh_ttl=True)
            assert item is not None and item["value"] == {"text": "hello"}
            found = await client.store.search_items(["async"], query="hello")
            assert [i["key"] for i in found["items"]] == ["k"]
            listed = await client.store.list_namespaces(prefix=["async"])
            assert listed == {"namespaces": [["async"]]}
            await client.store.delete_item(["async"], "k")
            assert await client.store.get_item(["async"], "k") is None

    asyncio.run(scenario())


def test_the_sweep_deletes_expired_items(run_stack: RunStack) -> None:
    with get_sync_client(url=run_stack.url) as client:
        client.store.put_item(["ttl"], "gone", {"v": 1}, ttl=0.001)  # 60 ms
        client.store.put_item(["ttl"], "kept", {"v": 2})
        wait_for(lambda: run_stack.redis.hlen(KEYS.store_items("ttl")) == 1)
        assert client.store.get_item(["ttl"], "gone") is None
        assert run_stack.redis.zscore(KEYS.store_namespaces(), "ttl") == 0
        assert run_stack.redis.zscore(KEYS.store_expiring(), "ttl") is None


JS_STORE = """
import { Client } from "@langchain/langgraph-sdk";
const client = new Client({ apiUrl: process.env.API_URL });
await client.store.putItem(["js", "u1"], "k1", { text: "redis memory", n: 1 });
await client.store.putItem(["js", "u2"], "k2", { text: "lua scripts", n: 2 }, { ttl: 5 });
const item = await client.store.getItem(["js", "u1"], "k1", { refreshTtl: true });
const filtered = await client.store.searchItems(["js"], { filter: { n: 2 } });
const ranked = await client.store.searchItems(["js"], { query: "lua scripts", limit: 1 });
const namespaces = await client.store.listNamespaces({ prefix: ["js"], maxDepth: 2 });
await client.store.deleteItem(["js", "u1"], "k1");
const gone = await client.store.getItem(["js", "u1"], "k1");
console.log(JSON.stringify({ item, filtered, ranked, namespaces, gone }));
"""


def test_the_js_client(run_stack: RunStack, run_node: Callable[..., str]) -> None:
    out = json.loads(run_node(JS_STORE, {"API_URL": run_stack.url}))
    assert out["item"]["value"] == {"text": "redis memory", "n": 1}
    assert out["item"]["namespace"] == ["js", "u1"]
    assert "createdAt" in out["item"] or "created_at" in out["item"]
    assert [i["key"] for i in out["filtered"]["items"]] == ["k2"]
    assert [i["key"] for i in out["ranked"]["items"]] == ["k2"]
    assert out["namespaces"]["namespaces"] == [["js", "u1"], ["js", "u2"]]
    assert out["gone"] is None
