"""Run records: list and get, in the LangGraph Run shape."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from app.api.deps import StoresDep
from app.api.responses import json_response
from app.domain import RunStatus
from app.models import RunId, ThreadId

router = APIRouter(prefix="/threads/{thread_id}/runs", tags=["runs"])
ThreadIdPath = Annotated[ThreadId, Path(description="The thread's UUID.")]
RunIdPath = Annotated[RunId, Path(description="The run's UUID.")]


@router.get("")
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


@router.get("/{run_id}")
def get_run(stores: StoresDep, thread_id: ThreadIdPath, run_id: RunIdPath) -> Response:
    return json_response(stores.runs.get(thread_id, run_id))
