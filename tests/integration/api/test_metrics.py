"""GET /metrics of the real API subprocess on a real Redis, parsed with prometheus-client's
parser: gauges follow threads made with the Python SDK and moved by run events; counters and
histograms written by the Lua scripts and by webhook jobs (run by an RQ worker here) show."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import redis
from langgraph_sdk import get_sync_client
from langgraph_sdk.client import SyncLangGraphClient
from prometheus_client.parser import text_string_to_metric_families
from rq import Queue

from tests.integration.api.test_webhook_delivery import QuietWorker
from tests.integration.helpers import drive, event, new_id, post_events
from tests.unit.webhooks.test_webhooks import HookServer
from threadwatch.webhooks.delivery import enqueue_webhook, webhook_queue

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def sdk(api_url: str, redis_client: redis.Redis) -> Iterator[SyncLangGraphClient]:
    """The Python SDK on the API, on an empty database."""
    with get_sync_client(url=api_url) as client:
        yield client


def scrape(http: httpx.Client) -> tuple[str, Samples]:
    response = http.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    found: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return response.text, found


def of(found: Samples, name: str, **labels: str) -> float:
    return found[(name, tuple(sorted(labels.items())))]


def per_status(found: Samples) -> dict[str, float]:
    return {
        dict(labels)["status"]: value
        for (name, labels), value in found.items()
        if name == "threadwatch_threads"
    }


def test_thread_gauges_follow_the_sdk_and_run_events(
    http: httpx.Client, sdk: SyncLangGraphClient
) -> None:
    _, found = scrape(http)
    assert per_status(found) == {"idle": 0, "busy": 0, "interrupted": 0, "error": 0}

    ids = [sdk.threads.create(metadata={"team": "support"})["thread_id"] for _ in range(4)]
    _, found = scrape(http)
    assert per_status(found) == {"idle": 4, "busy": 0, "interrupted": 0, "error": 0}
    assert of(found, "threadwatch_oldest_thread_age_seconds", status="busy") == 0

    busy, interrupted, failed, _ = ids
    post_events(http, [event(busy, new_id(), "run.pending")])
    drive(http, interrupted, "interrupted")
    drive(http, failed, "error")
    text, found = scrape(http)
    assert per_status(found) == {"idle": 1, "busy": 1, "interrupted": 1, "error": 1}
    assert sdk.threads.get(interrupted)["status"] == "interrupted"
    age = of(found, "threadwatch_oldest_thread_age_seconds", status="interrupted")
    assert 0 <= age < 3600
    for thread_id in ids:
        assert thread_id not in text

    sdk.threads.delete(failed)
    _, found = scrape(http)
    assert per_status(found) == {"idle": 1, "busy": 1, "interrupted": 1, "error": 0}


def test_run_gauges_and_lua_counters(http: httpx.Client, sdk: SyncLangGraphClient) -> None:
    """The run indexes, leases and the counters and histograms transition.lua writes."""
    running, interrupted, failed = (sdk.threads.create()["thread_id"] for _ in range(3))
    # Only events that carry their own time observe the event-to-visible delay.
    run_id, now = new_id(), datetime.now(UTC)
    started = [
        event(running, run_id, type_, at=(now - timedelta(seconds=ago)).isoformat())
        for type_, ago in (("run.pending", 2), ("run.started", 1))
    ]
    post_events(http, started)
    drive(http, interrupted, "interrupted")
    drive(http, failed, "error")
    [duplicate] = post_events(http, [started[1]])
    assert duplicate["result"] == "duplicate"

    _, found = scrape(http)
    assert of(found, "threadwatch_runs", status="running") == 1
    assert of(found, "threadwatch_runs", status="pending") == 0
    assert of(found, "threadwatch_runs_lease_expired") == 0
    transitions = {
        (dict(labels)["from"], dict(labels)["to"]): value
        for (name, labels), value in found.items()
        if name == "threadwatch_transitions_total" and value
    }
    assert transitions == {("idle", "busy"): 3, ("busy", "interrupted"): 1, ("busy", "error"): 1}
    assert of(found, "threadwatch_run_events_total", result="duplicate") == 1
    assert of(found, "threadwatch_run_events_total", result="applied") >= 4
    assert of(found, "threadwatch_run_duration_seconds_count") == 2
    assert of(found, "threadwatch_run_duration_seconds_bucket", le="+Inf") == 2
    assert of(found, "threadwatch_event_visible_delay_seconds_count") == 2
    assert of(found, "threadwatch_event_visible_delay_seconds_sum") >= 3


def test_webhook_outcomes_are_counted_across_processes(
    http: httpx.Client, redis_client: redis.Redis
) -> None:
    """Attempts made by an RQ worker (this process) show in the API process's scrape."""
    queue: Queue = webhook_queue(redis_client)
    with HookServer([500, 500, 500]) as hook:
        for kind, rule, max_retries in (("alert", "hitl", 1), ("run", None, 2)):
            job = enqueue_webhook(
                queue, hook.url, {"n": 1}, secret=None, allow_private=True,
                max_retries=max_retries, intervals=[0] * max_retries, kind=kind, rule=rule,
            )  # fmt: skip
            assert job is not None
        QuietWorker([queue], connection=redis_client).work(burst=True)
        assert len(hook.requests) == 4  # alert: 500, 500 (gave up); run: 500, 200

    _, found = scrape(http)
    deliveries = {
        tuple(v for _, v in labels): value
        for (name, labels), value in found.items()
        if name == "threadwatch_webhook_deliveries_total" and value
    }
    assert deliveries == {
        ("alert", "retrying"): 1,
        ("alert", "failed"): 1,
        ("run", "retrying"): 1,
        ("run", "delivered"): 1,
    }
    assert of(found, "threadwatch_alert_deliveries_total", rule="hitl", outcome="retrying") == 1
    assert of(found, "threadwatch_alert_deliveries_total", rule="hitl", outcome="failed") == 1
    assert of(found, "threadwatch_queue_depth", queue=queue.name) == 0
