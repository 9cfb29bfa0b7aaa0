"""Crash under load: SDK runs and run events (HTTP and the Emitter, random order,
duplicates) on a whole deployment, while worker and API processes are SIGKILLed at random.
At the end no thread is busy without a live run, `threadwatch doctor` finds nothing, and
every thread driven by events equals a replay of its acknowledged events (tests/replay.py).
Without kills, also: every run ended as its input makes it, and none waited behind a run
that had ended (the sweeper never had to hand a thread's turn on).

tests/integration/runs/test_crash_load.py runs a short load in the suite; the long one is
this script, on a deployment of its own (an embedded Redis, two APIs, two workers):

    .venv/bin/python -m tests.load.crash_load --events 100000 --kills 12 --seed 1

The random choices (threads, runs, events, delivery order, batches, victims) follow the
seed; the interleaving with the processes does not, so the checks hold for any.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from tests.integration.run_stack import RunStack
from tests.load import checks
from tests.load.apis import Apis
from tests.load.events import EventSender, EventTally, EventThread, delivery, event_threads
from tests.load.sdk_runs import SdkDriver, SdkTally, SdkThread, sdk_threads
from threadwatch import Emitter
from threadwatch.cli.embedded_redis import start_embedded_redis
from threadwatch.settings import Settings

Job = Callable[[], None]


@dataclass(frozen=True)
class LoadPlan:
    seed: int
    events: int = 1500  # distinct run events (a tenth more are sent again)
    kills: int = 3
    sdk_threads: int = 24
    runs_per_thread: int = 3
    apis: int = 2
    clients: int = 6  # requests at once (threads of the load)
    patience: float = 120.0  # seconds a request is sent again, and the runs may take to end


@dataclass
class Summary:
    plan: LoadPlan
    events: int = 0
    acknowledged: int = 0
    sent: int = 0
    results: Counter[str] = field(default_factory=Counter)
    kills: list[str] = field(default_factory=list)
    sdk_runs: int = 0
    retries: int = 0
    threads_replayed: int = 0
    threads_abandoned: int = 0
    threads_sdk: int = 0
    reclaimed: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # by stage: load, quiet, checks
    violations: list[str] = field(default_factory=list)

    def render(self) -> str:
        kills = Counter(kill.split(" ")[0] for kill in self.kills)
        lines = [
            f"crash load, seed {self.plan.seed}: "
            + ", ".join(f"{stage} {s:.0f} s" for stage, s in self.seconds.items()),
            f"events acknowledged: {self.acknowledged:,} of {self.events:,} "
            f"({self.sent:,} sent with duplicates: {dict(self.results)})",
            f"SDK runs acknowledged: {self.sdk_runs:,} on {self.threads_sdk:,} threads",
            f"kills: {len(self.kills)} ({dict(kills)}): {', '.join(self.kills)}",
            f"requests sent again after an error: {self.retries:,}",
            f"threads checked: {self.threads_replayed:,} against their replay, "
            f"{self.threads_abandoned:,} abandoned, {self.threads_sdk:,} SDK",
            f"sweeper: {self.reclaimed}",
            f"violations: {len(self.violations)}",
            *(f"  {v}" for v in self.violations[:50]),
        ]
        return "\n".join(lines)


class Chaos:
    """SIGKILLs a worker or an API process and starts its replacement at once, then waits
    in the background until it is ready, while the load goes on (one replacement at a
    time). Replacements are started here, from the load's own thread: a child dies with
    the thread that started it (cli/processes.py)."""

    def __init__(self, stack: RunStack, rng: random.Random, summary: Summary) -> None:
        self.stack = stack
        self.rng = rng
        self.summary = summary
        self.readying: threading.Thread | None = None
        self.began = time.monotonic()

    def kill(self, victim: str) -> None:
        self.join()
        stack = self.stack
        if victim == "worker":
            proc = self.rng.choice(sorted(stack.live_workers(), key=lambda p: p.pid))
            fresh = stack.replace(proc, wait=False)
            ready: Job = partial(stack.wait_registered, fresh)
        else:
            url = self.rng.choice(sorted(stack.apis()))
            proc = stack.apis()[url]
            stack.restart_api(url, wait=False)
            ready = partial(stack.wait_api, url)
        self.summary.kills.append(f"{victim} {proc.pid} at {time.monotonic() - self.began:.1f} s")
        self.readying = threading.Thread(target=self._guard, args=(ready,), daemon=True)
        self.readying.start()

    def _guard(self, ready: Job) -> None:
        try:
            ready()
        except BaseException as exc:  # pytest.fail raises a BaseException
            self.summary.violations.append(f"a replacement did not start: {exc!r}")

    def join(self) -> None:
        if self.readying is not None:
            self.readying.join()
            self.readying = None


def victims(rng: random.Random, kills: int) -> list[str]:
    """Workers and API processes, each at least once when there are two kills or more."""
    chosen = ["worker", "api"][:kills] + rng.choices(["worker", "api"], k=max(0, kills - 2))
    rng.shuffle(chosen)
    return chosen


def run_load(stack: RunStack, plan: LoadPlan) -> Summary:
    """Drive ``stack`` with ``plan`` and check it at the end: the summary's violations."""
    began = time.monotonic()
    rng = random.Random(plan.seed)
    summary = Summary(plan)
    while len(stack.apis()) < plan.apis:
        stack.add_api()
    apis = Apis(list(stack.apis()))
    start = datetime.now(UTC) - timedelta(hours=2)
    threads = event_threads(rng, plan.events, start)
    sdk = sdk_threads(rng, plan.sdk_threads, plan.runs_per_thread)
    before = checks.reclaimed(stack)
    events, runs = EventTally(), SdkTally()
    settings = Settings(redis_url="redis://unused")
    with Emitter(stack.redis, settings=settings) as emitter:
        sender = EventSender(apis, emitter, events, plan.patience)
        driver = SdkDriver(apis, runs, plan.patience)
        jobs: list[Job] = [partial(sender.send, b, rng.random()) for b in delivery(rng, threads)]
        jobs += [partial(driver.drive, t, rng.random()) for t in sdk]
        rng.shuffle(jobs)
        try:
            drive(jobs, Chaos(stack, rng, summary), victims(rng, plan.kills), plan.clients)
        finally:
            sender.close()
            driver.close()
    summary.events = sum(len(t.events) for t in threads)
    summary.acknowledged = sum(1 for t in threads for e in t.events if id(e) in events.acknowledged)
    summary.sent, summary.results = events.sent, events.results
    summary.sdk_runs, summary.retries = runs.runs, events.retries + runs.retries
    summary.violations += events.violations + runs.violations
    summary.seconds["load"] = time.monotonic() - began
    check(stack, plan, summary, threads, events.acknowledged, sdk, before)
    return summary


