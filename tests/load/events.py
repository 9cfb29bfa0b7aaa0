"""The run events of the crash-under-load test: threads whose runs an external runtime
reports, delivered in random order with duplicates, in batches over POST /runs/events and
through the Emitter. A batch is sent again until it is acknowledged, as a runtime would
(events are idempotent); the threads are then compared with a replay of the acknowledged
events (tests/replay.py).

The runs are drawn as in tests/unit/store/test_transition_properties.py: a prefix of
pending/started, then a terminal event, at distinct times. A few threads hold one run that
never ends ("abandoned": its runtime died), whose short lease the sweeper must notice.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import redis

from tests.load.apis import Apis
from threadwatch import Emitter
from threadwatch.models import RunEvent

PREFIXES = ((), ("run.pending",), ("run.started",), ("run.pending", "run.started"))
TERMINALS = ("run.succeeded", "run.interrupted", "run.failed", "run.cancelled", "run.timeout")
# A reported run's lease: longer than any load, so that the sweeper ends no run whose
# events are still on their way; an abandoned run's is the least allowed.
LEASE = 3600.0
ABANDONED_LEASE = 1.0
ABANDONED_SHARE = 0.05
DUPLICATE_SHARE = 0.1
MAX_BATCH = 50
HOUR_MS = 3_600_000
RESULTS = {"applied", "duplicate", "stale"}
RETRY_PAUSE = 0.05


def new_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


@dataclass
class EventThread:
    """A thread and the distinct events of its runs."""

    thread_id: str
    events: list[RunEvent]
    abandoned: bool = False  # its one run never ends: the sweeper ends it, as WorkerLost


@dataclass(frozen=True)
class Batch:
    events: tuple[RunEvent, ...]
    http: bool  # over POST /runs/events, else through the Emitter


def event_threads(rng: random.Random, n_events: int, start: datetime) -> list[EventThread]:
    """Threads holding at least ``n_events`` events in all, times within the hour after
    ``start``."""
    threads: list[EventThread] = []
    total = 0
    while total < n_events:
        abandoned = rng.random() < ABANDONED_SHARE
        thread = abandoned_thread(rng, start) if abandoned else reported_thread(rng, start)
        threads.append(thread)
        total += len(thread.events)
    return threads


def reported_thread(rng: random.Random, start: datetime) -> EventThread:
    """1-4 runs, each a prefix of pending/started and a terminal event, any field drawn."""
    thread_id = new_id(rng)
    plans = [(rng.choice(PREFIXES), rng.choice(TERMINALS)) for _ in range(rng.randint(1, 4))]
    times = rng.sample(range(HOUR_MS), sum(len(prefix) + 1 for prefix, _ in plans))
    events = []
    for prefix, terminal in plans:
        run_id = new_id(rng)
        run_times, times = sorted(times[: len(prefix) + 1]), times[len(prefix) + 1 :]
        for type, ms in zip((*prefix, terminal), run_times, strict=True):
            fields = terminal_fields(rng, type) if type == terminal else {"lease_seconds": LEASE}
            if rng.random() < 0.5:
                fields["values"] = {"run": run_id, "type": type}
            if type == "run.pending" and rng.random() < 0.5:
                fields |= {"kwargs": {"input": ms}, "multitask_strategy": "enqueue"}
            at = start + timedelta(milliseconds=ms)
            events.append(run_event(thread_id, run_id, type, at=at, **fields))
    return EventThread(thread_id, events)


def abandoned_thread(rng: random.Random, start: datetime) -> EventThread:
    thread_id, run_id = new_id(rng), new_id(rng)
    prefix = rng.choice(PREFIXES[1:])
    times = sorted(rng.sample(range(HOUR_MS), len(prefix)))
    events = [
        run_event(
            thread_id,
            run_id,
            type,
            at=start + timedelta(milliseconds=ms),
            lease_seconds=ABANDONED_LEASE,
        )
        for type, ms in zip(prefix, times, strict=True)
    ]
    return EventThread(thread_id, events, abandoned=True)


def terminal_fields(rng: random.Random, type: str) -> dict[str, Any]:
    if type == "run.interrupted":
        index = rng.randrange(1000)
        return {"interrupts": {f"task{index}": [{"id": str(index), "value": index}]}}
    if type == "run.cancelled":
        return {"next": rng.choice([None, [], ["node"]])}
    if type == "run.failed" and rng.random() < 0.5:
        return {"error": {"error": "ValueError", "message": f"boom {rng.randrange(1000)}"}}
    return {}


def run_event(thread_id: str, run_id: str, type: str, **fields: Any) -> RunEvent:
    return RunEvent.model_validate(
        {"thread_id": thread_id, "run_id": run_id, "type": type, **fields}
    )


def delivery(rng: random.Random, threads: list[EventThread]) -> list[Batch]:
    """Every event, and a tenth again, shuffled, in batches of 1-MAX_BATCH, each over HTTP
    or through the Emitter."""
    events = [e for t in threads for e in t.events]
    sent = events + rng.choices(events, k=round(len(events) * DUPLICATE_SHARE))
    rng.shuffle(sent)
    batches, start = [], 0
    while start < len(sent):
        size = rng.randint(1, MAX_BATCH)
        batches.append(Batch(tuple(sent[start : start + size]), http=rng.random() < 0.5))
        start += size
    return batches


@dataclass
class EventTally:
    """What the senders saw, shared between their threads."""

    acknowledged: set[int] = field(default_factory=set)  # id() of each event acknowledged
    sent: int = 0  # events in acknowledged batches, duplicates included
    results: Counter[str] = field(default_factory=Counter)
    retries: int = 0  # batches sent again after an error
    violations: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def acknowledge(self, batch: Batch, results: list[str]) -> None:
        with self.lock:
            self.acknowledged.update(id(e) for e in batch.events)
            self.sent += len(batch.events)
            self.results.update(str(r) for r in results)

    def violation(self, text: str) -> None:
        with self.lock:
            self.violations.append(text)


class Refused(Exception):
    """An answer that sending again will not change (a 4xx): a violation."""


class EventSender:
    """Sends a batch until it is acknowledged, over HTTP to any API process (each try picks
    one: a killed one fails fast) or through the Emitter."""

    def __init__(self, apis: Apis, emitter: Emitter, tally: EventTally, patience: float) -> None:
        self.apis = apis
        self.emitter = emitter
        self.tally = tally
        self.patience = patience
        self.http = httpx.Client(timeout=30.0)

    def close(self) -> None:
        self.http.close()

    def send(self, batch: Batch, seed: float) -> None:
        rng = random.Random(seed)
        deadline = time.monotonic() + self.patience
        while True:
            url = self.apis.pick(rng)
            try:
                results = self._post(batch, url) if batch.http else self._emit(batch)
            except Refused as refused:
                self.tally.violation(str(refused))
                return
            except (httpx.HTTPError, redis.RedisError) as exc:
                if batch.http:
                    self.apis.failed(url)
                if time.monotonic() > deadline:
                    self.tally.violation(
                        f"a batch not acknowledged in {self.patience:g} s: {exc!r}"
                    )
                    return
                with self.tally.lock:
                    self.tally.retries += 1
                time.sleep(RETRY_PAUSE)
                continue
            self._check(batch, results)
            self.tally.acknowledge(batch, results)
            return

    def _post(self, batch: Batch, url: str) -> list[str]:
        body = {"events": [e.model_dump(mode="json", exclude_none=True) for e in batch.events]}
        response = self.http.post(f"{url}/runs/events", json=body)
        if response.status_code == 500:  # never right, but the batch must still get through
            self.tally.violation(f"POST /runs/events answered 500: {response.text[:200]}")
        if response.status_code >= 500:
            raise httpx.HTTPStatusError("retry", request=response.request, response=response)
        if response.status_code != 200:
            raise Refused(f"POST /runs/events answered {response.status_code}: {response.text}")
        return [r["result"] for r in response.json()["results"]]

    def _emit(self, batch: Batch) -> list[str]:
        return [applied.result for applied in self.emitter.emit_many(batch.events)]

    def _check(self, batch: Batch, results: list[str]) -> None:
        if len(results) != len(batch.events) or not set(results) <= RESULTS:
            self.tally.violation(f"{len(batch.events)} events answered {Counter(results)}")
