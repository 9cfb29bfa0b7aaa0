"""Crons: create (stateless or for a thread), get, patch, delete, search, count — with the
LangGraph server's shapes, status codes and texts. The workers fire them
(app/runs/cron_firing.py)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from threadwatch.api.deps import StoresDep
from threadwatch.api.responses import json_response
from threadwatch.errors import InvalidInputError, NotFoundError
from threadwatch.models import CronCount, CronCreate, CronPatch, CronSearch, ThreadId
from threadwatch.runs.crons import CronService
from threadwatch.store.cron_search import CronQuery, count_crons, search_crons

router = APIRouter(tags=["crons"])
ThreadIdPath = Annotated[ThreadId, Path(description="The thread's UUID.")]
CronIdPath = Annotated[str, Path(description="The cron's UUID.")]


def get_cron_service(request: Request) -> CronService:
    return request.app.state.cron_service


CronServiceDep = Annotated[CronService, Depends(get_cron_service)]


@router.post("/runs/crons")
def create_cron(service: CronServiceDep, body: CronCreate) -> Response:
    """A cron whose every firing runs on a new thread (deleted after the run unless
    ``on_run_completed`` is ``keep``)."""
    return json_response(service.create(None, body))


@router.post("/threads/{thread_id}/runs/crons")
def create_thread_cron(
    service: CronServiceDep, thread_id: ThreadIdPath, body: CronCreate
) -> Response:
    """A cron whose every firing runs on this thread."""
    return json_response(service.create(thread_id, body))


@router.post("/runs/crons/search")
def search(stores: StoresDep, body: CronSearch) -> Response:
    """Crons by assistant, thread, enabled and metadata, newest first by default."""
    query = CronQuery(
        assistant_id=_uuid(body.assistant_id, "assistant"),
        thread_id=_uuid(body.thread_id, "thread"),
        enabled=body.enabled,
        metadata=body.metadata,
        limit=body.limit,
        offset=body.offset,
        sort_by=body.sort_by or "created_at",
        sort_order=body.sort_order or "desc",
        select=list(body.select) if body.select else None,
    )
    crons, next_offset = search_crons(stores.crons, query)
    if next_offset is None:
        headers = {"X-Pagination-Total": str(len(crons) + body.offset)}
    else:  # LangGraph's headers: the total is only known to be past the next page's start
        headers = {
            "X-Pagination-Total": str(next_offset + 1),
            "X-Pagination-Next": str(next_offset),
        }
    return json_response(crons, headers=headers)


@router.post("/runs/crons/count")
def count(stores: StoresDep, body: CronCount) -> Response:
    query = CronQuery(
        assistant_id=_uuid(body.assistant_id, "assistant"),
        thread_id=_uuid(body.thread_id, "thread"),
        metadata=body.metadata,
    )
    return json_response(count_crons(stores.crons, query))


@router.get("/runs/crons/{cron_id}")
def get_cron(stores: StoresDep, cron_id: CronIdPath) -> Response:
    cron = stores.crons.get(_cron_id(cron_id))
    if cron is None:
        raise NotFoundError("Not Found")
    return json_response(cron)


@router.patch("/runs/crons/{cron_id}")
def patch_cron(service: CronServiceDep, cron_id: CronIdPath, body: CronPatch) -> Response:
    """Change the given fields (``end_time: null`` clears the end time)."""
    return json_response(service.update(_cron_id(cron_id), body))


@router.delete("/runs/crons/{cron_id}", status_code=204)
def delete_cron(stores: StoresDep, cron_id: CronIdPath) -> Response:
    if not stores.crons.delete(_cron_id(cron_id)):
        raise NotFoundError("Not Found")
    return Response(status_code=204)


def _cron_id(value: str) -> str:
    return _uuid(value, "cron") or ""


def _uuid(value: str | None, noun: str) -> str | None:
    """The canonical form of an id given as a UUID; LangGraph's 422 text otherwise."""
    if value is None or value == "":
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidInputError(f"Invalid {noun} ID: must be a UUID") from None
