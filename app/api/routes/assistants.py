"""/assistants: the system assistant of each loaded graph (read-only), its graph drawing and
its schemas. Every ``{assistant_id}`` accepts the assistant UUID or the graph name."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import Field

from threadwatch.api.deps import GraphsDep
from threadwatch.api.responses import json_response
from threadwatch.graphs.assistants import (
    AssistantField,
    AssistantQuery,
    AssistantSortBy,
    drawable_graph,
    get_assistant,
    graph_schemas,
    matching,
    parse_xray,
    project,
    search_assistants,
    subgraph_schemas,
)
from threadwatch.models import Request

router = APIRouter(prefix="/assistants", tags=["assistants"])
AssistantIdPath = Annotated[str, Path(description="The assistant's UUID, or a graph name.")]


class AssistantCount(Request):
    metadata: dict[str, Any] | None = None
    graph_id: str | None = None
    name: str | None = None


class AssistantSearch(AssistantCount):
    limit: int = Field(default=10, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)
    sort_by: AssistantSortBy | None = None
    sort_order: Literal["asc", "desc"] | None = None
    select: list[AssistantField] | None = None


@router.post("/search")
def search(graphs: GraphsDep, body: AssistantSearch | None = None) -> Response:
    """Assistants matching every filter, one page, ``created_at`` descending by default."""
    body = body or AssistantSearch()
    query = AssistantQuery(**body.model_dump(exclude={"select"}))
    page, has_more = search_assistants(graphs, query)
    end = body.offset + len(page)
    headers = {"X-Pagination-Total": str(end)}
    if has_more:
        headers = {"X-Pagination-Next": str(end), "X-Pagination-Total": str(end + 1)}
    return json_response([project(a, body.select) for a in page], headers=headers)


@router.post("/count")
def count_assistants(graphs: GraphsDep, body: AssistantCount | None = None) -> Response:
    """How many assistants match; a bare JSON integer."""
    body = body or AssistantCount()
    return json_response(len(matching(graphs, AssistantQuery(**body.model_dump()))))


@router.get("/{assistant_id}")
def read_assistant(graphs: GraphsDep, assistant_id: AssistantIdPath) -> Response:
    return json_response(get_assistant(graphs, assistant_id))


@router.get("/{assistant_id}/graph")
async def get_graph(
    graphs: GraphsDep,
    assistant_id: AssistantIdPath,
    xray: Annotated[str | None, Query(description="true, false, or a subgraph depth")] = None,
) -> Response:
    """The graph's nodes and edges, for drawing."""
    graph = graphs.graph_of(assistant_id)
    return json_response(await drawable_graph(graph, parse_xray(xray)))


@router.get("/{assistant_id}/schemas")
async def get_schemas(graphs: GraphsDep, assistant_id: AssistantIdPath) -> Response:
    """JSON schemas of the graph's input, output, state, config and context."""
    graph = graphs.graph_of(assistant_id)
    return json_response(await graph_schemas(graph))


@router.get("/{assistant_id}/subgraphs")
@router.get("/{assistant_id}/subgraphs/{namespace}")
async def get_subgraphs(
    graphs: GraphsDep,
    assistant_id: AssistantIdPath,
    namespace: str | None = None,
    recurse: Annotated[str | None, Query()] = None,
) -> Response:
    """Schemas of the graph's subgraphs, by namespace."""
    graph = graphs.graph_of(assistant_id)
    deep = recurse in ("true", "True")
    return json_response(await subgraph_schemas(graph, namespace, deep))
