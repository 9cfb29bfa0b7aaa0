"""lua/run_turn.lua: a thread's runs created here execute one at a time, in the order they
may start; whoever sees the holder end passes the turn on, atomically."""

from __future__ import annotations

import uuid

from fakeredis import FakeRedis

from tests.unit.helpers import KEYS, event
from threadwatch.store.runs import Turn
from threadwatch.store.stores import Stores


def new_id() -> str:
    return str(uuid.uuid4())


def admit(stores: Stores, thread_id: str) -> str:
    run_id = new_id()
    stores.runs.admit(event(thread_id, run_id, "run.pending"), reject_if_busy=False)
    return run_id


def waiting(redis: FakeRedis, thread_id: str) -> list[str]:
    return [r.decode() for r in redis.zrange(KEYS.thread_waiting(thread_id), 0, -1)]


def test_the_first_run_takes_the_turn_the_next_ones_wait_in_order(
    stores: Stores, fake_redis: FakeRedis
) -> None:
    thread_id = new_id()
    first, second, third = (admit(stores, thread_id) for _ in range(3))
    assert stores.runs.take_turn(thread_id, first) == Turn(thread_id, first)
    assert stores.runs.take_turn(thread_id, second) is None
    assert stores.runs.take_turn(thread_id, third) is None
    assert stores.runs.turn_of(thread_id)[0] == first
    assert waiting(fake_redis, thread_id) == [second, third]


def test_the_holder_passes_the_turn_to_the_next_waiting_run(
    stores: Stores, fake_redis: FakeRedis
) -> None:
    thread_id = new_id()
    first, second, third = (admit(stores, thread_id) for _ in range(3))
    for run_id in (first, second, third):
        stores.runs.take_turn(thread_id, run_id)
    assert stores.runs.pass_turn(thread_id, first) == Turn(thread_id, second)
    assert stores.runs.pass_turn(thread_id, first) is None  # passed once only
    assert stores.runs.pass_turn(thread_id, second) == Turn(thread_id, third)
    assert stores.runs.pass_turn(thread_id, third) is None
    assert stores.runs.turn_of(thread_id) == (None, None)
    assert not fake_redis.exists(KEYS.thread_waiting(thread_id))


def test_a_waiting_run_that_ends_leaves_the_line_without_taking_the_turn(
    stores: Stores, fake_redis: FakeRedis
) -> None:
    thread_id = new_id()
    first, second, third = (admit(stores, thread_id) for _ in range(3))
    for run_id in (first, second, third):
        stores.runs.take_turn(thread_id, run_id)
    assert stores.runs.pass_turn(thread_id, second) is None  # cancelled while waiting
    assert stores.runs.turn_of(thread_id)[0] == first
    assert stores.runs.pass_turn(thread_id, first) == Turn(thread_id, third)


def test_only_a_pending_run_of_the_thread_can_take_the_turn(
    stores: Stores, fake_redis: FakeRedis
) -> None:
    thread_id, other = new_id(), new_id()
    run_id = admit(stores, thread_id)
    assert stores.runs.take_turn(other, run_id) is None  # another thread's run
    assert stores.runs.take_turn(thread_id, new_id()) is None  # no such run
    stores.runs.apply([event(thread_id, run_id, "run.cancelled")])
    assert stores.runs.take_turn(thread_id, run_id) is None  # ended
    assert stores.runs.turn_of(thread_id) == (None, None)
    assert not fake_redis.exists(KEYS.thread_waiting(thread_id))


def test_taking_again_keeps_the_run_where_it_is(stores: Stores, fake_redis: FakeRedis) -> None:
    thread_id = new_id()
    first, second, third = (admit(stores, thread_id) for _ in range(3))
    for run_id in (first, second, third):
        stores.runs.take_turn(thread_id, run_id)
    assert stores.runs.take_turn(thread_id, first) == Turn(thread_id, first)
    assert stores.runs.take_turn(thread_id, second) is None
    assert waiting(fake_redis, thread_id) == [second, third]


def test_a_waiting_run_takes_a_turn_nobody_holds(stores: Stores, fake_redis: FakeRedis) -> None:
    thread_id = new_id()
    first, second = admit(stores, thread_id), admit(stores, thread_id)
    stores.runs.take_turn(thread_id, first)
    stores.runs.take_turn(thread_id, second)
    fake_redis.hdel(KEYS.thread(thread_id), "turn", "turn_at")  # as if never held
    assert stores.runs.take_turn(thread_id, second) == Turn(thread_id, second)
    assert waiting(fake_redis, thread_id) == []


def test_a_delayed_run_waits_in_start_order_and_keeps_its_delay(
    stores: Stores, fake_redis: FakeRedis
) -> None:
    thread_id = new_id()
    first, later, sooner = (admit(stores, thread_id) for _ in range(3))
    stores.runs.take_turn(thread_id, first)
    stores.runs.take_turn(thread_id, later, delay=60)
    stores.runs.take_turn(thread_id, sooner)
    assert waiting(fake_redis, thread_id) == [sooner, later]
    stores.runs.pass_turn(thread_id, first)
    turn = stores.runs.pass_turn(thread_id, sooner)
    assert turn is not None and turn.run_id == later
    assert 59 < turn.delay <= 60


def test_a_delayed_first_run_holds_the_turn_with_its_delay(stores: Stores) -> None:
    thread_id = new_id()
    run_id = admit(stores, thread_id)
    turn = stores.runs.take_turn(thread_id, run_id, delay=5)
    assert turn is not None and 4 < turn.delay <= 5


def test_ending_a_run_passes_the_turn_in_the_same_transaction(
    stores: Stores, fake_redis: FakeRedis
) -> None:
    thread_id = new_id()
    first, second = admit(stores, thread_id), admit(stores, thread_id)
    stores.runs.take_turn(thread_id, first)
    stores.runs.take_turn(thread_id, second)
    stores.runs.start(thread_id, first)
    applied, turn = stores.runs.end_run([], event(thread_id, first, "run.succeeded"))
    assert applied.result == "applied"
    assert turn == Turn(thread_id, second)
    assert stores.runs.turn_of(thread_id)[0] == second


def test_deleting_the_thread_deletes_its_line(stores: Stores, fake_redis: FakeRedis) -> None:
    thread_id = new_id()
    first, second = admit(stores, thread_id), admit(stores, thread_id)
    stores.runs.take_turn(thread_id, first)
    stores.runs.take_turn(thread_id, second)
    stores.threads.delete(thread_id)
    assert not fake_redis.exists(KEYS.thread_waiting(thread_id))
    assert stores.runs.pass_turn(thread_id, first) is None
    assert not fake_redis.exists(KEYS.thread(thread_id))  # not brought back


def test_the_replies(stores: Stores, fake_redis: FakeRedis) -> None:
    """{1, run id, µs before it may start} to queue, {0} to wait, {-1} a refused take."""
    thread_id = new_id()
    first, second = admit(stores, thread_id), admit(stores, thread_id)

    def call(op: str, run_id: str, delay_us: int = 0) -> list[object]:
        keys = [KEYS.thread(thread_id), KEYS.thread_waiting(thread_id), KEYS.run(run_id)]
        return stores.runs.scripts.lua_run_turn(keys=keys, args=[op, thread_id, run_id, delay_us])

    assert call("take", first, 2_000_000)[:2] == [1, first.encode()]
    assert 1_000_000 < int(call("take", first)[2]) <= 2_000_000  # keeps its start time
    assert call("take", second) == [0]
    assert call("take", new_id()) == [-1]
    assert call("pass", second) == [0]  # not the holder: leaves the line only
    assert call("pass", first) == [0]  # nobody waits any more
