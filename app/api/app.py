"""create_app(): the FastAPI application, its lifespan and its routes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI

from threadwatch import __version__
from threadwatch.api.custom_app import load_custom_app, merge_custom_app
from threadwatch.api.error_handlers import install_error_handlers
from threadwatch.api.middleware import JSONBodyMiddleware
from threadwatch.api.openapi import install_openapi
from threadwatch.api.prefix import MountPrefixMiddleware
from threadwatch.api.routes import (
    alerts,
    assistants,
    crons,
    events,
    health,
    metrics,
    protocol,
    runs,
    state,
    store,
    threads,
)
from threadwatch.api.security import install_security
from threadwatch.api.store_backends import CustomItems
from threadwatch.graphs import GraphConfigError, GraphRegistry, load_registry
from threadwatch.graphs.assistants import Assistants
from threadwatch.graphs.custom_store import custom_store
from threadwatch.graphs.loading import prepare_imports
from threadwatch.graphs.project import HttpConfig, Project, load_project
from threadwatch.graphs.store_config import graph_store, memory_store
from threadwatch.ops.alerts.rules import load_rules
from threadwatch.ops.watchdog import Watchdog
from threadwatch.runs.crons import CronService
from threadwatch.runs.service import RunService
from threadwatch.settings import Settings, get_settings
from threadwatch.store.run_streams import StreamReader
from threadwatch.store.stores import Stores
from threadwatch.ui import install as install_ui

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API; with no settings, they come from the environment."""
    settings = settings or get_settings()
    project = load_project(settings.graphs_config)
    if project.http.app or project.store.get("path"):
        prepare_imports(project.data, project.folder)  # their code imports as the graphs do
    custom = custom_store(project)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.graphs = load_registry(settings.graphs_config)
        app.state.alert_rules = load_rules(settings)  # a bad rule stops the start, named
        stores = Stores.connect(settings)
        stores.check_server()
        if not stores.search.index_layout_current():
            log.warning(
                "this store's metadata index is from an earlier version: searches and counts "
                "by metadata miss its threads until `threadwatch doctor --fix` indexes them"
            )
        serve_from(app, stores, app.state.graphs, settings)
        if custom is not None:
            use_store(app, await custom.get())
        app.state.stream_reader = StreamReader.connect(settings.redis_url or "", stores.keys)
        watchdog = None
        if settings.api_watchdog:
            watchdog = asyncio.create_task(Watchdog(stores.redis, settings).run())
        try:
            yield
        finally:
            if watchdog is not None:
                watchdog.cancel()
            stores.redis.close()
            await app.state.stream_reader.close()
            if custom is not None:
                await custom.close()

    meta = project.http.serves("meta")
    app = FastAPI(
        title="threadwatch",
        version=__version__,
        description="Thread status for AI agent runtimes; LangGraph threads API on Redis.",
        lifespan=lifespan,
        # http.disable_meta takes the API docs away with /info and /metrics.
        openapi_url="/openapi.json" if meta else None,
        docs_url="/docs" if meta else None,
        redoc_url="/redoc" if meta else None,
    )
    app.add_middleware(
        JSONBodyMiddleware,
        max_bytes=settings.max_body_bytes,
        max_seconds=settings.max_body_seconds,
    )
    install_security(app, settings, project.http.cors)  # outside the body check: keys, CORS
    install_error_handlers(app)
    mount_routes(app, project.http)
    _with_project(app, project)
    install_openapi(app)
    return app


# The API's routers in the order they are mounted, each with the `http.disable_<group>` of
# langgraph.json that takes it away (None: always there).
ROUTERS: tuple[tuple[str | None, APIRouter], ...] = (
    (None, health.router),
    ("meta", health.info_router),
    ("threads", threads.router),
    ("threads", state.router),
    ("runs", runs.router),
    ("runs", crons.router),
    ("runs", events.router),
    ("assistants", assistants.router),
    ("store", store.router),
    ("meta", metrics.router),
    ("meta", alerts.router),
    ("event_streaming", protocol.router),
)


def mount_routes(app: FastAPI, http: HttpConfig) -> None:
    """The routers of the groups ``http`` serves, and the status page (``ui``)."""
    for group, router in ROUTERS:
        if group is None or http.serves(group):
            app.include_router(router)
    if http.serves("ui"):
        install_ui(app)


def _with_project(app: FastAPI, project: Project) -> None:
    """langgraph.json's ``http.app`` merged in, then its ``http.mount_prefix`` around it
    all."""
    http = project.http
    if project.ignored:
        log.warning(
            "langgraph.json: %s ignored: LangGraph knows no such key (a typo?)",
            ", ".join(project.ignored),
        )
    if http.without_effect:
        log.warning(
            "langgraph.json: http.%s change nothing here", ", http.".join(http.without_effect)
        )
    if http.app:
        merge_custom_app(app, load_custom_app(http.app, project.folder), http.serves("meta"))
    if http.mount_prefix:
        app.add_middleware(MountPrefixMiddleware, prefix=http.mount_prefix)


def serve_app() -> FastAPI:
    """The app uvicorn serves (`threadwatch serve` and `dev`): create_app(), with an unusable
    langgraph.json reported in one line and the process ended, not a traceback."""
    try:
        return create_app()
    except GraphConfigError as exc:
        log.error("langgraph.json: %s", exc)
        raise SystemExit(1) from None


def serve_from(app: FastAPI, stores: Stores, graphs: GraphRegistry, settings: Settings) -> None:
    """Put what the routes use where they look for it (``app.state``): the stores, the
    graphs and their system assistants, the memory store, the run and cron services."""
    app.state.stores = stores
    app.state.graphs = graphs
    Assistants(stores.assistants, graphs).register_system()
    app.state.memory = memory_store(stores.items, graphs.config_path)
    # The same store as a LangGraph BaseStore, for the graphs the API opens (state).
    app.state.graph_store = graph_store(app.state.memory)
    app.state.run_service = RunService(
        stores, graphs, settings.run_timeout_seconds, settings.webhook_allow_private
    )
    app.state.cron_service = CronService(stores, graphs, settings.webhook_allow_private)


def use_store(app: FastAPI, store: Any) -> None:
    """langgraph.json's ``store.path`` (a BaseStore) instead of the Redis store, for the
    /store API and the graphs the API opens."""
    app.state.graph_store = store
    app.state.custom_items = CustomItems(store)
