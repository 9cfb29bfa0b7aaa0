"""RedisSaver.group_commit: a run's async puts wait in a WriteBuffer and go out together
(before a read, after the delay, at the end of the block); nothing is lost or reordered."""

from __future__ import annotations

import asyncio
from typing import Any

import fakeredis
import pytest
import redis

from tests.unit.store.checkpoints.test_checkpoints import checkpoint, config
from threadwatch.store.checkpoints import RedisSaver
from threadwatch.store.checkpoints.write_batch import WriteBatch
from threadwatch.store.checkpoints.write_buffer import WriteBuffer


@pytest.fixture
def fake_redis() -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis(server=fakeredis.FakeServer())


@pytest.fixture
def saver(fake_redis: fakeredis.FakeRedis) -> RedisSaver:
    return RedisSaver(fake_redis, inline=True)


def commands(batch: WriteBatch) -> list[str]:
    """The batch's commands, comparable (as their reprs)."""
    return [repr(command) for command in batch]


async def put_two(saver: RedisSaver) -> Any:
    first = await saver.aput(config("t"), checkpoint("c-1", {"a": 1}, a=1), {"step": 0}, {"a": 1})
    second = await saver.aput(first, checkpoint("c-2", {"a": 2}, a=2), {"step": 1}, {"a": 2})
    await saver.aput_writes(second, [("a", 3)], "task")
    return second


def test_writes_wait_for_the_end_of_the_block(
    saver: RedisSaver, fake_redis: fakeredis.FakeRedis
) -> None:
    async def scenario() -> None:
        with saver.group_commit(delay=60) as buffer:
            await put_two(saver)
            assert fake_redis.keys("*") == []  # nothing written yet
            assert buffer.batch
        assert not buffer.batch

    asyncio.run(scenario())
    got = saver.get_tuple(config("t"))
    assert got.checkpoint["id"] == "c-2"
    assert got.parent_config["configurable"]["checkpoint_id"] == "c-1"
    assert got.pending_writes == [("task", "a", 3)]


def test_a_read_sees_the_queued_writes(saver: RedisSaver) -> None:
    async def scenario() -> None:
        with saver.group_commit(delay=60) as buffer:
            await put_two(saver)
            got = await saver.aget_tuple(config("t"))
            assert not buffer.batch
            assert got.checkpoint["id"] == "c-2"
            assert [c.checkpoint["id"] async for c in saver.alist(config("t"))] == ["c-2", "c-1"]

    asyncio.run(scenario())


def test_queued_writes_go_out_after_the_delay(
    saver: RedisSaver, fake_redis: fakeredis.FakeRedis
) -> None:
    async def scenario() -> None:
        with saver.group_commit(delay=0.01):
            await put_two(saver)
            await asyncio.sleep(0.1)
            assert saver.get_tuple(config("t")).checkpoint["id"] == "c-2"  # sync: no flush

    asyncio.run(scenario())


def test_writes_after_the_block_are_not_queued(saver: RedisSaver) -> None:
    async def late() -> None:  # a task started inside the block, writing after it
        await saver.aput(config("late"), checkpoint("c-9"), {}, {})

    async def scenario() -> None:
        with saver.group_commit(delay=60) as buffer:
            task = asyncio.get_running_loop().create_task(late())
        await task
        assert buffer.closed and not buffer.batch
        assert saver.get_tuple(config("late")).checkpoint["id"] == "c-9"

    asyncio.run(scenario())


def test_a_failed_flush_keeps_the_writes_for_the_next(
    saver: RedisSaver, fake_redis: fakeredis.FakeRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> None:
        with saver.group_commit(delay=60) as buffer:
            await put_two(saver)
            queued = commands(buffer.batch)
            real = fake_redis.pipeline

            def broken(*args: Any, **kwargs: Any) -> Any:
                raise redis.ConnectionError("Redis went away")

            monkeypatch.setattr(fake_redis, "pipeline", broken)
            with pytest.raises(redis.ConnectionError):
                buffer.flush()
            assert commands(buffer.batch) == queued
            monkeypatch.setattr(fake_redis, "pipeline", real)

    asyncio.run(scenario())
    assert saver.get_tuple(config("t")).checkpoint["id"] == "c-2"


def test_only_write_only_operations_can_be_queued(saver: RedisSaver) -> None:
    async def scenario() -> None:
        buffer = WriteBuffer(saver.redis, delay=60)
        with pytest.raises(TypeError):
            buffer.queue(saver._get_tuple_op(config("t")))

    asyncio.run(scenario())
