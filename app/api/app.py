"""create_app(): the FastAPI application, its lifespan and its routes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from redis.asyncio import Redis as AsyncRedis

from threadwatch import __version__
from threadwatch.api.error_handlers import install_error_handlers
from threadwatch.api.middleware import JSONBodyMiddleware
from threadwatch.api.routes import (
    alerts,
    assistants,
    events,
    health,
    metrics,
    protocol,
    runs,
    state,
    threads,
)
from threadwatch.api.security import install_security
from threadwatch.graphs import load_registry
from threadwatch.ops.alerts.rules import load_rules
from threadwatch.runs.service import RunService
from threadwatch.settings import Settings, get_settings
from threadwatch.store.keys import Keys
from threadwatch.store.stores import Stores
from threadwatch.ui import install as install_ui

log = logging.getLogger(__name__)
MIN_REDIS_VERSION = (7, 0)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API; with no settings, they come from the environment."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.graphs = load_registry(settings.graphs_config)
        app.state.alert_rules = load_rules(settings)  # a bad rule stops the start, named
        stores = Stores.connect(settings)
        _check_server(stores)
        _check_index_layout(stores)
        app.state.stores = stores
        app.state.run_service = RunService(
            stores.redis,
            Keys(settings.key_prefix),
            stores.threads,
            stores.runs,
            app.state.graphs,
            settings.run_timeout_seconds,
            settings.webhook_allow_private,
        )
        # Run event streams wait on Redis (XREAD BLOCK): on their own asyncio client, so
        # that a waiting stream holds no thread.
        app.state.stream_redis = AsyncRedis.from_url(settings.redis_url or "")
        try:
            yield
        finally:
            stores.redis.close()
            await app.state.stream_redis.aclose()

    app = FastAPI(
        title="threadwatch",
        version=__version__,
        description="Thread status for AI agent runtimes; LangGraph threads API on Redis.",
        lifespan=lifespan,
    )
    app.add_middleware(JSONBodyMiddleware, max_bytes=settings.max_body_bytes)
    install_security(app, settings)  # outside the body check: keys, then CORS
    install_error_handlers(app)
    routers = (health, threads, state, runs, events, assistants, metrics, alerts, protocol)
    for module in routers:
        app.include_router(module.router)
    install_ui(app)
    return app


def _check_server(stores: Stores) -> None:
    """Fail at start, not on the first search, when Redis is too old or unreachable."""
    info = stores.redis.info("server")
    version = tuple(int(p) for p in str(info["redis_version"]).split(".")[:2])
    if version < MIN_REDIS_VERSION:
        raise RuntimeError(
            f"Redis {info['redis_version']} is too old: threadwatch needs Redis >= 7.0 "
            "(SINTERCARD, ZINTERCARD) or Valkey"
        )


def _check_index_layout(stores: Stores) -> None:
    """Warn when the store was written by a version before the per-status leaf sets:
    metadata filters miss its threads until ``threadwatch doctor --fix`` indexes them."""
    keys = stores.threads.keys
    if stores.redis.exists(keys.order("created_at")) and not stores.redis.hexists(
        keys.leaf_ids(), "#sets"
    ):
        log.warning(
            "this store's metadata index is from an earlier version: searches and counts "
            "by metadata miss its threads until `threadwatch doctor --fix` indexes them"
        )
