"""API keys and CORS, both as ASGI middleware wrapped around the whole app.

* API keys (``THREADWATCH_API_KEYS``): when any is set, every request needs one of them in
  the ``x-api-key`` header, which is where the LangGraph SDKs put ``api_key=`` or
  ``LANGGRAPH_API_KEY``. Only ``GET /ok`` (the health probe) is open, and ``GET /metrics``
  too with ``THREADWATCH_METRICS_PUBLIC``. No header: 401 "Missing authentication headers"
  (the LangGraph server's text; it answers 403 there). A wrong key: 403 "Invalid token"
  (the LangGraph server's text for a key its auth service refuses). Keys are compared in
  constant time, each one, whatever matched.
* CORS (``THREADWATCH_CORS_ORIGINS``): Starlette's CORSMiddleware outside the key check, so
  a browser's preflight (OPTIONS) needs no key and the 401/403 answers carry the CORS
  headers a page needs to read them. As on the LangGraph server: any method and any request
  header (the SDKs send ``x-api-key``, ``content-type``, ``last-event-id`` and whatever a
  caller adds), the pagination and location headers readable, and credentials allowed
  only for a list of origins, never with ``*``. With
  ``THREADWATCH_CORS_ALLOW_PRIVATE_NETWORK`` (on under ``threadwatch dev``) the Private
  Network Access preflight is answered too. langgraph.json's ``http.cors`` replaces the
  rest of this when it is given.

The key check runs before the body is read (JSONBodyMiddleware sits inside it), so a caller
without a key learns nothing about bodies, routes or ids.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from threadwatch.api.responses import json_response
from threadwatch.settings import Settings

log = logging.getLogger(__name__)

API_KEY_HEADER = b"x-api-key"
MISSING_KEY = "Missing authentication headers"
WRONG_KEY = "Invalid token"
# Paths served without a key (GET and HEAD only).
OPEN_PATHS = frozenset({"/ok"})
# The status page's static files: a browser cannot send a key when it loads a page (the page
# sends the key, from its key field, on every API call it makes).
OPEN_PREFIX = "/ui"
METRICS_PATH = "/metrics"

CORS_EXPOSE_HEADERS = ("x-pagination-total", "x-pagination-next", "content-location", "location")
CORS_MAX_AGE = 600


def _digest(value: bytes) -> bytes:
    # Comparing digests keeps the comparison's time independent of the keys' lengths too.
    return hashlib.sha256(value).digest()


class APIKeyMiddleware:
    """Pure ASGI middleware: refuses requests without one of `keys` in ``x-api-key``."""

    def __init__(self, app: ASGIApp, keys: Iterable[str], open_paths: Iterable[str]) -> None:
        self.app = app
        self._digests = tuple(_digest(key.encode()) for key in keys)
        self._open_paths = frozenset(open_paths)
        if not self._digests:
            raise ValueError("APIKeyMiddleware needs at least one key")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self._is_open(scope):
            await self.app(scope, receive, send)
            return
        given = _header(scope, API_KEY_HEADER)
        if given and self.accepts(given):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":  # closed before it is accepted: a 403 to the client
            await send({"type": "websocket.close", "code": 1008})
            return
        status, detail = (403, WRONG_KEY) if given else (401, MISSING_KEY)
        log.debug("refused %s %s: %s", scope["method"], scope["path"], detail)
        await json_response({"detail": detail}, status_code=status)(scope, receive, send)

    def accepts(self, given: bytes) -> bool:
        """Whether `given` is one of the keys; compares with every key, in constant time."""
        digest = _digest(given)
        found = False
        for key in self._digests:
            found |= hmac.compare_digest(digest, key)
        return found

    def _is_open(self, scope: Scope) -> bool:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            return False
        path = _route_path(scope)
        return path in self._open_paths or path == OPEN_PREFIX or path.startswith(OPEN_PREFIX + "/")


def _header(scope: Scope, name: bytes) -> bytes:
    """The first value of header `name` (lower case), stripped; b"" when absent."""
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return bytes(value).strip()
    return b""


def _route_path(scope: Scope) -> str:
    """The path the router sees: without the root path a proxy mounts the app under."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path


def install_security(
    app: FastAPI, settings: Settings, cors: Mapping[str, Any] | None = None
) -> None:
    """Add the key check (with api_keys) and CORS (with cors_origins, or langgraph.json's
    ``http.cors``) around `app`.

    Call it after the other middleware is added: the last added runs first, and CORS must
    answer preflights before the key check sees them.
    """
    if settings.api_keys:
        open_paths = set(OPEN_PATHS)
        if settings.metrics_public:
            open_paths.add(METRICS_PATH)
        app.add_middleware(APIKeyMiddleware, keys=settings.api_keys, open_paths=open_paths)
    options = cors_options(settings, cors)
    if options is not None:
        app.add_middleware(CORSMiddleware, **options)


def cors_options(settings: Settings, cors: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """CORSMiddleware's arguments; None for no CORS. ``http.cors`` replaces the defaults
    (Starlette's for the keys it leaves out, as on LangGraph), taking its origins from
    THREADWATCH_CORS_ORIGINS when it names none and those are not "*" (LangGraph's rule
    for CORS_ALLOW_ORIGINS)."""
    if cors is not None:
        options = dict(cors)
        if "allow_origins" not in options and settings.cors_origins != ["*"]:
            options["allow_origins"] = settings.cors_origins
        return {"allow_private_network": settings.cors_allow_private_network, **options}
    if not settings.cors_origins:
        return None
    return {
        "allow_origins": settings.cors_origins,
        # LangGraph's rule: cookies may go to listed origins only (with "*" a browser
        # would refuse the answers anyway).
        "allow_credentials": "*" not in settings.cors_origins,
        "allow_methods": ["*"],
        "allow_headers": ["*"],
        "allow_private_network": settings.cors_allow_private_network,
        "expose_headers": CORS_EXPOSE_HEADERS,
        "max_age": CORS_MAX_AGE,
    }
