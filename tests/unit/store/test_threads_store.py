"""ThreadStore: create, get, patch, delete, copy, prune, TTL, and the index entries of each."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from fakeredis import FakeRedis

from tests.unit.helpers import (
    KEYS,
    at,
    event,
    index_violations,
    keyspace,
    leaf_holders,
    thread_hash,
    us,
)
from threadwatch.errors import ConcurrentUpdate, ThreadExists, ThreadNotFound
from threadwatch.store import threads as threads_module
from threadwatch.store.codec import materialize, thread_member, us_to_iso
from threadwatch.store.keys import SORT_FIELDS
from threadwatch.store.metadata_index import metadata_leaves
from threadwatch.store.stores import Stores
from threadwatch.store.threads import ThreadStore

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")
THREAD_FIELDS = {
    "thread_id",
    "created_at",
    "updated_at",
    "state_updated_at",
    "metadata",
    "status",
    "config",
    "values",
    "interrupts",
    "error",
    "status_since",
}
META = {"user": "u1", "tags": ["a", "b"], "nested": {"x": 1, "y": 2}}


def new_id() -> str:
    return str(uuid.uuid4())


def leaf_members(redis: FakeRedis, leaf: str) -> set[str]:
    return leaf_holders(redis, leaf)


def status_sets_of(redis: FakeRedis, thread_id: str) -> list[str]:
    return [key for key in KEYS.statuses if redis.zscore(key, thread_member(thread_id)) is not None]


def backdate(redis: FakeRedis, thread_id: str, field: str, when: int) -> None:
    """Move a thread's timestamp (hash and order index) into the past."""
    redis.hset(KEYS.thread(thread_id), field, when)
    redis.zadd(KEYS.order(field), {thread_member(thread_id): when})


# -- create ----------------------------------------------------------------------------------


def test_create_defaults(stores: Stores) -> None:
    thread = materialize(stores.threads.create())
    assert set(thread) == THREAD_FIELDS
    assert uuid.UUID(thread["thread_id"]).version == 7
    assert thread["metadata"] == {} and thread["config"] == {}
    assert thread["values"] is None and thread["error"] is None and thread["interrupts"] == {}
    assert thread["status"] == "idle"
    times = {thread[f] for f in ("created_at", "updated_at", "state_updated_at", "status_since")}
    assert len(times) == 1 and ISO.match(times.pop())
    assert stores.threads.get(thread["thread_id"]) == stores.threads.create(
        thread["thread_id"], if_exists="do_nothing"
    )


def test_create_stores_what_it_is_given(stores: Stores) -> None:
    thread_id = new_id()
    thread = materialize(
        stores.threads.create(thread_id, META, config={"c": 1}, values={"messages": []})
    )
    assert thread["thread_id"] == thread_id
    assert thread["metadata"] == META
    assert thread["config"] == {"c": 1}
    assert thread["values"] == {"messages": []}
    assert materialize(stores.threads.get(thread_id)) == thread


def test_create_indexes_the_thread(stores: Stores, fake_redis: FakeRedis) -> None:
    thread_id = new_id()
    thread = stores.threads.create(thread_id, META)
    created = us(thread["created_at"])
    assert status_sets_of(fake_redis, thread_id) == [KEYS.status("idle")]
    assert fake_redis.zscore(KEYS.status("idle"), thread_member(thread_id)) == created
    for field in SORT_FIELDS:
        want = 0 if field == "thread_id" else created
        assert fake_redis.zscore(KEYS.order(field), thread_member(thread_id)) == want
    for leaf in metadata_leaves(META):
        assert leaf_holders(fake_redis, leaf, "idle") == {thread_id}
    leaf_keys = {k for k in keyspace(fake_redis) if k.startswith(KEYS.leaf_set_prefix)}
    assert len(leaf_keys) == len(metadata_leaves(META))
    assert all(k.startswith(KEYS.leaf_set_prefix + "idle:") for k in leaf_keys)
    assert index_violations(fake_redis) == []


def test_create_existing_raises(stores: Stores) -> None:
    thread_id = new_id()
    stores.threads.create(thread_id, {"v": 1})
    with pytest.raises(ThreadExists) as raised:
        stores.threads.create(thread_id, {"v": 2})
    assert raised.value.status_code == 409
    assert raised.value.detail == f"Thread with ID {thread_id} already exists"
    assert materialize(stores.threads.get(thread_id))["metadata"] == {"v": 1}


