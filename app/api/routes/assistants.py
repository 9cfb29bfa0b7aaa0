"""/assistants as on the LangGraph server: create, get, patch (a new version), delete,
search, count, versions, set latest; and each assistant's graph drawing and schemas.

The reads (GET, /graph, /schemas, /subgraphs) also take a graph name for its system
assistant; the writes take the assistant's UUID only, as LangGraph's do."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import AfterValidator, Field, TypeAdapter, ValidationError
from typing_extensions import TypedDict

from threadwatch.api.deps import GraphsDep, StoresDep
from threadwatch.api.responses import json_response
from threadwatch.api.routes.runs import RunServiceDep
from threadwatch.graphs.assistants import (
    AssistantField,
    AssistantQuery,
    Assistants,
    AssistantSortBy,
    project,
)
from threadwatch.graphs.schemas import (
    drawable_graph,
    graph_schemas,
    parse_xray,
    subgraph_schemas,
)
from threadwatch.models import Metadata
from threadwatch.models import Request as Body
from threadwatch.runs.assistant_cleanup import cancel_assistant_runs, delete_assistant_threads

router = APIRouter(prefix="/assistants", tags=["assistants"])
AssistantIdPath = Annotated[str, Path(description="The assistant's UUID, or a graph name.")]


def get_assistants(stores: StoresDep, graphs: GraphsDep) -> Assistants:
    return Assistants(stores.assistants, graphs)


AssistantsDep = Annotated[Assistants, Depends(get_assistants)]


class _TypedConfig(TypedDict, total=False):
    """The keys of a LangGraph config whose types LangGraph checks."""

    tags: list[str]
    recursion_limit: int
    configurable: dict[str, Any]


_CONFIG = TypeAdapter(_TypedConfig)


def _checked_config(config: dict[str, Any] | None) -> dict[str, Any] | None:
    """The config as given (its keys in their order), once its typed keys are checked."""
    if config is not None:
        try:
            _CONFIG.validate_python(config)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"])
            raise ValueError(f"{where}: {error['msg']}") from None
    return config


AssistantConfig = Annotated[dict[str, Any] | None, AfterValidator(_checked_config)]


class AssistantVersionBody(Body):
    """What a version of an assistant holds, besides its graph."""

    config: AssistantConfig = None
    context: dict[str, Any] | None = None
    metadata: Metadata | None = None
    name: str | None = None
    description: str | None = None


class AssistantPatch(AssistantVersionBody):
    graph_id: str | None = None


class AssistantCreate(AssistantVersionBody):
    graph_id: str
    assistant_id: str | None = None
    if_exists: Literal["raise", "do_nothing"] | None = None


class AssistantCount(Body):
    metadata: Metadata | None = None
    graph_id: str | None = None
    name: str | None = None


class AssistantSearch(AssistantCount):
    limit: int = Field(default=10, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)
    sort_by: AssistantSortBy | None = None
    sort_order: Literal["asc", "desc"] | None = None
    select: list[AssistantField] | None = None


class AssistantVersions(Body):
    metadata: Metadata | None = None
    limit: int = Field(default=10, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)


class AssistantLatest(Body):
    version: int | None = None


@router.post("")
def create_assistant(assistants: AssistantsDep, body: AssistantCreate) -> Response:
    """A new assistant of a loaded graph at version 1; 409 if its id exists, unless
    ``if_exists`` is ``do_nothing`` (then the existing one)."""
    fields = body.model_dump(exclude={"if_exists"})
    return json_response(assistants.create(**fields, if_exists=body.if_exists or "raise"))


@router.post("/search")
def search(assistants: AssistantsDep, body: AssistantSearch | None = None) -> Response:
    """Assistants matching every filter, one page, ``created_at`` descending by default."""
    body = body or AssistantSearch()
    query = AssistantQuery(**body.model_dump(exclude={"select"}))
    page, has_more = assistants.search(query)
    end = body.offset + len(page)
    headers = {"X-Pagination-Total": str(end)}
    if has_more:
        headers = {"X-Pagination-Next": str(end), "X-Pagination-Total": str(end + 1)}
    return json_response([project(a, body.select) for a in page], headers=headers)


@router.post("/count")
def count_assistants(assistants: AssistantsDep, body: AssistantCount | None = None) -> Response:
    """How many assistants match; a bare JSON integer."""
    body = body or AssistantCount()
    return json_response(assistants.count(AssistantQuery(**body.model_dump())))


@router.post("/{assistant_id}/latest")
def set_latest(assistants: AssistantsDep, assistant_id: str, body: AssistantLatest) -> Response:
    """Make a recorded version the latest."""
    return json_response(assistants.set_latest(assistant_id, body.version))


@router.post("/{assistant_id}/versions")
def list_versions(
    assistants: AssistantsDep, assistant_id: str, body: AssistantVersions | None = None
) -> Response:
    """The assistant's versions, newest first."""
    body = body or AssistantVersions()
    return json_response(assistants.versions(assistant_id, body.metadata, body.limit, body.offset))


