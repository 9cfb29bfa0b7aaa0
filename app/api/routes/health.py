"""Health and server info."""

from __future__ import annotations

from fastapi import APIRouter

from app import __version__

router = APIRouter(tags=["health"])


@router.get("/ok")
def ok() -> dict[str, bool]:
    """Liveness probe, as on the LangGraph server."""
    return {"ok": True}


@router.get("/info")
def info() -> dict[str, object]:
    return {"version": __version__, "flags": {"assistants": False, "crons": False}}
