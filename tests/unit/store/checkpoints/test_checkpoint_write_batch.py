"""WriteBatch: a put's writes by key, merged in a group commit into one command per key and
kind; the merged flush leaves Redis exactly as the unmerged writes do."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any

import fakeredis
import pytest
import redis
from langgraph.checkpoint.base import ERROR

from tests.unit.store.checkpoints.test_checkpoints import checkpoint, config
from threadwatch.store.checkpoints import RedisSaver
from threadwatch.store.checkpoints import drivers as drivers_module
from threadwatch.store.checkpoints.steps import WRITE
from threadwatch.store.checkpoints.write_batch import WriteBatch

OUTPUT_KEY = "tw:run:r-1:output"
KINDS = ["hset", "hsetnx", "sadd", "zadd", "set"]


def contents(client: redis.Redis) -> dict[bytes, tuple[bytes, Any, bool]]:
    """Every key: its type, its content and whether it expires."""
    read = {
        b"hash": client.hgetall,
        b"set": client.smembers,
        b"zset": lambda key: client.zrange(key, 0, -1, withscores=True),
        b"string": client.get,
    }
    return {
        key: (kind, read[kind](key), client.ttl(key) > 0)
        for key in sorted(client.keys("*"))
        for kind in [client.type(key)]
    }


@pytest.fixture
def transactions(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many commands each pipeline the drivers run queues, in order."""
    counts: list[int] = []
    real = drivers_module.PipelineSession._queue

    def counting(pipe: Any, cmds: Any) -> None:
        cmds = list(cmds)
        counts.append(len(cmds))
        real(pipe, cmds)

    monkeypatch.setattr(drivers_module.PipelineSession, "_queue", staticmethod(counting))
    return counts


async def a_run(saver: RedisSaver, output: Callable[[WriteBatch], Awaitable[None]]) -> None:
    """What a run of a two-namespace graph writes: checkpoints (with a run id), writes that
    repeat a (task, idx), an error, and the run's output."""
    run = {"run_id": "r-1"}
    first = await saver.aput(config("t"), checkpoint("c-1", {"a": 1}, a=1), run, {"a": 1})
    await saver.aput_writes(first, [("a", 2), ("b", 3)], "task-1")
    await saver.aput_writes(first, [("a", 9)], "task-1")  # (task-1, 0) is there: kept
    second = await saver.aput(first, checkpoint("c-2", {"a": 2}, a=2), run, {"a": 2})
    sub = await saver.aput(config("t", "sub"), checkpoint("s-1", {"b": 1}, b=1), run, {"b": 1})
    await saver.aput_writes(sub, [(ERROR, "boom")], "task-2")
    await saver.aput_writes(sub, [(ERROR, "bang")], "task-2")  # special: overwrites
    await saver.aput(second, checkpoint("c-3", a=2), {**run, "step": 2}, {})
    await output(WriteBatch().set(OUTPUT_KEY, b"{}", ex=60))


def run_unbuffered(saver: RedisSaver) -> None:
    async def output(batch: WriteBatch) -> None:
        batch.apply(saver.redis)

    asyncio.run(a_run(saver, output))


def run_grouped(saver: RedisSaver) -> None:
    async def scenario() -> None:
        with saver.group_commit(delay=60) as buffer:

            async def output(batch: WriteBatch) -> None:
                buffer.run((WRITE, batch))

            await a_run(saver, output)

    asyncio.run(scenario())


def run_on_async_client(saver: RedisSaver) -> None:
    async def scenario() -> None:
        server = saver.redis.connection_pool.connection_kwargs["server"]
        aredis = fakeredis.FakeAsyncRedis(server=server)
        try:
            on_aredis = RedisSaver(saver.redis, saver.keys, aredis=aredis)

            async def output(batch: WriteBatch) -> None:
                batch.apply(saver.redis)

            await a_run(on_aredis, output)
        finally:
            await aredis.aclose()

    asyncio.run(scenario())


def new_saver() -> RedisSaver:
    return RedisSaver(fakeredis.FakeRedis(server=fakeredis.FakeServer()), inline=True)


@pytest.mark.parametrize("other", [run_unbuffered, run_on_async_client])
def test_a_group_commit_leaves_redis_as_unbuffered_writes_do(
    other: Callable[[RedisSaver], None],
) -> None:
    grouped, plain = new_saver(), new_saver()
    run_grouped(grouped)
    other(plain)
    assert contents(grouped.redis) == contents(plain.redis)
    got = grouped.get_tuple(config("t", checkpoint_id="c-1")).pending_writes
    assert got == [("task-1", "a", 2), ("task-1", "b", 3)]
    assert grouped.get_tuple(config("t", "sub")).pending_writes == [("task-2", ERROR, "bang")]


