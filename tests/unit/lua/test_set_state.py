"""lua/set_state.lua: a thread's state changed outside any run (POST /threads/{id}/state);
its values, interrupts and status follow, atomically. ThreadStore.set_state raises
ThreadNotFound for its {0} and ThreadBusy for its {-1}."""

from __future__ import annotations

import uuid

import orjson
import pytest
from fakeredis import FakeRedis

from tests.unit.helpers import KEYS, at, event, index_violations, leaf_holders, thread_hash
from threadwatch.errors import ThreadBusy, ThreadNotFound
from threadwatch.store.codec import thread_member
from threadwatch.store.stores import Stores


def new_id() -> str:
    return str(uuid.uuid4())


def test_an_interrupting_state_moves_the_thread(stores: Stores, fake_redis: FakeRedis) -> None:
    thread_id = stores.threads.create(None, {"team": "a"})["thread_id"]
    thread = stores.threads.set_state(thread_id, {"v": 1}, {"node": [1]}, interrupted=True)
    h = thread_hash(fake_redis, thread_id)
    assert thread["status"] == h["status"] == "interrupted"
    assert h["outcome"] == "interrupted" and h["error"] == "null"
    assert orjson.loads(h["values"]) == {"v": 1}
    assert h["values_version"] == h["outcome_version"] == f"{h['status_since']:0>16}|~state"
    assert fake_redis.zscore(KEYS.status("interrupted"), thread_member(thread_id)) == int(
        h["status_since"]
    )
    assert leaf_holders(fake_redis, '["team","a"]', "interrupted") == {thread_id}
    entry = fake_redis.lindex(KEYS.thread_transitions(thread_id), 0).decode()
    assert entry == f"{h['status_since']}|idle|interrupted|"
    assert fake_redis.hget(KEYS.metrics(), "transitions|idle|interrupted") == b"1"
    assert index_violations(fake_redis) == []


def test_the_same_status_is_held_since_the_update(stores: Stores, fake_redis: FakeRedis) -> None:
    thread_id = stores.threads.create()["thread_id"]
    created = thread_hash(fake_redis, thread_id)["status_since"]
    stores.threads.set_state(thread_id, {"v": 2}, {}, interrupted=False)
    h = thread_hash(fake_redis, thread_id)
    assert h["status"] == "idle" and int(h["status_since"]) > int(created)
    assert fake_redis.zscore(KEYS.status("idle"), thread_member(thread_id)) == int(
        h["status_since"]
    )
    assert not fake_redis.exists(KEYS.thread_transitions(thread_id))  # no status change


def test_a_busy_or_missing_thread_is_refused(stores: Stores, fake_redis: FakeRedis) -> None:
    thread_id = new_id()
    stores.runs.apply([event(thread_id, new_id(), "run.started", at=at(1))])
    before = {key: fake_redis.dump(key) for key in fake_redis.keys()}
    with pytest.raises(ThreadBusy):
        stores.threads.set_state(thread_id, {"v": 1}, {}, interrupted=False)
    with pytest.raises(ThreadNotFound):
        stores.threads.set_state(new_id(), {"v": 1}, {}, interrupted=False)
    assert {key: fake_redis.dump(key) for key in fake_redis.keys()} == before


def test_a_watched_thread_streams_the_update(stores: Stores, fake_redis: FakeRedis) -> None:
    thread_id = stores.threads.create()["thread_id"]
    stores.threads.set_state(thread_id, {"v": 1}, {}, interrupted=False)
    assert not fake_redis.exists(KEYS.thread_stream(thread_id))  # nobody watches
    stores.threads.watch(thread_id, 60)
    stores.threads.set_state(thread_id, {"v": 2}, {}, interrupted=False, state={"values": 2})
    [(_, entry)] = fake_redis.xrange(KEYS.thread_stream(thread_id))
    assert entry[b"event"] == b"state_update"
    assert orjson.loads(entry[b"data"]) == {"state": {"values": 2}, "thread_id": thread_id}
