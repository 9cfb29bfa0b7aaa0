"""POST /runs/events: agent runtimes report what their runs did, in batches."""

from __future__ import annotations

from typing import cast

from fastapi import APIRouter, Response

from threadwatch.api.deps import StoresDep
from threadwatch.api.error_handlers import RETRY_AFTER
from threadwatch.api.responses import json_response
from threadwatch.errors import BatchIncomplete
from threadwatch.models import RunEventBatch
from threadwatch.store.runs import Applied

router = APIRouter(tags=["events"])


@router.post("/runs/events")
def post_run_events(stores: StoresDep, body: RunEventBatch) -> Response:
    """Apply up to 1,000 run events, each atomically and in order.

    The batch is validated whole first (422 names the bad event and field; nothing is
    applied). Each result says whether the event was ``applied``, a ``duplicate`` of one
    already applied, or ``stale`` (its run had already moved past it).
    """
    try:
        applied = stores.runs.apply(body.events)
    except BatchIncomplete as incomplete:  # Redis full part way: say what was applied
        took = cast(list[Applied], incomplete.applied)
        body_ = {"detail": incomplete.detail, "results": _results(took)}
        return json_response(body_, status_code=503, headers=RETRY_AFTER)
    return json_response({"results": _results(applied)})


def _results(applied: list[Applied]) -> list[dict[str, object]]:
    return [{"run_id": a.run_id, "type": a.type, "result": a.result} for a in applied]