def test_create_existing_do_nothing_returns_it_unchanged(
    stores: Stores, fake_redis: FakeRedis
) -> None:
    thread_id = new_id()
    first = stores.threads.create(thread_id, {"v": 1})
    before = {key: fake_redis.dump(key) for key in keyspace(fake_redis)}
    again = stores.threads.create(thread_id, {"v": 2, "w": 3}, if_exists="do_nothing")
    assert again == first
    assert {key: fake_redis.dump(key) for key in keyspace(fake_redis)} == before


# -- get -------------------------------------------------------------------------------------


def test_get_missing_raises(stores: Stores) -> None:
    missing = new_id()
    with pytest.raises(ThreadNotFound) as raised:
        stores.threads.get(missing)
    assert raised.value.status_code == 404
    assert raised.value.detail == f"Thread with ID {missing} not found"


def test_get_many_keeps_order_and_skips_missing(stores: Stores) -> None:
    a, b = stores.threads.create()["thread_id"], stores.threads.create()["thread_id"]
    got = stores.threads.get_many([b, new_id(), a])
    assert [t["thread_id"] for t in got] == [b, a]


# -- patch -----------------------------------------------------------------------------------


def test_patch_merges_top_level_keys_only(stores: Stores) -> None:
    thread_id = stores.threads.create(None, META)["thread_id"]
    patched = stores.threads.patch(thread_id, {"nested": {"z": 3}, "new": None})
    want = {"user": "u1", "tags": ["a", "b"], "nested": {"z": 3}, "new": None}
    assert materialize(patched)["metadata"] == want
    assert materialize(stores.threads.get(thread_id))["metadata"] == want


def test_patch_moves_the_leaf_sets(stores: Stores, fake_redis: FakeRedis) -> None:
    patched_id = stores.threads.create(None, {"team": "red", "n": 1})["thread_id"]
    other_id = stores.threads.create(None, {"team": "red", "n": 1})["thread_id"]
    stores.threads.patch(patched_id, {"team": "blue"})
    assert leaf_members(fake_redis, '["team","red"]') == {other_id}
    assert leaf_members(fake_redis, '["team","blue"]') == {patched_id}
    assert leaf_members(fake_redis, '["n",1]') == {patched_id, other_id}
    stores.threads.patch(other_id, {"team": "green"})
    # A leaf no thread holds any more gives up its id (and has no set).
    assert fake_redis.hget(KEYS.leaf_ids(), KEYS.metadata_leaf('["team","red"]')) is None
    assert index_violations(fake_redis) == []


def test_patch_bumps_updated_at_only(stores: Stores, fake_redis: FakeRedis) -> None:
    thread_id = stores.threads.create(None, {"v": 1})["thread_id"]
    past = us(at(0))
    for field in ("updated_at", "state_updated_at"):
        backdate(fake_redis, thread_id, field, past)
    status_since = thread_hash(fake_redis, thread_id)["status_since"]
    patched = stores.threads.patch(thread_id, {"v": 2})
    assert us(patched["updated_at"]) > past
    assert us(patched["state_updated_at"]) == past
    assert fake_redis.zscore(KEYS.order("updated_at"), thread_member(thread_id)) == us(
        patched["updated_at"]
    )
    assert fake_redis.zscore(KEYS.order("state_updated_at"), thread_member(thread_id)) == past
    assert thread_hash(fake_redis, thread_id)["status_since"] == status_since
    assert patched["status"] == "idle"


def test_empty_patch_changes_nothing_but_updated_at(stores: Stores, fake_redis: FakeRedis) -> None:
    thread_id = stores.threads.create(None, {"v": 1})["thread_id"]
    backdate(fake_redis, thread_id, "updated_at", us(at(0)))
    before = thread_hash(fake_redis, thread_id)
    stores.threads.patch(thread_id, {})
    after = thread_hash(fake_redis, thread_id)
    assert int(after.pop("updated_at")) > int(before.pop("updated_at"))
    assert after == before  # metadata and its version token untouched


