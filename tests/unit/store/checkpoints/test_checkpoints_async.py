"""RedisSaver's async API on fakeredis: on a redis.asyncio client, on the sync client in a
worker thread when no async client is given, on the sync client inline (``inline=True``,
as run workers use it), and inline within a group commit (writes queued until a read). All
read what the sync API wrote."""

from __future__ import annotations

import asyncio
import operator
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypedDict

import fakeredis
import pytest
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

from tests.unit.store.checkpoints.test_checkpoints import checkpoint, config, ids, put_chain
from threadwatch.store.checkpoints import RedisSaver, async_api
from threadwatch.store.checkpoints.steps import WRITE

MODES = ["aredis", "thread", "inline", "group"]


def run(make: Callable[[RedisSaver], Awaitable[Any]], sync: RedisSaver, mode: str) -> Any:
    """Run `make(saver)` on a fresh event loop, with an async client bound to that loop."""

    async def main() -> Any:
        if mode == "thread":
            return await make(sync)
        if mode in ("inline", "group"):
            inline = RedisSaver(sync.redis, sync.keys, inline=True)
            if mode == "inline":
                return await make(inline)
            with inline.group_commit(delay=60):
                return await make(inline)
        aredis = fakeredis.FakeAsyncRedis(
            server=sync.redis.connection_pool.connection_kwargs["server"]
        )
        try:
            return await make(RedisSaver(sync.redis, sync.keys, aredis=aredis))
        finally:
            await aredis.aclose()

    return asyncio.run(main())


async def collect(saver: RedisSaver, cfg: Any, **kwargs: Any) -> list[str]:
    return ids([t async for t in saver.alist(cfg, **kwargs)])


@pytest.fixture
def fake_redis() -> fakeredis.FakeRedis:
    """A sync client on a server that the async clients of `run` share."""
    return fakeredis.FakeRedis(server=fakeredis.FakeServer())


@pytest.fixture
def saver(fake_redis: fakeredis.FakeRedis) -> RedisSaver:
    return RedisSaver(fake_redis)


@pytest.mark.parametrize("mode", MODES)
def test_async_put_get_and_writes(saver: RedisSaver, mode: str) -> None:
    async def scenario(s: RedisSaver) -> None:
        first = await s.aput(config("t"), checkpoint("c-1", {"a": 1}, a=1), {"step": 0}, {"a": 1})
        cfg = await s.aput(first, checkpoint("c-2", {"a": 2}, a=2), {"step": 1}, {"a": 2})
        await s.aput_writes(cfg, [("a", 3), ("b", 4)], "task")
        await s.aput_writes(cfg, [("a", 99)], "task")
        got = await s.aget_tuple(config("t"))
        assert got.checkpoint["channel_values"] == {"a": 2}
        assert got.parent_config == first
        assert got.pending_writes == [("task", "a", 3), ("task", "b", 4)]
        assert (await s.aget_tuple(first)).checkpoint["channel_values"] == {"a": 1}
        assert await s.aget_tuple(config("nobody")) is None

    run(scenario, saver, mode)
    assert saver.get_tuple(config("t")).metadata == {"step": 1}  # the sync API sees it


@pytest.mark.parametrize("mode", MODES)
def test_async_list(saver: RedisSaver, mode: str) -> None:
    put_chain(saver, "t", 5)

    async def scenario(s: RedisSaver) -> None:
        assert await collect(s, config("t")) == ["c-004", "c-003", "c-002", "c-001", "c-000"]
        assert await collect(s, config("t"), limit=2) == ["c-004", "c-003"]
        before = config("t", "", "c-002")
        assert await collect(s, config("t"), before=before) == ["c-001", "c-000"]
        assert await collect(s, config("t"), filter={"step": 3}) == ["c-003"]
        assert await collect(s, None) == await collect(s, config("t"))

    run(scenario, saver, mode)


@pytest.mark.parametrize("mode", MODES)
def test_async_thread_operations(
    saver: RedisSaver, fake_redis: fakeredis.FakeRedis, mode: str
) -> None:
    put_chain(saver, "a", 3, run_id="run-a")
    put_chain(saver, "b", 2, run_id="run-b")

    async def scenario(s: RedisSaver) -> None:
        await s.acopy_thread("a", "c")
        assert await collect(s, config("c")) == await collect(s, config("a"))
        await s.aprune(["a"], strategy="keep_latest")
        assert await collect(s, config("a")) == ["c-002"]
        await s.adelete_for_runs(["run-b"])
        assert await collect(s, config("b")) == []
        await s.adelete_thread("c")
        await s.adelete_thread("b")
        await s.aprune(["a"], strategy="delete")
        assert await collect(s, None) == []

    run(scenario, saver, mode)
    assert fake_redis.keys("*") == []


class State(TypedDict):
    log: Annotated[list[str], operator.add]
    answer: str


def ask(state: State) -> dict[str, Any]:
    return {"answer": interrupt("approve?"), "log": ["ask"]}


def done(state: State) -> dict[str, Any]:
    return {"log": [f"done:{state['answer']}"]}


@pytest.mark.parametrize("mode", MODES)
def test_async_graph_interrupts_and_resumes(saver: RedisSaver, mode: str) -> None:
    builder = StateGraph(State)
    builder.add_node(ask)
    builder.add_node(done)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", "done")
    builder.add_edge("done", END)
    cfg = {"configurable": {"thread_id": "g"}}

    async def scenario(s: RedisSaver) -> None:
        graph = builder.compile(checkpointer=s)
        first = await graph.ainvoke({"log": []}, cfg)
        assert [i.value for i in first["__interrupt__"]] == ["approve?"]
        assert (await graph.aget_state(cfg)).next == ("ask",)
        final = await graph.ainvoke(Command(resume="yes"), cfg)
        assert final == {"log": ["ask", "done:yes"], "answer": "yes"}
        history = [state.metadata["step"] async for state in graph.aget_state_history(cfg)]
        assert history == [2, 1, 0, -1]

    run(scenario, saver, mode)


def test_a_concurrent_write_restarts_an_async_watched_operation(
    saver: RedisSaver, fake_redis: fakeredis.FakeRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    put_chain(saver, "t", 2)
    interleaved: list[str] = []

    class Interleaving(async_api.AsyncSession):
        async def run(self, step: Any) -> Any:
            if step[0] == WRITE and self.watcher is not None and not interleaved:
                interleaved.append("put")  # a new namespace changes the watched registry
                saver.put(config("t", "late:1"), checkpoint("c-9"), {}, {})
            return await super().run(step)

    monkeypatch.setattr(async_api, "AsyncSession", Interleaving)
    run(lambda s: s.adelete_thread("t"), saver, "aredis")
    assert interleaved == ["put"]
    assert fake_redis.keys("*") == []
