"""/threads: the LangGraph threads API (create, get, patch, delete, search, count, copy,
prune, stream), with the same shapes, defaults, status codes and error texts."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import StreamingResponse

from threadwatch.api.deps import StoresDep
from threadwatch.api.projection import project
from threadwatch.api.responses import json_response
from threadwatch.api.thread_stream import ThreadEvents, thread_stream_cursor, thread_stream_modes
from threadwatch.models import (
    MAX_STATUS_AGE_SECONDS,
    ThreadCount,
    ThreadCreate,
    ThreadId,
    ThreadPatch,
    ThreadPrune,
    ThreadSearchRequest,
    strip_reserved,
)
from threadwatch.store.search import ThreadQuery

router = APIRouter(prefix="/threads", tags=["threads"])
ThreadIdPath = Annotated[ThreadId, Path(description="The thread's UUID.")]
# Extension filter, also accepted as a query parameter: the SDKs' search/count send only the
# body keys they know, but pass `params` through.
MinStatusAge = Annotated[
    float | None,
    Query(ge=0, le=MAX_STATUS_AGE_SECONDS, allow_inf_nan=False, description="Seconds in status"),
]


@router.post("")
def create_thread(stores: StoresDep, body: ThreadCreate | None = None) -> Response:
    """Create a thread; ``if_exists=do_nothing`` returns an existing one unchanged."""
    body = body or ThreadCreate()
    thread = stores.threads.create(
        body.thread_id,
        strip_reserved(body.metadata),
        if_exists=body.if_exists or "raise",
        ttl=body.ttl.model_dump() if body.ttl else None,
    )
    return json_response(thread)


@router.post("/search")
def search_threads(
    stores: StoresDep,
    body: ThreadSearchRequest | None = None,
    min_status_age_seconds: MinStatusAge = None,
) -> Response:
    """Threads matching every filter, one page, newest ``created_at`` first by default."""
    body = body or ThreadSearchRequest()
    query = ThreadQuery(
        ids=tuple(body.ids) if body.ids is not None else None,
        metadata=body.metadata or {},
        values=body.values or {},
        status=body.status,
        min_status_age_seconds=_min_age(body.min_status_age_seconds, min_status_age_seconds),
        limit=body.limit,
        offset=body.offset,
        sort_by=body.sort_by or "created_at",
        sort_order=body.sort_order or "desc",
    )
    page = stores.search.search(query)
    threads = [project(t, body.select, body.extract) for t in page.threads]
    end = body.offset + len(threads)
    headers = {"X-Pagination-Total": str(end)}
    if page.has_more:
        headers = {"X-Pagination-Next": str(end), "X-Pagination-Total": str(end + 1)}
    return json_response(threads, headers=headers)


@router.post("/count")
def count_threads(
    stores: StoresDep,
    body: ThreadCount | None = None,
    min_status_age_seconds: MinStatusAge = None,
) -> Response:
    """How many threads match; the answer is a bare JSON integer."""
    body = body or ThreadCount()
    query = ThreadQuery(
        metadata=body.metadata or {},
        values=body.values or {},
        status=body.status,
        min_status_age_seconds=_min_age(body.min_status_age_seconds, min_status_age_seconds),
    )
    return json_response(stores.search.count(query))


@router.post("/prune")
def prune_threads(stores: StoresDep, body: ThreadPrune) -> Response:
    """Delete the given threads (unknown ids are skipped); deleted, their crons go too."""
    pruned = stores.threads.prune(body.thread_ids, body.strategy)
    if body.strategy == "delete":
        stores.crons.delete_for_threads(body.thread_ids)
    return json_response({"pruned_count": pruned})


@router.get("/{thread_id}")
def get_thread(
    stores: StoresDep,
    thread_id: ThreadIdPath,
    include: Annotated[str | None, Query(description="Comma list, e.g. ttl")] = None,
) -> Response:
    return json_response(stores.threads.get(thread_id, include_ttl="ttl" in _fields(include)))


@router.patch("/{thread_id}")
def patch_thread(
    stores: StoresDep,
    thread_id: ThreadIdPath,
    body: ThreadPatch | None = None,
    prefer: Annotated[str | None, Header()] = None,
) -> Response:
    """Shallow-merge metadata (top-level keys replaced); status and state are untouched."""
    body = body or ThreadPatch()
    metadata = strip_reserved(body.metadata) if body.metadata is not None else None
    ttl = body.ttl.model_dump() if body.ttl else None
    thread = stores.threads.patch(thread_id, metadata, ttl)
    if prefer and "return=minimal" in prefer:
        return Response(status_code=204)
    return json_response(thread)


@router.delete("/{thread_id}", status_code=204)
def delete_thread(stores: StoresDep, thread_id: ThreadIdPath) -> Response:
    """Delete the thread with its runs, its crons and every index entry."""
    stores.threads.delete(thread_id)
    stores.crons.delete_for_threads([thread_id])
    return Response(status_code=204)


@router.get("/{thread_id}/transitions")
def thread_transitions(
    stores: StoresDep,
    thread_id: ThreadIdPath,
    limit: Annotated[int, Query(ge=1, le=10_000, description="Newest first.")] = 100,
) -> Response:
    """The thread's last status changes, newest first: ``[{at, from, to, run_id}]`` (a
    threadwatch extension; ``from`` is null for the thread's first status)."""
    return json_response(stores.threads.transitions(thread_id, limit))


@router.get("/{thread_id}/stream")
async def join_thread_stream(
    request: Request,
    stores: StoresDep,
    thread_id: ThreadIdPath,
    # The SDKs send `stream_mode`, LangGraph's server reads `stream_modes`: both are taken.
    stream_mode: Annotated[list[str] | None, Query()] = None,
    stream_modes: Annotated[list[str] | None, Query()] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> Response:
    """The thread's events (SSE) from now on, or after ``Last-Event-ID``, until the client
    leaves: runs' starts, chunks and ends (run_modes, the default; lifecycle: starts and
    ends only) and state updates (state_update)."""
    modes = thread_stream_modes([*(stream_mode or []), *(stream_modes or [])])
    cursor = thread_stream_cursor(last_event_id)
    events = ThreadEvents(request.app.state.stream_reader, stores.threads, thread_id, modes)
    last = await events.watch()
    headers = {"Cache-Control": "no-store"}
    body = events.sse(cursor or last)
    return StreamingResponse(body, media_type="text/event-stream", headers=headers)


@router.post("/{thread_id}/copy")
def copy_thread(stores: StoresDep, thread_id: ThreadIdPath) -> Response:
    """A new idle thread with a copy of the source's metadata and values."""
    return json_response(stores.threads.copy(thread_id))


def _fields(include: str | None) -> set[str]:
    """``ttl,foo`` (the Python SDK) or ``["ttl"]`` (the JS SDK sends a JSON array)."""
    if not include:
        return set()
    if include.startswith("["):
        try:
            return {str(item) for item in orjson.loads(include)}
        except orjson.JSONDecodeError:
            return set()
    return {part.strip() for part in include.split(",")}


def _min_age(in_body: float | None, in_query: float | None) -> float | None:
    """``min_status_age_seconds`` from the body, else from the query string."""
    return in_body if in_body is not None else in_query
