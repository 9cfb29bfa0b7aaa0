"""Webhook delivery: one POST per attempt, run as an RQ job (threadwatch_workers.jobs)
retried by RQ with backoff.

Every attempt re-checks the URL policy: it resolves the host, checks every address, and
connects to a checked address (the name is not looked up again, so DNS rebinding cannot
swap the target), keeping the Host header and TLS SNI/certificate checks on the name.
Redirects are not followed: a 3xx is a failed attempt, as Standard Webhooks recommends.
Logs name the host only: never the body, the query string, headers or secrets.
Each attempt's outcome is counted in the metrics hash (app/store/counters.py): delivered,
retrying, failed (no retry left, or 410 Gone) or refused (URL policy).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx
from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.job import Job, get_current_job

from threadwatch import __version__
from threadwatch.errors import WebhookUrlRejected
from threadwatch.queues import DELIVER_WEBHOOK, WEBHOOKS_QUEUE
from threadwatch.settings import get_settings
from threadwatch.store.counters import count_quietly, field
from threadwatch.store.keys import Keys
from threadwatch.webhooks.policy import (
    SENT_AT_FIELD,
    IPAddress,
    WebhookTarget,
    check_addresses,
    new_msg_id,
    parse_webhook_url,
    resolve_host,
    signature_headers,
    signing_key,
    webhook_body,
    with_sent_at,
)

log = logging.getLogger(__name__)

TIMEOUT = httpx.Timeout(10.0, connect=5.0)
JOB_TIMEOUT = 60  # seconds: DNS + connect + the 10 s answer, with room to spare
RESULT_TTL = 300  # a delivered webhook's job is kept 5 minutes
FAILURE_TTL = 86_400  # a failed one a day, in the queue's FailedJobRegistry
MAX_RETRY_INTERVAL = 3600
USER_AGENT = f"threadwatch/{__version__}"


class WebhookDeliveryError(Exception):
    """A failed attempt (no connection, timeout, or a non-2xx answer): RQ retries it."""


def backoff(max_retries: int) -> list[int]:
    """Seconds before each retry, doubling from 1 s: 5 retries -> [1, 2, 4, 8, 16]."""
    return [min(2**i, MAX_RETRY_INTERVAL) for i in range(max_retries)]


def webhook_queue(connection: Any) -> Queue:
    """The dedicated webhooks queue on a Redis connection."""
    return Queue(WEBHOOKS_QUEUE, connection=connection)


def enqueue_webhook(
    queue: Queue,
    url: str,
    payload: Mapping[str, Any],
    *,
    secret: str | None,
    allow_private: bool,
    max_retries: int = 5,
    intervals: Sequence[int] | None = None,
    headers: Mapping[str, str] | None = None,
    msg_id: str | None = None,
    job_id: str | None = None,
    kind: str = "run",
    rule: str | None = None,
) -> Job | None:
    """Queue one webhook; returns the job, or None when Redis could not take it (logged).

    Raises WebhookUrlRejected (422) for a URL refused without a DNS lookup (the job checks
    the resolved addresses at each attempt), and ValueError for a malformed secret (a
    configuration error); never for delivery. A ``webhook_sent_at`` member of the payload
    is set again at each attempt. ``intervals`` default to ``backoff(max_retries)``.
    ``kind`` (run / alert) and ``rule`` (an alert rule's name) label the outcome counters.
    ``job_id`` names the RQ job (default: a new one).
    """
    target = parse_webhook_url(url, allow_private)
    if secret is not None:
        signing_key(secret)  # a malformed secret is a configuration error: ValueError now
    body = webhook_body({k: v for k, v in payload.items() if k != SENT_AT_FIELD})
    msg_id = msg_id or new_msg_id()
    retry = None
    if max_retries > 0:
        retry = Retry(max=max_retries, interval=list(intervals or backoff(max_retries)))
    options = {
        "secret": secret,
        "msg_id": msg_id,
        "stamp_sent_at": SENT_AT_FIELD in payload,
        "kind": kind,
        "rule": rule,
    }
    try:
        return queue.enqueue(
            DELIVER_WEBHOOK,
            args=(target.url, body, dict(headers or {}), allow_private),
            kwargs=options,
            retry=retry,
            job_timeout=JOB_TIMEOUT,
            result_ttl=RESULT_TTL,
            failure_ttl=FAILURE_TTL,
            job_id=job_id,
            description=f"webhook {msg_id} to {target.host}",
        )
    except RedisError as exc:
        log.error("webhook %s to %s not queued: %s", msg_id, target.host, exc)
        return None


def deliver_webhook(
    url: str,
    body: str,
    headers: dict[str, str],
    allow_private: bool,
    *,
    secret: str | None = None,
    msg_id: str | None = None,
    stamp_sent_at: bool = False,
    kind: str = "run",
    rule: str | None = None,
) -> int:
    """POST ``body`` to ``url`` and return the 2xx status; raise on anything else.

    WebhookDeliveryError (retried by RQ): no connection, timeout, DNS failure, non-2xx.
    A refused target (WebhookUrlRejected) or 410 Gone also raises but ends the retries.
    ``secret`` signs each attempt (Standard Webhooks; ``msg_id`` stays the same). Run as an
    RQ job, the outcome is counted under ``kind`` (and ``rule``) on the job's Redis.
    """
    try:
        status = _deliver(url, body, headers, allow_private, secret, msg_id, stamp_sent_at)
    except WebhookUrlRejected:
        _count_outcome(kind, rule, "refused")
        raise
    except Exception:
        job = get_current_job()
        _count_outcome(kind, rule, "retrying" if job is not None and job.retries_left else "failed")
        raise
    _count_outcome(kind, rule, "delivered")
    return status


def _deliver(
    url: str,
    body: str,
    headers: dict[str, str],
    allow_private: bool,
    secret: str | None,
    msg_id: str | None,
    stamp_sent_at: bool,
) -> int:
    target, address = _checked_target(url, allow_private)
    content = with_sent_at(body) if stamp_sent_at else body
    status = _post(target, address, content, _attempt_headers(headers, content, secret, msg_id))
    if 200 <= status < 300:
        return status
    if status == 410:  # Gone: the receiver asks us to stop (Standard Webhooks)
        _give_up()
    log.warning("webhook to %s failed: HTTP %d%s", target.host, status, _retries_note())
    raise WebhookDeliveryError(f"webhook to {target.host} answered HTTP {status}")


def _count_outcome(kind: str, rule: str | None, outcome: str) -> None:
    """Count one attempt on the running job's Redis (nothing outside a job); a Redis error
    is logged, never raised: counting must not fail a delivery."""
    job = get_current_job()
    if job is None:
        return
    names = [field("webhooks", kind, outcome)]
    if rule is not None:
        names.append(field("alerts", rule, outcome))
    count_quietly(job.connection, Keys(get_settings().key_prefix), *names)


def _checked_target(url: str, allow_private: bool) -> tuple[WebhookTarget, IPAddress]:
    """The target and the checked address to connect to (policy re-applied now)."""
    try:
        target = parse_webhook_url(url, allow_private)
        if target.ip is not None:
            return target, target.ip
        try:
            addresses = resolve_host(target.host, target.port)
        except OSError as exc:  # a lookup failure may pass: retry
            log.warning("webhook to %s failed: DNS: %s%s", target.host, exc, _retries_note())
            raise WebhookDeliveryError(f"webhook to {target.host}: DNS resolution failed") from exc
        check_addresses(addresses, allow_private)
        return target, addresses[0]
    except WebhookUrlRejected as exc:
        _give_up()
        log.warning("webhook to %s refused: %s", _host_of(url), exc.detail)
        raise


def _attempt_headers(
    headers: Mapping[str, str], body: str, secret: str | None, msg_id: str | None
) -> dict[str, str]:
    out = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers}
    if secret:
        out.update(signature_headers(secret, body, msg_id=msg_id or new_msg_id()))
    return out


def _post(target: WebhookTarget, address: IPAddress, body: str, headers: dict[str, str]) -> int:
    """One POST to ``address`` for ``target``; the status (the answer's body is not read)."""
    url = httpx.URL(target.url)
    extensions = {"sni_hostname": target.host} if url.scheme == "https" else {}
    with httpx.Client(timeout=TIMEOUT, follow_redirects=False, trust_env=False) as client:
        request = client.build_request(
            "POST",
            url.copy_with(host=str(address)),
            content=body.encode(),
            headers={**headers, "Host": url.netloc.decode("ascii")},
            extensions=extensions,
        )
        try:
            response = client.send(request, stream=True)
        except httpx.HTTPError as exc:
            kind = type(exc).__name__
            log.warning("webhook to %s failed: %s%s", target.host, kind, _retries_note())
            raise WebhookDeliveryError(f"webhook to {target.host}: {kind}") from exc
        response.close()
    return response.status_code


def _give_up() -> None:
    """End the retries of the running job: another attempt cannot succeed.

    RQ's worker reads ``job.retries_left`` of this very object after the job raises.
    """
    job = get_current_job()
    if job is not None:
        job.retries_left = 0


def _retries_note() -> str:
    job = get_current_job()
    if job is None or not job.retries_left:
        return " (final attempt)" if job is not None else ""
    return f" ({job.retries_left} retries left)"


def _host_of(url: str) -> str:
    try:
        return urlsplit(url).hostname or "?"
    except ValueError:
        return "?"
