"""Crons fired by real `threadwatch worker` processes (two, on a real Redis), with checks
every second (THREADWATCH_CRON_INTERVAL_SECONDS): a cron whose next firing is made `now`
runs once, through the RunService, and its runs show in the thread's status and state like
any run; many checks at once on both workers fire each firing exactly once; and the Python
SDK's `client.crons.*`, sync and async, and the JS SDK's, against the same server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from json import loads as json_loads
from typing import Any

import httpx
import pytest
import redis
from langgraph_sdk import get_client
from langgraph_sdk.client import SyncLangGraphClient
from langgraph_sdk.errors import NotFoundError, UnprocessableEntityError
from rq import Queue

from tests.integration.run_stack import KEYS, RunStack, wait_for
from threadwatch.queues import FIRE_CRONS, MAINTENANCE_QUEUE
from threadwatch.store.crons import CronStore
from threadwatch.store.integrity import Doctor
from threadwatch.store.scripts import Scripts

pytestmark = pytest.mark.integration
AGENT_ID = "fe096781-5601-53d2-b2f6-0d3403f7e9ca"
# A schedule that never comes due by itself while a test runs: firings are made due.
YEARLY = "0 0 1 1 *"


@pytest.fixture(scope="module")
def run_stack_env() -> dict[str, str]:
    return {"THREADWATCH_CRON_INTERVAL_SECONDS": "1"}


@pytest.fixture(autouse=True)
def no_crons_left(run_stack: RunStack) -> Iterator[None]:
    """Each test starts and ends without crons, so that none fires into the next."""
    yield
    crons = CronStore(run_stack.redis, KEYS, Scripts(run_stack.redis))
    for cron_id in run_stack.redis.zrange(KEYS.crons(), 0, -1):
        crons.delete(cron_id.decode())


def make_due(connection: redis.Redis, cron_id: str) -> None:
    """The cron's next firing becomes now (a second ago), in the hash and the due zset at
    once, as a PATCH writes them: the next check fires it."""
    now_us = time.time_ns() // 1000 - 1_000_000
    with connection.pipeline() as pipe:
        pipe.hset(KEYS.cron(cron_id), "next_run_date", now_us)
        pipe.zadd(KEYS.crons_due(), {cron_id: now_us})
        pipe.execute()


def next_run_date_us(connection: redis.Redis, cron_id: str) -> int:
    return int(connection.hget(KEYS.cron(cron_id), "next_run_date") or 0)


def ended_runs(sdk: SyncLangGraphClient, thread_id: str) -> list[dict[str, Any]]:
    runs = sdk.runs.list(thread_id, limit=100)
    return [r for r in runs if r["status"] not in ("pending", "running")]


def wait_ended_runs(sdk: SyncLangGraphClient, thread_id: str, count: int) -> list[dict[str, Any]]:
    """The thread's runs once ``count`` of them have ended."""

    def enough() -> list[dict[str, Any]]:
        runs = ended_runs(sdk, thread_id)
        return runs if len(runs) >= count else []

    return wait_for(enough, 30)


def last_check(connection: redis.Redis) -> int:
    return int(connection.hget(KEYS.cron_checks(), "last_finished_at") or 0)


def two_checks_later(connection: redis.Redis) -> None:
    """Until two checks have ended since now (so a whole one ran after this call)."""
    for _ in range(2):
        seen = last_check(connection)
        wait_for(lambda s=seen: last_check(connection) > s, 30)


def transitions(run_stack: RunStack, thread_id: str) -> list[dict[str, Any]]:
    return httpx.get(f"{run_stack.url}/threads/{thread_id}/transitions").json()


def test_a_thread_cron_runs_on_its_thread_like_any_run(
    run_stack: RunStack, sdk: SyncLangGraphClient
) -> None:
    thread_id = sdk.threads.create()["thread_id"]
    cron = sdk.crons.create_for_thread(
        thread_id, "agent", schedule=YEARLY, input={"ask": False}, metadata={"via": "cron"}
    )
    yearly = next_run_date_us(run_stack.redis, cron["cron_id"])
    for firing in (1, 2):
        make_due(run_stack.redis, cron["cron_id"])
        runs = wait_ended_runs(sdk, thread_id, firing)
        assert len(runs) == firing
        assert {r["status"] for r in runs} == {"success"}
        assert sdk.threads.get(thread_id)["status"] == "idle"
        # The thread's state carries on from run to run, as with runs made through the API.
        assert sdk.threads.get_state(thread_id)["values"]["count"] == firing
    for run in runs:
        assert run["metadata"]["via"] == "cron"
        assert run["kwargs"]["config"]["configurable"]["cron_id"] == cron["cron_id"]
    statuses = [t["to"] for t in transitions(run_stack, thread_id)]
    assert statuses.count("busy") == 2
    two_checks_later(run_stack.redis)
    assert len(sdk.runs.list(thread_id)) == 2  # no firing ran twice
    assert next_run_date_us(run_stack.redis, cron["cron_id"]) == yearly  # next year's again


