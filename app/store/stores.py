"""The stores of one Redis client, built the one way every process builds them (the API,
the CLI, the sweeper, the emitter) from the same Settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from redis import Redis

from threadwatch.settings import Settings
from threadwatch.store.crons import CronStore
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
    crons: CronStore

    @property
    def saver(self) -> RedisSaver | None:
        """The LangGraph checkpointer on the same client and keys (the one the thread store
        copies and deletes checkpoints with); None without langgraph."""
        return cast("RedisSaver | None", self.threads.checkpoints)

    @classmethod
    def connect(cls, settings: Settings) -> Stores:
        """The stores on a new client of ``settings.redis_url``."""
        if not settings.redis_url:
            raise RuntimeError(
                "REDIS_URL is not set: point it at a Redis server, or run `threadwatch dev` "
                "to start an embedded one"
            )
        return cls.on(Redis.from_url(settings.redis_url, health_check_interval=30), settings)

    @classmethod
    def on(cls, redis: Redis, settings: Settings) -> Stores:
        """The stores on the client ``redis``, with the limits ``settings`` give."""
        keys = Keys(settings.key_prefix)
        scripts = Scripts(redis)
        history = settings.status_history_limit
        threads = ThreadStore(redis, keys, scripts, history_limit=history)
        search = ThreadSearch(redis, keys, threads, settings.search_walk_budget)
        runs = RunStore(redis, keys, scripts, settings.lease_seconds, history)
        return cls(redis, threads, search, runs, CronStore(redis, keys, scripts))
