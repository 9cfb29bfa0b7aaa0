"""The metrics hash: counters and histograms every process adds to, and the one pipelined
read a scrape takes of them and of the indexes its gauges come from.

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
"""

from __future__ import annotations

import bisect
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis import Redis
from redis.client import Pipeline
from redis.exceptions import RedisError

from threadwatch.domain import ThreadStatus
from threadwatch.store.codec import text
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


def add_counts(redis: Redis, keys: Keys, counts: dict[str, int]) -> None:
    """Add each nonzero count to its counter field, in one round trip."""
    with redis.pipeline(transaction=False) as pipe:
        for name, n in counts.items():
            if n:
                count(pipe, keys, name, n)
        pipe.execute()


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
        add_counts(redis, keys, Counter(names))
    except RedisError as exc:
        log.warning("metrics %s not counted: %s", ", ".join(names), exc)
        return False
    return True


@dataclass(frozen=True)
class MetricsSnapshot:
    """What one scrape reads, all at one instant (one MULTI)."""

    counters: dict[str, float]
    threads: dict[str, int]
    oldest_since_us: dict[str, float | None]  # when the oldest thread entered each status
    runs: dict[str, int]
    lease_expired: int
    queue_depths: dict[str, int]
    rules: dict[str, tuple[int, int]]  # rule -> (threads firing, alerts claimed not queued)
    sweeper: dict[str, str]  # the last sweep's report (record_sweep); empty before any

    @property
    def sweeper_finished_at_us(self) -> float:
        return number(self.sweeper.get("last_finished_at"))

    @property
    def sweeper_duration_ms(self) -> float:
        return number(self.sweeper.get("last_duration_ms"))


def read_snapshot(
    redis: Redis,
    keys: Keys,
    now_us: int,
    queue_keys: dict[str, str],
    rules: Sequence[str],
) -> MetricsSnapshot:
    """The metrics hash and the gauges' sources in one round trip; ``queue_keys`` maps a
    queue name to the Redis list holding its jobs."""
    pipe = redis.pipeline(transaction=True)
    pipe.hgetall(keys.metrics())
    for status in STATUSES:
        pipe.zcard(keys.status(status))
        pipe.zrange(keys.status(status), 0, 0, withscores=True)
    for state in RUN_STATES:
        pipe.zcard(keys.runs_in(state))
    pipe.zcount(keys.leases(), "-inf", now_us)
    for queue_key in queue_keys.values():
        pipe.llen(queue_key)
    for rule in rules:
        pipe.hlen(keys.alert_state(rule))
        pipe.hlen(keys.alert_outbox(rule))
    pipe.hgetall(keys.sweeper())
    replies = iter(pipe.execute())
    counters = {text(k): number(v) for k, v in next(replies).items()}
    threads: dict[str, int] = {}
    oldest: dict[str, float | None] = {}
    for status in STATUSES:
        threads[status] = next(replies)
        lowest = next(replies)
        oldest[status] = lowest[0][1] if lowest else None
    runs = {state: next(replies) for state in RUN_STATES}
    lease_expired = next(replies)
    depths = {name: next(replies) for name in queue_keys}
    rule_counts = {rule: (next(replies), next(replies)) for rule in rules}
    sweeper = {text(k): text(v) for k, v in next(replies).items()}
    return MetricsSnapshot(
        counters, threads, oldest, runs, lease_expired, depths, rule_counts, sweeper
    )


def number(value: bytes | str | int | None) -> float:
    """A hash value as a float; absent or unreadable is 0."""
    if value is None:
        return 0.0
    try:
        return float(text(value) if not isinstance(value, int) else value)
    except ValueError:
        return 0.0
