"""One sweep of the stuck-thread rules: find the threads each rule matches, claim the
alerts to send atomically (lua/alerts.lua), and queue their webhooks.

A rule matches the threads its status zset holds with a score (status_since) at or before
now - older_than, that are in every metadata leaf set of its filter (and, for filters the
sets only narrow, whose stored metadata contains it): score ranges and set members, never
a scan of every thread. One alert per (rule, thread, status entry), the entry being the
thread's status_since: ``alert.firing`` when it first matches, ``alert.renotify`` each
``renotify_every`` while it still does, ``alert.resolved`` once it does not (it left the
status, entered it again, was deleted, or its metadata no longer matches).

Delivery is at least once: a claim whose webhook cannot be queued is undone so the next
sweep tries again, and each claimed alert waits in the rule's outbox, written by the claim,
until its webhook is queued. One left there OUTBOX_GRACE_US after its claim (its sweeper died
in between) is queued by a later sweep, under the same webhook id (its RQ job id too: one
still known to RQ is not queued again).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from redis import Redis
from rq import Queue
from rq.job import Job

from threadwatch.errors import WebhookUrlRejected
from threadwatch.ops.alerts.rules import AlertRule
from threadwatch.store.alerts import AlertStore, Decision, RuleQuery, decision_of
from threadwatch.store.codec import RawJSON, us_to_iso
from threadwatch.store.keys import Keys
from threadwatch.webhooks.delivery import enqueue_webhook

log = logging.getLogger(__name__)

CLAIM_BATCH = 200  # threads decided per script call
ALERT_TYPES = ("firing", "renotify", "resolved")
# An alert in the outbox this long after its claim was left by a sweeper that died: far
# longer than a live sweeper takes to queue a batch.
OUTBOX_GRACE_US = 60_000_000


@dataclass
class RuleSweep:
    """What one rule did in one sweep."""

    matching: int = 0  # threads the rule matched
    fired: int = 0
    renotified: int = 0
    resolved: int = 0
    failed: int = 0  # alerts not queued: their claims were undone, the next sweep retries
    recovered: int = 0  # alerts claimed by a sweep that died before queueing them, queued


@dataclass
class AlertSweep:
    """Counts of one sweep, per rule name and in total."""

    rules: dict[str, RuleSweep] = field(default_factory=dict)

    @property
    def matching(self) -> int:
        return sum(r.matching for r in self.rules.values())

    @property
    def fired(self) -> int:
        return sum(r.fired for r in self.rules.values())

    @property
    def renotified(self) -> int:
        return sum(r.renotified for r in self.rules.values())

    @property
    def resolved(self) -> int:
        return sum(r.resolved for r in self.rules.values())

    @property
    def failed(self) -> int:
        return sum(r.failed for r in self.rules.values())

    @property
    def recovered(self) -> int:
        return sum(r.recovered for r in self.rules.values())

    @property
    def total(self) -> int:
        """Alerts queued: fired + renotified + resolved."""
        return self.fired + self.renotified + self.resolved


def evaluate_rules(
    redis: Redis,
    keys: Keys,
    rules: Sequence[AlertRule],
    *,
    queue: Queue,
    secret: str | None,
    allow_private: bool,
    now_us: int | None = None,
) -> AlertSweep:
    """Evaluate every rule once; ``now_us`` defaults to the Redis server's clock."""
    store = AlertStore(redis, keys)
    if now_us is None:
        now_us = store.now_us()
    sweep = AlertSweep()
    for rule in rules:
        delivery = Delivery(store, rule, queue, secret, allow_private)
        sweep.rules[rule.name] = _evaluate(delivery, now_us)
    return sweep


@dataclass
class Delivery:
    """Where one rule's alerts go, and the store they are claimed in."""

    store: AlertStore
    rule: AlertRule
    queue: Queue
    secret: str | None
    allow_private: bool

    @property
    def query(self) -> RuleQuery:
        rule = self.rule
        return RuleQuery(
            name=rule.name,
            status=rule.status.value,
            leaves=sorted(rule.compiled_filter.leaves),
            metadata=rule.metadata or {},
            exact=rule.compiled_filter.exact,
            renotify_us=rule.renotify_us,
        )


def _evaluate(delivery: Delivery, now_us: int) -> RuleSweep:
    result = RuleSweep()
    store, rule, query = delivery.store, delivery.rule, delivery.query
    _recover(delivery, now_us, result)
    cutoff = now_us - rule.older_than_us
    tracked = store.tracked(rule.name)
    ids = list(dict.fromkeys([*store.candidates(query, cutoff), *tracked]))
    for start in range(0, len(ids), CLAIM_BATCH):
        batch = ids[start : start + CLAIM_BATCH]
        matching, decisions = store.claim(query, batch, now_us, cutoff)
        result.matching += matching
        _deliver(delivery, decisions, now_us, result)
    return result


