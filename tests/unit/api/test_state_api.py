"""/threads/{id}/state and /history on fakeredis: a real LangGraph graph (the `review` fixture:
write -> review subgraph with interrupt() -> reply) run on the RedisSaver, then read through
the API in the LangGraph server's ThreadState shape; updates and the thread record they move
(values, interrupts, status; 409 while busy); plain-callable and graph-less threads; copy,
delete and prune carrying the checkpoints along."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import pytest
from fakeredis import FakeRedis
from fastapi.testclient import TestClient

from tests.support import FIXTURES, load_project_graphs
from tests.unit.helpers import event, keyspace, make_client, thread_hash
from threadwatch.graphs import GraphRegistry, open_graph
from threadwatch.graphs.serde import jsonable
from threadwatch.graphs.state import NoGraphId
from threadwatch.store.stores import Stores

PROJECT = FIXTURES / "graphs" / "state_project"
STATE_KEYS = (
    "values next tasks metadata created_at checkpoint parent_checkpoint interrupts "
    "checkpoint_id parent_checkpoint_id"
).split()
TASK_KEYS = ["id", "name", "path", "error", "interrupts", "checkpoint", "state", "result"]
EMPTY = {**dict.fromkeys(STATE_KEYS), "values": {}, "next": [], "tasks": [], "interrupts": []}
HELLO = {"messages": [{"role": "user", "content": "hello", "id": "m1"}]}


@pytest.fixture(scope="module")
def registry() -> GraphRegistry:
    return load_project_graphs(PROJECT)


@pytest.fixture
def client(fake_redis: FakeRedis, registry: GraphRegistry) -> TestClient:
    return make_client(fake_redis, graphs=registry)


@pytest.fixture
def stores(client: TestClient) -> Stores:
    return client.app.state.stores  # type: ignore[attr-defined]


def new_thread(client: TestClient, graph_id: str | None = "review") -> str:
    metadata = {"graph_id": graph_id} if graph_id else {}
    return client.post("/threads", json={"metadata": metadata}).json()["thread_id"]


def run_graph(
    stores: Stores, registry: GraphRegistry, thread_id: str, input: Any = HELLO
) -> dict[str, Any]:
    """Run the review graph on the thread's checkpoints, as a worker would (until interrupt)."""

    async def go() -> dict[str, Any]:
        graph = registry.require("review")
        async with open_graph(graph, checkpointer=stores.saver) as compiled:
            return await compiled.ainvoke(input, {"configurable": {"thread_id": thread_id}})

    return asyncio.run(go())


@pytest.fixture
def interrupted(client: TestClient, stores: Stores, registry: GraphRegistry) -> str:
    """A thread whose review graph stopped in the subgraph's interrupt()."""
    thread_id = new_thread(client)
    run_graph(stores, registry, thread_id)
    return thread_id


def history(client: TestClient, thread_id: str, **body: Any) -> list[dict[str, Any]]:
    response = client.post(f"/threads/{thread_id}/history", json=body)
    assert response.status_code == 200, response.text
    return response.json()


# -- GET state -----------------------------------------------------------------------------


def test_state_after_an_interrupt(client: TestClient, interrupted: str) -> None:
    state = client.get(f"/threads/{interrupted}/state").json()
    assert list(state) == STATE_KEYS
    assert state["values"]["draft"] == "draft: hello"
    (message,) = state["values"]["messages"]  # a pydantic message, dumped as LangGraph does
    assert message["content"] == "hello" and message["type"] == "human"
    assert state["next"] == ["review"]
    # As LangGraph's server keys it: the thread id with what the graph wrote.
    assert state["metadata"] == {
        "thread_id": interrupted,
        "source": "loop",
        "step": 1,
        "parents": {},
    }
    checkpoint = state["checkpoint"]
    assert checkpoint == {
        "checkpoint_id": state["checkpoint_id"],
        "thread_id": interrupted,
        "checkpoint_ns": "",
    }
    assert state["parent_checkpoint"]["checkpoint_id"] == state["parent_checkpoint_id"]
    (task,) = state["tasks"]
    assert list(task) == TASK_KEYS
    assert task["name"] == "review" and task["path"] == ["__pregel_pull", "review"]
    assert task["checkpoint"] == {
        "thread_id": interrupted,
        "checkpoint_ns": f"review:{task['id']}",
    }
    assert task["state"] is None and task["error"] is None and task["result"] is None
    (interrupt,) = task["interrupts"]
    assert list(interrupt) == ["id", "value"] and interrupt["value"] == {"review": "draft: hello"}
    assert state["interrupts"] == [interrupt]


