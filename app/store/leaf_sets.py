"""The per-status metadata leaf sets (lua/lib/leaf_sets.lua) that answer a filter."""

from __future__ import annotations

from collections.abc import Iterable

from redis import Redis

from threadwatch.domain import ThreadStatus
from threadwatch.store.keys import Keys

NO_LEAF = "0"  # the id of a leaf no thread holds: its sets never exist


def leaf_names(keys: Keys, leaves: Iterable[str]) -> list[str]:
    """The names (Keys.metadata_leaf) of encoded metadata leaves, sorted."""
    return sorted(keys.metadata_leaf(leaf) for leaf in leaves)


def leaf_ids(redis: Redis, keys: Keys, leaves: Iterable[str]) -> list[str]:
    """The ids of encoded metadata leaves, in the order given (``NO_LEAF`` for one that no
    thread holds)."""
    names = [keys.metadata_leaf(leaf) for leaf in leaves]
    if not names:
        return []
    return [NO_LEAF if i is None else i.decode() for i in redis.hmget(keys.leaf_ids(), names)]


def leaf_sets(
    redis: Redis, keys: Keys, leaves: Iterable[str], status: ThreadStatus | str
) -> list[str]:
    """The sets of threads in ``status`` holding each leaf (one that no thread holds has
    a set that never exists)."""
    return [keys.leaf_set(status, leaf_id) for leaf_id in leaf_ids(redis, keys, leaves)]
