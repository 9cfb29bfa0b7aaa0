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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import orjson
from redis import Redis
from rq import Queue
from rq.job import Job

from threadwatch.errors import WebhookUrlRejected
from threadwatch.ops.alerts.rules import AlertRule
from threadwatch.store.codec import (
    RawJSON,
    redis_now_us,
    text,
    thread_id_of,
    thread_member,
    us_to_iso,
)
from threadwatch.store.keys import Keys
from threadwatch.store.leaf_sets import leaf_sets
from threadwatch.store.metadata_index import contains
from threadwatch.store.scripts import Scripts
from threadwatch.webhooks.delivery import enqueue_webhook

log = logging.getLogger(__name__)

PAGE = 1000  # ids read per range or set page
CLAIM_BATCH = 200  # threads decided per script call
ALERT_TYPES = ("firing", "renotify", "resolved")
_FIELDS_PER_DECISION = 11
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


@dataclass(frozen=True)
class Decision:
    """One alert the claim script decided to send."""

    thread_id: str
    type: str  # firing / renotify / resolved
    since_us: int  # status_since of the status entry the alert is about
    notifications: int  # alerts of the entry so far, this one included (resolved: sent)
    before: str  # the state hash entry before the claim ("" = none)
    after: str  # and after it
    metadata: bytes
    interrupts: bytes
    status: str  # the thread's status now ("" when deleted)
    status_since_us: int | None  # and since when
    outbox_key: str  # its entry in the rule's outbox


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
    if now_us is None:
        now_us = redis_now_us(redis)
    scripts = Scripts(redis)
    sweep = AlertSweep()
    for rule in rules:
        sweep.rules[rule.name] = _evaluate(
            redis, keys, scripts, rule, now_us, queue=queue, secret=secret,
            allow_private=allow_private,
        )  # fmt: skip
    return sweep


def _evaluate(
    redis: Redis,
    keys: Keys,
    scripts: Scripts,
    rule: AlertRule,
    now_us: int,
    **delivery: Any,
) -> RuleSweep:
    result = RuleSweep()
    _recover(redis, keys, scripts, rule, now_us, result, **delivery)
    cutoff = now_us - rule.older_than_us
    tracked = [text(member) for member in redis.hkeys(keys.alert_state(rule.name))]
    ids = list(dict.fromkeys([*matching_candidates(redis, keys, rule, cutoff), *tracked]))
    for start in range(0, len(ids), CLAIM_BATCH):
        batch = ids[start : start + CLAIM_BATCH]
        matching, decisions = _claim(redis, keys, scripts, rule, batch, now_us, cutoff)
        result.matching += matching
        _deliver(redis, keys, scripts, rule, decisions, now_us, result, **delivery)
    return result


def matching_candidates(redis: Redis, keys: Keys, rule: AlertRule, cutoff: int) -> list[str]:
    """Threads in the rule's status since ``cutoff`` or before, in every leaf set of its
    filter for that status; read from the cheaper side (the score range, or the smallest
    leaf set)."""
    status = keys.status(rule.status)
    leaves = leaf_sets(redis, keys, sorted(rule.compiled_filter.leaves), rule.status)
    pipe = redis.pipeline(transaction=False)
    pipe.zcount(status, "-inf", cutoff)
    for leaf in leaves:
        pipe.scard(leaf)
    in_range, *sizes = pipe.execute()
    if not in_range or 0 in sizes:
        return []
    if leaves and min(sizes) < in_range:
        driver = leaves[sizes.index(min(sizes))]
        others = [leaf for leaf in leaves if leaf != driver]
        found = []
        for page in _pages(redis.sscan_iter(driver, count=PAGE)):
            pipe = redis.pipeline(transaction=False)
            pipe.zmscore(status, cast(list[Any], page))
            for leaf in others:
                pipe.smismember(leaf, page)
            scores, *flags = pipe.execute()
            found += [
                thread_id_of(member)
                for member, score, *held in zip(page, scores, *flags, strict=True)
                if score is not None and score <= cutoff and all(held)
            ]
        return found
    found, start = [], 0
    while True:
        page = cast(list[bytes], redis.zrangebyscore(status, "-inf", cutoff, start, PAGE))
        if leaves and page:
            pipe = redis.pipeline(transaction=False)
            for leaf in leaves:
                pipe.smismember(leaf, page)
            flags = pipe.execute()
            found += [thread_id_of(m) for m, *held in zip(page, *flags, strict=True) if all(held)]
        else:
            found += map(thread_id_of, page)
        if len(page) < PAGE:
            return found
        start += PAGE


def _pages(items: Iterable[bytes]) -> Iterable[list[bytes]]:
    page: list[bytes] = []
    for item in items:
        page.append(item)
        if len(page) == PAGE:
            yield page
            page = []
    if page:
        yield page