def test_state_with_subgraphs(client: TestClient, interrupted: str) -> None:
    state = client.get(f"/threads/{interrupted}/state", params={"subgraphs": "true"}).json()
    (task,) = state["tasks"]
    assert task["checkpoint"] is None
    sub = task["state"]
    assert list(sub) == STATE_KEYS
    assert sub["values"] == {"draft": "draft: hello"} and sub["next"] == ["ask"]
    assert sub["checkpoint"]["checkpoint_ns"] == f"review:{task['id']}"
    assert sub["interrupts"] == task["interrupts"]


def test_state_at_a_checkpoint(client: TestClient, interrupted: str) -> None:
    latest = client.get(f"/threads/{interrupted}/state").json()
    parent_id = latest["parent_checkpoint_id"]
    by_path = client.get(f"/threads/{interrupted}/state/{parent_id}").json()
    assert by_path["checkpoint_id"] == parent_id and by_path["next"] == ["write"]
    assert by_path["metadata"]["step"] == 0
    by_body = client.post(
        f"/threads/{interrupted}/state/checkpoint",
        json={"checkpoint": {"checkpoint_id": parent_id}},
    ).json()
    assert by_body == by_path


def test_state_of_a_subgraph_checkpoint(client: TestClient, interrupted: str) -> None:
    task = client.get(f"/threads/{interrupted}/state").json()["tasks"][0]
    body = {"checkpoint": task["checkpoint"], "subgraphs": True}
    sub = client.post(f"/threads/{interrupted}/state/checkpoint", json=body).json()
    assert sub["values"] == {"draft": "draft: hello"} and sub["next"] == ["ask"]


def test_unknown_checkpoint_is_an_empty_state(client: TestClient, interrupted: str) -> None:
    """LangGraph answers with the empty state naming the checkpoint asked for."""
    unknown = "1f000000-0000-6000-8000-000000000000"
    state = client.get(f"/threads/{interrupted}/state/{unknown}").json()
    named = {"checkpoint_id": unknown, "thread_id": interrupted}
    assert state == {**EMPTY, "checkpoint": named, "checkpoint_id": unknown}


def test_checkpoint_body_is_required(client: TestClient, interrupted: str) -> None:
    response = client.post(f"/threads/{interrupted}/state/checkpoint", json={})
    assert response.status_code == 422 and "checkpoint" in response.json()["detail"]


def test_thread_that_never_ran_has_the_empty_state(client: TestClient) -> None:
    thread_id = new_thread(client)
    assert client.get(f"/threads/{thread_id}/state").json() == EMPTY
    assert history(client, thread_id, limit=10) == []


def test_thread_without_graph_id(client: TestClient) -> None:
    thread_id = new_thread(client, graph_id=None)
    assert client.get(f"/threads/{thread_id}/state").json() == EMPTY
    assert client.get(f"/threads/{thread_id}/history").json() == []
    response = client.post(f"/threads/{thread_id}/state", json={"values": {"draft": "x"}})
    assert response.status_code == 400
    assert response.json() == {"detail": NoGraphId(thread_id).detail}
    assert response.json()["detail"].startswith(
        f"Thread '{thread_id}' has no assigned graph ID. This usually occurs"
    )


