"""Thread state and history through the Python SDK (sync and async) against a real server that
loaded the `state_project` fixture (THREADWATCH_GRAPHS_CONFIG), on a real Redis: the review
graph is run here on the RedisSaver, then read, updated, copied and deleted by SDK calls."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from langgraph_sdk import get_client, get_sync_client
from langgraph_sdk.client import SyncLangGraphClient
from langgraph_sdk.errors import BadRequestError, ConflictError, NotFoundError

from tests.integration.servers import running_api
from tests.support import FIXTURES, load_project_graphs
from threadwatch.graphs import GraphRegistry, open_graph
from threadwatch.runs.emitter import Emitter
from threadwatch.store.checkpoints import RedisSaver

PROJECT = FIXTURES / "graphs" / "state_project"
HELLO = {"messages": [{"role": "user", "content": "hello", "id": "m1"}]}


@pytest.fixture(scope="module")
def state_server(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of an API process started with the state_project graphs."""
    env = {"THREADWATCH_GRAPHS_CONFIG": str(PROJECT / "langgraph.json")}
    with running_api(redis_url, tmp_path_factory.mktemp("state-api"), env=env) as url:
        yield url


@pytest.fixture(scope="module")
def registry() -> GraphRegistry:
    return load_project_graphs(PROJECT)


@pytest.fixture
def client(state_server: str, redis_client: redis.Redis) -> Iterator[SyncLangGraphClient]:
    """An SDK client on a flushed test db."""
    with get_sync_client(url=state_server, api_key=None) as sdk:
        yield sdk


def run_review(redis_client: redis.Redis, registry: GraphRegistry, thread_id: str) -> None:
    """Run the review graph here, on the server's Redis, until its interrupt()."""

    async def go() -> None:
        saver = RedisSaver(redis_client)
        async with open_graph(registry.require("review"), checkpointer=saver) as graph:
            await graph.ainvoke(HELLO, {"configurable": {"thread_id": thread_id}})

    asyncio.run(go())


@pytest.fixture
def interrupted(
    client: SyncLangGraphClient, redis_client: redis.Redis, registry: GraphRegistry
) -> str:
    thread_id = client.threads.create(graph_id="review")["thread_id"]
    run_review(redis_client, registry, thread_id)
    return thread_id


def test_get_state(client: SyncLangGraphClient, interrupted: str) -> None:
    state: dict[str, Any] = client.threads.get_state(interrupted)  # type: ignore[assignment]
    assert state["next"] == ["review"] and state["values"]["draft"] == "draft: hello"
    assert state["checkpoint"]["thread_id"] == interrupted
    assert state["interrupts"][0]["value"] == {"review": "draft: hello"}
    nested = client.threads.get_state(interrupted, subgraphs=True)["tasks"][0]["state"]
    assert nested is not None and nested["next"] == ["ask"]

    parent = state["parent_checkpoint"]
    by_id = client.threads.get_state(interrupted, checkpoint_id=parent["checkpoint_id"])
    by_object = client.threads.get_state(interrupted, checkpoint=parent)
    assert by_id == by_object and by_id["next"] == ["write"]


def test_get_history(client: SyncLangGraphClient, interrupted: str) -> None:
    states = client.threads.get_history(interrupted)  # the SDK sends limit=10
    assert [s["metadata"]["step"] for s in states] == [1, 0, -1]
    newest = states[0]["checkpoint_id"]
    assert client.threads.get_history(interrupted, before=newest) == states[1:]
    assert client.threads.get_history(interrupted, limit=1, before=states[0]["checkpoint"]) == [
        states[1]
    ]
    (first,) = client.threads.get_history(interrupted, metadata={"source": "input"})
    assert first == states[-1]
    ns = client.threads.get_state(interrupted)["tasks"][0]["checkpoint"]["checkpoint_ns"]
    sub = client.threads.get_history(interrupted, checkpoint={"checkpoint_ns": ns})
    assert sub and {s["checkpoint"]["checkpoint_ns"] for s in sub} == {ns}


def test_update_state_moves_the_thread(client: SyncLangGraphClient, interrupted: str) -> None:
    result = client.threads.update_state(interrupted, {"verdict": "approved"}, as_node="review")
    assert list(result) == ["checkpoint", "configurable", "checkpoint_id"]
    state = client.threads.get_state(interrupted)
    assert result["checkpoint"]["checkpoint_id"] == state["checkpoint_id"]
    thread = client.threads.get(interrupted)
    assert thread["status"] == "interrupted" and thread["values"]["verdict"] == "approved"

    reply = {"messages": [{"role": "ai", "content": "ok", "id": "a1"}]}
    client.threads.update_state(interrupted, reply, as_node="reply")
    assert client.threads.get_state(interrupted)["next"] == []
    assert client.threads.get(interrupted)["status"] == "idle"

    first = client.threads.get_history(interrupted, limit=100)[-1]["checkpoint_id"]
    forked = client.threads.update_state(
        interrupted, {"draft": "forked"}, as_node="write", checkpoint_id=first
    )
    state = client.threads.get_state(interrupted)
    assert state["checkpoint_id"] == forked["checkpoint_id"]
    assert state["parent_checkpoint_id"] == first and state["next"] == ["review"]
    assert client.threads.get(interrupted)["status"] == "interrupted"


def test_errors(client: SyncLangGraphClient, redis_client: redis.Redis, interrupted: str) -> None:
    with pytest.raises(NotFoundError):
        client.threads.get_state(str(uuid.uuid4()))
    bare = client.threads.create()["thread_id"]
    with pytest.raises(BadRequestError, match="has no assigned graph ID"):
        client.threads.update_state(bare, {"draft": "x"})
    Emitter(redis_client).emit(interrupted, str(uuid.uuid4()), "run.pending")
    with pytest.raises(ConflictError):
        client.threads.update_state(interrupted, {"draft": "x"}, as_node="write")


def test_copy_and_delete_carry_checkpoints(
    client: SyncLangGraphClient, redis_client: redis.Redis, interrupted: str
) -> None:
    copy_id = client.threads.copy(interrupted)["thread_id"]
    source, copied = (client.threads.get_history(t) for t in (interrupted, copy_id))
    assert [s["checkpoint_id"] for s in copied] == [s["checkpoint_id"] for s in source]
    client.threads.delete(interrupted)
    assert not [k for k in redis_client.keys("*") if interrupted.encode() in k]
    assert len(client.threads.get_history(copy_id)) == 3


def test_async_client(state_server: str, interrupted: str) -> None:
    async def go() -> None:
        async with get_client(url=state_server, api_key=None) as sdk:
            state = await sdk.threads.get_state(interrupted)
            assert state["next"] == ["review"]
            await sdk.threads.update_state(interrupted, {"verdict": "yes"}, as_node="review")
            history = await sdk.threads.get_history(interrupted, limit=2)
            assert history[0]["values"]["verdict"] == "yes" and len(history) == 2

    asyncio.run(go())