def test_each_firing_runs_once_with_many_checks_on_two_workers(
    run_stack: RunStack, sdk: SyncLangGraphClient
) -> None:
    """Twenty due crons, and a dozen checks queued at once, which both workers' maintenance
    threads take: each firing still makes exactly one run (lua/claim_cron.lua)."""
    cron_ids = [
        sdk.crons.create(
            "agent",
            schedule=YEARLY,
            input={"ask": False},
            metadata={"batch": "twenty", "n": i},
            on_run_completed="keep",
        )["cron_id"]
        for i in range(20)
    ]
    before = {cron_id: next_run_date_us(run_stack.redis, cron_id) for cron_id in cron_ids}
    for cron_id in cron_ids:
        make_due(run_stack.redis, cron_id)
    queue = Queue(MAINTENANCE_QUEUE, connection=run_stack.redis)
    for i in range(12):
        queue.enqueue(FIRE_CRONS, job_id=f"test-crons-{i}-{time.time_ns()}")
    # Every cron fired (its next firing moved on again) ...
    wait_for(lambda: all(next_run_date_us(run_stack.redis, c) == before[c] for c in cron_ids), 30)
    # ... and every queued check has ended, so none is left to fire a firing twice.
    wait_for(lambda: queue.count == 0 and queue.started_job_registry.get_job_count() == 0, 30)
    threads = sdk.threads.search(metadata={"batch": "twenty"}, limit=100)
    assert sorted(t["metadata"]["n"] for t in threads) == list(range(20))
    for thread in threads:
        (run,) = wait_ended_runs(sdk, thread["thread_id"], 1)
        assert run["status"] == "success"
    report = Doctor(run_stack.redis, KEYS).check()
    assert report.problems["cron_index"].found == report.problems["cron_dangling"].found == 0


def test_a_stateless_cron_deletes_its_threads_by_default(
    run_stack: RunStack, sdk: SyncLangGraphClient
) -> None:
    """Its run holds its new thread two seconds, then the thread goes with the run."""
    cron = sdk.crons.create(
        "agent", schedule=YEARLY, input={"ask": False, "sleep": 2}, metadata={"tmp": 1}
    )
    make_due(run_stack.redis, cron["cron_id"])
    # Its thread is made just before its run is recorded: seen idle for that moment.
    (thread,) = wait_for(lambda: sdk.threads.search(metadata={"tmp": 1}, status="busy"), 30)
    wait_for(lambda: sdk.threads.search(metadata={"tmp": 1}) == [], 30)
    with pytest.raises(NotFoundError):
        sdk.threads.get(thread["thread_id"])


def test_a_disabled_cron_does_not_fire(run_stack: RunStack, sdk: SyncLangGraphClient) -> None:
    thread_id = sdk.threads.create()["thread_id"]
    cron = sdk.crons.create_for_thread(thread_id, "agent", schedule=YEARLY, enabled=False)
    make_due(run_stack.redis, cron["cron_id"])  # even in the due set, a disabled cron waits
    two_checks_later(run_stack.redis)
    assert sdk.runs.list(thread_id) == []
    assert run_stack.redis.zscore(KEYS.crons_due(), cron["cron_id"]) is None


# -- the Python SDK -----------------------------------------------------------------------