def test_unknown_graph_is_a_404(client: TestClient) -> None:
    thread_id = new_thread(client, graph_id="nope")
    response = client.get(f"/threads/{thread_id}/state")
    assert response.status_code == 404
    assert (
        response.json()["detail"] == "Graph 'nope' not found. Expected one of: ['echo', 'review']"
    )


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/state", None),
        ("GET", "/state/1f000000-0000-6000-8000-000000000000", None),
        ("POST", "/state/checkpoint", {"checkpoint": {"checkpoint_id": "x"}}),
        ("POST", "/state", {"values": {}}),
        ("GET", "/history", None),
        ("POST", "/history", {}),
    ],
)
def test_unknown_thread(client: TestClient, method: str, path: str, body: Any) -> None:
    thread_id = str(uuid.uuid4())
    response = client.request(method, f"/threads/{thread_id}{path}", json=body)
    assert response.status_code == 404
    assert response.json() == {"detail": f"Thread with ID {thread_id} not found"}
    response = client.request(method, f"/threads/not-a-uuid{path}", json=body)
    assert response.status_code == 422
    assert response.json() == {"detail": "Invalid thread ID: must be a UUID"}


# -- history -------------------------------------------------------------------------------


def test_history_newest_first(client: TestClient, interrupted: str) -> None:
    states = history(client, interrupted, limit=10)
    assert [s["metadata"]["step"] for s in states] == [1, 0, -1]
    assert all(list(s) == STATE_KEYS for s in states)
    assert states[0] == client.get(f"/threads/{interrupted}/state").json()
    assert [s["parent_checkpoint_id"] for s in states[:-1]] == [
        s["checkpoint_id"] for s in states[1:]
    ]


def test_history_defaults_to_one_state(client: TestClient, interrupted: str) -> None:
    assert len(history(client, interrupted)) == 1
    assert len(client.get(f"/threads/{interrupted}/history").json()) == 1
    assert len(client.get(f"/threads/{interrupted}/history", params={"limit": 2}).json()) == 2


def test_history_before_and_metadata(client: TestClient, interrupted: str) -> None:
    latest, *older = history(client, interrupted, limit=10)
    newest_id = latest["checkpoint_id"]
    assert history(client, interrupted, limit=10, before=newest_id) == older
    by_object = history(client, interrupted, limit=10, before={"checkpoint_id": newest_id})
    assert by_object == older
    got = client.get(f"/threads/{interrupted}/history", params={"limit": 5, "before": newest_id})
    assert got.json() == older
    (first,) = history(client, interrupted, limit=10, metadata={"source": "input"})
    assert first["metadata"]["step"] == -1


def test_history_of_a_subgraph(client: TestClient, interrupted: str) -> None:
    task = client.get(f"/threads/{interrupted}/state").json()["tasks"][0]
    checkpoint = {"checkpoint_ns": task["checkpoint"]["checkpoint_ns"]}
    states = history(client, interrupted, limit=10, checkpoint=checkpoint)
    assert states and all(
        s["checkpoint"]["checkpoint_ns"] == checkpoint["checkpoint_ns"] for s in states
    )


@pytest.mark.parametrize("limit", [0, 1001, "x"])
def test_history_limit_is_checked(client: TestClient, interrupted: str, limit: Any) -> None:
    response = client.post(f"/threads/{interrupted}/history", json={"limit": limit})
    assert response.status_code == 422 and response.json()["detail"].startswith("limit: ")


def test_history_get_limit_must_be_an_integer(client: TestClient, interrupted: str) -> None:
    response = client.get(f"/threads/{interrupted}/history", params={"limit": "ten"})
    assert response.status_code == 422 and response.json() == {"detail": "Invalid limit ten"}


@pytest.mark.parametrize("limit", ["0", "-3", "1001"])
def test_history_get_limit_has_the_post_forms_bounds(
    client: TestClient, interrupted: str, limit: str
) -> None:
    response = client.get(f"/threads/{interrupted}/history", params={"limit": limit})
    assert response.status_code == 422
    assert response.json()["detail"] == f"Invalid limit {limit}: between 1 and 1000"


# -- POST state ----------------------------------------------------------------------------


def test_update_answers_with_the_new_checkpoint(client: TestClient, interrupted: str) -> None:
    body = {"values": {"verdict": "approved"}, "as_node": "review"}
    response = client.post(f"/threads/{interrupted}/state", json=body)
    assert response.status_code == 200
    result = response.json()
    assert list(result) == ["checkpoint", "configurable", "checkpoint_id"]
    state = client.get(f"/threads/{interrupted}/state").json()
    assert (
        result["checkpoint"]
        == result["configurable"]
        == {
            "thread_id": interrupted,
            "checkpoint_ns": "",
            "checkpoint_id": state["checkpoint_id"],
        }
    )
    assert result["checkpoint_id"] == state["checkpoint_id"]
    assert state["values"]["verdict"] == "approved" and state["next"] == ["reply"]
    assert state["metadata"]["source"] == "update" and state["metadata"]["graph_id"] == "review"


