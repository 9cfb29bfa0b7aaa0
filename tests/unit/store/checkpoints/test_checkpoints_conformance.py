"""LangGraph's checkpointer conformance suite (langgraph-checkpoint-conformance) against
RedisSaver on fakeredis, one test per capability, with an async client, without one, and
with the sync client inline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import fakeredis
import pytest
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.capabilities import Capability

from threadwatch.store.checkpoints import RedisSaver


async def with_async_client() -> AsyncIterator[RedisSaver]:
    server = fakeredis.FakeServer()
    aredis = fakeredis.FakeAsyncRedis(server=server)
    yield RedisSaver(fakeredis.FakeRedis(server=server), aredis=aredis)
    await aredis.aclose()


async def sync_client_only() -> AsyncIterator[RedisSaver]:
    yield RedisSaver(fakeredis.FakeRedis(server=fakeredis.FakeServer()))


async def sync_client_inline() -> AsyncIterator[RedisSaver]:
    yield RedisSaver(fakeredis.FakeRedis(server=fakeredis.FakeServer()), inline=True)


FACTORIES = {"aredis": with_async_client, "thread": sync_client_only, "inline": sync_client_inline}


@pytest.mark.parametrize("mode", sorted(FACTORIES))
@pytest.mark.parametrize("capability", [c.value for c in Capability])
def test_conformance(capability: str, mode: str) -> None:
    registered = checkpointer_test(name=f"RedisSaver[{mode}]")(FACTORIES[mode])
    result = asyncio.run(validate(registered, capabilities={capability})).results[capability]
    assert result.detected, f"{capability} is not implemented"
    assert result.passed, "\n".join(result.failures)
    assert result.tests_passed > 0
