"""``http.mount_prefix`` of langgraph.json: every route under a prefix, as LangGraph's Agent
Server mounts its app there (langgraph-api 0.16.7, ``server.py``), and the probes (``/ok``,
``/metrics``) at the root too, so that a load balancer needs no change. (LangGraph also
answers ``GET /`` there; threadwatch has no ``/`` route.)

A request under the prefix reaches the routes as Starlette's ``Mount`` would pass it: the
prefix joins the ``root_path``, so the routes, the key check and the docs page (which finds
``openapi.json`` through the root path) see the app's own paths.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from threadwatch.api.responses import json_response

ROOT_PATHS = frozenset({"/ok", "/metrics"})


class MountPrefixMiddleware:
    """Pure ASGI middleware: serves the app under ``prefix``; 404 elsewhere but ROOT_PATHS."""

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        root = scope.get("root_path", "")
        path: str = scope["path"]
        route_path = path[len(root) :] if root and path.startswith(root) else path
        if route_path == self.prefix or route_path.startswith(self.prefix + "/"):
            await self.app({**scope, "root_path": root + self.prefix}, receive, send)
        elif route_path in ROOT_PATHS:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1000})
        else:
            await json_response({"detail": "Not Found"}, status_code=404)(scope, receive, send)
