"""Request-scoped dependencies: the stores created in the app's lifespan."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from threadwatch.api.store_backends import RedisItems, StoreBackend
from threadwatch.graphs import EMPTY_REGISTRY, GraphRegistry
from threadwatch.store.stores import Stores


def get_stores(request: Request) -> Stores:
    return request.app.state.stores


StoresDep = Annotated[Stores, Depends(get_stores)]


def get_graphs(request: Request) -> GraphRegistry:
    """The graphs the lifespan loaded; none when the app runs without it (unit tests)."""
    graphs = getattr(request.app.state, "graphs", None)
    return EMPTY_REGISTRY if graphs is None else graphs


GraphsDep = Annotated[GraphRegistry, Depends(get_graphs)]


def get_store_backend(request: Request) -> StoreBackend:
    """The long-term memory store (/store): langgraph.json's ``store.path`` when it names
    one, else the Redis store configured by its ``store``."""
    custom: StoreBackend | None = getattr(request.app.state, "custom_items", None)
    return custom if custom is not None else RedisItems(request.app.state.memory)


StoreBackendDep = Annotated[StoreBackend, Depends(get_store_backend)]
