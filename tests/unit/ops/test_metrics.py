"""The metrics collector on fakeredis: known data in, exact exposition out (parsed with
prometheus-client's parser); the increment helpers; webhook outcome counting; GET /metrics;
and deploy/prometheus/alerts.yml naming only metrics the collector exposes."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import fakeredis
import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from redis.exceptions import ConnectionError as RedisConnectionError

import threadwatch.webhooks.delivery as webhooks
from tests.support import ROOT
from tests.unit.helpers import make_client
from tests.unit.webhooks.test_webhooks import HookServer
from threadwatch.api.routes.metrics import QUEUES
from threadwatch.errors import WebhookUrlRejected
from threadwatch.ops.metrics import MetricsCollector
from threadwatch.queues import RUNS_QUEUE
from threadwatch.store.counters import (
    EVENT_DELAY_BUCKETS,
    RUN_DURATION_BUCKETS,
    bucket_of,
    count,
    count_quietly,
    field,
    observe,
)
from threadwatch.store.keys import Keys
from threadwatch.webhooks.delivery import (
    WEBHOOKS_QUEUE,
    WebhookDeliveryError,
    deliver_webhook,
    webhook_queue,
)

KEYS = Keys()
NOW = 1_750_000_000.0  # the collector's clock in these tests (seconds)
US = 1_000_000
ALERTS_FILE = ROOT / "deploy" / "prometheus" / "alerts.yml"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(redis: Any, rules: tuple[str, ...] = (), queues: tuple[str, ...] = QUEUES) -> str:
    registry = CollectorRegistry()
    registry.register(MetricsCollector(redis, KEYS, queues=queues, rules=rules, clock=lambda: NOW))
    return generate_latest(registry).decode()


def samples(text: str) -> Samples:
    """(sample name, sorted labels) -> value, from the text exposition."""
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            assert key not in out, key
            out[key] = sample.value
    return out


def of(found: Samples, name: str, **labels: str) -> float:
    return found[(name, tuple(sorted(labels.items())))]


def series(found: Samples, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: value for (n, labels), value in found.items() if n == name}


def seed(redis: fakeredis.FakeRedis) -> None:
    """Threads, runs, leases, queues, alert state, the sweeper hash and the metrics hash."""
    redis.zadd(KEYS.status("idle"), {"t-idle-1": (NOW - 10) * US, "t-idle-2": (NOW - 5) * US})
    redis.zadd(KEYS.status("interrupted"), {"t-int-1": (NOW - 7200) * US})
    redis.zadd(KEYS.status("busy"), {"t-busy-1": (NOW - 30) * US, "t-busy-2": (NOW - 90) * US})
    redis.zadd(KEYS.status("busy"), {"t-busy-3": (NOW - 1) * US})
    # error: none
    redis.zadd(KEYS.runs_in("pending"), {"r-1": 1})
    redis.zadd(KEYS.runs_in("running"), {"r-2": 2, "r-3": 3})
    redis.zadd(KEYS.leases(), {"r-2": (NOW - 1) * US, "r-3": (NOW + 20) * US, "r-4": NOW * US})
    redis.rpush(webhook_queue(redis).key, "job-1", "job-2")
    redis.hset(KEYS.alert_state("hitl"), mapping={"t-int-1": "{}"})
    redis.hset(KEYS.alert_state("other-rule"), mapping={"x": "{}", "y": "{}"})
    redis.hset(KEYS.alert_outbox("other-rule"), mapping={"y|firing|1|1": "{}"})
    redis.hset(KEYS.sweeper(), mapping={"last_finished_at": int((NOW - 12) * US)})
    redis.hset(KEYS.sweeper(), mapping={"last_duration_ms": "4.5"})
    redis.hset(
        KEYS.metrics(),
        mapping={
            "transitions|idle|busy": 5,
            "transitions|busy|interrupted": 2,
            "transitions|busy|error": 1,
            "events|applied": 9,
            "events|duplicate": 2,
            "reclaimed|failed": 3,
            "expired|delete": 4,
            "webhooks|run|delivered": 6,
            "webhooks|alert|retrying": 1,
            "alerts|hitl|delivered": 2,
            "alerts_fired|hitl|firing": 3,
            "alerts_fired|hitl|resolved": 1,
            "run_duration|le|0.1": 1,
            "run_duration|le|2.5": 2,
            "run_duration|le|3600": 1,
            "run_duration|le|+Inf": 1,
            "run_duration|sum": "7300.25",
            "run_duration|count": 5,
            "event_delay|le|0.001": 4,
            "event_delay|le|0.05": 1,
            "event_delay|sum": "0.052",
            "event_delay|count": 5,
        },
    )


def test_gauges_read_every_index(fake_redis: fakeredis.FakeRedis) -> None:
    seed(fake_redis)
    found = samples(scrape(fake_redis, rules=("hitl", "other-rule", "quiet")))

    assert series(found, "threadwatch_threads") == {
        (("status", "idle"),): 2,
        (("status", "busy"),): 3,
        (("status", "interrupted"),): 1,
        (("status", "error"),): 0,
    }
    assert of(found, "threadwatch_oldest_thread_age_seconds", status="idle") == 10
    assert of(found, "threadwatch_oldest_thread_age_seconds", status="busy") == 90
    assert of(found, "threadwatch_oldest_thread_age_seconds", status="interrupted") == 7200
    assert of(found, "threadwatch_oldest_thread_age_seconds", status="error") == 0
    assert of(found, "threadwatch_runs", status="pending") == 1
    assert of(found, "threadwatch_runs", status="running") == 2
    # r-2 ran out a second ago and r-4 exactly now (expired = score <= now); r-3 is live.
    assert of(found, "threadwatch_runs_lease_expired") == 2
    assert series(found, "threadwatch_queue_depth") == {
        (("queue", RUNS_QUEUE),): 0,
        (("queue", WEBHOOKS_QUEUE),): 2,
        (("queue", "threadwatch-maintenance"),): 0,
    }
    assert series(found, "threadwatch_stuck_threads") == {
        (("rule", "hitl"),): 1,
        (("rule", "other-rule"),): 2,
        (("rule", "quiet"),): 0,
    }
    assert series(found, "threadwatch_alerts_unqueued") == {
        (("rule", "hitl"),): 0,
        (("rule", "other-rule"),): 1,
        (("rule", "quiet"),): 0,
    }
    assert of(found, "threadwatch_sweeper_last_run_timestamp_seconds") == NOW - 12
    assert of(found, "threadwatch_sweeper_last_duration_seconds") == 0.0045


def test_counters_come_from_the_metrics_hash(fake_redis: fakeredis.FakeRedis) -> None:
    seed(fake_redis)
    found = samples(scrape(fake_redis, rules=("hitl",)))

    transitions = series(found, "threadwatch_transitions_total")
    assert len(transitions) == 12  # every from != to pair, 0 unless counted
    assert transitions[(("from", "idle"), ("to", "busy"))] == 5
    assert transitions[(("from", "busy"), ("to", "interrupted"))] == 2
    assert transitions[(("from", "busy"), ("to", "error"))] == 1
    assert sum(transitions.values()) == 8
    assert series(found, "threadwatch_run_events_total") == {
        (("result", "applied"),): 9,
        (("result", "duplicate"),): 2,
        (("result", "stale"),): 0,
    }
    assert series(found, "threadwatch_sweeper_reclaimed_runs_total") == {
        (("action", "failed"),): 3,
        (("action", "requeued"),): 0,
        (("action", "resumed"),): 0,
    }
    assert series(found, "threadwatch_threads_expired_total") == {
        (("strategy", "delete"),): 4,
        (("strategy", "keep_latest"),): 0,
    }
    deliveries = series(found, "threadwatch_webhook_deliveries_total")
    assert len(deliveries) == 8
    assert deliveries[(("kind", "run"), ("outcome", "delivered"))] == 6
    assert deliveries[(("kind", "alert"), ("outcome", "retrying"))] == 1
    assert sum(deliveries.values()) == 7
    alerts = series(found, "threadwatch_alert_deliveries_total")
    assert alerts[(("outcome", "delivered"), ("rule", "hitl"))] == 2
    assert sum(alerts.values()) == 2 and len(alerts) == 4
    fired = series(found, "threadwatch_alerts_total")
    assert fired == {
        (("rule", "hitl"), ("type", "firing")): 3,
        (("rule", "hitl"), ("type", "renotify")): 0,
        (("rule", "hitl"), ("type", "resolved")): 1,
    }


def test_histogram_buckets_are_cumulative_and_all_present(
    fake_redis: fakeredis.FakeRedis,
) -> None:
    seed(fake_redis)
    found = samples(scrape(fake_redis))

    duration = series(found, "threadwatch_run_duration_seconds_bucket")
    assert [dict(labels)["le"] for labels in duration] == [
        "0.1", "0.5", "1.0", "2.5", "5.0", "10.0", "30.0", "60.0", "120.0", "300.0", "600.0",
        "1800.0", "3600.0", "+Inf",
    ]  # fmt: skip
    assert list(duration.values()) == [1, 1, 1, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4, 5]
    assert of(found, "threadwatch_run_duration_seconds_count") == 5
    assert of(found, "threadwatch_run_duration_seconds_sum") == 7300.25

    delay = series(found, "threadwatch_event_visible_delay_seconds_bucket")
    assert len(delay) == len(EVENT_DELAY_BUCKETS) == 14
    assert of(found, "threadwatch_event_visible_delay_seconds_bucket", le="0.001") == 4
    assert of(found, "threadwatch_event_visible_delay_seconds_bucket", le="0.025") == 4
    assert of(found, "threadwatch_event_visible_delay_seconds_bucket", le="0.05") == 5
    assert of(found, "threadwatch_event_visible_delay_seconds_bucket", le="+Inf") == 5
    assert of(found, "threadwatch_event_visible_delay_seconds_sum") == 0.052


def test_an_empty_redis_gives_zeros_and_every_bucket(fake_redis: fakeredis.FakeRedis) -> None:
    found = samples(scrape(fake_redis))

    assert set(series(found, "threadwatch_threads").values()) == {0}
    assert set(series(found, "threadwatch_oldest_thread_age_seconds").values()) == {0}
    assert of(found, "threadwatch_runs_lease_expired") == 0
    assert of(found, "threadwatch_sweeper_last_run_timestamp_seconds") == 0
    assert series(found, "threadwatch_stuck_threads") == {}
    for name, buckets in (
        ("threadwatch_run_duration_seconds", RUN_DURATION_BUCKETS),
        ("threadwatch_event_visible_delay_seconds", EVENT_DELAY_BUCKETS),
    ):
        assert list(series(found, f"{name}_bucket").values()) == [0] * len(buckets)
        assert of(found, f"{name}_count") == 0 and of(found, f"{name}_sum") == 0


def test_no_thread_or_run_id_reaches_the_exposition(fake_redis: fakeredis.FakeRedis) -> None:
    seed(fake_redis)
    text = scrape(fake_redis, rules=("hitl",))
    for member in ("t-idle-1", "t-int-1", "t-busy-2", "r-2", "job-1", "x"):
        assert f'"{member}"' not in text
    label_names = {
        name
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        for name in sample.labels
    }
    assert label_names <= {"status", "queue", "rule", "from", "to", "result", "action"} | {
        "strategy", "outcome", "type", "kind", "le",
    }  # fmt: skip


def test_one_scrape_is_one_round_trip(
    fake_redis: fakeredis.FakeRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(fake_redis)
    executed: list[int] = []
    real_pipeline = fake_redis.pipeline

    def pipeline(*args: Any, **kwargs: Any) -> Any:
        pipe = real_pipeline(*args, **kwargs)
        real_execute = pipe.execute

        def execute(*a: Any, **k: Any) -> Any:
            executed.append(len(pipe.command_stack))
            return real_execute(*a, **k)

        pipe.execute = execute
        return pipe

    def direct(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a command outside the pipeline: {args[:2]}")

    monkeypatch.setattr(fake_redis, "pipeline", pipeline)
    monkeypatch.setattr(fake_redis, "execute_command", direct)
    found = samples(scrape(fake_redis, rules=("hitl", "other-rule")))
    # hgetall + 4 x (zcard, zrange) + 2 zcard + zcount + 3 llen + 2 x 2 hlen + hmget
    assert executed == [1 + 8 + 2 + 1 + 3 + 4 + 1]
    assert of(found, "threadwatch_threads", status="busy") == 3


def test_unknown_and_malformed_fields_are_ignored(fake_redis: fakeredis.FakeRedis) -> None:
    fake_redis.hset(
        KEYS.metrics(),
        mapping={
            "transitions|idle": 3,
            "nonsense|a|b": 1,
            "events|applied|x": 2,
            "events|stale": 1,
        },
    )
    found = samples(scrape(fake_redis))
    assert sum(series(found, "threadwatch_transitions_total").values()) == 0
    assert of(found, "threadwatch_run_events_total", result="applied") == 0
    assert of(found, "threadwatch_run_events_total", result="stale") == 1


# -- increment helpers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "bound"),
    [(0.0, "0.1"), (0.1, "0.1"), (0.11, "0.5"), (2.5, "2.5"), (3600, "3600"), (3600.5, "+Inf")],
)
def test_bucket_of_is_the_first_bound_at_or_above(value: float, bound: str) -> None:
    assert bucket_of(RUN_DURATION_BUCKETS, value) == bound


def test_count_and_observe_feed_the_collector(fake_redis: fakeredis.FakeRedis) -> None:
    count(fake_redis, KEYS, field("reclaimed", "requeued"))
    count(fake_redis, KEYS, field("reclaimed", "requeued"), 2)
    for seconds in (0.05, 0.7, 0.7, 9000):
        observe(fake_redis, KEYS, "run_duration", seconds)
    with fake_redis.pipeline() as pipe:
        observe(pipe, KEYS, "event_delay", 0.003)
        pipe.execute()
    assert fake_redis.hget(KEYS.metrics(), "run_duration|le|1") == b"2"

    found = samples(scrape(fake_redis))
    assert of(found, "threadwatch_sweeper_reclaimed_runs_total", action="requeued") == 3
    assert of(found, "threadwatch_run_duration_seconds_bucket", le="0.1") == 1
    assert of(found, "threadwatch_run_duration_seconds_bucket", le="0.5") == 1
    assert of(found, "threadwatch_run_duration_seconds_bucket", le="1.0") == 3
    assert of(found, "threadwatch_run_duration_seconds_bucket", le="3600.0") == 3
    assert of(found, "threadwatch_run_duration_seconds_count") == 4
    assert of(found, "threadwatch_run_duration_seconds_sum") == pytest.approx(9001.45)
    assert of(found, "threadwatch_event_visible_delay_seconds_bucket", le="0.0025") == 0
    assert of(found, "threadwatch_event_visible_delay_seconds_bucket", le="0.005") == 1


def down_redis() -> fakeredis.FakeRedis:
    """A fakeredis client whose server is down: every command raises ConnectionError."""
    server = fakeredis.FakeServer()
    server.connected = False
    return fakeredis.FakeRedis(server=server)


def test_count_quietly_survives_a_redis_outage(fake_redis: fakeredis.FakeRedis) -> None:
    assert count_quietly(fake_redis, KEYS, "webhooks|run|failed", "alerts|r|failed")
    assert fake_redis.hgetall(KEYS.metrics()) == {
        b"webhooks|run|failed": b"1",
        b"alerts|r|failed": b"1",
    }
    assert count_quietly(down_redis(), KEYS, "webhooks|run|failed") is False


# -- webhook delivery outcomes --------------------------------------------------------------


@pytest.fixture
def job(fake_redis: fakeredis.FakeRedis, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """deliver_webhook runs as if in an RQ job on fake_redis with 2 retries left."""
    current = SimpleNamespace(connection=fake_redis, retries_left=2)
    monkeypatch.setattr(webhooks, "get_current_job", lambda: current)
    return current


def counted(redis: fakeredis.FakeRedis) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in redis.hgetall(KEYS.metrics()).items()}


def test_delivery_outcomes_are_counted(
    fake_redis: fakeredis.FakeRedis, job: SimpleNamespace
) -> None:
    with HookServer([500, 500, 410]) as hook:
        with pytest.raises(WebhookDeliveryError):
            deliver_webhook(hook.url, "{}", {}, True)  # retrying (2 left)
        job.retries_left = 0
        with pytest.raises(WebhookDeliveryError):
            deliver_webhook(hook.url, "{}", {}, True, kind="alert", rule="hitl")  # failed
        job.retries_left = 3
        with pytest.raises(WebhookDeliveryError):  # 410 Gone: failed, retries ended
            deliver_webhook(hook.url, "{}", {}, True, kind="alert", rule="hitl")
        assert job.retries_left == 0
        job.retries_left = 1
        assert deliver_webhook(hook.url, "{}", {}, True, kind="alert", rule="hitl") == 200
        with pytest.raises(WebhookUrlRejected):
            deliver_webhook(hook.url, "{}", {}, False)  # loopback refused
    assert counted(fake_redis) == {
        "webhooks|run|retrying": 1,
        "webhooks|alert|failed": 2,
        "alerts|hitl|failed": 2,
        "webhooks|alert|delivered": 1,
        "alerts|hitl|delivered": 1,
        "webhooks|run|refused": 1,
    }


def test_counting_never_fails_a_delivery(job: SimpleNamespace) -> None:
    job.connection = down_redis()
    with HookServer() as hook:
        assert deliver_webhook(hook.url, "{}", {}, True, kind="alert", rule="hitl") == 200
        assert len(hook.requests) == 1


def test_outside_a_job_nothing_is_counted(fake_redis: fakeredis.FakeRedis) -> None:
    with HookServer() as hook:
        assert deliver_webhook(hook.url, "{}", {}, True) == 200
    assert counted(fake_redis) == {}


# -- GET /metrics ---------------------------------------------------------------------------


def test_the_route_serves_the_exposition(fake_redis: fakeredis.FakeRedis) -> None:
    seed(fake_redis)
    client = make_client(fake_redis)
    client.app.state.alert_rules = [SimpleNamespace(name="hitl"), "other-rule"]  # type: ignore[attr-defined]
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    found = samples(response.text)
    assert of(found, "threadwatch_threads", status="busy") == 3
    assert of(found, "threadwatch_queue_depth", queue=WEBHOOKS_QUEUE) == 2
    assert series(found, "threadwatch_stuck_threads") == {
        (("rule", "hitl"),): 1,
        (("rule", "other-rule"),): 2,
    }
    # only our collector: no process_* / python_* metrics of the serving process
    assert all(name.startswith("threadwatch_") for name, _ in found)


def test_the_route_without_configured_rules(fake_redis: fakeredis.FakeRedis) -> None:
    response = make_client(fake_redis).get("/metrics")
    assert response.status_code == 200
    assert series(samples(response.text), "threadwatch_stuck_threads") == {}


# -- deploy/prometheus/alerts.yml -----------------------------------------------------------

METRIC_NAME = re.compile(r"\bthreadwatch_[a-z_]+\b")


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS_FILE.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_alert_rules_name_only_exposed_metrics(fake_redis: fakeredis.FakeRedis) -> None:
    exposed = {name for name, _ in samples(scrape(fake_redis, rules=("hitl",)))}
    rules = alert_rules()
    assert rules
    for rule in rules:
        assert {"alert", "expr", "labels", "annotations"} <= rule.keys(), rule
        assert rule["labels"]["severity"] in ("warning", "critical")
        names = set(METRIC_NAME.findall(rule["expr"]))
        assert names, rule["alert"]
        assert names <= exposed, (rule["alert"], names - exposed)
        assert "thread_id" not in rule["expr"]


def test_alert_rules_cover_the_issues_four_cases() -> None:
    exprs = {rule["alert"]: rule["expr"] for rule in alert_rules()}
    needed = {
        'threadwatch_oldest_thread_age_seconds{status="interrupted"}': "interrupted too long",
        "threadwatch_runs_lease_expired": "busy with no live lease",
        'threadwatch_transitions_total{to="error"}': "error rate",
        "threadwatch_sweeper_last_run_timestamp_seconds": "sweeper not running",
    }
    for needle, case in needed.items():
        assert any(needle in expr for expr in exprs.values()), case
    sweeper = next(e for e in exprs.values() if "sweeper_last_run" in e)
    assert "absent(" in sweeper and "time()" in sweeper


def test_an_unreachable_redis_fails_the_scrape() -> None:
    with pytest.raises(RedisConnectionError):
        scrape(down_redis())


def test_the_lua_scripts_use_the_same_buckets() -> None:
    """The scripts hardcode the bounds (all but +Inf, their fallback): they must match."""
    lua = (ROOT / "app/store/lua/lib/status_change.lua").read_text()
    for name, buckets in (
        ("RUN_DURATION_BUCKETS", RUN_DURATION_BUCKETS),
        ("EVENT_DELAY_BUCKETS", EVENT_DELAY_BUCKETS),
    ):
        match = re.search(rf"local {name} = \{{([^}}]*)\}}", lua)
        assert match, name
        assert tuple(re.findall(r"'([^']+)'", match.group(1))) + ("+Inf",) == buckets
