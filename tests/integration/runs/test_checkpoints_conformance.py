"""LangGraph's checkpointer conformance suite against RedisSaver on the real Redis, one test
per capability, with a redis.asyncio client and with the sync client only (worker threads)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
import redis
import redis.asyncio
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.capabilities import Capability

from threadwatch.store.checkpoints import RedisSaver


def factory(url: str, mode: str) -> Callable[[], AsyncIterator[RedisSaver]]:
    """The suite's saver factory: a fresh saver (and clients) per capability."""

    async def make() -> AsyncIterator[RedisSaver]:
        sync = redis.Redis.from_url(url)
        aredis = redis.asyncio.Redis.from_url(url) if mode == "aredis" else None
        try:
            yield RedisSaver(sync, aredis=aredis, inline=mode == "inline")
        finally:
            if aredis is not None:
                await aredis.aclose()
            sync.close()

    return make


@pytest.mark.parametrize("mode", ["aredis", "thread", "inline"])
@pytest.mark.parametrize("capability", [c.value for c in Capability])
def test_conformance(redis_client: redis.Redis, redis_url: str, capability: str, mode: str) -> None:
    registered = checkpointer_test(name=f"RedisSaver[{mode}]")(factory(redis_url, mode))
    result = asyncio.run(validate(registered, capabilities={capability})).results[capability]
    assert result.detected, f"{capability} is not implemented"
    assert result.passed, "\n".join(result.failures)
    assert result.tests_passed > 0
