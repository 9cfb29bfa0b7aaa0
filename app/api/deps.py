"""Request-scoped dependencies: the stores created in the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, cast

from fastapi import Depends, Request
from redis import Redis

from threadwatch.graphs import EMPTY_REGISTRY, GraphRegistry
from threadwatch.settings import Settings
from threadwatch.store.keys import Keys
from threadwatch.store.runs import RunStore
from threadwatch.store.scripts import Scripts
from threadwatch.store.search import ThreadSearch
from threadwatch.store.threads import ThreadStore

if TYPE_CHECKING:  # langgraph is optional
    from threadwatch.store.checkpoints import RedisSaver


@dataclass
class Stores:
    """Everything a route needs, sharing one connection pool and one set of scripts."""

    redis: Redis
    threads: ThreadStore
    search: ThreadSearch
    runs: RunStore

    @property
    def saver(self) -> RedisSaver | None:
        """The LangGraph checkpointer on the same client and keys (the one the thread store
        copies and deletes checkpoints with); None without langgraph."""
        return cast("RedisSaver | None", self.threads.checkpoints)

    @classmethod
    def connect(cls, settings: Settings) -> Stores:
        if not settings.redis_url:
            raise RuntimeError(
                "REDIS_URL is not set: point it at a Redis server, or run `threadwatch dev` "
                "to start an embedded one"
            )
        redis = Redis.from_url(settings.redis_url, health_check_interval=30)
        keys = Keys(settings.key_prefix)
        scripts = Scripts(redis)
        history = settings.status_history_limit
        threads = ThreadStore(redis, keys, scripts, history_limit=history)
        search = ThreadSearch(redis, keys, threads, settings.search_walk_budget)
        runs = RunStore(redis, keys, scripts, settings.lease_seconds, history)
        return cls(redis, threads, search, runs)


def get_stores(request: Request) -> Stores:
    return request.app.state.stores


StoresDep = Annotated[Stores, Depends(get_stores)]


def get_graphs(request: Request) -> GraphRegistry:
    """The graphs the lifespan loaded; none when the app runs without it (unit tests)."""
    graphs = getattr(request.app.state, "graphs", None)
    return EMPTY_REGISTRY if graphs is None else graphs


GraphsDep = Annotated[GraphRegistry, Depends(get_graphs)]