def test_a_group_commit_sends_one_command_per_key_and_kind(transactions: list[int]) -> None:
    run_unbuffered(new_saver())
    unbuffered = sum(transactions)
    transactions.clear()
    run_grouped(new_saver())
    # one MULTI/EXEC: per key one HSET / SADD / ZADD / SET, and one HSETNX per new field
    assert len(transactions) == 1
    assert transactions[0] < unbuffered / 2
    # hsetnx 2 fields; hset data ×2, blobs ×2, writes 1; sadd registry, ns, threads, refs,
    # runs, run; zadd ids ×2; set output
    assert transactions[0] == 2 + 5 + 6 + 2 + 1


def test_the_sync_put_sends_its_writes_merged(transactions: list[int]) -> None:
    saver = new_saver()
    saver.put(config("t"), checkpoint("c-1", {"a": 1}, a=1), {"run_id": "r-1"}, {"a": 1})
    # HSET data, blobs; SADD namespaces, registry (4 keys + 2 run keys), threads, refs,
    # runs, run; ZADD ids
    assert transactions == [9]


def test_hsetnx_keeps_the_first_write_across_merged_writes() -> None:
    saver = new_saver()
    saved = saver.put(config("t"), checkpoint("c-1"), {}, {})
    saver.put_writes(saved, [("a", "stored")], "task-1")

    async def scenario() -> None:
        with saver.group_commit(delay=60):
            await saver.aput_writes(saved, [("a", "late"), ("b", "first")], "task-1")
            await saver.aput_writes(saved, [("a", "later"), ("b", "second")], "task-1")

    asyncio.run(scenario())
    got = saver.get_tuple(saved).pending_writes
    assert got == [("task-1", "a", "stored"), ("task-1", "b", "first")]


def test_a_failed_flush_keeps_the_merged_writes(
    monkeypatch: pytest.MonkeyPatch, transactions: list[int]
) -> None:
    saver, plain = new_saver(), new_saver()
    run_unbuffered(plain)

    async def scenario() -> None:
        with saver.group_commit(delay=60) as buffer:

            async def output(batch: WriteBatch) -> None:
                buffer.run((WRITE, batch))

            await a_run(saver, output)
            queued = [repr(command) for command in buffer.batch]
            real = saver.redis.pipeline

            def broken(*args: Any, **kwargs: Any) -> Any:
                raise redis.ConnectionError("Redis went away")

            monkeypatch.setattr(saver.redis, "pipeline", broken)
            with pytest.raises(redis.ConnectionError):
                buffer.flush()
            assert [repr(command) for command in buffer.batch] == queued
            monkeypatch.setattr(saver.redis, "pipeline", real)

    asyncio.run(scenario())
    assert contents(saver.redis) == contents(plain.redis)


# -- WriteBatch alone: merged == one after the other, for random writes ------------------


def random_write(rng: random.Random) -> WriteBatch:
    """One random write over a small space of keys, fields and members."""
    kind, picks = rng.choice(KINDS), [rng.choice("abc") for _ in range(rng.randint(0, 3))]
    if kind == "hset":
        return WriteBatch().hset("h1", {f: rng.choice([b"x", b"y", b"z"]) for f in picks})
    if kind == "hsetnx":
        return WriteBatch().hsetnx(
            rng.choice(["h1", "h2"]), {f: rng.choice([b"p", b"q"]) for f in picks}
        )
    if kind == "sadd":
        return WriteBatch().sadd(rng.choice(["s1", "s2"]), *picks)
    if kind == "zadd":
        return WriteBatch().zadd("z1", {m: rng.randint(0, 2) for m in picks})
    return WriteBatch().set("k1", rng.choice([b"u", b"v"]), ex=rng.choice([None, 100]))


def seeded_client() -> fakeredis.FakeRedis:
    """A fresh Redis where some of the hash fields are there before."""
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    client.hset("h1", mapping={"a": b"old"})
    client.hset("h2", mapping={"b": b"old"})
    return client


@pytest.mark.parametrize("seed", range(200))
def test_a_merged_batch_writes_what_its_writes_write_in_turn(seed: int) -> None:
    rng = random.Random(seed)
    one_by_one, merged = seeded_client(), seeded_client()
    total = WriteBatch()
    for _ in range(rng.randint(1, 12)):
        write = random_write(rng)
        write.apply(one_by_one)
        total.extend(write)
    total.apply(merged)
    assert contents(merged) == contents(one_by_one)


def test_an_empty_write_is_no_command() -> None:
    batch = WriteBatch().hset("h", {}).sadd("s").zadd("z", {}).hsetnx("h", {})
    assert not batch
    assert list(batch) == []
