"""The status page: one HTML file, one JS module and one stylesheet under ``static/``, served
at ``/ui/`` (``GET /ui`` redirects there). The page only calls the public API."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    """Serve the page at /ui/ and its assets under /ui/."""

    @app.get("/ui", include_in_schema=False)
    def status_page() -> RedirectResponse:
        # Relative, so that it also works behind a proxy that mounts the API under a prefix;
        # the page's relative URLs need the trailing slash.
        return RedirectResponse("ui/", status_code=307)

    app.mount("/ui", StaticFiles(directory=STATIC_DIR, html=True), name="ui")