def test_the_sync_sdk(sdk: SyncLangGraphClient) -> None:
    thread_id = sdk.threads.create()["thread_id"]
    stateless = sdk.crons.create(
        "agent", schedule="*/5 * * * *", input={"ask": False}, metadata={"sdk": "sync"}
    )
    assert stateless["assistant_id"] == AGENT_ID
    assert stateless["on_run_completed"] == "delete"
    on_thread = sdk.crons.create_for_thread(
        thread_id, "agent", schedule="0 9 * * 1", timezone="Europe/Paris", metadata={"sdk": "sync"}
    )
    assert on_thread["thread_id"] == thread_id and on_thread["timezone"] == "Europe/Paris"
    found = sdk.crons.search(metadata={"sdk": "sync"}, sort_by="created_at", sort_order="asc")
    assert [c["cron_id"] for c in found] == [stateless["cron_id"], on_thread["cron_id"]]
    assert sdk.crons.count(thread_id=thread_id) == 1
    assert sdk.crons.count(assistant_id=AGENT_ID) == 2
    updated = sdk.crons.update(on_thread["cron_id"], enabled=False, metadata={"more": 1})
    assert updated["enabled"] is False
    assert updated["metadata"] == {"sdk": "sync", "more": 1}
    assert sdk.crons.search(enabled=False, select=["cron_id"]) == [
        {"cron_id": on_thread["cron_id"]}
    ]
    sdk.crons.delete(stateless["cron_id"])
    assert sdk.crons.count() == 1
    with pytest.raises(NotFoundError):
        sdk.crons.delete(stateless["cron_id"])
    with pytest.raises(UnprocessableEntityError):
        sdk.crons.create("agent", schedule="not a schedule")


def test_the_async_sdk(run_stack: RunStack) -> None:
    async def scenario() -> None:
        async with get_client(url=run_stack.url) as client:
            thread = await client.threads.create()
            stateless = await client.crons.create(
                "agent", schedule="@hourly", metadata={"sdk": "async"}, on_run_completed="keep"
            )
            assert stateless["on_run_completed"] == "keep"
            on_thread = await client.crons.create_for_thread(
                thread["thread_id"], "agent", schedule="*/10 * * * *", multitask_strategy="enqueue"
            )
            assert on_thread["payload"]["multitask_strategy"] == "enqueue"
            assert await client.crons.count(metadata={"sdk": "async"}) == 1
            found = await client.crons.search(thread_id=thread["thread_id"])
            assert [c["cron_id"] for c in found] == [on_thread["cron_id"]]
            updated = await client.crons.update(stateless["cron_id"], schedule="0 * * * *")
            assert updated["schedule"] == "0 * * * *"
            assert updated["next_run_date"].endswith(":00:00.000000+00:00")
            await client.crons.delete(on_thread["cron_id"])
            await client.crons.delete(stateless["cron_id"])
            assert await client.crons.count() == 0

    asyncio.run(scenario())


JS_CRONS = """
import { Client } from "@langchain/langgraph-sdk";
const client = new Client({ apiUrl: process.env.API_URL });
const thread = await client.threads.create();
const stateless = await client.crons.create("agent", {
  schedule: "*/5 * * * *", input: { ask: false }, metadata: { sdk: "js" },
  endTime: "2030-01-01T00:00:00Z", onRunCompleted: "keep",
});
const onThread = await client.crons.createForThread(thread.thread_id, "agent", {
  schedule: "0 9 * * 1", timezone: "Europe/Paris", metadata: { sdk: "js" },
});
const found = await client.crons.search({
  metadata: { sdk: "js" }, sortBy: "created_at", sortOrder: "asc",
});
const counted = await client.crons.count({ threadId: thread.thread_id });
const updated = await client.crons.update(stateless.cron_id, { endTime: null, enabled: false });
await client.crons.delete(onThread.cron_id);
const left = await client.crons.count({});
console.log(JSON.stringify({ thread, stateless, onThread, found, counted, updated, left }));
"""


def test_the_js_sdk(run_stack: RunStack, run_node: Any) -> None:
    out = json_loads(run_node(JS_CRONS, env={"API_URL": run_stack.url}))
    stateless, on_thread = out["stateless"], out["onThread"]
    assert stateless["on_run_completed"] == "keep"
    assert stateless["end_time"] == "2030-01-01T00:00:00.000000+00:00"
    assert on_thread["thread_id"] == out["thread"]["thread_id"]
    assert on_thread["timezone"] == "Europe/Paris"
    assert [c["cron_id"] for c in out["found"]] == [stateless["cron_id"], on_thread["cron_id"]]
    assert out["counted"] == 1
    assert out["updated"]["end_time"] is None and out["updated"]["enabled"] is False
    assert out["left"] == 1
