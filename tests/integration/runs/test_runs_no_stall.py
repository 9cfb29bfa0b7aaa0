"""Runs queued on a thread start as soon as the one before them ends, however many end at
the same moment: the hand-off is threadwatch's own (app/run_queue.py), not RQ's dependency
registries, whose optimistic locks conceded contended jobs to a maintenance pass ten
minutes away (rq 3)."""

from __future__ import annotations

import asyncio
from typing import Any

from langgraph_sdk import get_client

from tests.integration.run_stack import KEYS, RunStack

THREADS = 200
RUNS_EACH = 4
IN_FLIGHT = 64  # requests at once
# Well under the ten minutes a run conceded to RQ's maintenance pass waited; the runs take a
# few seconds in all on two workers.
SETTLE = 30.0
RUN_INPUT = {"sleep": 0.02, "ask": False}


def test_runs_ending_together_never_stall_the_next(run_stack: RunStack) -> None:
    async def create_all() -> list[tuple[str, list[str]]]:
        async with get_client(url=run_stack.url) as client:
            threads = [(await client.threads.create())["thread_id"] for _ in range(THREADS)]
            requests = asyncio.Semaphore(IN_FLIGHT // RUNS_EACH)

            async def queue_runs(thread_id: str) -> tuple[str, list[str]]:
                async with requests:
                    runs = await asyncio.gather(
                        *(
                            client.runs.create(thread_id, "agent", input=RUN_INPUT)
                            for _ in range(RUNS_EACH)
                        )
                    )
                return thread_id, [run["run_id"] for run in runs]

            return list(await asyncio.gather(*(queue_runs(t) for t in threads)))

    created = asyncio.run(create_all())
    run_stack.settle(SETTLE)
    redis = run_stack.redis
    statuses: dict[str, Any] = {}
    for thread_id, run_ids in created:
        assert redis.hget(KEYS.thread(thread_id), "status") == b"idle"
        for run_id in run_ids:
            statuses[run_id] = redis.hget(KEYS.run(run_id), "status")
    assert set(statuses.values()) == {b"success"}
