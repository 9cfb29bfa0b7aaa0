"""The Python SDK's assistants surface against a real server that loaded the fixture project
(THREADWATCH_GRAPHS_CONFIG): search, count, get, get_graph, get_schemas, get_subgraphs, the
typed errors, and the startup log naming the graph that failed to import."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph_sdk import get_client, get_sync_client
from langgraph_sdk.client import SyncLangGraphClient
from langgraph_sdk.errors import NotFoundError, UnprocessableEntityError

from tests.integration.servers import SERVER_LOG, running_api
from tests.support import FIXTURES

PROJECT = FIXTURES / "graphs" / "project"
LOADED = ["agent", "named", "factory", "async_factory", "echo", "echo_async", "shout"]
AGENT_ID = "fe096781-5601-53d2-b2f6-0d3403f7e9ca"


@pytest.fixture(scope="module")
def graphs_server(
    redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """(URL, log file) of an API process started with the fixture project's graphs."""
    workdir = tmp_path_factory.mktemp("graphs-api")
    env = {"THREADWATCH_GRAPHS_CONFIG": str(PROJECT / "langgraph.json")}
    with running_api(redis_url, workdir, env=env) as url:
        yield url, workdir / SERVER_LOG


@pytest.fixture
def client(graphs_server: tuple[str, Path]) -> Iterator[SyncLangGraphClient]:
    with get_sync_client(url=graphs_server[0]) as sdk:
        yield sdk


def graph_ids(assistants: list[dict[str, Any]]) -> list[str]:
    return [a["graph_id"] for a in assistants]


def test_startup_logs_the_graph_that_failed_to_import(graphs_server: tuple[str, Path]) -> None:
    text = graphs_server[1].read_text()
    broken = PROJECT.resolve() / "broken.py"
    assert f"Failed to load graph 'broken' from {broken}: RuntimeError: broken on purpose" in text


def test_search_and_count(client: SyncLangGraphClient) -> None:
    assert graph_ids(client.assistants.search()) == LOADED[::-1]  # newest first
    assert graph_ids(client.assistants.search(graph_id="echo")) == ["echo"]
    assert graph_ids(client.assistants.search(name="echo", sort_by="name")) == [
        "echo_async",
        "echo",
    ]
    page = client.assistants.search(limit=2, offset=1, response_format="object")
    assert graph_ids(page["assistants"]) == ["echo_async", "echo"] and page["next"] == "3"
    selected = client.assistants.search(
        select=["assistant_id", "name"], limit=1, sort_by="created_at", sort_order="asc"
    )
    assert selected == [{"assistant_id": AGENT_ID, "name": "agent"}]
    assert client.assistants.count() == 7
    assert client.assistants.count(metadata={"created_by": "system"}, name="ECHO") == 2


def test_get_by_uuid_or_graph_name(client: SyncLangGraphClient) -> None:
    assistant = client.assistants.get(AGENT_ID)
    assert assistant["graph_id"] == "agent" and assistant["metadata"] == {"created_by": "system"}
    assert assistant["version"] == 1 and assistant["config"] == {} and assistant["context"] == {}
    assert client.assistants.get("agent") == assistant
    assert client.assistants.get("named")["name"] == "support-bot"


def test_get_graph_schemas_and_subgraphs(client: SyncLangGraphClient) -> None:
    drawing = client.assistants.get_graph(AGENT_ID)
    assert [n["id"] for n in drawing["nodes"]] == ["__start__", "step", "ask", "__end__"]
    assert client.assistants.get_graph("agent", xray=True)["edges"] == drawing["edges"]
    schemas = client.assistants.get_schemas(AGENT_ID)
    assert schemas["graph_id"] == "agent"
    assert "count" in schemas["input_schema"]["properties"]
    assert client.assistants.get_schemas("echo")["input_schema"] == {}
    assert client.assistants.get_subgraphs(AGENT_ID) == {}


def test_sdk_errors(client: SyncLangGraphClient) -> None:
    unknown = "00000000-0000-4000-8000-000000000000"
    with pytest.raises(NotFoundError) as missing:
        client.assistants.get(unknown)
    assert missing.value.message == "Not Found"  # LangGraph's text
    with pytest.raises(UnprocessableEntityError) as invalid:
        client.assistants.get_schemas("nope")
    assert invalid.value.message.startswith("Invalid assistant: 'nope'. Must be either:")
    with pytest.raises(UnprocessableEntityError) as broken:
        client.assistants.get("broken")
    assert broken.value.message.startswith("Failed to load graph 'broken' from ./broken.py:graph")


def test_the_async_client(graphs_server: tuple[str, Path]) -> None:
    async def main() -> tuple[list[str], str]:
        async with get_client(url=graphs_server[0]) as sdk:
            found = await sdk.assistants.search(graph_id="factory")
            schemas = await sdk.assistants.get_schemas(found[0]["assistant_id"])
            return graph_ids(found), schemas["graph_id"]

    assert asyncio.run(main()) == (["factory"], "factory")
