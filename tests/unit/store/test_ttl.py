"""Thread TTL expiry (app/store/ttl.py) and the ttl zset kept by create and patch."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fakeredis import FakeRedis
from langgraph.checkpoint.base import Checkpoint

from tests.unit.helpers import KEYS, event, index_violations, keyspace, leaf_holders, thread_hash
from threadwatch.errors import ThreadNotFound
from threadwatch.store import ttl as ttl_module
from threadwatch.store.codec import thread_member, us_to_iso
from threadwatch.store.metadata_index import metadata_leaves
from threadwatch.store.search import ThreadQuery
from threadwatch.store.stores import Stores
from threadwatch.store.ttl import expire_threads

MINUTE = 60_000_000
META = {"user": "u1", "tags": ["a", "b"]}


def new_id() -> str:
    return str(uuid.uuid4())


def ttl_score(redis: FakeRedis, thread_id: str) -> int | None:
    score = redis.zscore(KEYS.ttl(), thread_member(thread_id))
    return None if score is None else int(score)


def updated_at(redis: FakeRedis, thread_id: str) -> int:
    return int(thread_hash(redis, thread_id)["updated_at"])


def expired_count(redis: FakeRedis, strategy: str) -> int:
    return int(redis.hget(KEYS.metrics(), f"expired|{strategy}") or 0)


def create(stores: Stores, minutes: float, strategy: str = "delete", **kw: Any) -> str:
    thread = stores.threads.create(None, META, ttl={"ttl": minutes, "strategy": strategy}, **kw)
    return thread["thread_id"]


def put_checkpoints(stores: Stores, thread_id: str, n: int) -> None:
    """n checkpoints of the thread, each the child of the previous one."""
    saver = stores.threads.checkpoints
    parent = None
    for i in range(n):
        conf: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ""}
        if parent:
            conf["checkpoint_id"] = parent
        checkpoint = Checkpoint(
            v=1,
            id=f"c-{i:03d}",
            ts="2025-01-01T00:00:00+00:00",
            channel_values={"a": i},
            channel_versions={"a": i + 1},
            versions_seen={},
            updated_channels=None,
        )
        stored = saver.put({"configurable": conf}, checkpoint, {"step": i}, {"a": i + 1})
        parent = stored["configurable"]["checkpoint_id"]


def checkpoint_ids(stores: Stores, thread_id: str) -> list[str]:
    config = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    return [t.checkpoint["id"] for t in stores.threads.checkpoints.list(config)]


# -- the ttl zset --------------------------------------------------------------------------


def test_create_scores_the_thread_at_its_expiry(stores: Stores, fake_redis: FakeRedis) -> None:
    thread_id = create(stores, 1.5)
    plain = stores.threads.create()["thread_id"]
    expiry = updated_at(fake_redis, thread_id) + 90_000_000
    assert ttl_score(fake_redis, thread_id) == expiry
    assert ttl_score(fake_redis, plain) is None
    shown = stores.threads.get(thread_id, include_ttl=True)["ttl"]
    assert shown["expires_at"] == us_to_iso(expiry)


def test_patch_rescores_and_removing_the_ttl_unscores(
    stores: Stores, fake_redis: FakeRedis
) -> None:
    thread_id = stores.threads.create()["thread_id"]
    stores.threads.patch(thread_id, None, ttl={"ttl": 2})
    assert ttl_score(fake_redis, thread_id) == updated_at(fake_redis, thread_id) + 2 * MINUTE
    stores.threads.patch(thread_id, {"v": 1})  # activity: the TTL counts from the patch
    assert ttl_score(fake_redis, thread_id) == updated_at(fake_redis, thread_id) + 2 * MINUTE
    stores.threads.patch(thread_id, None, ttl={"ttl": 0})
    assert ttl_score(fake_redis, thread_id) is None
    assert expire_threads(stores.threads, updated_at(fake_redis, thread_id) + 10**12) == 0
    assert stores.threads.exists(thread_id)


def test_a_copy_has_no_ttl(stores: Stores, fake_redis: FakeRedis) -> None:
    copy = stores.threads.copy(create(stores, 1))["thread_id"]
    assert "ttl_minutes" not in thread_hash(fake_redis, copy)
    assert ttl_score(fake_redis, copy) is None


# -- delete --------------------------------------------------------------------------------


def test_an_expired_thread_leaves_every_index(stores: Stores, fake_redis: FakeRedis) -> None:
    doomed = create(stores, 1)
    kept = stores.threads.create(None, META)["thread_id"]
    run_id = new_id()
    stores.runs.apply([event(doomed, run_id, t) for t in ("run.pending", "run.succeeded")])
    expiry = updated_at(fake_redis, doomed) + MINUTE
    assert expire_threads(stores.threads, expiry - 1) == 0  # not due yet
    assert stores.threads.exists(doomed)

    assert expire_threads(stores.threads, expiry) == 1
    with pytest.raises(ThreadNotFound):
        stores.threads.get(doomed)
    assert not any(doomed in key for key in keyspace(fake_redis))  # runs, checkpoints, hash
    for key in [*KEYS.statuses, *KEYS.orders, KEYS.ttl()]:
        assert fake_redis.zscore(key, thread_member(doomed)) is None, key
    for leaf in metadata_leaves(META):
        assert leaf_holders(fake_redis, leaf) == {kept}
    found = stores.search.search(ThreadQuery(metadata={"user": "u1"}, limit=10)).threads
    assert [t["thread_id"] for t in found] == [kept]
    assert index_violations(fake_redis) == []
    assert expired_count(fake_redis, "delete") == 1

    assert expire_threads(stores.threads, expiry + 10 * MINUTE) == 0  # idempotent
    assert expired_count(fake_redis, "delete") == 1


def test_activity_after_scoring_postpones_the_expiry(stores: Stores, fake_redis: FakeRedis) -> None:
    thread_id = create(stores, 1)
    scored = ttl_score(fake_redis, thread_id)
    # A run moves updated_at, not the ttl zset: the sweep finds the thread early.
    later = updated_at(fake_redis, thread_id) + 30_000_000
    fake_redis.hset(KEYS.thread(thread_id), "updated_at", later)
    assert expire_threads(stores.threads, scored) == 0
    assert stores.threads.exists(thread_id)
    assert ttl_score(fake_redis, thread_id) == later + MINUTE
    assert expire_threads(stores.threads, later + MINUTE - 1) == 0
    assert expire_threads(stores.threads, later + MINUTE) == 1
    assert not stores.threads.exists(thread_id)


def test_a_busy_thread_waits_for_its_run(stores: Stores, fake_redis: FakeRedis) -> None:
    thread_id = create(stores, 1)
    run_id = new_id()
    stores.runs.apply([event(thread_id, run_id, "run.pending")])
    assert stores.threads.get(thread_id)["status"] == "busy"
    now = updated_at(fake_redis, thread_id) + 5 * MINUTE
    assert expire_threads(stores.threads, now) == 0
    assert stores.threads.exists(thread_id)
    assert ttl_score(fake_redis, thread_id) == now + MINUTE  # looked at again then

    stores.runs.apply([event(thread_id, run_id, "run.succeeded")])
    ended = updated_at(fake_redis, thread_id)  # the run's end is activity
    assert expire_threads(stores.threads, max(now + MINUTE, ended + MINUTE)) == 1
    assert not stores.threads.exists(thread_id)


def test_gone_or_ttl_less_entries_are_dropped(stores: Stores, fake_redis: FakeRedis) -> None:
    plain = stores.threads.create()["thread_id"]
    fake_redis.zadd(
        KEYS.ttl(),
        {thread_member(plain): 1, thread_member("00000000-0000-4000-8000-00000000dead"): 1},
    )
    assert expire_threads(stores.threads, 2) == 0
    assert fake_redis.zcard(KEYS.ttl()) == 0
    assert stores.threads.exists(plain)


def test_the_limit_bounds_one_sweep(stores: Stores, fake_redis: FakeRedis) -> None:
    ids = [create(stores, 1) for _ in range(5)]
    now = max(ttl_score(fake_redis, t) for t in ids)
    assert expire_threads(stores.threads, now, limit=3) == 3
    assert expire_threads(stores.threads, now, limit=3) == 2
    assert fake_redis.zcard(KEYS.ttl()) == 0


def test_a_thread_deleted_by_another_sweeper_is_not_counted(
    stores: Stores, fake_redis: FakeRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    thread_id = create(stores, 1)
    real_delete = stores.threads.delete

    def raced(tid: str) -> None:
        real_delete(tid)  # the other sweeper wins
        real_delete(tid)

    monkeypatch.setattr(stores.threads, "delete", raced)
    assert expire_threads(stores.threads, ttl_score(fake_redis, thread_id)) == 0
    assert expired_count(fake_redis, "delete") == 0
    assert not stores.threads.exists(thread_id)


# -- keep_latest ---------------------------------------------------------------------------


def test_keep_latest_keeps_the_thread_and_its_latest_checkpoint(
    stores: Stores, fake_redis: FakeRedis
) -> None:
    thread_id = create(stores, 1, "keep_latest")
    put_checkpoints(stores, thread_id, 3)
    now = ttl_score(fake_redis, thread_id)
    assert expire_threads(stores.threads, now) == 1
    assert stores.threads.exists(thread_id)
    assert checkpoint_ids(stores, thread_id) == ["c-002"]
    assert expired_count(fake_redis, "keep_latest") == 1
    # Its TTL starts again from this expiry.
    assert ttl_score(fake_redis, thread_id) == now + MINUTE
    shown = stores.threads.get(thread_id, include_ttl=True)["ttl"]
    assert shown["expires_at"] == us_to_iso(now + MINUTE)
    assert expire_threads(stores.threads, now + MINUTE - 1) == 0  # idempotent
    assert expired_count(fake_redis, "keep_latest") == 1

    put_checkpoints(stores, thread_id, 2)  # c-000, c-001 again, after c-002
    assert expire_threads(stores.threads, now + MINUTE) == 1
    assert expired_count(fake_redis, "keep_latest") == 2
    assert len(checkpoint_ids(stores, thread_id)) == 1
    assert index_violations(fake_redis) == []


def test_a_write_during_the_decision_makes_it_decide_again(
    stores: Stores, fake_redis: FakeRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    thread_id = create(stores, 1, "keep_latest")
    due = ttl_score(fake_redis, thread_id)
    real_decide = ttl_module._decide
    calls: list[int] = []

    def patched_meanwhile(*args: Any) -> Any:
        if not calls:
            stores.threads.patch(thread_id, {"v": 1})  # another client, after the read
        calls.append(1)
        return real_decide(*args)

    monkeypatch.setattr(ttl_module, "_decide", patched_meanwhile)
    assert expire_threads(stores.threads, due) == 0
    assert len(calls) == 2
    assert expired_count(fake_redis, "keep_latest") == 0
    assert "ttl_pruned_at" not in thread_hash(fake_redis, thread_id)
    assert ttl_score(fake_redis, thread_id) == updated_at(fake_redis, thread_id) + MINUTE


def test_an_entry_in_the_text_form_of_older_stores_is_swept(
    stores: Stores, fake_redis: FakeRedis
) -> None:
    """Stores written before 16-byte index members hold the id's text in the ttl zset: such
    an entry is decided like any other; once its thread is gone the next sweep drops it."""
    thread_id = create(stores, 1)
    member = thread_member(thread_id)
    score = fake_redis.zscore(KEYS.ttl(), member)
    fake_redis.zrem(KEYS.ttl(), member)
    fake_redis.zadd(KEYS.ttl(), {thread_id.encode(): score})
    later = updated_at(fake_redis, thread_id) + 2 * MINUTE
    assert expire_threads(stores.threads, later) == 1
    assert not stores.threads.exists(thread_id)
    assert expire_threads(stores.threads, later) == 0
    assert fake_redis.zcard(KEYS.ttl()) == 0
