"""Thread TTL expiry on a real Redis: threads created with a TTL through the real API and SDK,
expired by ``expire_threads`` as the sweeper calls it, and two sweepers at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from langgraph_sdk import get_sync_client
from langgraph_sdk.client import SyncLangGraphClient
from langgraph_sdk.errors import NotFoundError

from threadwatch.store.codec import thread_member
from threadwatch.store.keys import Keys
from threadwatch.store.threads import ThreadStore
from threadwatch.store.ttl import expire_threads

KEYS = Keys()  # the API's default key prefix
DAY = 24 * 3600 * 1_000_000


@pytest.fixture
def client(api_url: str, redis_client: redis.Redis) -> Iterator[SyncLangGraphClient]:
    """The sync SDK client on the real API, on an empty database."""
    with get_sync_client(url=api_url) as sdk:
        yield sdk


def now_us(client: redis.Redis) -> int:
    seconds, micros = client.time()
    return seconds * 1_000_000 + micros


def leaf_sets_holding(client: redis.Redis, thread_id: str) -> list[str]:
    return [
        key.decode()
        for key in client.scan_iter(match=f"{KEYS.leaf_set_prefix}*")
        if client.sismember(key, thread_member(thread_id))
    ]


def test_an_expired_thread_leaves_search_and_every_index(
    client: SyncLangGraphClient, redis_client: redis.Redis
) -> None:
    doomed = client.threads.create(metadata={"team": "support", "user": "u1"}, ttl=60)
    kept = client.threads.create(metadata={"team": "support", "user": "u2"})
    thread_id = doomed["thread_id"]
    shown = client.threads.get(thread_id, include=["ttl"])
    assert shown["ttl"]["strategy"] == "delete" and shown["ttl"]["ttl_minutes"] == 60
    assert leaf_sets_holding(redis_client, thread_id) != []

    store = ThreadStore(redis_client, KEYS)
    assert expire_threads(store, now_us(redis_client)) == 0  # an hour to go
    assert expire_threads(store, now_us(redis_client) + DAY) == 1

    found = client.threads.search(metadata={"team": "support"})
    assert [t["thread_id"] for t in found] == [kept["thread_id"]]
    assert client.threads.count(metadata={"team": "support"}) == 1
    with pytest.raises(NotFoundError):
        client.threads.get(thread_id)
    assert leaf_sets_holding(redis_client, thread_id) == []
    for key in [*KEYS.statuses, *KEYS.orders, KEYS.ttl()]:
        assert redis_client.zscore(key, thread_member(thread_id)) is None, key
    assert redis_client.hget(KEYS.metrics(), "expired|delete") == b"1"


def test_two_sweepers_expire_each_thread_once(redis_url: str, redis_client: redis.Redis) -> None:
    store = ThreadStore(redis_client, KEYS)
    for i in range(120):
        strategy = "delete" if i % 2 else "keep_latest"
        store.create(None, {"n": i}, ttl={"ttl": 1, "strategy": strategy})
    now = now_us(redis_client) + DAY
    start = threading.Barrier(2)
    clients = [redis.Redis.from_url(redis_url) for _ in range(2)]

    def sweep(client: redis.Redis) -> int:
        sweeper = ThreadStore(client, KEYS)
        start.wait()
        return expire_threads(sweeper, now)

    try:
        with ThreadPoolExecutor(2) as pool:
            counts = list(pool.map(sweep, clients))
    finally:
        for c in clients:
            c.close()

    assert sum(counts) == 120
    metrics = redis_client.hgetall(KEYS.metrics())
    assert metrics[b"expired|delete"] == b"60" and metrics[b"expired|keep_latest"] == b"60"
    assert redis_client.zcard(KEYS.order("created_at")) == 60  # the keep_latest ones
    # Every keep_latest thread waits a new TTL from this sweep.
    assert redis_client.zrangebyscore(KEYS.ttl(), "-inf", now) == []
    assert redis_client.zcard(KEYS.ttl()) == 60
    assert expire_threads(store, now) == 0
