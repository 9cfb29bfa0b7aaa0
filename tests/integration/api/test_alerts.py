"""A stuck-thread alert end to end: the real API moves the thread (POST /runs/events), the
sweep's evaluate_rules claims on a real Redis, a real RQ worker (in-process SimpleWorker,
burst) POSTs to a local HTTP receiver, and the receiver checks the Standard Webhooks
signature with the secret. The alert arrives exactly once, re-notifies after the interval
and resolves when the thread is resumed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import redis
from rq import Queue
from standardwebhooks import Webhook

from tests.integration.api.test_webhook_delivery import work
from tests.integration.helpers import INTERRUPTS, event, new_id, post_events
from tests.unit.helpers import make_stores
from tests.unit.webhooks.test_webhooks import SPEC_SECRET, HookServer
from threadwatch.models import RunEvent
from threadwatch.ops.alerts.evaluate import AlertSweep, evaluate_rules
from threadwatch.ops.alerts.rules import load_rules
from threadwatch.settings import Settings
from threadwatch.store.keys import Keys
from threadwatch.webhooks.delivery import webhook_queue

KEYS = Keys()
HOUR_US = 3_600_000_000


@pytest.fixture
def hook() -> Iterator[HookServer]:
    with HookServer() as server:
        yield server


def server_now(client: redis.Redis) -> int:
    seconds, micros = client.time()
    return int(seconds) * 1_000_000 + int(micros)


def sweep(client: redis.Redis, rules: Any, queue: Queue, now_us: int | None = None) -> AlertSweep:
    result = evaluate_rules(
        client, KEYS, rules, queue=queue, secret=SPEC_SECRET, allow_private=True, now_us=now_us
    )
    work(queue)  # deliver what the sweep queued
    return result


def received(hook: HookServer) -> list[dict[str, Any]]:
    """Every body the receiver got, each signature verified with the secret."""
    bodies = []
    for request in hook.requests:
        body = Webhook(SPEC_SECRET).verify(request["body"], request["headers"])
        assert request["headers"]["webhook-id"] == body["event_id"]
        bodies.append(body)
    return bodies


def test_an_alert_fires_once_renotifies_and_resolves(
    http: httpx.Client, redis_client: redis.Redis, hook: HookServer
) -> None:
    rules = load_rules(
        Settings(
            alert_rules=[
                {
                    "name": "support-stuck",
                    "status": "interrupted",
                    "older_than": "15m",
                    "metadata": {"team": "support"},
                    "webhook": hook.url,
                    "renotify_every": "1h",
                }
            ],
            webhook_allow_private=True,
        )
    )
    queue = webhook_queue(redis_client)
    stuck, other = new_id(), new_id()
    twenty_minutes_ago = (datetime.now(UTC) - timedelta(minutes=20)).isoformat()
    for thread_id, team in ((stuck, "support"), (other, "sales")):
        created = http.post("/threads", json={"thread_id": thread_id, "metadata": {"team": team}})
        assert created.status_code == 200, created.text
        run_id = new_id()
        post_events(
            http,
            [
                event(thread_id, run_id, "run.started", at=twenty_minutes_ago),
                event(thread_id, run_id, "run.interrupted", at=twenty_minutes_ago,
                      interrupts=INTERRUPTS),
            ],
        )  # fmt: skip

    # Fires once, to the receiver, signed.
    assert sweep(redis_client, rules, queue).fired == 1
    [firing] = received(hook)
    assert firing["type"] == "alert.firing" and firing["rule"] == "support-stuck"
    assert firing["thread_id"] == stuck and firing["status"] == "interrupted"
    assert firing["metadata"] == {"team": "support"} and firing["interrupts"] == INTERRUPTS
    assert 20 * 60 - 5 < firing["age_seconds"] < 20 * 60 + 60
    assert datetime.fromisoformat(firing["status_since"]) == datetime.fromisoformat(
        twenty_minutes_ago
    )

    # Not again on the next sweeps.
    for _ in range(2):
        assert sweep(redis_client, rules, queue).total == 0
    assert len(hook.requests) == 1

    # Re-notified once the interval has passed (the sweep is told the time).
    assert sweep(redis_client, rules, queue, server_now(redis_client) + HOUR_US).renotified == 1
    assert [b["type"] for b in received(hook)] == ["alert.firing", "alert.renotify"]
    assert received(hook)[1]["status_since"] == firing["status_since"]

    # Resumed: a new run starts (busy), the alert resolves, once.
    resume = new_id()
    post_events(http, [event(stuck, resume, "run.pending"), event(stuck, resume, "run.started")])
    assert sweep(redis_client, rules, queue).resolved == 1
    post_events(http, [event(stuck, resume, "run.succeeded")])
    assert sweep(redis_client, rules, queue, server_now(redis_client) + 2 * HOUR_US).total == 0

    bodies = received(hook)
    assert [b["type"] for b in bodies] == ["alert.firing", "alert.renotify", "alert.resolved"]
    assert bodies[2]["current_status"] == "busy" and bodies[2]["thread_id"] == stuck
    assert len({b["event_id"] for b in bodies}) == 3
    assert redis_client.hlen(KEYS.alert_state("support-stuck")) == 0
    fired = [f"alerts_fired|support-stuck|{kind}" for kind in ("firing", "renotify", "resolved")]
    names = ["alerts|support-stuck|delivered", "webhooks|alert|delivered", *fired]
    counters = [int(v or 0) for v in redis_client.hmget(KEYS.metrics(), names)]
    assert counters == [3, 3, 1, 1, 1]


def test_a_failing_delivery_is_retried_by_rq_not_claimed_again(
    redis_client: redis.Redis, hook: HookServer
) -> None:
    """The receiver answers 500: RQ schedules a retry of the same message (backoff), and
    the sweeps meanwhile claim nothing new."""
    stores = make_stores(redis_client)
    thread_id = new_id()
    stores.threads.create(thread_id, {})
    two_hours_ago = datetime.now(UTC) - timedelta(hours=2)
    failed = event(thread_id, new_id(), "run.failed", at=two_hours_ago)
    stores.runs.apply([RunEvent.model_validate(failed)])
    rule = {"name": "errors", "status": "error", "older_than": "1h", "webhook": hook.url}
    rules = load_rules(Settings(alert_rules=[rule], webhook_allow_private=True))
    hook.statuses = [500]
    queue = webhook_queue(redis_client)

    assert sweep(redis_client, rules, queue).fired == 1
    [job_id] = queue.scheduled_job_registry.get_job_ids()  # the retry, in 1 s
    for _ in range(2):
        assert sweep(redis_client, rules, queue).total == 0
    assert len(hook.requests) == 1 and queue.scheduled_job_registry.get_job_ids() == [job_id]
    body = json.loads(hook.requests[0]["body"])
    assert body["type"] == "alert.firing" and body["thread_id"] == thread_id
