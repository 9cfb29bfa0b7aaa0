"""/assistants on the fixture project: the system assistants' shape, search and count with
every parameter, get by UUID or graph name, graph drawings, schemas, and the error texts."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakeredis import FakeRedis
from fastapi.testclient import TestClient

from tests.support import FIXTURES, load_project_graphs
from tests.unit.helpers import make_client, make_stores
from threadwatch.api.app import create_app
from threadwatch.domain import system_assistant_id
from threadwatch.graphs import GraphRegistry, load_graphs
from threadwatch.settings import Settings

PROJECT = FIXTURES / "graphs" / "project"
LOADED = ["agent", "named", "factory", "async_factory", "echo", "echo_async", "shout"]
# System assistants are created in langgraph.json order; searches list the newest first.
NEWEST_FIRST = LOADED[::-1]
ASSISTANT_KEYS = [
    "assistant_id",
    "graph_id",
    "config",
    "context",
    "metadata",
    "name",
    "created_at",
    "updated_at",
    "version",
    "description",
]
AGENT_ID = "fe096781-5601-53d2-b2f6-0d3403f7e9ca"
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


@pytest.fixture(scope="module")
def registry() -> GraphRegistry:
    return load_project_graphs(PROJECT, TW_FIXTURE_GREETING="")


@pytest.fixture
def client(fake_redis: FakeRedis, registry: GraphRegistry) -> TestClient:
    return make_client(fake_redis, graphs=registry)


def names(assistants: list[dict[str, Any]]) -> list[str]:
    return [a["graph_id"] for a in assistants]


# -- get ----------------------------------------------------------------------------------


def test_a_system_assistant_has_the_langgraph_shape(client: TestClient) -> None:
    response = client.get(f"/assistants/{AGENT_ID}")
    assert response.status_code == 200
    assistant = response.json()
    assert list(assistant) == ASSISTANT_KEYS
    assert assistant == {
        "assistant_id": AGENT_ID,
        "graph_id": "agent",
        "config": {},
        "context": {},
        "metadata": {"created_by": "system"},
        "name": "agent",
        "created_at": assistant["created_at"],
        "updated_at": assistant["created_at"],
        "version": 1,
        "description": None,
    }
    assert assistant["created_at"].endswith("+00:00")


@pytest.mark.parametrize("spelling", ["agent", AGENT_ID, AGENT_ID.upper()])
def test_get_accepts_the_uuid_or_the_graph_name(client: TestClient, spelling: str) -> None:
    assert client.get(f"/assistants/{spelling}").json()["assistant_id"] == AGENT_ID


def test_get_names_and_descriptions(client: TestClient) -> None:
    assert client.get("/assistants/named").json()["name"] == "support-bot"
    echo = client.get(f"/assistants/{system_assistant_id('echo_async')}").json()
    assert echo["description"] == "Echoes its input, asynchronously."


@pytest.mark.parametrize(
    ("assistant_id", "status", "detail"),
    [
        (UNKNOWN_ID, 404, "Not Found"),  # LangGraph's text for an unknown UUID
        (
            "nope",
            422,
            "Invalid assistant: 'nope'. Must be either:\n- A valid assistant UUID, or\n"
            f"- One of the registered graphs: {', '.join(LOADED)}",
        ),
        (
            "broken",
            422,
            "Failed to load graph 'broken' from ./broken.py:graph: "
            "RuntimeError: broken on purpose: this module fails at import",
        ),
    ],
)
@pytest.mark.parametrize("suffix", ["", "/graph", "/schemas", "/subgraphs"])
def test_unknown_and_broken_assistants(
    client: TestClient, assistant_id: str, status: int, detail: str, suffix: str
) -> None:
    response = client.get(f"/assistants/{assistant_id}{suffix}")
    assert (response.status_code, response.json()) == (status, {"detail": detail})


def test_the_broken_graph_is_reported_by_its_assistant_id_too(client: TestClient) -> None:
    response = client.get(f"/assistants/{system_assistant_id('broken')}")
    assert response.status_code == 422
    assert response.json()["detail"].startswith("Failed to load graph 'broken'")


# -- search and count --------------------------------------------------------------------


def test_search_lists_every_loaded_graph_newest_first(client: TestClient) -> None:
    response = client.post("/assistants/search", json={})
    assert response.status_code == 200
    assert names(response.json()) == NEWEST_FIRST
    assert response.headers["X-Pagination-Total"] == "7"
    assert "X-Pagination-Next" not in response.headers
    assert names(client.post("/assistants/search").json()) == NEWEST_FIRST  # no body at all


def test_search_pages(client: TestClient) -> None:
    response = client.post("/assistants/search", json={"limit": 3, "offset": 2})
    assert names(response.json()) == NEWEST_FIRST[2:5]
    assert response.headers["X-Pagination-Next"] == "5"
    assert response.headers["X-Pagination-Total"] == "6"
    last = client.post("/assistants/search", json={"limit": 3, "offset": 6})
    assert names(last.json()) == ["agent"] and last.headers["X-Pagination-Total"] == "7"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"graph_id": "echo"}, ["echo"]),
        ({"name": "ECHO"}, ["echo_async", "echo"]),
        ({"name": "bot"}, ["named"]),
        ({"metadata": {"created_by": "system"}}, NEWEST_FIRST),
        ({"metadata": {"created_by": "user"}}, []),
        ({"metadata": {}}, NEWEST_FIRST),
        ({"graph_id": "echo", "name": "async"}, []),
        (
            {"sort_by": "name", "sort_order": "asc"},
            ["agent", "async_factory", "echo", "echo_async", "factory", "shout", "named"],
        ),
        ({"sort_by": "graph_id", "sort_order": "desc"}, sorted(LOADED, reverse=True)),
        ({"sort_by": "assistant_id", "sort_order": "asc"}, None),
        ({"sort_by": "created_at", "sort_order": "asc"}, LOADED),
        ({"unknown": 1}, NEWEST_FIRST),
        ({"sort_order": "asc"}, NEWEST_FIRST),  # without sort_by, LangGraph ignores it
    ],
)
def test_search_filters_and_sorts(
    client: TestClient, body: dict[str, Any], expected: list[str] | None
) -> None:
    response = client.post("/assistants/search", json={**body, "limit": 100})
    assert response.status_code == 200, response.text
    found = response.json()
    if expected is None:  # ordered by the field itself
        ids = [a["assistant_id"] for a in found]
        assert ids == sorted(ids) and len(found) == len(LOADED)
    else:
        assert names(found) == expected
    count = client.post("/assistants/count", json=body)
    assert count.json() == len(found)


def test_select_projects_fields(client: TestClient) -> None:
    body = {"select": ["name", "assistant_id"], "sort_by": "created_at", "sort_order": "asc"}
    found = client.post("/assistants/search", json=body).json()
    assert found[0] == {"assistant_id": AGENT_ID, "name": "agent"}


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"limit": 0}, "limit: Input should be greater than or equal to 1 (got 0)"),
        ({"offset": -1}, "offset: Input should be greater than or equal to 0 (got -1)"),
        ({"sort_by": "status"}, "sort_by: Input should be"),
        ({"select": ["values"]}, "select[0]: Input should be"),
        ({"metadata": []}, "metadata: Input should be a valid dictionary"),
    ],
)
def test_search_validation(client: TestClient, body: dict[str, Any], detail: str) -> None:
    response = client.post("/assistants/search", json=body)
    assert response.status_code == 422
    assert response.json()["detail"].startswith(detail)


def test_search_and_count_by_an_unknown_or_broken_graph(client: TestClient) -> None:
    for path in ("/assistants/search", "/assistants/count"):
        missing = client.post(path, json={"graph_id": "nope"})
        assert missing.status_code == 404
        assert missing.json() == {
            "detail": f"Graph 'nope' not found. Expected one of: {sorted(LOADED)}"
        }
        assert client.post(path, json={"graph_id": "broken"}).status_code == 422


def test_count_is_a_bare_integer(client: TestClient) -> None:
    response = client.post("/assistants/count", json={})
    assert (response.status_code, response.text) == (200, "7")
    assert client.post("/assistants/count").json() == 7


# -- graph, schemas, subgraphs -------------------------------------------------------------


def test_the_graph_drawing_of_a_langgraph_graph(client: TestClient) -> None:
    drawing = client.get(f"/assistants/{AGENT_ID}/graph").json()
    assert [n["id"] for n in drawing["nodes"]] == ["__start__", "step", "ask", "__end__"]
    assert all("id" not in (n.get("data") or {}) for n in drawing["nodes"])
    edges = [(e["source"], e["target"]) for e in drawing["edges"]]
    assert edges == [("__start__", "step"), ("step", "ask"), ("ask", "__end__")]
    for xray in ("true", "false", "1", "False"):
        assert client.get("/assistants/agent/graph", params={"xray": xray}).status_code == 200
    assert client.get("/assistants/factory/graph").json()["nodes"][1]["id"] == "decorate"


@pytest.mark.parametrize("xray", ["0", "-1", "yes"])
def test_a_bad_xray_value(client: TestClient, xray: str) -> None:
    response = client.get("/assistants/agent/graph", params={"xray": xray})
    assert (response.status_code, response.json()) == (422, {"detail": "Invalid xray value"})


def test_a_plain_callable_is_drawn_as_one_node(client: TestClient) -> None:
    drawing = client.get("/assistants/echo/graph").json()
    assert [n["id"] for n in drawing["nodes"]] == ["__start__", "echo", "__end__"]
    assert [(e["source"], e["target"]) for e in drawing["edges"]] == [
        ("__start__", "echo"),
        ("echo", "__end__"),
    ]


def test_the_schemas_of_a_langgraph_graph(client: TestClient) -> None:
    schemas = client.get(f"/assistants/{AGENT_ID}/schemas").json()
    assert list(schemas) == [
        "graph_id",
        "input_schema",
        "output_schema",
        "state_schema",
        "config_schema",
        "context_schema",
    ]
    assert schemas["graph_id"] == "agent"
    assert schemas["input_schema"]["properties"]["count"] == {"title": "Count", "type": "integer"}
    assert schemas["state_schema"]["title"] == "agent_state"  # the graph id names it
    assert set(schemas["state_schema"]["properties"]) >= {"count", "greeting", "answer"}
    assert schemas["config_schema"] == {} and schemas["context_schema"] is None
    factory = client.get("/assistants/factory/schemas").json()
    assert factory["input_schema"]["required"] == ["text"]


def test_the_schemas_of_a_plain_callable_accept_anything(client: TestClient) -> None:
    schemas = client.get("/assistants/echo_async/schemas").json()
    assert schemas == {
        "graph_id": "echo_async",
        "input_schema": {},
        "output_schema": {},
        "state_schema": {},
        "config_schema": {},
        "context_schema": {},
    }


def test_subgraphs(client: TestClient) -> None:
    assert client.get("/assistants/agent/subgraphs").json() == {}
    assert client.get("/assistants/agent/subgraphs/step", params={"recurse": "true"}).json() == {}
    assert client.get("/assistants/echo/subgraphs").json() == {}


def test_a_graph_with_a_subgraph_and_a_context_schema(
    tmp_path: Path, fake_redis: FakeRedis
) -> None:
    (tmp_path / "g.py").write_text(
        "from dataclasses import dataclass\n"
        "from langgraph.graph import START, StateGraph\n"
        "from typing_extensions import TypedDict\n"
        "class S(TypedDict):\n    n: int\n"
        "@dataclass\nclass Ctx:\n    model: str = 'small'\n"
        "inner = StateGraph(S)\ninner.add_node('leaf', lambda s: s)\n"
        "inner.add_edge(START, 'leaf')\n"
        "outer = StateGraph(S, context_schema=Ctx)\n"
        "outer.add_node('child', inner.compile())\nouter.add_edge(START, 'child')\n"
        "graph = outer.compile()\n"
    )
    (tmp_path / "langgraph.json").write_text('{"graphs": {"nested": "./g.py:graph"}}')
    client = make_client(fake_redis, graphs=load_graphs(tmp_path))
    subgraphs = client.get("/assistants/nested/subgraphs").json()
    assert list(subgraphs) == ["child"]
    assert subgraphs["child"]["input_schema"]["required"] == ["n"]
    schemas = client.get("/assistants/nested/schemas").json()
    assert schemas["context_schema"]["properties"]["model"]["default"] == "small"
    assert schemas["config_schema"]["properties"]["model"]["default"] == "small"
    drawing = client.get("/assistants/nested/graph", params={"xray": "true"}).json()
    assert "child:leaf" in [n["id"] for n in drawing["nodes"]]


def test_a_factory_that_returns_no_graph_is_a_424(tmp_path: Path, fake_redis: FakeRedis) -> None:
    (tmp_path / "g.py").write_text("def make():\n    return {'not': 'a graph'}\n")
    (tmp_path / "langgraph.json").write_text('{"graphs": {"bad": "./g.py:make"}}')
    client = make_client(fake_redis, graphs=load_graphs(tmp_path))
    assert client.get("/assistants/bad").status_code == 200  # loading does not call it
    response = client.get("/assistants/bad/schemas")
    assert response.status_code == 424
    assert response.json()["detail"].startswith("Graph 'bad' is not valid.")


# -- without graphs, and through the lifespan -----------------------------------------------


def test_without_graphs_there_are_no_assistants(fake_redis: FakeRedis) -> None:
    client = make_client(fake_redis)
    assert client.post("/assistants/search", json={}).json() == []
    assert client.post("/assistants/count", json={}).json() == 0
    response = client.get("/assistants/agent")
    assert response.status_code == 422
    assert response.json()["detail"].endswith("- One of the registered graphs: ")


def test_the_lifespan_loads_the_configured_graphs(
    fake_redis: FakeRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("TW_FIXTURE_GREETING", "")
    monkeypatch.setattr(
        "threadwatch.api.app.Stores.connect", lambda settings: make_stores(fake_redis)
    )
    monkeypatch.setattr("threadwatch.api.app.Stores.check_server", lambda stores: None)
    app = create_app(Settings(redis_url="redis://unused", graphs_config=str(PROJECT)))
    with TestClient(app) as client:
        assert names(client.post("/assistants/search", json={}).json()) == NEWEST_FIRST
        assert list(app.state.graphs.errors) == ["broken"]


@pytest.fixture(autouse=True)
def forget_fixture_modules() -> Iterator[None]:
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.startswith(("_threadwatch_graph_", "tw_fixture_pkg")):
            del sys.modules[name]


# -- create, patch, versions, latest, delete ------------------------------------------------

MINE = "11111111-1111-1111-1111-111111111111"


def test_create_get_patch_versions_latest_delete(client: TestClient) -> None:
    body = {
        "graph_id": "agent",
        "assistant_id": MINE,
        "config": {"configurable": {"a": 1}, "tags": ["t"]},
        "metadata": {"team": "x"},
        "name": "one",
        "description": "d",
    }
    created = client.post("/assistants", json=body)
    assert created.status_code == 200
    assert list(created.json()) == ASSISTANT_KEYS
    assert created.json()["config"] == {"configurable": {"a": 1}, "tags": ["t"]}
    assert list(created.json()["config"]) == ["configurable", "tags"]  # as given
    assert created.json()["context"] == {"a": 1}
    assert client.get(f"/assistants/{MINE}").json() == created.json()
    patched = client.patch(f"/assistants/{MINE}", json={"metadata": {"k": 2}, "name": "two"})
    assert patched.json()["version"] == 2
    assert patched.json()["metadata"] == {"team": "x", "k": 2}
    versions = client.post(f"/assistants/{MINE}/versions", json={}).json()
    assert [v["version"] for v in versions] == [2, 1]
    assert list(versions[0]) == [
        "assistant_id",
        "version",
        "graph_id",
        "config",
        "context",
        "metadata",
        "created_at",
        "name",
        "description",
    ]
    latest = client.post(f"/assistants/{MINE}/latest", json={"version": 1})
    assert (latest.json()["version"], latest.json()["name"]) == (1, "one")
    assert client.post("/assistants/count", json={"metadata": {"team": "x"}}).json() == 1
    assert client.delete(f"/assistants/{MINE}").status_code == 204
    assert client.get(f"/assistants/{MINE}").status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "detail"),
    [
        (
            "post",
            "/assistants",
            {"graph_id": "agent", "assistant_id": MINE},
            409,
            f"Assistant {MINE} already exists",
        ),
        (
            "post",
            "/assistants",
            {"graph_id": "nope"},
            404,
            f"Graph 'nope' not found. Expected one of: {sorted(LOADED)}",
        ),
        (
            "post",
            "/assistants",
            {"graph_id": "agent", "assistant_id": "bad"},
            422,
            "Invalid assistant ID: must be a UUID",
        ),
        ("post", "/assistants", {}, 422, "graph_id: Field required"),
        ("post", "/assistants", {"graph_id": "agent", "if_exists": "x"}, 422, "if_exists: "),
        (
            "post",
            "/assistants",
            {"graph_id": "agent", "config": {"tags": "x"}},
            422,
            "config: tags: Input should be a valid list",
        ),
        (
            "post",
            "/assistants",
            {"graph_id": "agent", "config": {"configurable": {"a": 1}}, "context": {"b": 2}},
            400,
            "Cannot specify both configurable and context.",
        ),
        ("patch", f"/assistants/{UNKNOWN_ID}", {}, 404, f"Assistant {UNKNOWN_ID} not found"),
        ("patch", "/assistants/bad", {}, 422, "Invalid assistant ID: must be a UUID"),
        ("patch", f"/assistants/{MINE}", {"graph_id": "nope"}, 404, "Graph 'nope' not found."),
        (
            "post",
            f"/assistants/{UNKNOWN_ID}/versions",
            {},
            404,
            f"Assistant {UNKNOWN_ID} not found",
        ),
        (
            "post",
            f"/assistants/{MINE}/latest",
            {"version": 9},
            404,
            f"Version 9 not found for assistant {MINE}",
        ),
        (
            "post",
            f"/assistants/{MINE}/latest",
            {},
            404,
            f"Version None not found for assistant {MINE}",
        ),
        (
            "post",
            f"/assistants/{UNKNOWN_ID}/latest",
            {"version": 1},
            404,
            f"Assistant {UNKNOWN_ID} not found",
        ),
        (
            "delete",
            f"/assistants/{UNKNOWN_ID}",
            None,
            404,
            f"Assistant with ID {UNKNOWN_ID} not found",
        ),
        ("delete", "/assistants/bad", None, 422, "Invalid assistant ID: must be a UUID"),
    ],
)
def test_write_errors_carry_the_langgraph_texts(
    client: TestClient,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    status: int,
    detail: str,
) -> None:
    client.post("/assistants", json={"graph_id": "agent", "assistant_id": MINE})
    before = client.get(f"/assistants/{MINE}").json()
    response = client.request(method, path, json=body)
    assert response.status_code == status, response.text
    assert response.json()["detail"].startswith(detail)
    assert client.get(f"/assistants/{MINE}").json() == before  # nothing changed


def test_a_created_assistant_serves_graph_and_schemas(client: TestClient) -> None:
    client.post("/assistants", json={"graph_id": "factory", "assistant_id": MINE})
    assert client.get(f"/assistants/{MINE}/graph").json()["nodes"][1]["id"] == "decorate"
    assert client.get(f"/assistants/{MINE}/schemas").json()["graph_id"] == "factory"
    assert client.get(f"/assistants/{MINE}/subgraphs").json() == {}


def test_delete_cancels_its_pending_runs_and_deletes_its_threads_if_asked(
    client: TestClient,
) -> None:
    client.post("/assistants", json={"graph_id": "agent", "assistant_id": MINE})

    def pending_run(assistant_id: str) -> tuple[str, str]:
        thread_id = client.post("/threads", json={}).json()["thread_id"]
        run = client.post(f"/threads/{thread_id}/runs", json={"assistant_id": assistant_id})
        assert run.json()["status"] == "pending"
        return thread_id, run.json()["run_id"]

    kept, kept_run = pending_run(MINE)
    other, other_run = pending_run("agent")
    assert client.delete(f"/assistants/{MINE}").status_code == 204
    assert client.get(f"/threads/{kept}/runs/{kept_run}").json()["status"] == "interrupted"
    assert client.get(f"/threads/{other}/runs/{other_run}").json()["status"] == "pending"

    client.post("/assistants", json={"graph_id": "agent", "assistant_id": MINE})
    doomed, _ = pending_run(MINE)
    response = client.delete(f"/assistants/{MINE}", params={"delete_threads": "true"})
    assert response.status_code == 204
    assert client.get(f"/threads/{doomed}").status_code == 404
    # Every thread whose metadata names the assistant goes, the first one's too.
    assert client.get(f"/threads/{kept}").status_code == 404
    assert client.get(f"/threads/{other}").status_code == 200