@router.get("/{assistant_id}")
def read_assistant(assistants: AssistantsDep, assistant_id: AssistantIdPath) -> Response:
    return json_response(assistants.get(assistant_id))


@router.patch("/{assistant_id}")
def patch_assistant(
    assistants: AssistantsDep, assistant_id: str, body: AssistantPatch | None = None
) -> Response:
    """A new version with what the body gives (metadata merges), made the latest."""
    body = body or AssistantPatch()
    return json_response(assistants.patch(assistant_id, **body.model_dump()))


@router.delete("/{assistant_id}", status_code=204)
def delete_assistant(
    assistants: AssistantsDep,
    service: RunServiceDep,
    stores: StoresDep,
    assistant_id: str,
    delete_threads: Annotated[str, Query(description='"true": delete its threads too')] = "",
) -> Response:
    """Delete the assistant, its versions and its crons; its runs in flight are interrupted
    and, with ``delete_threads=true``, the threads whose metadata names it are deleted."""
    assistant_id = assistants.require_existing(assistant_id)
    cancel_assistant_runs(service, assistant_id)
    if delete_threads.lower() == "true":
        delete_assistant_threads(service, stores.search, assistant_id)
    stores.crons.delete_for_assistant(assistant_id)  # as LangGraph: its crons go with it
    assistants.delete(assistant_id)
    return Response(status_code=204)


@router.get("/{assistant_id}/graph")
async def get_graph(
    assistants: AssistantsDep,
    assistant_id: AssistantIdPath,
    xray: Annotated[str | None, Query(description="true, false, or a subgraph depth")] = None,
) -> Response:
    """The graph's nodes and edges, for drawing."""
    graph, config = await asyncio.to_thread(assistants.graph_of, assistant_id)
    return json_response(await drawable_graph(graph, parse_xray(xray), config))


@router.get("/{assistant_id}/schemas")
async def get_schemas(assistants: AssistantsDep, assistant_id: AssistantIdPath) -> Response:
    """JSON schemas of the graph's input, output, state, config and context."""
    graph, config = await asyncio.to_thread(assistants.graph_of, assistant_id)
    return json_response(await graph_schemas(graph, config))


@router.get("/{assistant_id}/subgraphs")
@router.get("/{assistant_id}/subgraphs/{namespace}")
async def get_subgraphs(
    assistants: AssistantsDep,
    assistant_id: AssistantIdPath,
    namespace: str | None = None,
    recurse: Annotated[str | None, Query()] = None,
) -> Response:
    """Schemas of the graph's subgraphs, by namespace."""
    graph, config = await asyncio.to_thread(assistants.graph_of, assistant_id)
    deep = recurse in ("true", "True")
    return json_response(await subgraph_schemas(graph, namespace, deep, config))
