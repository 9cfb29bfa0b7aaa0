"""Prometheus metrics read from Redis at each scrape, so that every process agrees.

Counters and histograms live in one hash (``Keys.metrics()``), incremented atomically by the
Lua scripts and by Python (``count``, ``observe``); its fields are ``|``-separated:

    transitions|<from>|<to>         thread status changes
    events|<result>                 run events: applied / duplicate / stale
    reclaimed|<action>              runs the sweeper took from lost workers: failed / requeued,
                                    or whose cut-short hand-off it resumed (resumed)
    expired|<strategy>              threads whose TTL ran out: delete / keep_latest
    crons|<outcome>                 cron firings: fired (a run created) / failed (refused)
    webhooks|<kind>|<outcome>       webhook attempts; kind run / alert, outcome in OUTCOMES
    alerts|<rule>|<outcome>         alert webhook attempts of one rule
    alerts_fired|<rule>|<type>      alerts queued: firing / renotify / resolved
    <histogram>|le|<bound>          observations in that bucket only (not cumulative); bound
                                    spelled as in the bucket lists below, ``+Inf`` last
    <histogram>|sum, <histogram>|count (the exposition's _count is the +Inf bucket's
                                    cumulative count, which equals it)

Gauges come from the indexes themselves (status sets, run indexes, leases, RQ queues, alert
state, the sweeper hash). ``MetricsCollector`` reads all of it in one pipelined round trip.
No metric has a thread id label.
"""

from __future__ import annotations

import bisect
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString
from redis import Redis
from redis.client import Pipeline
from redis.exceptions import RedisError
from rq import Queue

from threadwatch.domain import ThreadStatus
from threadwatch.store.keys import Keys

log = logging.getLogger(__name__)

# Histogram bounds in seconds, spelled as in the hash fields (the Lua scripts hardcode the
# same lists: change both together).
RUN_DURATION_BUCKETS = (
    "0.1", "0.5", "1", "2.5", "5", "10", "30", "60", "120", "300", "600", "1800", "3600", "+Inf",
)  # fmt: skip
EVENT_DELAY_BUCKETS = (
    "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5",
    "10", "+Inf",
)  # fmt: skip
HISTOGRAMS = {"run_duration": RUN_DURATION_BUCKETS, "event_delay": EVENT_DELAY_BUCKETS}

STATUSES = tuple(s.value for s in ThreadStatus)
RUN_STATES = ("pending", "running")
EVENT_RESULTS = ("applied", "duplicate", "stale")
RECLAIM_ACTIONS = ("failed", "requeued", "resumed")
TTL_STRATEGIES = ("delete", "keep_latest")
CRON_OUTCOMES = ("fired", "failed")
WEBHOOK_KINDS = ("run", "alert")
OUTCOMES = ("delivered", "retrying", "failed", "refused")
ALERT_TYPES = ("firing", "renotify", "resolved")

US = 1_000_000


def field(*parts: str) -> str:
    """A metrics hash field: ``field("webhooks", "run", "delivered")``."""
    return "|".join(parts)


def count(redis: Any, keys: Keys, name: str, n: int = 1) -> None:
    """Add ``n`` to one counter field (``redis`` may be a pipeline)."""
    redis.hincrby(keys.metrics(), name, n)


def bucket_of(buckets: Sequence[str], value: float) -> str:
    """The bound of the bucket ``value`` falls in (le: the first bound >= value)."""
    bounds = [float(b) for b in buckets]
    return buckets[bisect.bisect_left(bounds, value)]


def observe(redis: Redis, keys: Keys, histogram: str, value: float) -> None:
    """Record one observation of a histogram of HISTOGRAMS: bucket, sum and count together
    (in one MULTI, or on the pipeline given)."""
    if not isinstance(redis, Pipeline):
        with redis.pipeline(transaction=True) as pipe:
            observe(pipe, keys, histogram, value)
            pipe.execute()
        return
    bound = bucket_of(HISTOGRAMS[histogram], value)
    redis.hincrby(keys.metrics(), field(histogram, "le", bound), 1)
    redis.hincrbyfloat(keys.metrics(), field(histogram, "sum"), value)
    redis.hincrby(keys.metrics(), field(histogram, "count"), 1)


