"""lua/delete_thread.lua: a thread, its runs and every index entry go, or nothing (when its
metadata or runs changed since the caller read them). ThreadStore.delete retries on
ChangedSinceRead; tests/unit/test_threads_store.py checks that nothing of it is left."""

from __future__ import annotations

import uuid

import pytest
from fakeredis import FakeRedis

from tests.unit.helpers import KEYS, at, event
from threadwatch.errors import ThreadNotFound
from threadwatch.store.codec import thread_member
from threadwatch.store.scripts import ChangedSinceRead
from threadwatch.store.stores import Stores


def delete(stores: Stores, thread_id: str, read: str, run_ids: list[str]) -> None:
    leaf = KEYS.metadata_leaf('["team","a"]')
    keys = [
        KEYS.thread(thread_id),
        KEYS.thread_runs(thread_id),
        *KEYS.statuses,
        *KEYS.orders,
        KEYS.thread_transitions(thread_id),
        KEYS.leases(),
        KEYS.runs_in("pending"),
        KEYS.runs_in("running"),
        KEYS.ttl(),
        *KEYS.leaf_index,
        KEYS.thread_waiting(thread_id),
        leaf,
        *(KEYS.run(run_id) for run_id in run_ids),
    ]
    args = [thread_member(thread_id), read, 1, len(run_ids), *run_ids]
    stores.threads.scripts.delete_thread(thread_id, keys, args)


def test_deleted_with_its_runs_or_not_at_all(stores: Stores, fake_redis: FakeRedis) -> None:
    thread_id, run_id = str(uuid.uuid4()), str(uuid.uuid4())
    stores.threads.create(thread_id, {"team": "a"})
    stores.runs.apply([event(thread_id, run_id, "run.pending", at=at(1))])
    _, read, _ = stores.threads.read_metadata(thread_id)
    before = {key: fake_redis.dump(key) for key in fake_redis.keys()}
    with pytest.raises(ChangedSinceRead):
        delete(stores, thread_id, read, run_ids=[])  # a run the caller did not read
    with pytest.raises(ChangedSinceRead):
        delete(stores, thread_id, "stale", run_ids=[run_id])
    assert {key: fake_redis.dump(key) for key in fake_redis.keys()} == before
    delete(stores, thread_id, read, run_ids=[run_id])
    assert {key.decode() for key in fake_redis.keys()} == {KEYS.metrics(), KEYS.leaf_ids()}
    with pytest.raises(ThreadNotFound):
        delete(stores, thread_id, read, run_ids=[])