def _recover(delivery: Delivery, now_us: int, result: RuleSweep) -> None:
    """Queue the alerts a sweep claimed, then died before queueing (their outbox entries
    older than OUTBOX_GRACE_US), after leasing them to this sweep; each as it was claimed."""
    store, rule = delivery.store, delivery.rule
    left = {
        key: (raw, entry)
        for key, (raw, entry) in store.outbox(rule.name).items()
        if int(entry["claimed_at"]) <= now_us - OUTBOX_GRACE_US
    }
    if not left:
        return
    rewritten = {
        key: (raw, orjson.dumps({**entry, "claimed_at": str(now_us)}))
        for key, (raw, entry) in left.items()
    }
    by_claim: dict[int, list[Decision]] = {}
    for key in store.lease_outbox(rule.name, rewritten):
        entry = left[key][1]
        decision = decision_of([value.encode() for value in entry["decision"]] + [key.encode()])
        by_claim.setdefault(int(entry["claimed_at"]), []).append(decision)
    connection = store.redis  # RQ reads its own keys with it
    for claimed_at, decisions in by_claim.items():
        queued = [d for d in decisions if Job.exists(event_id(rule.name, d), connection)]
        # Queued before the sweep died: only their outbox entries were left.
        store.drop_from_outbox(rule.name, [d.outbox_key for d in queued])
        todo = [d for d in decisions if d not in queued]
        _deliver(delivery, todo, claimed_at, result, recovery=True)


def _deliver(
    delivery: Delivery,
    decisions: list[Decision],
    now_us: int,
    result: RuleSweep,
    recovery: bool = False,
) -> None:
    """Queue each decided alert (its RQ job id is its webhook id) and clear its outbox
    entry; undo the claims that could not be queued (a recovered alert Redis could not take
    stays leased in the outbox, for a later sweep); count them."""
    rule = delivery.rule
    undo: list[Decision] = []
    sent: dict[str, int] = {}
    queued: list[str] = []
    for decision in decisions:
        payload = alert_payload(rule, decision, now_us)
        refused = False
        try:
            job = enqueue_webhook(
                delivery.queue, rule.webhook, payload, secret=delivery.secret,
                allow_private=delivery.allow_private, msg_id=payload["event_id"],
                job_id=payload["event_id"], kind="alert", rule=rule.name,
            )  # fmt: skip
        except (WebhookUrlRejected, ValueError) as exc:
            log.error("alert rule %s: webhook not queued: %s", rule.name, exc)
            job, refused = None, True
        if job is None:
            if refused or not recovery:
                undo.append(decision)
            result.failed += 1
            continue
        queued.append(decision.outbox_key)
        sent[decision.type] = sent.get(decision.type, 0) + 1
        result.recovered += recovery
    delivery.store.undo(rule.name, undo)
    if queued:
        delivery.store.queued(rule.name, queued, sent)
    result.fired += sent.get("firing", 0)
    result.renotified += sent.get("renotify", 0)
    result.resolved += sent.get("resolved", 0)


def event_id(rule: str, decision: Decision) -> str:
    """The webhook-id: the same for every sweep that could claim this very alert."""
    key = f"{rule}\n{decision.thread_id}\n{decision.since_us}\n{decision.type}"
    return "alert_" + hashlib.sha256(f"{key}\n{decision.notifications}".encode()).hexdigest()[:32]


def alert_payload(rule: AlertRule, decision: Decision, now_us: int) -> dict[str, Any]:
    """The webhook body: what the alert is about, the thread's metadata and interrupts."""
    ended = now_us
    if decision.type == "resolved" and decision.status_since_us is not None:
        if decision.status_since_us > decision.since_us:  # when it left the entry
            ended = min(now_us, decision.status_since_us)
    payload: dict[str, Any] = {
        "type": f"alert.{decision.type}",
        "event_id": event_id(rule.name, decision),
        "rule": rule.name,
        "thread_id": decision.thread_id,
        "status": rule.status.value,
        "status_since": us_to_iso(decision.since_us),
        "age_seconds": round(max(0, ended - decision.since_us) / 1_000_000, 3),
        "metadata": RawJSON(decision.metadata),
        "interrupts": RawJSON(decision.interrupts),
        "notified_at": us_to_iso(now_us),
        "notifications": decision.notifications,
    }
    if decision.type == "resolved":
        payload["current_status"] = decision.status or None
    return payload