def test_patch_keeps_status_and_state(stores: Stores) -> None:
    thread_id, run_id = new_id(), new_id()
    stores.runs.apply([event(thread_id, run_id, "run.failed", at=at(1), values={"x": 1})])
    patched = materialize(stores.threads.patch(thread_id, {"user": "u2"}))
    assert patched["status"] == "error"
    assert patched["values"] == {"x": 1}
    assert patched["error"] == {"error": "RunError", "message": "The run failed"}


def test_patch_missing_raises(stores: Stores) -> None:
    with pytest.raises(ThreadNotFound):
        stores.threads.patch(new_id(), {"v": 1})


def test_patch_retries_when_metadata_changed_meanwhile(
    stores: Stores, fake_redis: FakeRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    thread_id = stores.threads.create(None, {"a": 1})["thread_id"]
    real_read = stores.threads.read_metadata
    calls = []

    def read_then_race(tid: str) -> tuple[dict[str, Any], str, bool]:
        got = real_read(tid)
        if not calls:  # another writer slips in between the first read and the write
            ThreadStore(fake_redis, KEYS).patch(tid, {"b": 2})
        calls.append(tid)
        return got

    monkeypatch.setattr(stores.threads, "read_metadata", read_then_race)
    patched = stores.threads.patch(thread_id, {"c": 3})
    assert len(calls) == 2
    assert materialize(patched)["metadata"] == {"a": 1, "b": 2, "c": 3}
    assert index_violations(fake_redis) == []


def test_patch_gives_up_after_repeated_conflicts(
    stores: Stores, fake_redis: FakeRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    thread_id = stores.threads.create(None, {"a": 1})["thread_id"]
    stale = stores.threads.read_metadata(thread_id)
    stores.threads.patch(thread_id, {"a": 2})
    monkeypatch.setattr(stores.threads, "read_metadata", lambda _: stale)
    with pytest.raises(ConcurrentUpdate):
        stores.threads.patch(thread_id, {"a": 3})
    assert materialize(stores.threads.get(thread_id))["metadata"] == {"a": 2}


# -- delete ----------------------------------------------------------------------------------


def test_delete_removes_every_key_and_index_entry(stores: Stores, fake_redis: FakeRedis) -> None:
    thread_id = stores.threads.create(None, META)["thread_id"]
    run_a, run_b = new_id(), new_id()
    stores.runs.apply(
        [
            event(thread_id, run_a, "run.succeeded", at=at(1), metadata={"graph_id": "g"}),
            event(thread_id, run_b, "run.pending", at=at(2)),
        ]
    )
    assert fake_redis.zscore(KEYS.leases(), run_b) is not None
    stores.threads.delete(thread_id)
    # Only the process-wide counters and the leaf id registry's own fields outlive it.
    assert keyspace(fake_redis) == {KEYS.metrics(), KEYS.leaf_ids()}
    assert set(fake_redis.hkeys(KEYS.leaf_ids())) == {b"#next", b"#sets"}


def test_delete_leaves_other_threads_alone(stores: Stores, fake_redis: FakeRedis) -> None:
    kept = stores.threads.create(None, META)["thread_id"]
    stores.runs.apply([event(kept, new_id(), "run.started", at=at(1))])
    counters = KEYS.metrics()  # process-wide: the doomed thread's events count there
    before = {key: fake_redis.dump(key) for key in keyspace(fake_redis) - {counters}}
    doomed = stores.threads.create(None, META)["thread_id"]
    stores.runs.apply([event(doomed, new_id(), "run.interrupted", at=at(2))])
    stores.threads.delete(doomed)
    assert {key: fake_redis.dump(key) for key in keyspace(fake_redis) - {counters}} == before


def test_delete_missing_raises(stores: Stores) -> None:
    with pytest.raises(ThreadNotFound):
        stores.threads.delete(new_id())


def test_delete_retries_when_a_run_was_added_meanwhile(
    stores: Stores, fake_redis: FakeRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    thread_id = stores.threads.create()["thread_id"]
    real_zrange = fake_redis.zrange
    raced = []

    def zrange_then_race(*args: Any, **kwargs: Any) -> Any:
        got = real_zrange(*args, **kwargs)
        if not raced:
            raced.append(True)
            stores.runs.apply([event(thread_id, new_id(), "run.pending", at=at(1))])
        return got

    monkeypatch.setattr(fake_redis, "zrange", zrange_then_race)
    stores.threads.delete(thread_id)
    monkeypatch.undo()
    assert keyspace(fake_redis) == {KEYS.metrics(), KEYS.leaf_ids()}


# -- copy and prune --------------------------------------------------------------------------


def test_copy_is_a_new_idle_thread_with_metadata_and_values(
    stores: Stores, fake_redis: FakeRedis
) -> None:
    source = stores.threads.create(None, META)["thread_id"]
    stores.runs.apply([event(source, new_id(), "run.failed", at=at(1), values={"step": 3})])
    copy = materialize(stores.threads.copy(source))
    assert copy["thread_id"] != source
    assert copy["metadata"] == META and copy["values"] == {"step": 3}
    assert copy["status"] == "idle" and copy["error"] is None and copy["interrupts"] == {}
    assert copy["config"] == {}
    assert materialize(stores.threads.get(source))["status"] == "error"
    assert stores.runs.list(copy["thread_id"]) == []
    assert index_violations(fake_redis) == []


def test_copy_missing_raises(stores: Stores) -> None:
    with pytest.raises(ThreadNotFound):
        stores.threads.copy(new_id())


def test_prune_deletes_the_given_threads(stores: Stores, fake_redis: FakeRedis) -> None:
    a, b, kept = (stores.threads.create(None, META)["thread_id"] for _ in range(3))
    assert stores.threads.prune([a, b, a, new_id()]) == 2
    assert [t["thread_id"] for t in stores.threads.get_many([a, b, kept])] == [kept]
    assert index_violations(fake_redis) == []
    assert stores.threads.prune([]) == 0


def test_prune_keep_latest_keeps_the_threads(stores: Stores) -> None:
    a = stores.threads.create()["thread_id"]
    assert stores.threads.prune([a, new_id()], strategy="keep_latest") == 1
    assert stores.threads.exists(a)


# -- TTL -------------------------------------------------------------------------------------


def test_ttl_is_stored_and_shown_on_request(stores: Stores, fake_redis: FakeRedis) -> None:
    thread_id = stores.threads.create(None, ttl={"ttl": 60, "strategy": "keep_latest"})["thread_id"]
    assert "ttl" not in stores.threads.get(thread_id)
    h = thread_hash(fake_redis, thread_id)
    assert (h["ttl_minutes"], h["ttl_strategy"]) == ("60", "keep_latest")
    shown = stores.threads.get(thread_id, include_ttl=True)
    assert shown["ttl"] == {
        "strategy": "keep_latest",
        "ttl_minutes": 60,
        "expires_at": us_to_iso(int(h["updated_at"]) + 60 * 60_000_000),
    }


def test_no_ttl_shows_as_null(stores: Stores) -> None:
    thread_id = stores.threads.create()["thread_id"]
    assert stores.threads.get(thread_id, include_ttl=True)["ttl"] is None


def test_patch_sets_and_removes_the_ttl(stores: Stores) -> None:
    thread_id = stores.threads.create(None, {"v": 1})["thread_id"]
    stores.threads.patch(thread_id, None, ttl={"ttl": 1.5})
    ttl = stores.threads.get(thread_id, include_ttl=True)["ttl"]
    assert ttl["ttl_minutes"] == 1.5 and ttl["strategy"] == "delete"
    stores.threads.patch(thread_id, {"v": 2})  # a metadata patch keeps the TTL
    assert stores.threads.get(thread_id, include_ttl=True)["ttl"]["ttl_minutes"] == 1.5
    stores.threads.patch(thread_id, None, ttl={"ttl": 0})
    assert stores.threads.get(thread_id, include_ttl=True)["ttl"] is None


def test_read_metadata(stores: Stores) -> None:
    thread_id = stores.threads.create(None, {"v": 1})["thread_id"]
    metadata, version, exists = stores.threads.read_metadata(thread_id)
    assert (metadata, exists) == ({"v": 1}, True)
    stores.threads.patch(thread_id, {"v": 2})
    assert stores.threads.read_metadata(thread_id)[1] != version
    assert stores.threads.read_metadata(new_id()) == ({}, threads_module.EMPTY_VERSION, False)
