"""Runs: create (stateful and stateless), wait, join, cancel, list, get, delete — with the
LangGraph server's shapes, status codes and texts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict

from threadwatch.api.deps import StoresDep
from threadwatch.api.responses import json_response
from threadwatch.api.run_stream import RunEvents, event_names, join_modes, stream_cursor
from threadwatch.domain import RunStatus
from threadwatch.errors import InvalidInputError, NotFoundError
from threadwatch.models import RunCreate, RunId, ThreadId
from threadwatch.runs.options import RunOptions
from threadwatch.runs.service import IN_FLIGHT, RunService
from threadwatch.store.codec import materialize, to_json

router = APIRouter(tags=["runs"])
ThreadIdPath = Annotated[ThreadId, Path(description="The thread's UUID.")]
RunIdPath = Annotated[RunId, Path(description="The run's UUID.")]
CancelAction = Literal["interrupt", "rollback"]
# /wait and /join send a newline this often while the run goes on, as LangGraph does,
# so that proxies keep the connection open.
KEEPALIVE_SECONDS = 5.0


def get_run_service(request: Request) -> RunService:
    return request.app.state.run_service


RunServiceDep = Annotated[RunService, Depends(get_run_service)]


@router.post("/threads/{thread_id}/runs")
def create_run(service: RunServiceDep, thread_id: ThreadIdPath, body: RunCreate) -> Response:
    """Create a run on the thread; it is `pending` until a worker starts it."""
    run = service.create(thread_id, body)
    return json_response(run, headers=_locations(thread_id, run["run_id"]))


@router.post("/threads/{thread_id}/runs/wait")
async def create_run_and_wait(
    service: RunServiceDep, thread_id: ThreadIdPath, body: RunCreate
) -> Response:
    """Create a run and answer its output once it ends."""
    run = await asyncio.to_thread(service.create, thread_id, body)
    return _waiting_response(service, thread_id, run["run_id"])


@router.post("/runs")
def create_stateless_run(service: RunServiceDep, body: RunCreate) -> Response:
    """A run on a temporary thread (deleted when the run ends unless on_completion=keep)."""
    run = service.create(None, body)
    return json_response(run, headers=_locations(run["thread_id"], run["run_id"]))


@router.post("/runs/wait")
async def create_stateless_run_and_wait(service: RunServiceDep, body: RunCreate) -> Response:
    run = await asyncio.to_thread(service.create, None, body)
    return _waiting_response(service, run["thread_id"], run["run_id"])


@router.post("/threads/{thread_id}/runs/stream")
async def create_run_and_stream(
    request: Request, service: RunServiceDep, thread_id: ThreadIdPath, body: RunCreate
) -> Response:
    """Create a run and send its events (SSE) until it ends."""
    run = await asyncio.to_thread(service.create, thread_id, body, True)
    return _event_stream(request, service, run, cancel_on_disconnect=body.on_disconnect == "cancel")


@router.post("/runs/stream")
async def create_stateless_run_and_stream(
    request: Request, service: RunServiceDep, body: RunCreate
) -> Response:
    run = await asyncio.to_thread(service.create, None, body, True)
    return _event_stream(request, service, run, cancel_on_disconnect=body.on_disconnect == "cancel")


@router.get("/threads/{thread_id}/runs/{run_id}/stream")
async def join_run_stream(
    request: Request,
    service: RunServiceDep,
    stores: StoresDep,
    thread_id: ThreadIdPath,
    run_id: RunIdPath,
    # The SDKs send `stream_mode=` (empty) for none.
    stream_mode: Annotated[list[str] | None, Query()] = None,
    cancel_on_disconnect: bool = False,
    last_event_id: Annotated[str | None, Header()] = None,
) -> Response:
    """Send the run's events (SSE) from its start, or after ``Last-Event-ID`` ("-1": from
    the start, as useStream joins), until it ends; ``stream_mode`` keeps those modes'
    events only."""
    modes = join_modes(stream_mode or [])
    cursor = stream_cursor(last_event_id)
    run = await asyncio.to_thread(stores.runs.get, thread_id, run_id)
    return _event_stream(request, service, run, event_names(modes), cursor, cancel_on_disconnect)


@router.get("/threads/{thread_id}/runs/{run_id}/join")
async def join_run(
    service: RunServiceDep, stores: StoresDep, thread_id: ThreadIdPath, run_id: RunIdPath
) -> Response:
    """Wait for the run to end and answer its output."""
    await asyncio.to_thread(stores.runs.get, thread_id, run_id)
    return _waiting_response(service, thread_id, run_id)


@router.post("/threads/{thread_id}/runs/{run_id}/cancel")
async def cancel_run(
    service: RunServiceDep,
    thread_id: ThreadIdPath,
    run_id: RunIdPath,
    wait: Annotated[bool, Query()] = False,
    action: Annotated[CancelAction, Query()] = "interrupt",
) -> Response:
    """Stop the run; 202 at once, or with ``wait`` its output once it has stopped."""
    try:
        await asyncio.to_thread(service.cancel, thread_id, run_id, action)
    except NotFoundError as exc:
        if "No matching runs" in exc.detail:
            raise
        raise NotFoundError("No runs found to cancel.") from None
    if not wait:
        return Response(status_code=202)
    return json_response(await service.wait(thread_id, run_id))


class CancelMany(BaseModel):
    model_config = ConfigDict(extra="ignore")
    thread_id: ThreadId | None = None
    run_ids: list[RunId] | None = None
    status: Literal["pending", "running", "all"] | None = None


@router.post("/runs/cancel", status_code=204)
def cancel_runs(
    service: RunServiceDep,
    body: CancelMany,
    action: Annotated[CancelAction, Query()] = "interrupt",
) -> Response:
    """Cancel the given runs of a thread, or every run in a status."""
    by_ids = body.thread_id is not None or body.run_ids is not None
    if by_ids == (body.status is not None) or (by_ids and not (body.thread_id and body.run_ids)):
        raise InvalidInputError("Either (thread_id and run_ids) or status must be given")
    for thread_id, run_id in _targets(service, body):
        try:
            service.cancel(thread_id, run_id, action)
        except NotFoundError:
            continue
    return Response(status_code=204)


def _targets(service: RunService, body: CancelMany) -> list[tuple[str, str]]:
    if body.thread_id and body.run_ids:
        return [(body.thread_id, run_id) for run_id in body.run_ids]
    statuses = IN_FLIGHT if body.status == "all" else (body.status,)
    return service.runs_in_status(statuses)


@router.get("/threads/{thread_id}/runs")
def list_runs(
    stores: StoresDep,
    thread_id: ThreadIdPath,
    limit: Annotated[int, Query(ge=1, le=1000)] = 10,
    offset: Annotated[int, Query(ge=0)] = 0,
    status: RunStatus | None = None,
) -> Response:
    """Runs of the thread, newest first."""
    runs = stores.runs.list(thread_id, limit, offset, status.value if status else None)
    return json_response(runs)


@router.get("/threads/{thread_id}/runs/{run_id}")
def get_run(stores: StoresDep, thread_id: ThreadIdPath, run_id: RunIdPath) -> Response:
    return json_response(stores.runs.get(thread_id, run_id))


@router.delete("/threads/{thread_id}/runs/{run_id}", status_code=204)
def delete_run(
    service: RunServiceDep, stores: StoresDep, thread_id: ThreadIdPath, run_id: RunIdPath
) -> Response:
    """Delete a run; one still in flight is rolled back (stopped, and its checkpoints go)."""
    run = stores.runs.get(thread_id, run_id)
    if run["status"] in IN_FLIGHT:
        service.cancel(thread_id, run_id, "rollback")
    else:
        service.delete(thread_id, run_id)
    return Response(status_code=204)


def _locations(thread_id: str, run_id: str) -> dict[str, str]:
    return {"Content-Location": f"/threads/{thread_id}/runs/{run_id}"}


def _event_stream(
    request: Request,
    service: RunService,
    run: dict[str, Any],
    events: set[bytes] | None = None,
    cursor: str = "0-0",
    cancel_on_disconnect: bool = False,
) -> Response:
    """The SSE response of ``run``'s events (app/api/run_stream.py)."""
    thread_id, run_id = str(run["thread_id"]), str(run["run_id"])
    options = RunOptions.model_validate(materialize(run.get("kwargs")) or {})
    source = RunEvents(request.app.state.stream_reader, service, thread_id, run_id)
    body = source.sse(options.streamed, events, cursor, cancel_on_disconnect)
    location = f"/threads/{thread_id}/runs/{run_id}"
    headers = {
        "Location": f"{location}/stream",
        "Content-Location": location,
        "Cache-Control": "no-store",
    }
    return StreamingResponse(body, media_type="text/event-stream", headers=headers)


def _waiting_response(service: RunService, thread_id: str, run_id: str) -> Response:
    """200 whose body is the output; newlines keep the connection alive meanwhile."""

    async def body() -> AsyncIterator[bytes]:
        task = asyncio.ensure_future(service.wait(thread_id, run_id))
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=KEEPALIVE_SECONDS)
                if done:
                    break
                yield b"\n"
            output: Any = task.result()
            yield to_json(output)
        finally:
            task.cancel()

    location = f"/threads/{thread_id}/runs/{run_id}"
    headers = {"Location": f"{location}/join", "Content-Location": location}
    return StreamingResponse(body(), media_type="application/json", headers=headers)