def test_update_moves_the_thread_record(
    client: TestClient, stores: Stores, registry: GraphRegistry, fake_redis: FakeRedis
) -> None:
    thread_id = new_thread(client)
    run_id = str(uuid.uuid4())
    run_graph(stores, registry, thread_id)
    interrupts = {"t1": [{"id": "i1", "value": {"review": "draft: hello"}}]}
    stores.runs.apply(
        [
            event(thread_id, run_id, "run.started"),
            event(thread_id, run_id, "run.interrupted", values={"v": 1}, interrupts=interrupts),
        ]
    )
    before = client.get(f"/threads/{thread_id}").json()
    assert before["status"] == "interrupted" and before["interrupts"] == interrupts

    body = {"values": {"verdict": "approved"}, "as_node": "review"}
    assert client.post(f"/threads/{thread_id}/state", json=body).status_code == 200
    thread = client.get(f"/threads/{thread_id}").json()
    state = client.get(f"/threads/{thread_id}/state").json()
    assert thread["values"] == state["values"] and thread["values"]["verdict"] == "approved"
    assert thread["interrupts"] == {} and thread["status"] == "interrupted"  # `reply` is next
    assert thread["state_updated_at"] > before["state_updated_at"]

    done = {"values": {"messages": [{"role": "ai", "content": "ok", "id": "a1"}]}}
    assert client.post(f"/threads/{thread_id}/state", json={**done, "as_node": "reply"}).is_success
    thread = client.get(f"/threads/{thread_id}").json()
    assert client.get(f"/threads/{thread_id}/state").json()["next"] == []
    assert thread["status"] == "idle"
    assert [m["content"] for m in thread["values"]["messages"]] == ["hello", "ok"]
    assert thread_hash(fake_redis, thread_id)["status"] == "idle"


def test_update_keeps_interrupts_of_the_new_state(
    client: TestClient, stores: Stores, registry: GraphRegistry
) -> None:
    """An update from the checkpoint before the interrupt forks a new one."""
    thread_id = new_thread(client)
    run_graph(stores, registry, thread_id)
    first = history(client, thread_id, limit=10)[-1]["checkpoint_id"]  # the input checkpoint
    body = {"values": {"draft": "forked"}, "as_node": "write", "checkpoint_id": first}
    assert client.post(f"/threads/{thread_id}/state", json=body).status_code == 200
    state = client.get(f"/threads/{thread_id}/state").json()
    assert state["values"]["draft"] == "forked" and state["next"] == ["review"]
    assert state["parent_checkpoint_id"] == first
    thread = client.get(f"/threads/{thread_id}").json()
    assert thread["status"] == "interrupted" and thread["interrupts"] == {}


def test_update_with_a_checkpoint_object(client: TestClient, interrupted: str) -> None:
    parent = client.get(f"/threads/{interrupted}/state").json()["parent_checkpoint_id"]
    body = {
        "values": {"draft": "again"},
        "as_node": "write",
        "checkpoint": {"checkpoint_id": parent},
    }
    result = client.post(f"/threads/{interrupted}/state", json=body).json()
    state = client.get(f"/threads/{interrupted}/state").json()
    assert state["checkpoint_id"] == result["checkpoint_id"]
    assert state["parent_checkpoint_id"] == parent


def test_update_while_busy_is_a_409_and_writes_nothing(
    client: TestClient, stores: Stores, interrupted: str
) -> None:
    stores.runs.apply([event(interrupted, str(uuid.uuid4()), "run.pending")])
    count = len(history(client, interrupted, limit=100))
    response = client.post(f"/threads/{interrupted}/state", json={"values": {"draft": "x"}})
    assert response.status_code == 409
    assert response.json() == {"detail": "Thread is busy with a running job. Cannot update state."}
    assert len(history(client, interrupted, limit=100)) == count
    assert client.get(f"/threads/{interrupted}").json()["status"] == "busy"


