"""Health and server info."""

from __future__ import annotations

from fastapi import APIRouter

from threadwatch import __version__
from threadwatch.api.deps import GraphsDep

router = APIRouter(tags=["health"])


@router.get("/ok")
def ok() -> dict[str, bool]:
    """Liveness probe, as on the LangGraph server."""
    return {"ok": True}


@router.get("/info")
def info(graphs: GraphsDep) -> dict[str, object]:
    """Version, features, and the graphs loaded (with the ones that failed to load)."""
    return {
        "version": __version__,
        "flags": {"assistants": True, "crons": True},
        "graphs": {
            "loaded": list(graphs.ids),
            "errors": {graph_id: error.summary for graph_id, error in graphs.errors.items()},
        },
    }
