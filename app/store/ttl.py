"""Thread TTL expiry: the sweeper's step that deletes (or prunes) the threads whose TTL ran out.

A thread with a TTL expires ``ttl_minutes`` after its last activity (``updated_at``: create,
patch, runs) or after its last ``keep_latest`` expiry (``ttl_pruned_at``), whichever is later
(``codec.ttl_expiry_us``). The ``ttl`` zset holds every such thread, scored by a lower bound
of that expiry: create_thread.lua and patch_thread.lua score it exactly, and runs only move
``updated_at`` forward, so a sweep reads just the due end of the zset and re-scores the
threads that were active since.

Busy threads (a run pending or running) are not expired: they are re-scored to now + TTL and
looked at again then; the run's end is activity, from which the TTL counts again. LangGraph's
own sweep gives no rule to copy here: the in-memory runtime's ``Threads.sweep_ttl`` does
nothing (langgraph-runtime-inmem 0.36.7) and the Postgres one is in the closed-source core;
Aegra, a LangGraph-compatible server, skips threads with pending or running runs the same way.
"""

from __future__ import annotations

from redis.client import Pipeline
from redis.exceptions import WatchError

from threadwatch.errors import ConcurrentUpdate, ThreadNotFound
from threadwatch.store.codec import redis_now_us, thread_id_of, ttl_expiry_us, ttl_us
from threadwatch.store.keys import Keys
from threadwatch.store.threads import ThreadStore

# Metrics hash field counting expired threads per strategy (see app/store/counters.py).
EXPIRED_FIELD = "expired|{}"
FIELDS = ("status", "updated_at", "ttl_minutes", "ttl_strategy", "ttl_pruned_at")
WATCH_ATTEMPTS = 10
DELETE, KEEP_LATEST = "delete", "keep_latest"


def expire_threads(threads: ThreadStore, now_us: int | None = None, limit: int = 1000) -> int:
    """Expire up to ``limit`` threads whose TTL ran out by ``now_us`` (default: the Redis
    server's clock, which stamps ``updated_at``); returns how many were expired.

    ``delete`` removes the thread with its runs, checkpoints and every index entry;
    ``keep_latest`` keeps only its latest checkpoint and starts its TTL again. Safe to run in
    several sweepers at once: each thread's decision is checked and written in one WATCH/MULTI
    transaction on its hash (a patch or run that touches the thread meanwhile makes it decide
    again), and of two sweepers deleting the same thread only one succeeds and counts it.
    A run created in the instant between the check and the delete is deleted with its thread,
    as with a client's DELETE.
    """
    redis, keys = threads.redis, threads.keys
    if now_us is None:
        now_us = redis_now_us(redis)
    due = redis.zrangebyscore(keys.ttl(), "-inf", now_us, start=0, num=limit)
    expired = 0
    for member in due:
        thread_id = thread_id_of(member)
        action = _settle(threads, thread_id, member, now_us)
        if action == KEEP_LATEST:
            threads.prune([thread_id], KEEP_LATEST)
        elif action == DELETE:
            try:
                threads.delete(thread_id)
            except (ThreadNotFound, ConcurrentUpdate):
                continue  # deleted by someone else, or contended: the next sweep decides
            redis.hincrby(keys.metrics(), EXPIRED_FIELD.format(DELETE), 1)
        else:
            continue
        expired += 1
    return expired


def _settle(threads: ThreadStore, thread_id: str, member: bytes, now_us: int) -> str | None:
    """Decide one candidate from its hash and write the decision in the same transaction:
    drop its ttl entry (gone, or no TTL any more), re-score it (not due yet, or busy), or
    claim a ``keep_latest`` expiry (counted here). Returns ``delete`` when the thread is due
    for deletion (left to ``ThreadStore.delete``), ``keep_latest`` when this call claimed a
    prune, else None (also when other writers kept changing the thread: the next sweep).
    ``member`` is the thread's ttl entry as read."""
    key = threads.keys.thread(thread_id)
    with threads.redis.pipeline() as pipe:
        for _ in range(WATCH_ATTEMPTS):
            try:
                pipe.watch(key)
                fields = dict(zip(FIELDS, pipe.hmget(key, FIELDS), strict=True))
                action = _decide(pipe, threads.keys, thread_id, member, fields, now_us)
                if action != DELETE:
                    pipe.execute()
                return action
            except WatchError:
                continue
    return None


def _decide(
    pipe: Pipeline,
    keys: Keys,
    thread_id: str,
    member: bytes,
    fields: dict[str, bytes | None],
    now_us: int,
) -> str | None:
    """Name the decision for one thread and queue its writes on ``pipe`` (in MULTI)."""
    expiry = ttl_expiry_us(fields)
    busy = fields["status"] == b"busy"
    keep_latest = fields["ttl_strategy"] == KEEP_LATEST.encode()
    if expiry is not None and expiry <= now_us and not busy and not keep_latest:
        return DELETE
    pipe.multi()
    if expiry is None:  # deleted, or its TTL removed
        pipe.zrem(keys.ttl(), member)
        return None
    if expiry > now_us:  # active since it was scored
        pipe.zadd(keys.ttl(), {member: expiry}, xx=True)
        return None
    pipe.zadd(keys.ttl(), {member: now_us + ttl_us(fields["ttl_minutes"] or 0)}, xx=True)
    if busy:
        return None
    pipe.hset(keys.thread(thread_id), "ttl_pruned_at", now_us)
    pipe.hincrby(keys.metrics(), EXPIRED_FIELD.format(KEEP_LATEST), 1)
    return KEEP_LATEST
