"""Prometheus metrics read from Redis at each scrape, so that every process agrees.

The counters and histograms are the metrics hash (``threadwatch.store.counters``). Gauges come
from the indexes themselves (status sets, run indexes, leases, RQ queues, alert state, the
sweeper hash). ``MetricsCollector`` reads all of it in one pipelined round trip.
No metric has a thread id label.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString
from redis import Redis
from rq import Queue

from threadwatch.store.counters import (
    ALERT_TYPES,
    CRON_OUTCOMES,
    EVENT_RESULTS,
    HISTOGRAMS,
    OUTCOMES,
    RECLAIM_ACTIONS,
    RUN_STATES,
    STATUSES,
    TTL_STRATEGIES,
    US,
    WEBHOOK_KINDS,
    MetricsSnapshot,
    field,
    read_snapshot,
)
from threadwatch.store.keys import Keys


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
        snapshot = read_snapshot(self.redis, self.keys, round(now * US), self.queues, self.rules)
        yield from self._gauges(snapshot, now)
        yield from self._counters(snapshot.counters)
        yield from self._histograms(snapshot.counters)

    def _gauges(self, snapshot: MetricsSnapshot, now: float) -> Iterator[Metric]:
        threads = GaugeMetricFamily("threadwatch_threads", "Threads per status.", labels=["status"])
        oldest = GaugeMetricFamily(
            "threadwatch_oldest_thread_age_seconds",
            "Time the oldest thread of each status has been in it (0 when none).",
            labels=["status"],
        )
        for status in STATUSES:
            threads.add_metric([status], snapshot.threads[status])
            since = snapshot.oldest_since_us[status]
            oldest.add_metric([status], 0.0 if since is None else max(0.0, now - since / US))
        yield threads
        yield oldest
        runs = GaugeMetricFamily("threadwatch_runs", "Runs pending or running.", labels=["status"])
        for state in RUN_STATES:
            runs.add_metric([state], snapshot.runs[state])
        yield runs
        yield GaugeMetricFamily(
            "threadwatch_runs_lease_expired",
            "Runs whose lease ran out (their worker stopped renewing it), not yet swept.",
            value=snapshot.lease_expired,
        )
        depth = GaugeMetricFamily(
            "threadwatch_queue_depth", "Jobs waiting in each RQ queue.", labels=["queue"]
        )
        for name, length in snapshot.queue_depths.items():
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
        for rule, (firing, claimed) in snapshot.rules.items():
            stuck.add_metric([rule], firing)
            unqueued.add_metric([rule], claimed)
        yield stuck
        yield unqueued
        yield GaugeMetricFamily(
            "threadwatch_sweeper_last_run_timestamp_seconds",
            "When the last sweep finished, seconds since the epoch (0: never).",
            value=snapshot.sweeper_finished_at_us / US,
        )
        yield GaugeMetricFamily(
            "threadwatch_sweeper_last_duration_seconds",
            "How long the last sweep took.",
            value=snapshot.sweeper_duration_ms / 1000,
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
