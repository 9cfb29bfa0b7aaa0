"""Stuck-thread alerts on fakeredis: rule validation and loading, and evaluate_rules firing,
re-notifying and resolving exactly once per (rule, thread, status entry), with a recording
queue in place of RQ (tests/integration/test_alerts.py delivers through a real one).

Threads are moved with run events at times BASE_TIME + t (tests/unit/helpers.py `at`) and
every sweep is given its `now`, so that nothing depends on the clock.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import fakeredis
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from rq import Queue

from tests.unit.helpers import BASE_TIME, KEYS, at, event, make_stores, us
from threadwatch.ops.alerts import evaluate as evaluate_module
from threadwatch.ops.alerts.evaluate import AlertSweep, evaluate_rules
from threadwatch.ops.alerts.rules import AlertRule, AlertRuleError, load_rules, parse_duration
from threadwatch.settings import Settings
from threadwatch.store import alerts as alert_store_module
from threadwatch.store.alerts import AlertStore
from threadwatch.store.codec import us_to_iso
from threadwatch.store.stores import Stores

HOOK = "https://hooks.example.com/alerts?token=abc"
MIN = 60.0
SUPPORT = {"team": "support"}
INTERRUPTS = {"task-1": [{"id": "i-1", "value": {"question": "approve?"}}]}


def rule(**fields: Any) -> AlertRule:
    base = {
        "name": "support-stuck",
        "status": "interrupted",
        "older_than": "15m",
        "metadata": SUPPORT,
        "webhook": HOOK,
    }
    return AlertRule.model_validate({**base, **fields})


def at_us(seconds: float) -> int:
    return us(at(seconds))


class RecordingQueue:
    """Stands in for the RQ queue: records what enqueue_webhook queued."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.calls: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def enqueue(self, func: Callable[..., Any], *, args: tuple, kwargs: dict, **opts: Any) -> Any:
        if self.fail:
            raise RedisConnectionError("queue unavailable")
        with self.lock:
            self.calls.append({"body": json.loads(args[1]), "url": args[0], **kwargs})
        return object()

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [c["body"] for c in self.calls]

    def types(self) -> list[tuple[str, str]]:
        return [(b["type"], b["thread_id"]) for b in self.bodies]


@pytest.fixture
def queue() -> RecordingQueue:
    return RecordingQueue()


def sweep(
    stores: Stores, rules: list[AlertRule], now: float, queue: RecordingQueue, **kw: Any
) -> AlertSweep:
    options = {"secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "allow_private": False, **kw}
    return evaluate_rules(stores.redis, KEYS, rules, queue=queue, now_us=at_us(now), **options)


def new_thread(stores: Stores, metadata: dict[str, Any] | None = None) -> str:
    thread_id = str(uuid.uuid4())
    stores.threads.create(thread_id, metadata if metadata is not None else SUPPORT)
    return thread_id


def move(stores: Stores, thread_id: str, type: str, when: float, **fields: Any) -> None:
    """One run's terminal event at `when`: interrupted, idle (succeeded), error (failed)."""
    if type == "run.interrupted":
        fields.setdefault("interrupts", INTERRUPTS)
    stores.runs.apply([event(thread_id, str(uuid.uuid4()), type, at=at(when), **fields)])


def interrupted(stores: Stores, when: float = 0, metadata: dict[str, Any] | None = None) -> str:
    thread_id = new_thread(stores, metadata)
    move(stores, thread_id, "run.interrupted", when)
    return thread_id


def state(stores: Stores, name: str = "support-stuck") -> dict[str, str]:
    raw = stores.redis.hgetall(KEYS.alert_state(name))
    return {k.decode(): v.decode() for k, v in raw.items()}


def fired_counter(stores: Stores, kind: str, name: str = "support-stuck") -> int:
    return int(stores.redis.hget(KEYS.metrics(), f"alerts_fired|{name}|{kind}") or 0)


# -- durations and rules -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(90, 90), (2.5, 2.5), ("90", 90), ("90s", 90), ("15m", 900), ("2h", 7200),
     ("1d", 86_400), ("1.5h", 5400), (" 15 m ", 900), (0, 0)],
)  # fmt: skip
def test_durations(value: Any, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["15x", "", "m", "-5m", -1, True, "1e3", float("nan"),
                                   float("inf"), "11000d", None, [15]])  # fmt: skip
