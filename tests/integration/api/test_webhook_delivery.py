"""Webhook delivery through a real RQ queue on a real Redis: an in-process SimpleWorker POSTs
to a local HTTP server (allow_private=True, since it listens on 127.0.0.1).

Retries with interval 0 are requeued at once and taken by the same burst worker; retries
with an interval wait in the ScheduledJobRegistry until a worker with the scheduler runs.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from rq import Queue, SimpleWorker
from rq.job import Job, JobStatus
from standardwebhooks import Webhook

from tests.unit.webhooks.test_webhooks import RUN, SPEC_SECRET, HookServer
from threadwatch.errors import WebhookUrlRejected
from threadwatch.webhooks.delivery import (
    FAILURE_TTL,
    WEBHOOKS_QUEUE,
    enqueue_webhook,
    webhook_queue,
)
from threadwatch.webhooks.policy import run_webhook_payload


class QuietWorker(SimpleWorker):
    """A SimpleWorker that leaves the test process's signal handlers alone."""

    def _install_signal_handlers(self) -> None:
        pass


@pytest.fixture
def queue(redis_client: redis.Redis) -> Queue:
    return webhook_queue(redis_client)


@pytest.fixture
def hook() -> Iterator[HookServer]:
    with HookServer() as server:
        yield server


def work(queue: Queue, with_scheduler: bool = False) -> None:
    QuietWorker([queue], connection=queue.connection).work(
        burst=True, with_scheduler=with_scheduler
    )


def payload() -> dict[str, Any]:
    return run_webhook_payload(RUN, "success", None, None, {"answer": 42})


def enqueue(queue: Queue, url: str, **options: Any) -> Job:
    options = {"secret": None, "allow_private": True, "intervals": [0], **options}
    job = enqueue_webhook(queue, url, payload(), **options)
    assert job is not None
    return job


def test_delivered_on_the_first_attempt(queue: Queue, hook: HookServer) -> None:
    job = enqueue(queue, hook.url + "?token=query-secret", secret=SPEC_SECRET)
    assert queue.name == WEBHOOKS_QUEUE
    assert job.description.startswith("webhook msg_") and job.description.endswith(" 127.0.0.1")
    assert "query-secret" not in job.description and SPEC_SECRET not in job.description
    assert job.failure_ttl == FAILURE_TTL and job.result_ttl is not None and job.result_ttl <= 3600

    work(queue)

    assert job.get_status(refresh=True) == JobStatus.FINISHED
    assert job.return_value() == 200
    [request] = hook.requests
    body = Webhook(SPEC_SECRET).verify(request["body"], request["headers"])
    assert body["status"] == "success" and body["values"] == {"answer": 42}
    assert body["run_id"] == RUN["run_id"] and body["webhook_sent_at"]


def test_delivered_on_the_third_attempt(queue: Queue, hook: HookServer) -> None:
    hook.statuses = [500, 503]
    job = enqueue(queue, hook.url, secret=SPEC_SECRET, max_retries=5)

    work(queue)

    assert job.get_status(refresh=True) == JobStatus.FINISHED
    assert len(hook.requests) == 3
    job.refresh()
    assert job.retries_left == 3
    ids = {r["headers"]["webhook-id"] for r in hook.requests}
    assert len(ids) == 1  # one message, however many attempts
    sent = [json.loads(r["body"])["webhook_sent_at"] for r in hook.requests]
    assert len(set(sent)) == 3  # stamped at each attempt
    for request in hook.requests:  # each attempt signed afresh
        Webhook(SPEC_SECRET).verify(request["body"], request["headers"])


def test_fails_after_the_last_retry(queue: Queue, hook: HookServer) -> None:
    hook.statuses = [500] * 10
    job = enqueue(queue, hook.url, max_retries=2)

    work(queue)

    assert len(hook.requests) == 3
    assert job.get_status(refresh=True) == JobStatus.FAILED
    assert job.id in queue.failed_job_registry.get_job_ids()


def test_gone_ends_the_retries(queue: Queue, hook: HookServer) -> None:
    hook.statuses = [410, 500, 500]
    job = enqueue(queue, hook.url, max_retries=5)

    work(queue)

    assert len(hook.requests) == 1
    assert job.get_status(refresh=True) == JobStatus.FAILED


def test_a_blocked_host_is_refused_at_enqueue(queue: Queue) -> None:
    with pytest.raises(WebhookUrlRejected) as raised:
        enqueue_webhook(queue, "http://localhost:2024/hook", payload(), secret=None,
                        allow_private=False)  # fmt: skip
    assert raised.value.status_code == 422
    assert raised.value.detail == "Webhook host blocked: localhost address"
    with pytest.raises(WebhookUrlRejected, match="^Webhook host blocked: loopback IP range$"):
        enqueue_webhook(queue, "http://127.0.0.1:2024/hook", payload(), secret=None,
                        allow_private=False)  # fmt: skip
    assert queue.count == 0


def test_a_name_rebound_to_loopback_fails_without_retries(
    queue: Queue, hook: HookServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Accepted at enqueue (no lookup there); at delivery it resolves to 127.0.0.1."""
    job = enqueue(queue, f"http://rebind.example.com:{hook.port}/hook", allow_private=False)

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    work(queue)

    assert hook.requests == []
    assert job.get_status(refresh=True) == JobStatus.FAILED
    assert "loopback IP range" in (job.latest_result().exc_string or "")


def test_a_retry_with_an_interval_waits_for_the_scheduler(queue: Queue, hook: HookServer) -> None:
    hook.statuses = [500]
    job = enqueue(queue, hook.url, max_retries=1, intervals=[1])

    work(queue)
    assert len(hook.requests) == 1
    assert job.get_status(refresh=True) == JobStatus.SCHEDULED
    assert job.id in queue.scheduled_job_registry.get_job_ids()

    time.sleep(1.1)
    work(queue, with_scheduler=True)  # a burst worker's scheduler enqueues what is due
    assert len(hook.requests) == 2
    assert job.get_status(refresh=True) == JobStatus.FINISHED
