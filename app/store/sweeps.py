"""The sweeps' own records: the last sweep's report, and which API process sweeps a time
slot when no worker does (app/ops/watchdog.py)."""

from __future__ import annotations

from typing import Any, cast

from redis import Redis

from threadwatch.store.codec import redis_now_us
from threadwatch.store.keys import Keys


def record_sweep(redis: Redis, keys: Keys, report: dict[str, float | int | str]) -> None:
    """Keep the last sweep's report, stamped with Redis's clock (``last_finished_at``)."""
    fields: dict[str, Any] = {"last_finished_at": redis_now_us(redis), **report}
    redis.hset(keys.sweeper(), mapping=cast(dict[Any, Any], fields))


def claim_slot(redis: Redis, keys: Keys, slot: int, ttl_seconds: int) -> bool:
    """Whether this caller is the one API process to sweep time slot ``slot``."""
    return bool(redis.set(keys.watchdog_slot(slot), 1, nx=True, ex=ttl_seconds))
