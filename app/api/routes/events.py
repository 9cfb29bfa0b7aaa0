"""POST /runs/events: agent runtimes report what their runs did, in batches."""

from __future__ import annotations

from fastapi import APIRouter, Response

from threadwatch.api.deps import StoresDep
from threadwatch.api.responses import json_response
from threadwatch.models import RunEventBatch

router = APIRouter(tags=["events"])


@router.post("/runs/events")
def post_run_events(stores: StoresDep, body: RunEventBatch) -> Response:
    """Apply up to 1,000 run events, each atomically and in order.

    The batch is validated whole first (422 names the bad event and field; nothing is
    applied). Each result says whether the event was ``applied``, a ``duplicate`` of one
    already applied, or ``stale`` (its run had already moved past it).
    """
    applied = stores.runs.apply(body.events)
    results = [{"run_id": a.run_id, "type": a.type, "result": a.result} for a in applied]
    return json_response({"results": results})