def drive(jobs: list[Job], chaos: Chaos, kills: list[str], clients: int) -> None:
    """Run the jobs ``clients`` at a time in len(kills) + 1 phases; each kill comes when half
    the jobs of its phase are done, so that it meets requests and runs in flight."""
    phases = len(kills) + 1
    with ThreadPoolExecutor(clients, thread_name_prefix="load") as pool:
        for phase in range(phases):
            part = jobs[len(jobs) * phase // phases : len(jobs) * (phase + 1) // phases]
            futures: list[Future[None]] = [pool.submit(job) for job in part]
            if phase < len(kills) and not futures:
                chaos.kill(kills[phase])
            for done, future in enumerate(as_completed(futures), 1):
                future.result()
                if phase < len(kills) and done == max(1, len(futures) // 2):
                    chaos.kill(kills[phase])
    chaos.join()


def check(
    stack: RunStack,
    plan: LoadPlan,
    summary: Summary,
    threads: list[EventThread],
    acknowledged: set[int],
    sdk: list[SdkThread],
    before: dict[str, int],
) -> None:
    v = summary.violations
    began = time.monotonic()
    v += checks.wait_quiet(stack, plan.patience)
    summary.seconds["quiet"] = time.monotonic() - began
    v += checks.processes(stack)
    v += checks.busy_threads(stack)
    v += checks.doctor(stack)
    summary.threads_replayed, mismatches = checks.replayed(stack, threads, acknowledged)
    v += mismatches
    v += checks.abandoned(stack, threads)
    summary.threads_abandoned = sum(1 for t in threads if t.abandoned)
    summary.threads_sdk = len(sdk)
    v += checks.sdk_runs_ended(stack, sdk)
    after = checks.reclaimed(stack)
    summary.reclaimed = {a: after[a] - before[a] for a in after}
    if plan.kills == 0:
        v += checks.sdk_runs_as_asked(stack, sdk)
        if summary.retries:
            v.append(f"{summary.retries} requests failed without a kill")
        lost = {"failed": summary.threads_abandoned, "requeued": 0, "resumed": 0}
        if summary.reclaimed != lost:
            v.append(f"the sweeper took {summary.reclaimed}, not only the abandoned runs {lost}")
    summary.seconds["checks"] = time.monotonic() - began - summary.seconds["quiet"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--kills", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sdk-threads", type=int, help="default: one per 200 events")
    parser.add_argument("--clients", type=int, default=LoadPlan.clients)
    args = parser.parse_args(argv)
    plan = LoadPlan(
        seed=args.seed,
        events=args.events,
        kills=args.kills,
        sdk_threads=args.sdk_threads or max(1, args.events // 200),
        clients=args.clients,
        patience=600.0,
    )
    with tempfile.TemporaryDirectory() as workdir, start_embedded_redis(None) as server:
        stack = RunStack.start(server.url, Path(workdir))
        try:
            summary = run_load(stack, plan)
        finally:
            stack.close()
    print(summary.render())
    return 1 if summary.violations else 0


if __name__ == "__main__":
    sys.exit(main())
