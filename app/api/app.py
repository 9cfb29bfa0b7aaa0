"""create_app(): the FastAPI application, its lifespan and its routes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from threadwatch import __version__
from threadwatch.api.error_handlers import install_error_handlers
from threadwatch.api.middleware import JSONBodyMiddleware
from threadwatch.api.openapi import install_openapi
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
from threadwatch.graphs import GraphRegistry, load_registry
from threadwatch.graphs.assistants import Assistants
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

    app = FastAPI(
        title="threadwatch",
        version=__version__,
        description="Thread status for AI agent runtimes; LangGraph threads API on Redis.",
        lifespan=lifespan,
    )
    app.add_middleware(
        JSONBodyMiddleware,
        max_bytes=settings.max_body_bytes,
        max_seconds=settings.max_body_seconds,
    )
    install_security(app, settings)  # outside the body check: keys, then CORS
    install_error_handlers(app)
    routers = (
        health,
        threads,
        state,
        runs,
        crons,
        events,
        assistants,
        store,
        metrics,
        alerts,
        protocol,
    )
    for module in routers:
        app.include_router(module.router)
    install_ui(app)
    install_openapi(app)
    return app


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
