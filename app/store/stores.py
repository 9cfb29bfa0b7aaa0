"""The stores of one Redis client, built the one way every process builds them (the API,
the CLI, the sweeper, the emitter) from the same Settings."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, cast

from redis import Redis

from threadwatch.settings import Settings
from threadwatch.store.assistants import AssistantStore
from threadwatch.store.codec import redis_now_us
from threadwatch.store.crons import CronStore
from threadwatch.store.items import ItemStore
from threadwatch.store.keys import Keys
from threadwatch.store.pipelined import A, B, Read, read_both
from threadwatch.store.runs import RunStore
from threadwatch.store.scripts import Scripts
from threadwatch.store.search import ThreadSearch
from threadwatch.store.threads import ThreadStore, default_checkpoints

if TYPE_CHECKING:  # langgraph is optional
    from threadwatch.store.checkpoints import RedisSaver

MIN_REDIS_VERSION = (7, 0)


@dataclass
class Stores:
    """Everything a route needs, sharing one connection pool and one set of scripts."""

    redis: Redis
    threads: ThreadStore
    search: ThreadSearch
    runs: RunStore
    assistants: AssistantStore
    crons: CronStore

    @property
    def keys(self) -> Keys:
        return self.threads.keys

    def read_both(self, first: Read[A], second: Read[B]) -> tuple[A, B]:
        """Two stores' reads in one round trip."""
        return read_both(self.redis, first, second)

    @cached_property
    def items(self) -> ItemStore:
        """The long-term memory store's items (the /store API's and the runs' store)."""
        return ItemStore(self.redis, self.keys, self.threads.scripts)

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
    def on(cls, redis: Redis, settings: Settings, inline_checkpoints: bool = False) -> Stores:
        """The stores on the client ``redis``, with the limits ``settings`` give; a worker
        asks for ``inline_checkpoints`` (see RedisSaver: each of its threads' loops serves
        one run)."""
        keys = Keys(settings.key_prefix)
        scripts = Scripts(redis)
        history = settings.status_history_limit
        saver = default_checkpoints(redis, keys, inline=inline_checkpoints)
        threads = ThreadStore(redis, keys, scripts, saver, history_limit=history)
        search = ThreadSearch(redis, keys, threads, settings.search_walk_budget)
        runs = RunStore(
            redis,
            keys,
            scripts,
            settings.lease_seconds,
            history,
            settings.runs_kept_per_thread,
            settings.ended_run_ttl_seconds,
        )
        assistants = AssistantStore(redis, keys, scripts)
        return cls(redis, threads, search, runs, assistants, CronStore(redis, keys, scripts))

    def now_us(self) -> int:
        """Redis's clock, in µs: the one every status_since and lease is written with."""
        return redis_now_us(self.redis)

    def check_server(self) -> None:
        """Fail at start, not on the first search, when Redis is too old or unreachable."""
        info = self.redis.info("server")
        version = tuple(int(p) for p in str(info["redis_version"]).split(".")[:2])
        if version < MIN_REDIS_VERSION:
            raise RuntimeError(
                f"Redis {info['redis_version']} is too old: threadwatch needs Redis >= 7.0 "
                "(SINTERCARD, ZINTERCARD) or Valkey"
            )
