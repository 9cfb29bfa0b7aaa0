"""The rules in lua/lib/ that several scripts share, run on their own: the clock, leases and
the thread status (derivation and moves). The scripts' own tests run them in context."""

from __future__ import annotations

import time

import pytest
from fakeredis import FakeRedis

from tests.unit.lua.helpers import run_lua

CLOCK, LEASES, STATUS = "lib/clock.lua", "lib/leases.lua", "lib/thread_status.lua"


def test_now_is_read_once_per_call(fake_redis: FakeRedis) -> None:
    first, again, later = run_lua(
        fake_redis, (CLOCK,), "return {now_us(), now_us(), after_us(2500)}"
    )
    assert first == again
    assert int(later) == int(first) + 2500
    assert abs(int(first) / 1e6 - time.time()) < 5


@pytest.mark.parametrize(
    ("expiry_from_now", "ran_out"), [(-1, 1), (0, 1), (10_000_000, None), (None, None)]
)
def test_a_lease_runs_out_at_its_expiry(
    fake_redis: FakeRedis, expiry_from_now: int | None, ran_out: int | None
) -> None:
    # Lua's true comes back as 1, false as nil.
    snippet = """
    if ARGV[1] ~= '' then redis.call('ZADD', 'leases', after_us(tonumber(ARGV[1])), 'r1') end
    return lease_ran_out('leases', 'r1')
    """
    arg = "" if expiry_from_now is None else expiry_from_now
    assert run_lua(fake_redis, (LEASES,), snippet, arg) == ran_out


DERIVE = """
local status, since = derive_status(tonumber(ARGV[1]), ARGV[2] ~= '' and ARGV[2] or false,
  ARGV[3] ~= '' and ARGV[3] or false, '100', ARGV[4], '200', '300')
return {status, since}
"""


@pytest.mark.parametrize(
    ("inflight", "outcome", "version", "old_status", "expected"),
    [
        (1, "", "", "busy", [b"busy", b"200"]),  # busy already: since it became busy
        (2, "error", "", "idle", [b"busy", b"300"]),  # becomes busy: since the event
        (0, "error", "0001700000000000|r1", "busy", [b"error", b"1700000000000"]),
        (0, "interrupted", "0000000000000042|~state", "idle", [b"interrupted", b"42"]),
        (0, "", "", "busy", [b"idle", b"100"]),  # no outcome yet: idle since created
    ],
)
def test_status_derivation(
    fake_redis: FakeRedis,
    inflight: int,
    outcome: str,
    version: str,
    old_status: str,
    expected: list[bytes],
) -> None:
    reply = run_lua(fake_redis, (STATUS,), DERIVE, inflight, outcome, version, old_status)
    assert reply == expected


MOVE = """
use_thread_status('s:idle', 's:busy', 's:interrupted', 's:error', 2)
use_leaf_index('ids', 'leaves:')
local from = ARGV[1] ~= '' and ARGV[1] or false
local placed = move_thread('m', '7', from, ARGV[2], ARGV[3], ARGV[4], 'history', 'run-1')
flush_leaf_moves()
flush_counts('metrics')
return placed or 'unchanged'
"""


def test_moving_a_thread_moves_its_entries_and_records_the_change(fake_redis: FakeRedis) -> None:
    fake_redis.zadd("s:busy", {"m": 10})
    fake_redis.sadd("leaves:busy:7", "m")
    assert run_lua(fake_redis, (STATUS,), MOVE, "busy", "10", "error", "20") == b"20"
    assert fake_redis.zscore("s:error", "m") == 20
    assert fake_redis.zscore("s:busy", "m") is None
    assert fake_redis.smembers("leaves:error:7") == {b"m"}
    assert not fake_redis.exists("leaves:busy:7")
    assert fake_redis.lrange("history", 0, -1) == [b"20|busy|error|run-1"]
    assert fake_redis.hget("metrics", "transitions|busy|error") == b"1"


def test_a_new_thread_gets_its_first_status_from_none(fake_redis: FakeRedis) -> None:
    fake_redis.sadd("leaves:idle:7", "m")  # where a new thread's leaves start
    assert run_lua(fake_redis, (STATUS,), MOVE, "", "", "busy", "5") == b"5"
    assert fake_redis.zscore("s:busy", "m") == 5
    assert fake_redis.smembers("leaves:busy:7") == {b"m"}
    assert fake_redis.lrange("history", 0, -1) == [b"5||busy|run-1"]
    assert not fake_redis.hexists("metrics", "transitions||busy")  # a first status: uncounted


def test_the_same_status_since_the_same_time_moves_nothing(fake_redis: FakeRedis) -> None:
    fake_redis.zadd("s:idle", {"m": 10})
    assert run_lua(fake_redis, (STATUS,), MOVE, "idle", "10", "idle", "10") == b"unchanged"
    assert run_lua(fake_redis, (STATUS,), MOVE, "idle", "10", "idle", "11") == b"11"
    assert fake_redis.zscore("s:idle", "m") == 11
    assert not fake_redis.exists("history")  # the status did not change


def test_the_history_keeps_its_limit(fake_redis: FakeRedis) -> None:
    for i, (old, new) in enumerate([("idle", "busy"), ("busy", "idle"), ("idle", "busy")]):
        run_lua(fake_redis, (STATUS,), MOVE, old, str(i), new, str(i + 1))
    assert fake_redis.lrange("history", 0, -1) == [b"3|idle|busy|run-1", b"2|busy|idle|run-1"]
