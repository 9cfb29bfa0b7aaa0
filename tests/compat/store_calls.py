"""The same /store calls against two servers (LangGraph's `langgraph dev` and threadwatch),
with their answers normalised and diffed. Not part of the test suite: it needs both servers
running on a copy of tests/fixtures/store (each in its own folder: `langgraph dev` writes
into it), e.g. `langgraph dev --port 2024` and `threadwatch dev --port 8123` there, then

    python tests/compat/store_calls.py http://127.0.0.1:2024 http://127.0.0.1:8123

Prints each call whose status code or normalised body differ, then the count. Known, explained
differences (docs/guides/store.md, "Beside LangGraph's server") are listed as such.
"""

from __future__ import annotations

import json
import re
import sys
import uuid
from typing import Any

import httpx
from langgraph_sdk import get_sync_client

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT[\d:.]+\+00:00$")
# Where `langgraph dev` (its in-memory store) answers otherwise than LangGraph's production
# server, and threadwatch does what the production server does.
EXPLAINED = {
    "search-listing-order": "dev lists in insertion order; production by updated_at, newest first",
    "search-gt-missing-field": "dev answers 500 when an item lacks the field; threadwatch skips it",
    "search-no-prefix": "dev answers 500 without namespace_prefix; threadwatch searches all",
    "search-negative-limit": "dev slices with it; threadwatch answers 422",
    "put-negative-ttl": "dev ignores TTLs (its in-memory store keeps none); threadwatch "
    "refuses a TTL <= 0 (422)",
    "namespaces-after-delete": "dev keeps a namespace once emptied; production lists those "
    "holding items",
}


