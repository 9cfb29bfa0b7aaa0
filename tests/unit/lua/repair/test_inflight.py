"""lua/repair/inflight.lua (threadwatch doctor): a thread's runs in flight counted atomically,
and with "fix" its counter and status stored as they derive (lib/thread_status.lua). The
doctor's passes around it are in tests/unit/test_doctor.py."""

from __future__ import annotations

import uuid

import pytest
from fakeredis import FakeRedis

from tests.unit.helpers import KEYS, at, event, index_violations, leaf_holders, thread_hash
from threadwatch.store.codec import thread_member
from threadwatch.store.scripts import ChangedSinceRead, InFlight, RepairScripts
from threadwatch.store.stores import Stores


def inflight(redis: FakeRedis, thread_id: str, mode: str, runs: list[str]) -> InFlight | None:
    keys = [
        KEYS.thread(thread_id),
        KEYS.thread_runs(thread_id),
        *KEYS.statuses,
        *KEYS.leaf_index,
        *(KEYS.run(run_id) for run_id in runs),
    ]
    return RepairScripts(redis).inflight(keys, [thread_id, mode, thread_member(thread_id)])


def runs_of(redis: FakeRedis, thread_id: str) -> list[str]:
    return [r.decode() for r in redis.zrange(KEYS.thread_runs(thread_id), 0, -1)]


@pytest.fixture
def busy_thread(stores: Stores) -> str:
    """A busy thread in team a, its run pending, whose counter and status were lost."""
    thread_id = stores.threads.create(None, {"team": "a"})["thread_id"]
    stores.runs.apply(
        [
            event(thread_id, str(uuid.uuid4()), "run.failed", at=at(1)),
            event(thread_id, str(uuid.uuid4()), "run.pending", at=at(2)),
        ]
    )
    return thread_id


def corrupt_to_error(redis: FakeRedis, thread_id: str) -> None:
    """As if the counter and status had been lost: error, 0 in flight, indexed so."""
    h = thread_hash(redis, thread_id)
    member = thread_member(thread_id)
    redis.hset(KEYS.thread(thread_id), mapping={"status": "error", "inflight": 0})
    redis.zrem(KEYS.status("busy"), member)
    redis.zadd(KEYS.status("error"), {member: int(h["status_since"])})
    for leaf_id in h["leaves"].split():
        redis.smove(KEYS.leaf_set("busy", leaf_id), KEYS.leaf_set("error", leaf_id), member)


def test_check_counts_and_derives_without_writing(fake_redis: FakeRedis, busy_thread: str) -> None:
    corrupt_to_error(fake_redis, busy_thread)
    before = {key: fake_redis.dump(key) for key in fake_redis.keys()}
    counts = inflight(fake_redis, busy_thread, "check", runs_of(fake_redis, busy_thread))
    assert counts == InFlight(stored=0, counted=1, status="error", derived="busy")
    assert {key: fake_redis.dump(key) for key in fake_redis.keys()} == before


def test_fix_stores_the_count_and_moves_the_thread(fake_redis: FakeRedis, busy_thread: str) -> None:
    corrupt_to_error(fake_redis, busy_thread)
    history = fake_redis.lrange(KEYS.thread_transitions(busy_thread), 0, -1)
    inflight(fake_redis, busy_thread, "fix", runs_of(fake_redis, busy_thread))
    h = thread_hash(fake_redis, busy_thread)
    assert (h["status"], h["inflight"]) == ("busy", "1")
    assert h["status_since"] == str(round(at(2).timestamp() * 1e6))  # its earliest run in flight
    assert leaf_holders(fake_redis, '["team","a"]', "busy") == {busy_thread}
    assert fake_redis.lrange(KEYS.thread_transitions(busy_thread), 0, -1) == history
    assert index_violations(fake_redis) == []


def test_runs_changed_since_read_or_a_missing_thread(
    fake_redis: FakeRedis, busy_thread: str
) -> None:
    with pytest.raises(ChangedSinceRead):
        inflight(fake_redis, busy_thread, "fix", [])  # it has two runs
    assert inflight(fake_redis, str(uuid.uuid4()), "fix", []) is None