def _claim(
    redis: Redis,
    keys: Keys,
    scripts: Scripts,
    rule: AlertRule,
    ids: list[str],
    now_us: int,
    cutoff: int,
) -> tuple[int, list[Decision]]:
    """Run the claim script on one batch: (threads matching, the alerts to send)."""
    leaves = leaf_sets(redis, keys, sorted(rule.compiled_filter.leaves), rule.status)
    verdicts = _verdicts(redis, keys, rule, ids)
    args: list[Any] = ["claim", now_us, cutoff, rule.renotify_us, len(leaves)]
    for thread_id, (mver, verdict) in zip(ids, verdicts, strict=True):
        args += [thread_id, thread_member(thread_id), mver, verdict]
    reply = scripts.alerts(
        keys=[
            keys.alert_state(rule.name),
            keys.status(rule.status),
            keys.alert_outbox(rule.name),
            *leaves,
            *(keys.thread(t) for t in ids),
        ],
        args=args,
    )
    decisions = [
        _decision(reply[i : i + _FIELDS_PER_DECISION])
        for i in range(1, len(reply), _FIELDS_PER_DECISION)
    ]
    return int(reply[0]), decisions


def _verdicts(redis: Redis, keys: Keys, rule: AlertRule, ids: list[str]) -> list[tuple[str, str]]:
    """(metadata version, "1"/"0") per thread when the leaf sets do not decide alone."""
    if rule.compiled_filter.exact:
        return [("", "")] * len(ids)
    pipe = redis.pipeline(transaction=False)
    for thread_id in ids:
        pipe.hmget(keys.thread(thread_id), "metadata", "mver")
    out = []
    for metadata, mver in pipe.execute():
        held = metadata is not None and contains(RawJSON(metadata).load(), rule.metadata)
        out.append(((mver or b"0").decode(), "1" if held else "0"))
    return out


def _decision(raw: list[Any]) -> Decision:
    thread_id, kind, since, n, before, after, metadata, interrupts, status, status_since, key = raw
    return Decision(
        thread_id=thread_id.decode(),
        type=kind.decode(),
        since_us=int(since),
        notifications=int(n),
        before=before.decode(),
        after=after.decode(),
        metadata=metadata or b"{}",
        interrupts=interrupts or b"{}",
        status=status.decode(),
        status_since_us=int(status_since) if status_since else None,
        outbox_key=key.decode(),
    )


def _recover(
    redis: Redis,
    keys: Keys,
    scripts: Scripts,
    rule: AlertRule,
    now_us: int,
    result: RuleSweep,
    **delivery: Any,
) -> None:
    """Queue the alerts a sweep claimed, then died before queueing (their outbox entries
    older than OUTBOX_GRACE_US), after leasing them to this sweep; each as it was claimed."""
    outbox = keys.alert_outbox(rule.name)
    entries = {key: (raw, orjson.loads(raw)) for key, raw in redis.hgetall(outbox).items()}
    left = {
        key: (raw, entry)
        for key, (raw, entry) in entries.items()
        if int(entry["claimed_at"]) <= now_us - OUTBOX_GRACE_US
    }
    if not left:
        return
    args: list[Any] = ["lease"]
    for key, (raw, entry) in left.items():
        args += [key, raw, orjson.dumps({**entry, "claimed_at": str(now_us)})]
    leased = scripts.alerts(keys=[outbox], args=args)
    by_claim: dict[int, list[Decision]] = {}
    for key in leased:
        entry = left[key][1]
        decision = _decision([value.encode() for value in entry["decision"]] + [key])
        by_claim.setdefault(int(entry["claimed_at"]), []).append(decision)
    for claimed_at, decisions in by_claim.items():
        queued = [d for d in decisions if Job.exists(event_id(rule.name, d), connection=redis)]
        if queued:  # queued before the sweep died: only their outbox entries were left
            redis.hdel(outbox, *(d.outbox_key for d in queued))
        todo = [d for d in decisions if d not in queued]
        _deliver(redis, keys, scripts, rule, todo, claimed_at, result, recovery=True, **delivery)


def _deliver(
    redis: Redis,
    keys: Keys,
    scripts: Scripts,
    rule: AlertRule,
    decisions: list[Decision],
    now_us: int,
    result: RuleSweep,
    *,
    queue: Queue,
    secret: str | None,
    allow_private: bool,
    recovery: bool = False,
) -> None:
    """Queue each decided alert (its RQ job id is its webhook id) and clear its outbox
    entry; undo the claims that could not be queued (a recovered alert Redis could not take
    stays leased in the outbox, for a later sweep); count them."""
    undo: list[str] = []
    sent: dict[str, int] = {}
    queued: list[str] = []
    for decision in decisions:
        payload = alert_payload(rule, decision, now_us)
        refused = False
        try:
            job = enqueue_webhook(
                queue, rule.webhook, payload, secret=secret, allow_private=allow_private,
                msg_id=payload["event_id"], job_id=payload["event_id"], kind="alert",
                rule=rule.name,
            )  # fmt: skip
        except (WebhookUrlRejected, ValueError) as exc:
            log.error("alert rule %s: webhook not queued: %s", rule.name, exc)
            job, refused = None, True
        if job is None:
            if refused or not recovery:
                undo += [decision.thread_id, decision.before, decision.after, decision.outbox_key]
            result.failed += 1
            continue
        queued.append(decision.outbox_key)
        sent[decision.type] = sent.get(decision.type, 0) + 1
        result.recovered += recovery
    if undo:
        outbox = keys.alert_outbox(rule.name)
        scripts.alerts(keys=[keys.alert_state(rule.name), outbox], args=["undo", *undo])
    if queued:
        pipe = redis.pipeline(transaction=False)
        pipe.hdel(keys.alert_outbox(rule.name), *queued)
        for kind, n in sent.items():
            pipe.hincrby(keys.metrics(), f"alerts_fired|{rule.name}|{kind}", n)
        pipe.execute()
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