def normalised(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: normalised(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalised(v) for v in value]
    if isinstance(value, str) and TIMESTAMP.match(value):
        return "<timestamp>"
    if isinstance(value, float):
        return round(value, 5)
    return value


def calls(ns: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(name, method, path, httpx keyword arguments), in order."""
    item = {"namespace": [ns, "u1"], "key": "k1", "value": {"text": "hello world", "n": 1}}
    return [
        ("put", "PUT", "/store/items", {"json": item}),
        (
            "put-2",
            "PUT",
            "/store/items",
            {
                "json": {
                    **item,
                    "namespace": [ns, "u2"],
                    "key": "k2",
                    "value": {"text": "bye world", "n": 2},
                }
            },
        ),
        ("put-3", "PUT", "/store/items", {"json": {**item, "key": "k3", "value": {"x": 1}}}),
        ("get", "GET", "/store/items", {"params": {"namespace": f"{ns}.u1", "key": "k1"}}),
        ("get-missing", "GET", "/store/items", {"params": {"namespace": f"{ns}.u1", "key": "x"}}),
        ("get-no-key", "GET", "/store/items", {"params": {"namespace": ns}}),
        ("get-no-namespace", "GET", "/store/items", {"params": {"key": "k1"}}),
        (
            "get-empty-label",
            "GET",
            "/store/items",
            {"params": {"namespace": f"{ns}..u1", "key": "k1"}},
        ),
        ("put-dotted", "PUT", "/store/items", {"json": {**item, "namespace": ["a.b"]}}),
        ("put-empty-namespace", "PUT", "/store/items", {"json": {**item, "namespace": []}}),
        (
            "put-root-langgraph",
            "PUT",
            "/store/items",
            {"json": {**item, "namespace": ["langgraph", "x"]}},
        ),
        ("put-nul-label", "PUT", "/store/items", {"json": {**item, "namespace": ["a\x00b"]}}),
        ("get-nul-label", "GET", "/store/items", {"params": {"namespace": "a\x00b", "key": "k"}}),
        (
            "put-negative-ttl",
            "PUT",
            "/store/items",
            {"json": {**item, "namespace": [f"{ns}ttl"], "ttl": -1}},
        ),
        ("put-empty-key", "PUT", "/store/items", {"json": {**item, "key": ""}}),
        ("put-index-true", "PUT", "/store/items", {"json": {**item, "index": True}}),
        ("put-empty-label", "PUT", "/store/items", {"json": {**item, "namespace": [""]}}),
        (
            "put-bad-json",
            "PUT",
            "/store/items",
            {"content": b"nope", "headers": {"content-type": "application/json"}},
        ),
        (
            "search-filter",
            "POST",
            "/store/items/search",
            {"json": {"namespace_prefix": [ns], "filter": {"n": 2}}},
        ),
        (
            "search-query",
            "POST",
            "/store/items/search",
            {"json": {"namespace_prefix": [ns], "query": "hello"}},
        ),
        (
            "search-limit-0",
            "POST",
            "/store/items/search",
            {"json": {"namespace_prefix": [ns, "u2"], "limit": 0}},
        ),
        (
            "search-offset",
            "POST",
            "/store/items/search",
            {"json": {"namespace_prefix": [ns, "u2"], "offset": 1}},
        ),
        (
            "search-bad-operator",
            "POST",
            "/store/items/search",
            {"json": {"namespace_prefix": [ns], "filter": {"n": {"$foo": 1}}}},
        ),
        (
            "search-bad-label",
            "POST",
            "/store/items/search",
            {"json": {"namespace_prefix": ["a.b"]}},
        ),
        (
            "search-listing-order",
            "POST",
            "/store/items/search",
            {"json": {"namespace_prefix": [ns]}},
        ),
        (
            "search-gt-missing-field",
            "POST",
            "/store/items/search",
            {"json": {"namespace_prefix": [ns], "filter": {"n": {"$gt": 1}}}},
        ),
        ("search-no-prefix", "POST", "/store/items/search", {"json": {}}),
        (
            "search-negative-limit",
            "POST",
            "/store/items/search",
            {"json": {"namespace_prefix": [ns], "limit": -1}},
        ),
        ("namespaces", "POST", "/store/namespaces", {"json": {"prefix": [ns]}}),
        (
            "namespaces-depth",
            "POST",
            "/store/namespaces",
            {"json": {"prefix": [ns], "max_depth": 1}},
        ),
        (
            "namespaces-suffix",
            "POST",
            "/store/namespaces",
            {"json": {"prefix": [ns], "suffix": ["u2"]}},
        ),
        ("namespaces-wildcard", "POST", "/store/namespaces", {"json": {"prefix": [ns, "*"]}}),
        ("namespaces-bad-label", "POST", "/store/namespaces", {"json": {"prefix": ["a.b"]}}),
        ("delete", "DELETE", "/store/items", {"json": {"namespace": [ns, "u2"], "key": "k2"}}),
        (
            "delete-again",
            "DELETE",
            "/store/items",
            {"json": {"namespace": [ns, "u2"], "key": "k2"}},
        ),
        ("delete-no-key", "DELETE", "/store/items", {"json": {"namespace": [ns]}}),
        ("namespaces-after-delete", "POST", "/store/namespaces", {"json": {"prefix": [ns]}}),
    ]


def ties_unordered(body: Any) -> Any:
    """Search results of equal scores in one order (each server breaks ties its own way)."""
    items = body.get("items") if isinstance(body, dict) else None
    scored = [i for i in items or () if isinstance(i.get("score"), float)]
    if scored:
        scored.sort(key=lambda i: (-i["score"], i["namespace"], i["key"]))
        body["items"] = scored + [i for i in items or () if i.get("score") is None]
    return body


def answer(client: httpx.Client, method: str, path: str, kwargs: dict[str, Any]) -> Any:
    try:
        response = client.request(method, path, **kwargs)
    except httpx.TransportError:  # `langgraph dev` drops the connection after some 500s
        response = client.request(method, path, **kwargs)
    if response.headers.get("content-type", "").startswith("application/json"):
        body = ties_unordered(normalised(response.json()))
        if isinstance(body, dict) and set(body) == {"detail"} and response.status_code == 422:
            body = {"detail": "<validation message>"}  # each server words these its own way
    else:
        body = response.text
    return response.status_code, body


def graph_run(url: str, ns: str) -> Any:
    """The `memory` graph of tests/fixtures/store writes a memory through its store and reads
    the memories through get_store(); read its write back through the API."""
    with get_sync_client(url=url) as client:
        thread = client.threads.create()
        fact = {"user": ns, "key": "fact", "fact": "redis keeps data in memory"}
        output = client.runs.wait(thread["thread_id"], "memory", input=fact)
        item = client.store.get_item(["memories", ns], "fact")
    return normalised({"output": output, "item": item})


def sdk_calls(url: str, ns: str) -> list[Any]:
    """The Python SDK's store methods, sync then async, and what each returned."""
    import asyncio

    from langgraph_sdk import get_client

    results: list[Any] = []
    ns = f"{ns}sdk"  # namespaces of their own: the dev server lists emptied ones
    with get_sync_client(url=url) as client:
        store = client.store
        store.put_item([ns, "sdk"], "a", {"text": "lua scripts", "n": 1})
        store.put_item([ns, "sdk"], "b", {"text": "redis memory", "n": 2}, index=False)
        results.append(store.get_item([ns, "sdk"], "a"))
        results.append(store.search_items([ns, "sdk"], filter={"n": 2}))
        results.append(store.search_items([ns, "sdk"], query="lua", limit=1))
        results.append(store.list_namespaces(prefix=[ns], max_depth=2))
        store.delete_item([ns, "sdk"], "b")
        results.append(store.get_item([ns, "sdk"], "b"))

    async def run_async() -> None:
        async with get_client(url=url) as client:
            await client.store.put_item([ns, "async"], "c", {"text": "graph node"})
            results.append(await client.store.get_item([ns, "async"], "c"))
            results.append(await client.store.search_items([ns, "async"], query="graph"))
            results.append(await client.store.list_namespaces(prefix=[ns], suffix=["async"]))
            await client.store.delete_item([ns, "async"], "c")

    asyncio.run(run_async())
    return [ties_unordered(normalised(result)) for result in results]


def main(first: str, second: str) -> int:
    ns = f"cmp{uuid.uuid4().hex[:8]}"
    differences = explained = 0
    with httpx.Client(base_url=first) as a, httpx.Client(base_url=second) as b:
        for name, method, path, kwargs in calls(ns):
            left, right = answer(a, method, path, kwargs), answer(b, method, path, kwargs)
            if left != right:
                why = EXPLAINED.get(name)
                explained += why is not None
                differences += why is None
                print(f"{'explained' if why else 'DIFFERENT'}: {name} ({why or 'unexplained'})")
                print(f"  {first}: {json.dumps(left)[:400]}")
                print(f"  {second}: {json.dumps(right)[:400]}")
    left, right = sdk_calls(first, ns), sdk_calls(second, ns)
    for i, (mine, theirs) in enumerate(zip(left, right, strict=True)):
        if mine != theirs:
            differences += 1
            print(f"DIFFERENT: SDK call {i}\n  {mine}\n  {theirs}")
    left, right = graph_run(first, ns), graph_run(second, ns)
    if left != right:
        differences += 1
        print(f"DIFFERENT: graph run\n  {left}\n  {right}")
    print(f"{differences} unexplained differences, {explained} explained")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