def count_quietly(redis: Redis, keys: Keys, *names: str) -> bool:
    """Add 1 to each counter field, in one round trip, for code paths that must not fail
    because of a metric: a Redis error is logged and gives False."""
    try:
        with redis.pipeline(transaction=False) as pipe:
            for name in names:
                count(pipe, keys, name)
            pipe.execute()
    except RedisError as exc:
        log.warning("metrics %s not counted: %s", ", ".join(names), exc)
        return False
    return True


class MetricsCollector:
    """prometheus-client collector: reads Redis at each ``collect()`` in one round trip.

    ``queues`` are RQ queue names (their depth is exported), ``rules`` the names of the
    configured stuck-thread alert rules. ``clock`` returns seconds since the epoch.
    """

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        *,
        queues: Sequence[str] = (),
        rules: Sequence[str] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.queues = {name: Queue(name, connection=redis).key for name in queues}
        self.rules = tuple(rules)
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        now = self.clock()
        raw = self._read(round(now * US))
        counters = {_text(k): _number(v) for k, v in raw["metrics"].items()}
        yield from self._gauges(raw, now)
        yield from self._counters(counters)
        yield from self._histograms(counters)

    def _read(self, now_us: int) -> dict[str, Any]:
        keys = self.keys
        pipe = self.redis.pipeline(transaction=True)
        pipe.hgetall(keys.metrics())
        for status in STATUSES:
            pipe.zcard(keys.status(status))
            pipe.zrange(keys.status(status), 0, 0, withscores=True)
        for state in RUN_STATES:
            pipe.zcard(keys.runs_in(state))
        pipe.zcount(keys.leases(), "-inf", now_us)
        for queue_key in self.queues.values():
            pipe.llen(queue_key)
        for rule in self.rules:
            pipe.hlen(keys.alert_state(rule))
            pipe.hlen(keys.alert_outbox(rule))
        pipe.hmget(keys.sweeper(), ["last_finished_at", "last_duration_ms"])
        replies = iter(pipe.execute())
        raw: dict[str, Any] = {"metrics": next(replies), "threads": {}, "oldest": {}}
        for status in STATUSES:
            raw["threads"][status] = next(replies)
            lowest = next(replies)
            raw["oldest"][status] = lowest[0][1] if lowest else None
        raw["runs"] = {state: next(replies) for state in RUN_STATES}
        raw["lease_expired"] = next(replies)
        raw["queues"] = {name: next(replies) for name in self.queues}
        raw["rules"] = {rule: (next(replies), next(replies)) for rule in self.rules}
        raw["sweeper"] = next(replies)
        return raw

    def _gauges(self, raw: dict[str, Any], now: float) -> Iterator[Metric]:
        threads = GaugeMetricFamily("threadwatch_threads", "Threads per status.", labels=["status"])
        oldest = GaugeMetricFamily(
            "threadwatch_oldest_thread_age_seconds",
            "Time the oldest thread of each status has been in it (0 when none).",
            labels=["status"],
        )
        for status in STATUSES:
            threads.add_metric([status], raw["threads"][status])
            since = raw["oldest"][status]
            oldest.add_metric([status], 0.0 if since is None else max(0.0, now - since / US))
        yield threads
        yield oldest
        runs = GaugeMetricFamily("threadwatch_runs", "Runs pending or running.", labels=["status"])
        for state in RUN_STATES:
            runs.add_metric([state], raw["runs"][state])
        yield runs
        yield GaugeMetricFamily(
            "threadwatch_runs_lease_expired",
            "Runs whose lease ran out (their worker stopped renewing it), not yet swept.",
            value=raw["lease_expired"],
        )
        depth = GaugeMetricFamily(
            "threadwatch_queue_depth", "Jobs waiting in each RQ queue.", labels=["queue"]
        )
        for name, length in raw["queues"].items():
            depth.add_metric([name], length)
        yield depth
        stuck = GaugeMetricFamily(
            "threadwatch_stuck_threads",
            "Threads each stuck-thread alert rule currently fires for.",
            labels=["rule"],
        )
        unqueued = GaugeMetricFamily(
            "threadwatch_alerts_unqueued",
            "Alerts each rule claimed that are not queued yet (a sweeper that died before "
            "queueing them leaves them for a later sweep, a minute after the claim).",
            labels=["rule"],
        )
        for rule, (firing, claimed) in raw["rules"].items():
            stuck.add_metric([rule], firing)
            unqueued.add_metric([rule], claimed)
        yield stuck
        yield unqueued
        finished_at, duration_ms = raw["sweeper"]
        yield GaugeMetricFamily(
            "threadwatch_sweeper_last_run_timestamp_seconds",
            "When the last sweep finished, seconds since the epoch (0: never).",
            value=_number(finished_at) / US,
        )
        yield GaugeMetricFamily(
            "threadwatch_sweeper_last_duration_seconds",
            "How long the last sweep took.",
            value=_number(duration_ms) / 1000,
        )

    def _counters(self, counters: dict[str, float]) -> Iterator[Metric]:
        rules = self.rules
        specs: list[tuple[str, str, str, list[str], Iterable[tuple[str, ...]]]] = [
            (
                "threadwatch_transitions",
                "transitions",
                "Thread status changes.",
                ["from", "to"],
                ((a, b) for a in STATUSES for b in STATUSES if a != b),
            ),
            (
                "threadwatch_run_events",
                "events",
                "Run events by result.",
                ["result"],
                ((r,) for r in EVENT_RESULTS),
            ),
            (
                "threadwatch_sweeper_reclaimed_runs",
                "reclaimed",
                "Runs the sweeper took back from lost workers, by what it did.",
                ["action"],
                ((a,) for a in RECLAIM_ACTIONS),
            ),
            (
                "threadwatch_threads_expired",
                "expired",
                "Threads whose TTL ran out, by strategy.",
                ["strategy"],
                ((s,) for s in TTL_STRATEGIES),
            ),
            (
                "threadwatch_cron_firings",
                "crons",
                "Cron firings, by outcome: a run created (fired) or refused (failed).",
                ["outcome"],
                ((o,) for o in CRON_OUTCOMES),
            ),
            (
                "threadwatch_alert_deliveries",
                "alerts",
                "Stuck-thread alert webhook attempts, by rule and outcome.",
                ["rule", "outcome"],
                ((r, o) for r in rules for o in OUTCOMES),
            ),
            (
                "threadwatch_alerts",
                "alerts_fired",
                "Stuck-thread alerts queued, by rule and type.",
                ["rule", "type"],
                ((r, t) for r in rules for t in ALERT_TYPES),
            ),
            (
                "threadwatch_webhook_deliveries",
                "webhooks",
                "Webhook delivery attempts, by kind and outcome.",
                ["kind", "outcome"],
                ((k, o) for k in WEBHOOK_KINDS for o in OUTCOMES),
            ),
        ]
        for name, prefix, doc, labels, known in specs:
            values = dict.fromkeys(known, 0.0)  # known series start at 0
            for key, value in counters.items():
                parts = tuple(key.split("|"))
                if parts[0] == prefix and len(parts) == len(labels) + 1:
                    values[parts[1:]] = value
            family = CounterMetricFamily(name, doc, labels=labels)
            for labelset, value in sorted(values.items()):
                family.add_metric(list(labelset), value)
            yield family

    def _histograms(self, counters: dict[str, float]) -> Iterator[Metric]:
        docs = {
            "run_duration": ("threadwatch_run_duration_seconds", "Run duration, start to end."),
            "event_delay": (
                "threadwatch_event_visible_delay_seconds",
                "Delay from a run event's time to its effect being visible in Redis.",
            ),
        }
        for histogram, buckets in HISTOGRAMS.items():
            name, doc = docs[histogram]
            cumulative = 0.0
            rows = []
            for bound in buckets:
                cumulative += counters.get(field(histogram, "le", bound), 0.0)
                rows.append((floatToGoString(bound), cumulative))
            family = HistogramMetricFamily(name, doc, labels=[])
            family.add_metric([], rows, counters.get(field(histogram, "sum"), 0.0))
            yield family


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _number(value: bytes | str | int | None) -> float:
    """A hash value as a float; absent or unreadable is 0."""
    if value is None:
        return 0.0
    try:
        return float(_text(value) if not isinstance(value, int) else value)
    except ValueError:
        return 0.0
