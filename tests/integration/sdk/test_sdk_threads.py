"""The Python SDK's threads surface against the reference contract (langgraph-sdk 0.4.x):
create, get, update, delete, search (every parameter), count, copy, prune, and the SDK's
typed errors with the server's exact texts."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client, get_sync_client
from langgraph_sdk.client import SyncLangGraphClient
from langgraph_sdk.errors import ConflictError, NotFoundError, UnprocessableEntityError

from tests.integration.helpers import (
    assert_thread_shape,
    assert_timestamp,
    drive,
    new_id,
    post_events,
    status_events,
)


@pytest.fixture
def client(api_url: str, http: httpx.Client) -> Iterator[SyncLangGraphClient]:
    """The sync SDK client (same payloads as the async one) on an empty database."""
    with get_sync_client(url=api_url) as sdk:
        yield sdk


def ids_of(threads: list[dict[str, Any]]) -> list[str]:
    return [t["thread_id"] for t in threads]


# -- create / get ---------------------------------------------------------------------------


def test_create_defaults(client: SyncLangGraphClient) -> None:
    thread = client.threads.create()
    assert_thread_shape(thread)
    assert thread["status"] == "idle"
    assert thread["metadata"] == {} and thread["config"] == {}
    assert thread["values"] is None and thread["interrupts"] == {} and thread["error"] is None
    assert thread["created_at"] == thread["updated_at"] == thread["state_updated_at"]
    assert client.threads.get(thread["thread_id"])["created_at"] == thread["created_at"]


def test_create_with_id_metadata_and_graph_id(client: SyncLangGraphClient) -> None:
    thread_id = new_id()
    thread = client.threads.create(
        thread_id=thread_id, metadata={"user": "u1", "n": 1}, graph_id="agent"
    )
    assert thread["thread_id"] == thread_id
    assert thread["metadata"] == {"user": "u1", "n": 1, "graph_id": "agent"}
    assert client.threads.search(metadata={"graph_id": "agent"}) == [thread]


def test_create_strips_reserved_metadata_keys(client: SyncLangGraphClient) -> None:
    reserved = dict.fromkeys(("thread_id", "assistant_id", "run_id", "cron_id"), "x")
    thread = client.threads.create(metadata={**reserved, "graph_id": "agent"})
    assert thread["metadata"] == {"graph_id": "agent"}


def test_create_if_exists_raise_is_a_conflict(client: SyncLangGraphClient) -> None:
    thread_id = new_id()
    client.threads.create(thread_id=thread_id)
    with pytest.raises(ConflictError) as caught:
        client.threads.create(thread_id=thread_id, if_exists="raise")
    assert caught.value.status_code == 409
    assert caught.value.message == f"Thread with ID {thread_id} already exists"
    assert caught.value.body == {"detail": f"Thread with ID {thread_id} already exists"}
    with pytest.raises(ConflictError):  # raise is the default
        client.threads.create(thread_id=thread_id)


def test_create_if_exists_do_nothing_returns_it_unchanged(client: SyncLangGraphClient) -> None:
    thread_id = new_id()
    first = client.threads.create(thread_id=thread_id, metadata={"v": 1})
    again = client.threads.create(thread_id=thread_id, metadata={"v": 2}, if_exists="do_nothing")
    assert again == first
    assert client.threads.get(thread_id)["metadata"] == {"v": 1}


def test_create_with_ttl_and_get_include_ttl(client: SyncLangGraphClient) -> None:
    thread = client.threads.create(ttl=60)
    assert "ttl" not in client.threads.get(thread["thread_id"])
    ttl = client.threads.get(thread["thread_id"], include=["ttl"])["ttl"]
    assert ttl["strategy"] == "delete" and ttl["ttl_minutes"] == 60
    expires = assert_timestamp(ttl["expires_at"])
    assert expires - assert_timestamp(thread["updated_at"]) == timedelta(minutes=60)
    other = client.threads.create(ttl={"ttl": 5, "strategy": "keep_latest"})
    ttl = client.threads.get(other["thread_id"], include=["ttl"])["ttl"]
    assert (ttl["strategy"], ttl["ttl_minutes"]) == ("keep_latest", 5)


def test_get_missing_thread_is_not_found(client: SyncLangGraphClient) -> None:
    thread_id = new_id()
    with pytest.raises(NotFoundError) as caught:
        client.threads.get(thread_id)
    assert caught.value.status_code == 404
    assert caught.value.message == f"Thread with ID {thread_id} not found"


def test_get_with_a_non_uuid_id_is_unprocessable(client: SyncLangGraphClient) -> None:
    with pytest.raises(UnprocessableEntityError) as caught:
        client.threads.get("not-a-uuid")
    assert caught.value.message == "Invalid thread ID: must be a UUID"


# -- update / delete ------------------------------------------------------------------------


def test_update_merges_shallowly_and_keeps_status_and_state(client: SyncLangGraphClient) -> None:
    thread = client.threads.create(metadata={"a": 1, "nested": {"x": 1, "y": 2}})
    updated = client.threads.update(
        thread["thread_id"], metadata={"nested": {"z": 3}, "b": None, "assistant_id": "x"}
    )
    assert updated["metadata"] == {"a": 1, "nested": {"z": 3}, "b": None}
    assert updated["updated_at"] > thread["updated_at"]
    assert updated["state_updated_at"] == thread["state_updated_at"]
    assert updated["status"] == "idle" and updated["created_at"] == thread["created_at"]
    assert client.threads.get(thread["thread_id"]) == updated
    # The old nested leaf is gone from the index, the new one is there.
    assert client.threads.search(metadata={"nested": {"x": 1}}) == []
    assert ids_of(client.threads.search(metadata={"nested": {"z": 3}})) == [thread["thread_id"]]
    assert ids_of(client.threads.search(metadata={"b": None})) == [thread["thread_id"]]


def test_update_with_empty_metadata_only_bumps_updated_at(client: SyncLangGraphClient) -> None:
    thread = client.threads.create(metadata={"a": 1})
    updated = client.threads.update(thread["thread_id"], metadata={})
    assert updated["metadata"] == {"a": 1}
    assert updated["updated_at"] > thread["updated_at"]


def test_update_return_minimal_and_ttl(client: SyncLangGraphClient) -> None:
    thread = client.threads.create()
    assert (
        client.threads.update(thread["thread_id"], metadata={"k": "v"}, return_minimal=True) is None
    )
    assert client.threads.get(thread["thread_id"])["metadata"] == {"k": "v"}
    client.threads.update(thread["thread_id"], metadata={}, ttl=30)
    assert client.threads.get(thread["thread_id"], include=["ttl"])["ttl"]["ttl_minutes"] == 30


def test_update_leaves_a_busy_thread_busy(client: SyncLangGraphClient, http: httpx.Client) -> None:
    thread_id = new_id()
    drive(http, thread_id, "busy")
    assert client.threads.update(thread_id, metadata={"k": 1})["status"] == "busy"


def test_update_missing_thread_is_not_found(client: SyncLangGraphClient) -> None:
    with pytest.raises(NotFoundError) as caught:
        client.threads.update(new_id(), metadata={"k": 1})
    assert caught.value.status_code == 404


def test_delete_then_not_found(client: SyncLangGraphClient) -> None:
    thread = client.threads.create(metadata={"team": "a"})
    assert client.threads.delete(thread["thread_id"]) is None
    with pytest.raises(NotFoundError) as caught:
        client.threads.get(thread["thread_id"])
    assert caught.value.message == f"Thread with ID {thread['thread_id']} not found"
    with pytest.raises(NotFoundError) as caught:
        client.threads.delete(thread["thread_id"])
    assert caught.value.message == f"Thread with ID {thread['thread_id']} not found"
    assert client.threads.search(metadata={"team": "a"}) == []
    assert client.threads.count() == 0


# -- search ---------------------------------------------------------------------------------


def test_search_defaults_newest_created_first_limit_10(client: SyncLangGraphClient) -> None:
    created = [client.threads.create()["thread_id"] for _ in range(12)]
    found = client.threads.search()
    assert ids_of(found) == created[::-1][:10]
    assert ids_of(client.threads.search(limit=5, offset=10)) == created[::-1][10:]
    assert client.threads.search(offset=12) == []


def test_search_ties_are_ordered_by_thread_id_and_stable(
    client: SyncLangGraphClient, http: httpx.Client
) -> None:
    """Threads created by one batch of events share created_at: ties follow thread_id."""
    ids = [new_id() for _ in range(6)]
    post_events(http, [e for t in ids for e in status_events(t, "idle")])
    assert len({t["created_at"] for t in client.threads.search()}) == 1
    assert ids_of(client.threads.search()) == sorted(ids, reverse=True)
    assert ids_of(client.threads.search(sort_order="asc")) == sorted(ids)
    pages = [ids_of(client.threads.search(limit=2, offset=o)) for o in (0, 2, 4)]
    assert [i for page in pages for i in page] == sorted(ids, reverse=True)


def test_search_by_ids(client: SyncLangGraphClient) -> None:
    a, b, c = (client.threads.create(metadata={"n": n})["thread_id"] for n in range(3))
    assert ids_of(client.threads.search(ids=[a, c, new_id()])) == [c, a]
    assert ids_of(client.threads.search(ids=[a, b], metadata={"n": 1})) == [b]
    assert ids_of(client.threads.search(ids=[a, b, c], limit=1, offset=1)) == [b]


def test_search_by_status(client: SyncLangGraphClient, http: httpx.Client) -> None:
    by_status = {status: new_id() for status in ("idle", "busy", "interrupted", "error")}
    for status, thread_id in by_status.items():
        drive(http, thread_id, status)
    for status, thread_id in by_status.items():
        assert ids_of(client.threads.search(status=status)) == [thread_id]
        assert client.threads.count(status=status) == 1
    with pytest.raises(UnprocessableEntityError) as caught:
        client.threads.search(status="bogus")  # type: ignore[arg-type]
    assert "status" in caught.value.message


METADATA_THREADS: dict[str, dict[str, Any]] = {
    "int": {"n": 1},
    "float": {"n": 1.0},
    "string": {"n": "1"},
    "bool": {"n": True},
    "null": {"k": None},
    "no_k": {"other": 1},
    "tags_abc": {"tags": ["a", "b", "c"]},
    "tags_a": {"tags": ["a"]},
    "nested": {"nested": {"x": 1, "y": 2}},
    "deep": {"nested": {"x": 1, "y": {"z": [1, 2]}}},
    "dotted": {"a.b": 1},
    "path": {"a": {"b": 1}},
    "items": {"items": [{"id": 1, "k": "x"}, {"id": 2, "k": "y"}]},
    "long": {"long": "x" * 300},
    "very_deep": {"l1": {"l2": {"l3": {"l4": {"l5": {"l6": {"l7": 1}}}}}}},
}
METADATA_CASES: list[tuple[dict[str, Any], set[str]]] = [
    ({"n": 1}, {"int", "float"}),
    ({"n": 1.0}, {"int", "float"}),
    ({"n": "1"}, {"string"}),
    ({"n": True}, {"bool"}),
    ({"k": None}, {"null"}),
    ({"tags": ["a", "b"]}, {"tags_abc"}),
    ({"tags": ["b", "a"]}, {"tags_abc"}),
    ({"tags": ["a"]}, {"tags_abc", "tags_a"}),
    ({"tags": []}, {"tags_abc", "tags_a"}),
    ({"tags": "a"}, set()),
    ({"tags": ["d"]}, set()),
    ({"nested": {"x": 1}}, {"nested", "deep"}),
    ({"nested": {}}, {"nested", "deep"}),
    ({"nested": {"y": {"z": [2]}}}, {"deep"}),
    ({"nested": {"x": 1, "y": 2}}, {"nested"}),
    ({"nested": {"x": 2}}, set()),
    ({"a.b": 1}, {"dotted"}),
    ({"a": {"b": 1}}, {"path"}),
    ({"items": [{"id": 2}]}, {"items"}),
    ({"items": [{"id": 1, "k": "x"}]}, {"items"}),
    ({"items": [{"id": 1, "k": "y"}]}, set()),
    ({"long": "x" * 300}, {"long"}),
    ({"long": "x" * 299 + "y"}, set()),
    ({"l1": {"l2": {"l3": {"l4": {"l5": {"l6": {"l7": 1}}}}}}}, {"very_deep"}),
    ({"l1": {"l2": {"l3": {"l4": {"l5": {"l6": {"l7": 2}}}}}}}, set()),
    ({"n": 1, "k": None}, set()),
    ({"missing": None}, set()),
]


def test_search_metadata_follows_postgres_containment(client: SyncLangGraphClient) -> None:
    names = {
        client.threads.create(metadata=metadata)["thread_id"]: name
        for name, metadata in METADATA_THREADS.items()
    }
    failures = []
    for query, expected in METADATA_CASES:
        found = {names[t] for t in ids_of(client.threads.search(metadata=query, limit=100))}
        count = client.threads.count(metadata=query)
        if found != expected or count != len(expected):
            failures.append((query, sorted(expected), sorted(found), count))
    assert failures == []


def test_search_by_values_including_threads_that_never_ran(
    client: SyncLangGraphClient, http: httpx.Client
) -> None:
    """values is null until a thread's first run; the LangGraph dev server 500s on such
    threads (reference §7)."""
    never_ran = client.threads.create()["thread_id"]
    ran = new_id()
    values = {"messages": [{"role": "ai", "content": "hi"}], "count": 3, "nested": {"a": 1}}
    drive(http, ran, "idle", values=values)
    assert ids_of(client.threads.search(values={"count": 3})) == [ran]
    assert ids_of(client.threads.search(values={"nested": {"a": 1}}, status="idle")) == [ran]
    assert ids_of(client.threads.search(values={"messages": [{"content": "hi"}]})) == [ran]
    assert client.threads.search(values={"count": 4}) == []
    assert client.threads.search(values={"count": 3}, metadata={"x": 1}) == []
    assert client.threads.count(values={"count": 3}) == 1
    assert client.threads.count(values={"missing": None}) == 0
    assert len(client.threads.search()) == 2 and never_ran in ids_of(client.threads.search())


def test_search_sort_by_every_field(client: SyncLangGraphClient, http: httpx.Client) -> None:
    ids = [client.threads.create(metadata={"i": i})["thread_id"] for i in range(4)]
    client.threads.update(ids[1], metadata={"touched": True})  # updated_at, not state
    post_events(http, status_events(ids[2], "error"))  # updated_at and state_updated_at
    post_events(http, status_events(ids[0], "busy"))  # updated_at only

    def order(sort_by: str, sort_order: str) -> list[str]:
        found = client.threads.search(sort_by=sort_by, sort_order=sort_order)  # type: ignore[arg-type]
        return ids_of(found)

    assert order("created_at", "asc") == ids
    assert order("created_at", "desc") == ids[::-1]
    assert order("updated_at", "desc") == [ids[0], ids[2], ids[1], ids[3]]
    assert order("updated_at", "asc") == [ids[3], ids[1], ids[2], ids[0]]
    assert order("state_updated_at", "desc") == [ids[2], ids[3], ids[1], ids[0]]
    assert order("thread_id", "asc") == sorted(ids)
    assert order("thread_id", "desc") == sorted(ids, reverse=True)
    # status sorts as text: busy < error < idle < interrupted.
    by_status = client.threads.search(sort_by="status", sort_order="asc")
    assert [t["status"] for t in by_status] == ["busy", "error", "idle", "idle"]
    assert ids_of(by_status)[2:] == sorted([ids[1], ids[3]])
    desc = client.threads.search(sort_by="status", sort_order="desc")
    assert [t["status"] for t in desc] == ["idle", "idle", "error", "busy"]
    assert ids_of(client.threads.search(sort_by="status", sort_order="asc", limit=2, offset=1)) == [
        ids[2],
        ids_of(by_status)[2],
    ]
    with pytest.raises(UnprocessableEntityError):
        client.threads.search(sort_by="bogus")  # type: ignore[arg-type]


def test_search_select_and_extract(client: SyncLangGraphClient, http: httpx.Client) -> None:
    thread_id = new_id()
    values = {"messages": [{"content": "first"}, {"content": "last"}]}
    drive(http, thread_id, "interrupted", values=values, metadata={"graph_id": "agent"})
    (thread,) = client.threads.search(select=["thread_id", "status"])
    assert thread == {"thread_id": thread_id, "status": "interrupted"}
    (thread,) = client.threads.search(
        select=["thread_id"],
        extract={
            "last": "values.messages[-1].content",
            "graph": "metadata.graph_id",
            "missing": "values.nope[3]",
        },
    )
    assert thread == {
        "thread_id": thread_id,
        "extracted": {"last": "last", "graph": "agent", "missing": None},
    }
    (full,) = client.threads.search(extract={"first": "values.messages[0].content"})
    assert_thread_shape(full)
    assert full["extracted"] == {"first": "first"}
    with pytest.raises(UnprocessableEntityError):
        client.threads.search(select=["context"])  # type: ignore[list-item]
    with pytest.raises(UnprocessableEntityError):
        client.threads.search(extract={"status": "values.x"})
    with pytest.raises(UnprocessableEntityError):
        client.threads.search(extract={"x": "thread_id"})
    with pytest.raises(UnprocessableEntityError):
        client.threads.search(extract={f"a{i}": "values.x" for i in range(11)})


def test_search_limit_bounds(client: SyncLangGraphClient) -> None:
    client.threads.create()
    assert len(client.threads.search(limit=1000)) == 1
    for bad in ({"limit": 0}, {"limit": 1001}, {"offset": -1}):
        with pytest.raises(UnprocessableEntityError) as caught:
            client.threads.search(**bad)
        assert caught.value.status_code == 422
        assert isinstance(caught.value.message, str) and caught.value.message


# -- count / copy / prune -------------------------------------------------------------------


def test_count(client: SyncLangGraphClient, http: httpx.Client) -> None:
    assert client.threads.count() == 0
    for i in range(3):
        client.threads.create(metadata={"team": "a" if i else "b"})
    drive(http, new_id(), "busy", metadata={"team": "a"})
    assert client.threads.count() == 4
    assert client.threads.count(metadata={"team": "a"}) == 3
    assert client.threads.count(metadata={"team": "a"}, status="idle") == 2
    assert client.threads.count(status="busy") == 1
    assert client.threads.count(metadata={"team": "c"}) == 0


def test_copy(client: SyncLangGraphClient, http: httpx.Client) -> None:
    source = new_id()
    drive(
        http, source, "interrupted", metadata={"graph_id": "agent", "n": {"x": 1}}, values={"v": 1}
    )
    copied = client.threads.copy(source)
    assert_thread_shape(copied)
    assert copied["thread_id"] != source
    assert copied["status"] == "idle" and copied["config"] == {}
    assert copied["metadata"] == {"graph_id": "agent", "n": {"x": 1}}
    assert client.threads.get(copied["thread_id"]) == copied
    assert sorted(ids_of(client.threads.search(metadata={"n": {"x": 1}}))) == sorted(
        [source, copied["thread_id"]]
    )
    assert client.threads.get(source)["status"] == "interrupted"


def test_copy_missing_thread_is_not_found(client: SyncLangGraphClient) -> None:
    """The dev server answers 409 "Conflict" here; an unknown id is a 404 like everywhere."""
    missing = new_id()
    with pytest.raises(NotFoundError) as caught:
        client.threads.copy(missing)
    assert caught.value.response.json() == {"detail": f"Thread with ID {missing} not found"}


def test_prune(client: SyncLangGraphClient, http: httpx.Client) -> None:
    a, b, keep = (client.threads.create()["thread_id"] for _ in range(3))
    run_id = drive(http, b, "idle")
    assert client.threads.prune([a, b, new_id(), a]) == {"pruned_count": 2}
    assert ids_of(client.threads.search()) == [keep]
    assert http.get(f"/threads/{b}/runs/{run_id}").status_code == 404
    assert client.threads.prune([]) == {"pruned_count": 0}
    assert client.threads.prune([keep], strategy="keep_latest") == {"pruned_count": 1}
    assert client.threads.get(keep)["thread_id"] == keep


def test_async_client_surface(api_url: str, http: httpx.Client) -> None:
    """The async client sends the same payloads; one round of each call through it."""

    async def main() -> None:
        client = get_client(url=api_url)
        try:
            thread = await client.threads.create(metadata={"team": "a"}, if_exists="raise")
            thread_id = thread["thread_id"]
            assert (await client.threads.get(thread_id))["metadata"] == {"team": "a"}
            updated = await client.threads.update(thread_id, metadata={"b": 2})
            assert updated["metadata"] == {"team": "a", "b": 2}
            assert ids_of(await client.threads.search(metadata={"b": 2})) == [thread_id]
            assert await client.threads.count(metadata={"team": "a"}) == 1
            copied = await client.threads.copy(thread_id)
            assert await client.threads.prune([copied["thread_id"]]) == {"pruned_count": 1}
            await client.threads.delete(thread_id)
            with pytest.raises(NotFoundError) as caught:
                await client.threads.get(thread_id)
            assert caught.value.message == f"Thread with ID {thread_id} not found"
        finally:
            await client.aclose()

    asyncio.run(main())