def test_invalid_durations(value: Any) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(value)


def test_a_rule_in_full() -> None:
    r = rule(renotify_every="1h", webhook="https://Hooks.Example.com:443/a#frag")
    assert (r.name, r.status, r.older_than, r.renotify_every) == (
        "support-stuck", "interrupted", 900, 3600
    )  # fmt: skip
    assert r.older_than_us == 900_000_000 and r.renotify_us == 3_600_000_000
    assert r.webhook == "https://hooks.example.com/a"  # normalized as run webhooks are
    assert rule().renotify_us == 0 and rule(metadata=None).compiled_filter.leaves == frozenset()


@pytest.mark.parametrize(
    ("fields", "field", "text"),
    [
        ({"name": "a b"}, "name", "pattern"),
        ({"name": "x" * 65}, "name", "pattern"),
        ({"name": "team:support"}, "name", "pattern"),
        ({"name": ""}, "name", "pattern"),
        ({"status": "stuck"}, "status", "idle"),
        ({"older_than": "15x"}, "older_than", "invalid duration"),
        ({"renotify_every": 0}, "renotify_every", "more than 0"),
        ({"metadata": ["team"]}, "metadata", "dictionary"),
        ({"webhook": "ftp://example.com/x"}, "webhook", "scheme 'ftp' not allowed"),
        ({"webhook": "http://127.0.0.1:9/x"}, "webhook", "loopback"),
        ({"webhook": "http://169.254.169.254/x"}, "webhook", "blocked"),
        ({"olderthan": "1m"}, "olderthan", "Extra inputs"),
    ],
    ids=repr,
)
def test_invalid_rules_name_the_field(fields: dict[str, Any], field: str, text: str) -> None:
    settings = Settings(alert_rules=[{**rule().model_dump(mode="json"), **fields}])
    with pytest.raises(AlertRuleError) as raised:
        load_rules(settings)
    message = str(raised.value)
    assert "THREADWATCH_ALERT_RULES, rule 1" in message
    assert f"{field}: " in message and text in message, message


def test_private_webhooks_need_the_setting() -> None:
    raw = {**rule().model_dump(mode="json"), "webhook": "http://127.0.0.1:8080/hook"}
    with pytest.raises(AlertRuleError, match="loopback"):
        load_rules(Settings(alert_rules=[raw]))
    [loaded] = load_rules(Settings(alert_rules=[raw], webhook_allow_private=True))
    assert loaded.webhook == "http://127.0.0.1:8080/hook"


RULES_YAML = """
rules:
  - name: support-stuck
    status: interrupted
    older_than: 15m
    metadata: {team: support}
    webhook: https://hooks.example.com/alerts
    renotify_every: 1h
  - name: errors
    status: error
    older_than: 0
    webhook: https://hooks.example.com/errors
"""


def test_load_rules_from_a_file_and_the_setting(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text(RULES_YAML)
    extra = {"name": "busy.long", "status": "busy", "older_than": 3600, "webhook": HOOK}
    rules = load_rules(Settings(alert_rules_file=str(path), alert_rules=[extra]))
    assert [r.name for r in rules] == ["support-stuck", "errors", "busy.long"]
    assert rules[0].metadata == SUPPORT and rules[0].renotify_every == 3600
    assert rules[1].older_than == 0 and rules[1].renotify_every is None
    assert load_rules(Settings()) == []


def test_the_setting_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = [{"name": "e", "status": "error", "older_than": "90s", "webhook": HOOK}]
    monkeypatch.setenv("THREADWATCH_ALERT_RULES", json.dumps(raw))
    [loaded] = load_rules(Settings(_env_file=None))  # type: ignore[call-arg]
    assert (loaded.name, loaded.older_than) == ("e", 90)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules: [", "invalid YAML"),
        ("rules: {name: x}", "`rules` must be a list"),
        ("rule: []", "unknown top-level keys: rule"),
        ("rules:\n  - just-a-name", "alert rule #1"),
        ("rules:\n  - name: dup\n    status: idle\n    older_than: 1\n    webhook: "
         f"{HOOK}\n  - name: dup\n    status: busy\n    older_than: 1\n    webhook: {HOOK}",
         "alert rule 'dup' (FILE, rule 2): duplicate rule name (also alert rule 'dup' (FILE"),
        ("rules:\n  - name: late\n    status: idle\n    older_than: soon\n    webhook: x",
         "alert rule 'late' (FILE, rule 1): older_than: invalid duration 'soon'"),
    ],
)  # fmt: skip
def test_rule_file_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text(text)
    with pytest.raises(AlertRuleError) as raised:
        load_rules(Settings(alert_rules_file=str(path)))
    assert message.replace("FILE", str(path)) in str(raised.value)


