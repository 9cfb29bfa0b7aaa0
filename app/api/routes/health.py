"""Health and server info."""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter, Request

from threadwatch import __version__
from threadwatch.api.capabilities import Capabilities
from threadwatch.api.deps import GraphsDep

router = APIRouter(tags=["health"])
# /info is server metadata: `http.disable_meta` takes it away, never /ok.
info_router = APIRouter(tags=["health"])


@router.get("/ok")
def ok() -> dict[str, bool]:
    """Liveness probe, as on the LangGraph server."""
    return {"ok": True}


@info_router.get("/info")
def info(request: Request, graphs: GraphsDep) -> dict[str, object]:
    """LangGraph's server info (version, flags, host), and the graphs loaded here with the
    ones that failed to load. The flags say what this server has (app/api/capabilities.py)."""
    return {
        "version": __version__,
        "langgraph_py_version": _installed("langgraph"),
        "flags": _capabilities(request).flags(),
        "host": {
            "kind": "self-hosted",
            "project_id": None,
            "host_revision_id": None,
            "revision_id": None,
            "tenant_id": None,
        },
        "graphs": {
            "loaded": list(graphs.ids),
            "errors": {graph_id: error.summary for graph_id, error in graphs.errors.items()},
        },
    }


def _capabilities(request: Request) -> Capabilities:
    """The app's capabilities, read from its routes once."""
    state = request.app.state
    found = getattr(state, "capabilities", None)
    if found is None:
        found = state.capabilities = Capabilities.of_routes(request.app.routes)
    return found


@cache
def _installed(package: str) -> str | None:
    """The version of an installed package; None without it (langgraph is an extra)."""
    try:
        return version(package)
    except PackageNotFoundError:
        return None
