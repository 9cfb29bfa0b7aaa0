"""``http.app`` of langgraph.json: a user's Starlette or FastAPI app, merged into the API as
LangGraph's Agent Server merges it (langgraph-api 0.16.7, ``server.py``):

* routes: the health probe, /metrics and the API docs first (a user cannot shadow them),
  then the user's routes, then the rest of the API, which the user's routes shadow;
* middleware: the user's wraps the API's (it runs first, on every route);
* lifespan: the API's starts first and stops last; the user's runs inside it;
* exception handlers: the user's replace the API's for the same exception;
* state: one ``app.state`` for both, so ``request.app.state`` and the user's module-level
  ``app.state`` are the same object;
* the store: ``langgraph.config.get_store()`` works in the user's routes (LangGraph's
  ``EnsureStoreAccessible``, innermost, around every route as there).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi import exception_handlers as fastapi_handlers
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from threadwatch.graphs.registry import GraphConfigError
from threadwatch.graphs.user_code import MissingFile, import_target

# Routes the user's app never shadows (with http.disable_meta there are none of these but
# /ok, which the user may then shadow, as on LangGraph).
UNSHADOWABLE = frozenset(
    {"/ok", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
)
# FastAPI installs these in every app; a user's FastAPI app does not mean to replace ours.
_FASTAPI_DEFAULT_HANDLERS = (
    fastapi_handlers.http_exception_handler,
    fastapi_handlers.request_validation_exception_handler,
    fastapi_handlers.websocket_request_validation_exception_handler,
)
Lifespan = Callable[[Any], AbstractAsyncContextManager[Any]]


def load_custom_app(spec: str, folder: Path) -> Starlette:
    """The app at ``"./file.py:variable"`` (relative to ``folder``) or
    ``"package.module:variable"``; an error naming ``http.app`` when it is not one."""
    target, _, name = spec.rpartition(":")
    try:
        module = _import(target, folder)
    except GraphConfigError:
        raise
    except Exception as exc:
        raise GraphConfigError(
            f'"http.app": cannot import {target}: {type(exc).__name__}: {exc}'
        ) from exc
    found = getattr(module, name, None)
    if found is None:
        raise GraphConfigError(f'"http.app": {target} has no "{name}"')
    if not isinstance(found, Starlette):
        raise GraphConfigError(
            f'"http.app": "{name}" in {target} is a {type(found).__name__}, not a Starlette '
            "or FastAPI application"
        )
    return found


def _import(target: str, folder: Path) -> Any:
    try:
        return import_target(target, folder, "http_app")
    except MissingFile as exc:
        raise GraphConfigError(f'"http.app": no such file: {exc.path}') from None


def merge_custom_app(app: FastAPI, user: Starlette, meta_served: bool = True) -> None:
    """Merge ``user`` into ``app`` (see the module's docstring). Call it after the API's own
    middleware is added, before anything that must wrap the user's (the mount prefix)."""
    fixed = UNSHADOWABLE if meta_served else frozenset()
    ours = list(app.router.routes)
    first = [route for route in ours if _serves_any(route, fixed)]
    rest = [route for route in ours if not _serves_any(route, fixed)]
    app.router.routes = [*first, *user.routes, *rest]
    app.user_middleware = [
        *user.user_middleware,
        *app.user_middleware,
        Middleware(StoreAccessMiddleware),
    ]
    for exc_class, handler in user.exception_handlers.items():
        if handler not in _FASTAPI_DEFAULT_HANDLERS:
            app.exception_handlers[exc_class] = handler
    user.state = app.state
    app.router.lifespan_context = combined_lifespan(
        [(app.router.lifespan_context, app), (user.router.lifespan_context, user)]
    )


class StoreAccessMiddleware:
    """Pure ASGI middleware: within the request, ``langgraph.config.get_store()`` gives the
    server's store (``app.state.graph_store``: the Redis one, or ``store.path``'s)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = scope.get("app")
        store = getattr(getattr(app, "state", None), "graph_store", None)
        if store is None:
            await self.app(scope, receive, send)
            return
        from langchain_core.runnables.config import var_child_runnable_config
        from langgraph._internal._constants import CONFIG_KEY_RUNTIME
        from langgraph.runtime import Runtime

        config = {"configurable": {CONFIG_KEY_RUNTIME: Runtime(store=store)}}
        token = var_child_runnable_config.set(config)  # type: ignore[arg-type]
        try:
            await self.app(scope, receive, send)
        finally:
            var_child_runnable_config.reset(token)


def combined_lifespan(lifespans: Iterable[tuple[Lifespan, Any]]) -> Lifespan:
    """One lifespan entering each in order (each with its own app) and leaving them in
    reverse; the state they yield, merged (Starlette's lifespan state)."""
    entries = list(lifespans)

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[dict[str, Any] | None]:
        state: dict[str, Any] = {}
        async with AsyncExitStack() as stack:
            for enter, owner in entries:
                yielded = await stack.enter_async_context(enter(owner))
                if isinstance(yielded, dict):
                    state.update(yielded)
            yield state or None

    return lifespan


def _serves_any(route: BaseRoute, paths: Iterable[str]) -> bool:
    """Whether the route (or the router included as one) takes a GET of any of ``paths``."""
    for path in paths:
        scope: Scope = {"type": "http", "method": "GET", "path": path, "root_path": ""}
        if route.matches(scope)[0] == Match.FULL:
            return True
    return False
