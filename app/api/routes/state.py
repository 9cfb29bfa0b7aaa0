"""/threads/{id}/state and /threads/{id}/history: a thread's state from its checkpoints, in
the LangGraph server's ThreadState shape, with its defaults, status codes and error texts
(langgraph-api 0.16.7, ``api/threads.py``); the logic is in app/graphs/state.py."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from fastapi import Request as HTTPRequest
from pydantic import Field

from threadwatch.api.deps import GraphsDep, StoresDep
from threadwatch.api.responses import json_response
from threadwatch.errors import InvalidInputError
from threadwatch.graphs.state import ThreadStates
from threadwatch.models import Request, ThreadId

router = APIRouter(prefix="/threads", tags=["threads"])
ThreadIdPath = Annotated[ThreadId, Path(description="The thread's UUID.")]
Checkpoint = dict[str, Any]  # CheckpointConfig: thread_id, checkpoint_ns, checkpoint_id, ...


def get_states(stores: StoresDep, graphs: GraphsDep, request: HTTPRequest) -> ThreadStates:
    store = getattr(request.app.state, "graph_store", None)
    return ThreadStates(stores.threads, stores.saver, graphs, store)


StatesDep = Annotated[ThreadStates, Depends(get_states)]
SubgraphsQuery = Annotated[str | None, Query(description="true to include subgraph states")]


class StateAtCheckpoint(Request):
    checkpoint: Checkpoint
    subgraphs: bool = False


class StateUpdate(Request):
    values: list[Any] | dict[str, Any] | None = None
    as_node: str | None = None
    checkpoint: Checkpoint | None = None
    checkpoint_id: str | None = None  # deprecated; the SDKs still send it


class HistorySearch(Request):
    limit: int = Field(default=1, ge=1, le=1000)
    before: str | Checkpoint | None = None  # a checkpoint id (the SDKs) or a checkpoint
    metadata: dict[str, Any] | None = None
    checkpoint: Checkpoint | None = None


def _flag(value: str | None) -> bool:
    return value in ("true", "True")


@router.get("/{thread_id}/state")
async def get_state(
    states: StatesDep, thread_id: ThreadIdPath, subgraphs: SubgraphsQuery = None
) -> Response:
    """The thread's latest state."""
    return json_response(await states.get(thread_id, subgraphs=_flag(subgraphs)))


@router.post("/{thread_id}/state/checkpoint")
async def get_state_at_checkpoint_post(
    states: StatesDep, thread_id: ThreadIdPath, body: StateAtCheckpoint
) -> Response:
    """The state at a checkpoint given as an object (its id, namespace...)."""
    return json_response(await states.get(thread_id, body.checkpoint, body.subgraphs))


@router.get("/{thread_id}/state/{checkpoint_id}")
async def get_state_at_checkpoint(
    states: StatesDep,
    thread_id: ThreadIdPath,
    checkpoint_id: str,
    subgraphs: SubgraphsQuery = None,
) -> Response:
    """The state at one checkpoint of the root graph."""
    checkpoint = {"checkpoint_id": checkpoint_id}
    return json_response(await states.get(thread_id, checkpoint, _flag(subgraphs)))


@router.post("/{thread_id}/state")
async def update_state(
    states: StatesDep, thread_id: ThreadIdPath, body: StateUpdate | None = None
) -> Response:
    """Apply ``values`` as ``as_node`` would have (to ``checkpoint``, or the latest), then the
    thread takes the new state's values, interrupts and status. 409 while runs are in flight."""
    body = body or StateUpdate()
    checkpoint: Checkpoint = {}
    if body.checkpoint_id:
        checkpoint["checkpoint_id"] = body.checkpoint_id
    checkpoint.update(body.checkpoint or {})
    result = await states.update(
        thread_id, body.values, as_node=body.as_node, checkpoint=checkpoint
    )
    return json_response(result)


MAX_HISTORY = 1000


@router.get("/{thread_id}/history")
async def get_history(
    states: StatesDep,
    thread_id: ThreadIdPath,
    limit: Annotated[str, Query(description="How many states (default 1)")] = "1",
    before: Annotated[str | None, Query(description="A checkpoint id")] = None,
) -> Response:
    """Past states, newest first."""
    try:
        count = int(limit)
    except ValueError:
        raise InvalidInputError(f"Invalid limit {limit}") from None
    if not 1 <= count <= MAX_HISTORY:  # the POST form's bounds
        raise InvalidInputError(f"Invalid limit {limit}: between 1 and {MAX_HISTORY}")
    return json_response(await states.history(thread_id, limit=count, before=before))


@router.post("/{thread_id}/history")
async def search_history(
    states: StatesDep, thread_id: ThreadIdPath, body: HistorySearch | None = None
) -> Response:
    """Past states, newest first, filtered by checkpoint metadata and namespace."""
    body = body or HistorySearch()
    found = await states.history(
        thread_id,
        limit=body.limit,
        before=body.before,
        metadata=body.metadata,
        checkpoint=body.checkpoint,
    )
    return json_response(found)