def test_update_as_an_unknown_node_is_a_400(client: TestClient, interrupted: str) -> None:
    body = {"values": {"draft": "x"}, "as_node": "nope"}
    response = client.post(f"/threads/{interrupted}/state", json=body)
    assert response.status_code == 400 and response.json() == {"detail": "Node nope does not exist"}


# -- plain callable graphs -----------------------------------------------------------------


def test_plain_callable_state_is_the_thread_record(client: TestClient, stores: Stores) -> None:
    thread_id = new_thread(client, graph_id="echo")
    run_id = str(uuid.uuid4())
    interrupts = {"t1": [{"id": "i1", "value": "why?"}]}
    stores.runs.apply(
        [
            event(thread_id, run_id, "run.started"),
            event(thread_id, run_id, "run.interrupted", values={"echo": 1}, interrupts=interrupts),
        ]
    )
    state = client.get(f"/threads/{thread_id}/state").json()
    assert state == {**EMPTY, "values": {"echo": 1}, "interrupts": interrupts["t1"]}
    at = client.get(f"/threads/{thread_id}/state/1f000000-0000-6000-8000-000000000000").json()
    assert at == EMPTY
    assert history(client, thread_id, limit=10) == []
    response = client.post(f"/threads/{thread_id}/state", json={"values": {"echo": 2}})
    assert response.status_code == 400
    assert response.json()["detail"].startswith(f"Graph 'echo' of thread '{thread_id}' is a plain")


# -- copy, delete, prune carry the checkpoints ---------------------------------------------


def test_copy_copies_the_checkpoints(client: TestClient, interrupted: str) -> None:
    copy_id = client.post(f"/threads/{interrupted}/copy").json()["thread_id"]
    source = history(client, interrupted, limit=10)
    copied = history(client, copy_id, limit=10)
    assert [s["checkpoint_id"] for s in copied] == [s["checkpoint_id"] for s in source]
    assert [s["values"] for s in copied] == [s["values"] for s in source]
    assert {s["checkpoint"]["thread_id"] for s in copied} == {copy_id}
    body = {"values": {"verdict": "copy only"}, "as_node": "review"}
    assert client.post(f"/threads/{copy_id}/state", json=body).status_code == 200
    assert "verdict" not in client.get(f"/threads/{interrupted}/state").json()["values"]


def test_delete_removes_the_checkpoints(
    client: TestClient, fake_redis: FakeRedis, interrupted: str
) -> None:
    assert any(interrupted in key for key in keyspace(fake_redis))
    assert client.delete(f"/threads/{interrupted}").status_code == 204
    assert not any(interrupted in key for key in keyspace(fake_redis))


def test_prune_keep_latest_keeps_the_latest_checkpoint(
    client: TestClient, interrupted: str
) -> None:
    latest = client.get(f"/threads/{interrupted}/state").json()
    body = {"thread_ids": [interrupted], "strategy": "keep_latest"}
    assert client.post("/threads/prune", json=body).json() == {"pruned_count": 1}
    assert history(client, interrupted, limit=10) == [latest]


def test_prune_delete_removes_the_checkpoints(
    client: TestClient, fake_redis: FakeRedis, interrupted: str
) -> None:
    assert client.post("/threads/prune", json={"thread_ids": [interrupted]}).json() == {
        "pruned_count": 1
    }
    assert not any(interrupted in key for key in keyspace(fake_redis))


# -- serialization -------------------------------------------------------------------------


def test_jsonable_converts_as_langgraph_api() -> None:
    class Opaque:
        pass

    value = {
        "set": {1},
        "dec": Decimal("2"),
        "frac": Decimal("0.5"),
        "err": ValueError("boom"),
        "raw": b"\x00\x01",
        "opaque": Opaque(),
        1: "int key",
    }
    assert jsonable(value) == {
        "set": [1],
        "dec": 2,
        "frac": 0.5,
        "err": {"error": "ValueError", "message": "boom"},
        "raw": "AAE=",
        "opaque": None,
        "1": "int key",
    }
