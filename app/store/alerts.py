"""The stuck-thread alerts' side of Redis: the threads a rule's status and filter hold since
a cutoff, the claim script (lua/alerts.lua) that decides which alerts to send, and each
rule's state hash and outbox (ops/alerts/evaluate.py holds the rules' logic and delivery)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import orjson
from redis import Redis

from threadwatch.store.codec import RawJSON, redis_now_us, text, thread_id_of, thread_member
from threadwatch.store.counters import add_counts, field
from threadwatch.store.keys import Keys
from threadwatch.store.leaf_sets import leaf_sets
from threadwatch.store.metadata_index import contains
from threadwatch.store.scripts import Scripts

PAGE = 1000  # ids read per range or set page
_FIELDS_PER_DECISION = 11


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


@dataclass(frozen=True)
class RuleQuery:
    """What a rule asks of the store: threads in ``status`` whose metadata is in every
    leaf set of ``leaves`` and, unless the sets decide alone (``exact``), contains
    ``metadata``."""

    name: str
    status: str
    leaves: Sequence[str]
    metadata: dict[str, Any]
    exact: bool
    renotify_us: int


class AlertStore:
    """Reads and claims of the stuck-thread rules; one per sweep."""

    def __init__(self, redis: Redis, keys: Keys, scripts: Scripts | None = None) -> None:
        self.redis = redis
        self.keys = keys
        self.scripts = scripts or Scripts(redis)

    def now_us(self) -> int:
        """Redis's clock: the one status_since is written with."""
        return redis_now_us(self.redis)

    def tracked(self, rule: str) -> list[str]:
        """Threads the rule has an alert state for (firing, or to resolve)."""
        return [text(member) for member in self.redis.hkeys(self.keys.alert_state(rule))]

    def candidates(self, rule: RuleQuery, cutoff: int) -> list[str]:
        """Threads in the rule's status since ``cutoff`` or before, in every leaf set of its
        filter for that status; read from the cheaper side (the score range, or the smallest
        leaf set)."""
        redis = self.redis
        status = self.keys.status(rule.status)
        leaves = leaf_sets(redis, self.keys, sorted(rule.leaves), rule.status)
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
                rows = zip(page, *flags, strict=True)
                found += [thread_id_of(m) for m, *held in rows if all(held)]
            else:
                found += map(thread_id_of, page)
            if len(page) < PAGE:
                return found
            start += PAGE

    def claim(
        self, rule: RuleQuery, ids: list[str], now_us: int, cutoff: int
    ) -> tuple[int, list[Decision]]:
        """Run the claim script on one batch: (threads matching, the alerts to send)."""
        keys = self.keys
        leaves = leaf_sets(self.redis, keys, sorted(rule.leaves), rule.status)
        verdicts = self._verdicts(rule, ids)
        args: list[Any] = ["claim", now_us, cutoff, rule.renotify_us, len(leaves)]
        for thread_id, (mver, verdict) in zip(ids, verdicts, strict=True):
            args += [thread_id, thread_member(thread_id), mver, verdict]
        reply = self.scripts.alerts(
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
            decision_of(reply[i : i + _FIELDS_PER_DECISION])
            for i in range(1, len(reply), _FIELDS_PER_DECISION)
        ]
        return int(reply[0]), decisions

    def _verdicts(self, rule: RuleQuery, ids: list[str]) -> list[tuple[str, str]]:
        """(metadata version, "1"/"0") per thread when the leaf sets do not decide alone."""
        if rule.exact:
            return [("", "")] * len(ids)
        pipe = self.redis.pipeline(transaction=False)
        for thread_id in ids:
            pipe.hmget(self.keys.thread(thread_id), "metadata", "mver")
        out = []
        for metadata, mver in pipe.execute():
            held = metadata is not None and contains(RawJSON(metadata).load(), rule.metadata)
            out.append(((mver or b"0").decode(), "1" if held else "0"))
        return out

    # -- the outbox ------------------------------------------------------------------

    def outbox(self, rule: str) -> dict[str, tuple[bytes, dict[str, Any]]]:
        """The rule's claimed alerts not yet queued: outbox key -> (entry as stored, parsed)."""
        raw = self.redis.hgetall(self.keys.alert_outbox(rule))
        return {text(key): (value, orjson.loads(value)) for key, value in raw.items()}

    def lease_outbox(self, rule: str, entries: dict[str, tuple[bytes, bytes]]) -> list[str]:
        """Take over outbox entries (key -> (as read, as rewritten)) still as read; the keys
        taken (another sweep may have taken or cleared some meanwhile)."""
        args: list[Any] = ["lease"]
        for key, (was, now) in entries.items():
            args += [key, was, now]
        taken = self.scripts.alerts(keys=[self.keys.alert_outbox(rule)], args=args)
        return [text(key) for key in taken]

    def drop_from_outbox(self, rule: str, outbox_keys: Sequence[str]) -> None:
        if outbox_keys:
            self.redis.hdel(self.keys.alert_outbox(rule), *outbox_keys)

    def undo(self, rule: str, decisions: Iterable[Decision]) -> None:
        """Undo claims whose webhooks were not queued, so that the next sweep decides again."""
        args: list[Any] = ["undo"]
        for d in decisions:
            args += [d.thread_id, d.before, d.after, d.outbox_key]
        if len(args) > 1:
            keys = [self.keys.alert_state(rule), self.keys.alert_outbox(rule)]
            self.scripts.alerts(keys=keys, args=args)

    def queued(self, rule: str, outbox_keys: Sequence[str], sent: dict[str, int]) -> None:
        """Alerts whose webhooks are queued: out of the outbox, and counted by type."""
        self.drop_from_outbox(rule, outbox_keys)
        counts = {field("alerts_fired", rule, kind): n for kind, n in sent.items()}
        add_counts(self.redis, self.keys, counts)


def _pages(items: Iterable[bytes]) -> Iterable[list[bytes]]:
    page: list[bytes] = []
    for item in items:
        page.append(item)
        if len(page) == PAGE:
            yield page
            page = []
    if page:
        yield page


def decision_of(raw: list[Any]) -> Decision:
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