def test_a_missing_rules_file(tmp_path: Path) -> None:
    with pytest.raises(AlertRuleError, match="cannot read it"):
        load_rules(Settings(alert_rules_file=str(tmp_path / "nope.yaml")))


def test_an_empty_rules_file(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text("rules:\n")
    assert load_rules(Settings(alert_rules_file=str(path))) == []


# -- firing --------------------------------------------------------------------------------


def test_fires_once_with_the_documented_payload(stores: Stores, queue: RecordingQueue) -> None:
    thread_id = interrupted(stores, when=0)
    assert sweep(stores, [rule()], 14 * MIN, queue).total == 0  # not old enough yet
    result = sweep(stores, [rule()], 16 * MIN, queue)
    assert (result.fired, result.matching, result.resolved) == (1, 1, 0)
    [call] = queue.calls
    body = call["body"]
    assert body == {
        "type": "alert.firing",
        "event_id": body["event_id"],
        "rule": "support-stuck",
        "thread_id": thread_id,
        "status": "interrupted",
        "status_since": us_to_iso(at_us(0)),
        "age_seconds": 960.0,
        "metadata": SUPPORT,
        "interrupts": INTERRUPTS,
        "notified_at": us_to_iso(at_us(16 * MIN)),
        "notifications": 1,
    }
    assert body["event_id"].startswith("alert_") and "." not in body["event_id"]
    assert call["msg_id"] == body["event_id"]  # webhook-id = event id
    assert (call["kind"], call["rule"]) == ("alert", "support-stuck")
    assert call["url"] == "https://hooks.example.com/alerts?token=abc"
    assert call["secret"] == "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    assert list(state(stores)) == [thread_id]
    assert fired_counter(stores, "firing") == 1
    assert not stores.redis.exists(KEYS.alert_outbox("support-stuck"))  # queued: cleared

    for later in (17 * MIN, 60 * MIN, 10**6):
        again = sweep(stores, [rule()], later, queue)
        assert (again.total, again.matching) == (0, 1)
    assert len(queue.calls) == 1 and fired_counter(stores, "firing") == 1


def test_exactly_at_the_threshold(stores: Stores, queue: RecordingQueue) -> None:
    interrupted(stores, when=0)
    assert sweep(stores, [rule()], 15 * MIN - 0.000001, queue).total == 0
    assert sweep(stores, [rule()], 15 * MIN, queue).fired == 1


def test_renotifies_after_the_interval(stores: Stores, queue: RecordingQueue) -> None:
    thread_id = interrupted(stores, when=0)
    r = rule(renotify_every="1h")
    assert sweep(stores, [r], 16 * MIN, queue).fired == 1
    assert sweep(stores, [r], 75 * MIN, queue).total == 0  # 59 minutes later
    result = sweep(stores, [r], 76 * MIN, queue)
    assert (result.renotified, result.fired) == (1, 0)
    assert sweep(stores, [r], 100 * MIN, queue).total == 0
    assert sweep(stores, [r], 137 * MIN, queue).renotified == 1
    assert queue.types() == [("alert.firing", thread_id)] + [("alert.renotify", thread_id)] * 2
    bodies = queue.bodies
    assert [b["notifications"] for b in bodies] == [1, 2, 3]
    assert bodies[1]["status_since"] == bodies[0]["status_since"]
    assert bodies[1]["age_seconds"] == 76 * MIN
    assert len({b["event_id"] for b in bodies}) == 3
    assert fired_counter(stores, "renotify") == 2


def test_resolves_when_the_thread_leaves_the_status(stores: Stores, queue: RecordingQueue) -> None:
    thread_id = interrupted(stores, when=0)
    sweep(stores, [rule()], 16 * MIN, queue)
    move(stores, thread_id, "run.succeeded", 20 * MIN)  # resumed: idle from minute 20
    result = sweep(stores, [rule()], 21 * MIN, queue)
    assert (result.resolved, result.matching) == (1, 0)
    resolved = queue.bodies[-1]
    assert resolved["type"] == "alert.resolved" and resolved["thread_id"] == thread_id
    assert resolved["status"] == "interrupted" and resolved["current_status"] == "idle"
    assert resolved["status_since"] == us_to_iso(at_us(0))
    assert resolved["age_seconds"] == 20 * MIN  # how long it was stuck
    assert resolved["event_id"] != queue.bodies[0]["event_id"]
    assert state(stores) == {} and fired_counter(stores, "resolved") == 1
    assert sweep(stores, [rule()], 60 * MIN, queue).total == 0
    assert len(queue.calls) == 2


def test_busy_resolves_too(stores: Stores, queue: RecordingQueue) -> None:
    thread_id = interrupted(stores, when=0)
    sweep(stores, [rule()], 16 * MIN, queue)
    stores.runs.apply([event(thread_id, str(uuid.uuid4()), "run.started", at=at(17 * MIN))])
    assert sweep(stores, [rule()], 18 * MIN, queue).resolved == 1
    assert queue.bodies[-1]["current_status"] == "busy"


def test_a_new_status_entry_is_a_new_alert(stores: Stores, queue: RecordingQueue) -> None:
    """Left and entered the status again between two sweeps: the old alert resolves, and
    the new entry fires once it is old enough."""
    thread_id = interrupted(stores, when=0)
    sweep(stores, [rule()], 16 * MIN, queue)
    move(stores, thread_id, "run.succeeded", 20 * MIN)
    move(stores, thread_id, "run.interrupted", 21 * MIN)
    assert sweep(stores, [rule()], 25 * MIN, queue).resolved == 1
    assert state(stores) == {}
    result = sweep(stores, [rule()], 36 * MIN, queue)
    assert result.fired == 1
    second = queue.bodies[-1]
    assert second["status_since"] == us_to_iso(at_us(21 * MIN)) and second["age_seconds"] == 900
    assert second["event_id"] != queue.bodies[0]["event_id"]


def test_a_new_entry_already_old_enough_resolves_and_fires(
    stores: Stores, queue: RecordingQueue
) -> None:
    thread_id = interrupted(stores, when=0)
    sweep(stores, [rule()], 16 * MIN, queue)
    move(stores, thread_id, "run.succeeded", 20 * MIN)
    move(stores, thread_id, "run.interrupted", 21 * MIN)
    result = sweep(stores, [rule()], 40 * MIN, queue)
    assert (result.resolved, result.fired) == (1, 1)
    assert queue.types()[1:] == [("alert.resolved", thread_id), ("alert.firing", thread_id)]


def test_deleted_threads_resolve(stores: Stores, queue: RecordingQueue) -> None:
    thread_id = interrupted(stores, when=0)
    sweep(stores, [rule()], 16 * MIN, queue)
    stores.threads.delete(thread_id)
    assert sweep(stores, [rule()], 17 * MIN, queue).resolved == 1
    body = queue.bodies[-1]
    assert body["current_status"] is None and body["thread_id"] == thread_id
    assert state(stores) == {}


# -- metadata filters ------------------------------------------------------------------------


def test_the_metadata_filter_is_respected(stores: Stores, queue: RecordingQueue) -> None:
    support = interrupted(stores, 0, {"team": "support", "tier": 1})
    interrupted(stores, 0, {"team": "sales"})
    interrupted(stores, 0, {})
    everyone = rule(name="everyone", metadata=None)
    result = sweep(stores, [rule(), everyone], 16 * MIN, queue)
    assert (result.rules["support-stuck"].fired, result.rules["everyone"].fired) == (1, 3)
    assert [b["thread_id"] for b in queue.bodies if b["rule"] == "support-stuck"] == [support]


def test_metadata_that_stops_matching_resolves(stores: Stores, queue: RecordingQueue) -> None:
    thread_id = interrupted(stores, 0)
    sweep(stores, [rule()], 16 * MIN, queue)
    stores.threads.patch(thread_id, {"team": "sales"})
    result = sweep(stores, [rule()], 17 * MIN, queue)
    assert result.resolved == 1 and queue.bodies[-1]["current_status"] == "interrupted"
    stores.threads.patch(thread_id, {"team": "support"})
    assert sweep(stores, [rule()], 18 * MIN, queue).fired == 1


def test_inexact_filters_are_checked_on_the_stored_metadata(
    stores: Stores, queue: RecordingQueue
) -> None:
    """Array elements that are objects: the leaf sets only narrow, containment decides."""
    wanted = {"items": [{"k": 1, "v": "x"}]}
    match = interrupted(stores, 0, {"items": [{"k": 1, "v": "x"}, {"k": 2, "v": "y"}]})
    near = interrupted(stores, 0, {"items": [{"k": 1, "v": "y"}, {"k": 2, "v": "x"}]})
    r = rule(metadata=wanted)
    assert not r.compiled_filter.exact
    result = sweep(stores, [r], 16 * MIN, queue)
    assert (result.fired, result.matching) == (1, 1)
    assert queue.types() == [("alert.firing", match)]
    stores.threads.patch(match, {"items": [{"k": 3}]})
    stores.threads.patch(near, {"items": [{"k": 1, "v": "x"}]})
    assert sweep(stores, [r], 17 * MIN, queue).total == 2
    assert sorted(queue.types()[1:]) == [("alert.firing", near), ("alert.resolved", match)]


def test_metadata_changed_between_check_and_claim_waits_for_the_next_sweep(
    stores: Stores, queue: RecordingQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim script compares the metadata version the verdict was reached on."""
    thread_id = interrupted(stores, 0, {"items": [{"k": 1, "v": "x"}]})
    r = rule(metadata={"items": [{"k": 1, "v": "x"}]})
    real = AlertStore._verdicts

    def verdicts_then_patch(*args: Any) -> Any:
        out = real(*args)
        stores.threads.patch(thread_id, {"other": 1})  # a new metadata version
        return out

    monkeypatch.setattr(AlertStore, "_verdicts", verdicts_then_patch)
    assert sweep(stores, [r], 16 * MIN, queue).total == 0
    monkeypatch.setattr(AlertStore, "_verdicts", real)
    assert sweep(stores, [r], 17 * MIN, queue).fired == 1


# -- several rules and many threads ----------------------------------------------------------


def test_rules_have_their_own_state(stores: Stores, queue: RecordingQueue) -> None:
    thread_id = interrupted(stores, 0)
    quick = rule(name="quick", older_than="1m")
    result = sweep(stores, [rule(), quick], 5 * MIN, queue)
    assert (result.rules["support-stuck"].fired, result.rules["quick"].fired) == (0, 1)
    result = sweep(stores, [rule(), quick], 16 * MIN, queue)
    assert (result.rules["support-stuck"].fired, result.rules["quick"].fired) == (1, 0)
    assert list(state(stores, "quick")) == list(state(stores)) == [thread_id]
    assert {c["rule"] for c in queue.calls} == {"quick", "support-stuck"}


def test_a_rule_whose_status_changed_resolves_its_threads(
    stores: Stores, queue: RecordingQueue
) -> None:
    interrupted(stores, 0)
    sweep(stores, [rule()], 16 * MIN, queue)
    assert sweep(stores, [rule(status="error")], 17 * MIN, queue).resolved == 1


@pytest.mark.parametrize("metadata", [SUPPORT, {"team": "support", "n": 1}], ids=repr)
def test_many_threads_in_pages_and_batches(
    stores: Stores, queue: RecordingQueue, monkeypatch: pytest.MonkeyPatch, metadata: Any
) -> None:
    """Pages of 7 ids and claims of 5 threads; with {"n": 1} the small leaf set drives."""
    monkeypatch.setattr(alert_store_module, "PAGE", 7)
    monkeypatch.setattr(evaluate_module, "CLAIM_BATCH", 5)
    old = [interrupted(stores, i, {"team": "support", "n": i % 3}) for i in range(40)]
    young = [interrupted(stores, 30 * MIN, {"team": "support", "n": 1}) for _ in range(5)]
    r = rule(metadata=metadata)
    want = {t for i, t in enumerate(old) if metadata == SUPPORT or i % 3 == 1}
    result = sweep(stores, [r], 16 * MIN, queue)
    assert {t for _, t in queue.types()} == want and result.fired == len(want)
    assert not want & set(young)
    for thread_id in old[:10]:
        move(stores, thread_id, "run.failed", 17 * MIN)
    result = sweep(stores, [r], 18 * MIN, queue)
    assert result.resolved == len(want & set(old[:10])) and result.fired == 0
    assert set(state(stores)) == want - set(old[:10])


# -- failures and concurrency ----------------------------------------------------------------


def test_a_claim_that_could_not_be_queued_is_retried(stores: Stores) -> None:
    thread_id = interrupted(stores, 0)
    r = rule(renotify_every="1h")
    broken = RecordingQueue(fail=True)
    result = sweep(stores, [r], 16 * MIN, broken)
    assert (result.fired, result.failed) == (0, 1)
    assert state(stores) == {} and fired_counter(stores, "firing") == 0
    working = RecordingQueue()
    assert sweep(stores, [r], 17 * MIN, working).fired == 1
    before = state(stores)
    # A renotify that cannot be queued leaves the state as it was; the next sweep sends it.
    assert sweep(stores, [r], 80 * MIN, broken).failed == 1
    assert state(stores) == before
    assert sweep(stores, [r], 81 * MIN, working).renotified == 1
    assert [b["notifications"] for b in working.bodies] == [1, 2]
    # A resolution too.
    move(stores, thread_id, "run.succeeded", 90 * MIN)
    assert sweep(stores, [r], 91 * MIN, broken).failed == 1 and state(stores)
    assert sweep(stores, [r], 92 * MIN, working).resolved == 1 and state(stores) == {}


def test_a_refused_webhook_is_not_claimed(stores: Stores, queue: RecordingQueue) -> None:
    """A private target allowed when the rules were loaded but not by the sweeper."""
    interrupted(stores, 0)
    r = AlertRule.model_validate(
        {**rule().model_dump(mode="json"), "webhook": "http://10.0.0.5/hook"},
        context={"allow_private": True},
    )
    assert sweep(stores, [r], 16 * MIN, queue).failed == 1
    assert state(stores) == {} and queue.calls == []


def test_a_sweep_inside_another_sends_nothing_twice(stores: Stores) -> None:
    """Sweeper B runs entirely between sweeper A's claim and A's enqueue: B sees A's claim."""
    ids = {interrupted(stores, 0) for _ in range(3)}
    inner = RecordingQueue()

    class InterleavingQueue(RecordingQueue):
        def enqueue(self, *args: Any, **kwargs: Any) -> Any:
            if not inner.calls and not self.calls:
                result = sweep(stores, [rule()], 16 * MIN, inner)
                assert result.matching == 3
            return super().enqueue(*args, **kwargs)

    outer = InterleavingQueue()
    sweep(stores, [rule()], 16 * MIN, outer)
    sent = outer.types() + inner.types()
    assert sorted(t for _, t in sent) == sorted(ids) and {k for k, _ in sent} == {"alert.firing"}


def test_concurrent_sweeps_never_double_fire() -> None:
    """Eight sweepers (own connections, one server) at once, twice: each alert once."""
    server = fakeredis.FakeServer()
    stores = make_stores(fakeredis.FakeRedis(server=server))
    ids = {interrupted(stores, i) for i in range(60)}
    queue = RecordingQueue()
    r = rule(renotify_every="1h")
    for now in (16 * MIN, 80 * MIN):
        barrier = threading.Barrier(8)

        def run(now: float = now, barrier: threading.Barrier = barrier) -> None:
            own = make_stores(fakeredis.FakeRedis(server=server))
            barrier.wait()
            sweep(own, [r], now, queue)

        workers = [threading.Thread(target=run) for _ in range(8)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    kinds = queue.types()
    assert sorted(t for k, t in kinds if k == "alert.firing") == sorted(ids)
    assert sorted(t for k, t in kinds if k == "alert.renotify") == sorted(ids)
    assert len(kinds) == 120
    assert fired_counter(stores, "firing") == 60 and fired_counter(stores, "renotify") == 60


class Crash(BaseException):
    """The sweeping process dies (a BaseException: nothing catches it)."""


class DyingQueue(RecordingQueue):
    """Dies at its first enqueue: before queueing it, or just after (``queued``), after
    queueing it through ``then`` (a real RQ queue)."""

    def __init__(self, then: Any = None) -> None:
        super().__init__()
        self.then = then

    def enqueue(self, *args: Any, **kwargs: Any) -> Any:
        if self.then is not None:
            self.then.enqueue(*args, **kwargs)
        raise Crash


def test_an_alert_whose_sweeper_died_before_queueing_it_is_sent_later(
    stores: Stores, queue: RecordingQueue
) -> None:
    thread_id = interrupted(stores, 0)
    with pytest.raises(Crash):
        sweep(stores, [rule()], 16 * MIN, DyingQueue())
    assert list(state(stores)) == [thread_id]  # claimed: no other sweep sends it now
    assert sweep(stores, [rule()], 16 * MIN + 59, queue).total == 0  # its sweeper may live
    result = sweep(stores, [rule()], 17 * MIN, queue)
    assert (result.fired, result.recovered) == (1, 1)
    [body] = queue.bodies
    assert (body["type"], body["thread_id"]) == ("alert.firing", thread_id)
    assert body["notified_at"] == us_to_iso(at_us(16 * MIN))  # as it was claimed
    assert queue.calls[0]["msg_id"] == body["event_id"]
    assert not stores.redis.exists(KEYS.alert_outbox("support-stuck"))
    assert sweep(stores, [rule()], 30 * MIN, queue).total == 0 and len(queue.calls) == 1
    assert fired_counter(stores, "firing") == 1


def test_an_alert_queued_just_before_its_sweeper_died_is_not_queued_again(
    stores: Stores,
) -> None:
    interrupted(stores, 0)
    webhooks = Queue("webhooks", connection=stores.redis)
    with pytest.raises(Crash):
        sweep(stores, [rule()], 16 * MIN, DyingQueue(then=webhooks))
    assert webhooks.count == 1
    later = RecordingQueue()
    result = sweep(stores, [rule()], 17 * MIN, later)
    assert (result.total, result.recovered) == (0, 0) and later.calls == []
    assert webhooks.count == 1 and webhooks.job_ids[0].startswith("alert_")
    assert not stores.redis.exists(KEYS.alert_outbox("support-stuck"))


def test_a_left_alert_is_recovered_by_one_sweep_only(stores: Stores) -> None:
    """Sweep B runs inside sweep A's recovery: A leased the alert, B leaves it alone."""
    interrupted(stores, 0)
    with pytest.raises(Crash):
        sweep(stores, [rule()], 16 * MIN, DyingQueue())
    inner = RecordingQueue()

    class InterleavingQueue(RecordingQueue):
        def enqueue(self, *args: Any, **kwargs: Any) -> Any:
            if not self.calls:
                assert sweep(stores, [rule()], 17 * MIN, inner).total == 0
            return super().enqueue(*args, **kwargs)

    outer = InterleavingQueue()
    assert sweep(stores, [rule()], 17 * MIN, outer).recovered == 1
    assert len(outer.calls) == 1 and inner.calls == []


def test_a_left_alert_redis_cannot_take_waits_for_a_later_sweep(stores: Stores) -> None:
    interrupted(stores, 0)
    with pytest.raises(Crash):
        sweep(stores, [rule()], 16 * MIN, DyingQueue())
    result = sweep(stores, [rule()], 17 * MIN, RecordingQueue(fail=True))
    assert (result.failed, result.recovered) == (1, 0)
    working = RecordingQueue()
    assert sweep(stores, [rule()], 17 * MIN + 30, working).total == 0  # leased a minute
    assert sweep(stores, [rule()], 18 * MIN, working).recovered == 1
    assert [b["type"] for b in working.bodies] == ["alert.firing"]


def test_now_defaults_to_the_server_clock(stores: Stores, queue: RecordingQueue) -> None:
    interrupted(stores, 0)  # BASE_TIME, long before the clock of this machine
    result = evaluate_rules(
        stores.redis, KEYS, [rule(older_than="1d")], queue=queue, secret=None,
        allow_private=False,
    )  # fmt: skip
    assert result.fired == 1
    notified = queue.bodies[0]["notified_at"]
    assert notified > us_to_iso(us(BASE_TIME + timedelta(days=365)))
