"""An API process with no worker anywhere (an events-only deployment, or every worker
dead): its watchdog ends runs whose lease ran out and delivers stuck-thread alerts."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.integration.helpers import drive, event, get_thread, new_id, post_events
from tests.integration.servers import running_api
from tests.unit.webhooks.test_webhooks import HookServer

DEADLINE = 30.0  # seconds; each wait ends as soon as what it waits for is seen


def wait_for(what: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if what():
            return True
        time.sleep(0.2)
    return what()


@pytest.fixture
def hook() -> Iterator[HookServer]:
    with HookServer() as server:
        yield server


@pytest.fixture
def http(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path, hook: HookServer
) -> Iterator[httpx.Client]:
    """An API alone on the test db, its watchdog on, sweeping every second."""
    rules = [{"name": "waiting", "status": "interrupted", "older_than": 1, "webhook": hook.url}]
    env = {
        "THREADWATCH_API_WATCHDOG": "true",
        "THREADWATCH_SWEEP_INTERVAL_SECONDS": "1",
        "THREADWATCH_ALERT_RULES": json.dumps(rules),
        "THREADWATCH_WEBHOOK_ALLOW_PRIVATE": "true",
    }
    with running_api(redis_url, tmp_path, env=env) as url, httpx.Client(base_url=url) as client:
        yield client


def test_a_run_whose_lease_ran_out_ends_without_any_worker(http: httpx.Client) -> None:
    thread_id, run_id = new_id(), new_id()
    post_events(http, [event(thread_id, run_id, "run.started", lease_seconds=1)])
    assert get_thread(http, thread_id)["status"] == "busy"
    assert wait_for(lambda: get_thread(http, thread_id)["status"] != "busy")
    run = http.get(f"/threads/{thread_id}/runs/{run_id}").json()
    assert run["status"] == "error"
    assert get_thread(http, thread_id)["status"] == "error"


def test_a_stuck_thread_alert_reaches_its_webhook_without_any_worker(
    http: httpx.Client, hook: HookServer
) -> None:
    thread_id = new_id()
    drive(http, thread_id, "interrupted")
    assert wait_for(lambda: bool(hook.requests))
    body = json.loads(hook.requests[0]["body"])
    assert (body["type"], body["thread_id"], body["rule"]) == ("alert.firing", thread_id, "waiting")
