"""Request-scoped dependencies: the stores created in the app's lifespan."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from threadwatch.graphs import EMPTY_REGISTRY, GraphRegistry
from threadwatch.graphs.memory import MemoryStore
from threadwatch.store.stores import Stores


def get_stores(request: Request) -> Stores:
    return request.app.state.stores


StoresDep = Annotated[Stores, Depends(get_stores)]


def get_graphs(request: Request) -> GraphRegistry:
    """The graphs the lifespan loaded; none when the app runs without it (unit tests)."""
    graphs = getattr(request.app.state, "graphs", None)
    return EMPTY_REGISTRY if graphs is None else graphs


GraphsDep = Annotated[GraphRegistry, Depends(get_graphs)]


def get_memory(request: Request) -> MemoryStore:
    """The long-term memory store (/store), configured by langgraph.json's ``store``."""
    return request.app.state.memory


MemoryDep = Annotated[MemoryStore, Depends(get_memory)]
