"""What must hold once a load has ended, whatever interleaving and whichever kills it met:
each check returns its violations (empty when it holds), so that a long run reports them
all instead of stopping at the first."""

from __future__ import annotations

import time
from collections.abc import Iterable

from tests.integration.run_stack import KEYS, RunStack
from tests.load.events import EventThread
from tests.load.sdk_runs import SdkThread
from tests.replay import replay, thread_state
from threadwatch.models import RunEvent
from threadwatch.settings import Settings
from threadwatch.store.codec import materialize, thread_id_of
from threadwatch.store.counters import field
from threadwatch.store.integrity import Doctor
from threadwatch.store.stores import Stores

ENDED = {"success", "error", "timeout", "interrupted"}
# The prefix the acknowledged events are replayed under, on the same Redis.
REPLAY_PREFIX = "replay:"
RECLAIMED = ("failed", "requeued", "resumed")  # the sweeper's counters (app/runs/liveness.py)
SHOWN = 5  # mismatches shown in full


def busy_work(stack: RunStack) -> list[str]:
    """Runs in flight (the run indexes, which the doctor checks against the run hashes) and
    RQ jobs of runs queued or deferred. Not RQ's started jobs: a worker killed in a job
    leaves it in RQ's started registry, whose own maintenance drops it (10 minutes on);
    its run is in flight until the sweeper ends it, or is resumed under a new job."""
    queue = stack.queue
    counts = {
        "runs pending": stack.redis.zcard(KEYS.runs_in("pending")),
        "runs running": stack.redis.zcard(KEYS.runs_in("running")),
        "RQ jobs queued": queue.count,
        "RQ jobs deferred": queue.deferred_job_registry.get_job_count(),
    }
    return [f"{n} {what}" for what, n in counts.items() if n]


def wait_quiet(stack: RunStack, timeout: float) -> list[str]:
    """Wait until no run is in flight and RQ holds no run's job: a liveness bound, not a
    speed one. What is left after ``timeout`` seconds is a violation."""
    deadline = time.monotonic() + timeout
    while (left := busy_work(stack)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return [f"after {timeout:g} s, still {', '.join(left)}"] if left else []


def processes(stack: RunStack) -> list[str]:
    """Every process of the deployment still runs: the replacements of the killed ones too."""
    procs = [*stack.workers, *stack.apis().values()]
    return [f"process {p.pid} exited with {p.returncode}" for p in procs if p.poll() is not None]


def busy_threads(stack: RunStack) -> list[str]:
    """Once no run is in flight, no thread may be busy."""
    members = stack.redis.zrange(KEYS.status("busy"), 0, -1)
    return [f"thread {thread_id_of(m)} busy without a run in flight" for m in members]


def doctor(stack: RunStack) -> list[str]:
    report = Doctor(stack.redis, KEYS).check()
    return [f"doctor: {p.found} {p.name}, e.g. {p.examples}" for p in report.found_problems()]


def replayed(
    stack: RunStack, threads: Iterable[EventThread], acknowledged: set[int]
) -> tuple[int, list[str]]:
    """Each reported thread against a replay of its acknowledged events in time order on an
    empty store: how many were compared, and the mismatches."""
    live = Stores.on(stack.redis, Settings(redis_url="redis://unused"))
    reference = Stores.on(
        stack.redis, Settings(redis_url="redis://unused", key_prefix=REPLAY_PREFIX)
    )
    checked = [t for t in threads if not t.abandoned]
    events: list[RunEvent] = [e for t in checked for e in t.events if id(e) in acknowledged]
    replay(reference, events)
    problems = []
    for thread in checked:
        got, want = thread_state(live, thread.thread_id), thread_state(reference, thread.thread_id)
        if got != want:
            shown = f": {got} != replay {want}" if len(problems) < SHOWN else ""
            problems.append(f"thread {thread.thread_id} differs from its replay{shown}")
    return len(checked), problems


def abandoned(stack: RunStack, threads: Iterable[EventThread]) -> list[str]:
    """A run whose runtime died (its events stopped before its end) was ended as lost."""
    live = Stores.on(stack.redis, Settings(redis_url="redis://unused"))
    problems = []
    for thread in (t for t in threads if t.abandoned):
        state = materialize(live.threads.get(thread.thread_id))
        (run,) = live.runs.list(thread.thread_id)
        lost = (state["error"] or {}).get("error") == "WorkerLost"
        if state["status"] != "error" or not lost or run["status"] != "error":
            problems.append(f"abandoned thread {thread.thread_id}: {state['status']}, {run}")
    return problems


def sdk_runs_ended(stack: RunStack, threads: Iterable[SdkThread]) -> list[str]:
    """Every run an SDK call acknowledged ended (executed, or ended as lost)."""
    live = Stores.on(stack.redis, Settings(redis_url="redis://unused"))
    problems = []
    for thread in threads:
        for run_id in thread.run_ids:
            status = live.runs.get(thread.thread_id, run_id)["status"]
            if status not in ENDED:
                problems.append(f"run {run_id} of thread {thread.thread_id} is {status}")
    return problems


def sdk_runs_as_asked(stack: RunStack, threads: Iterable[SdkThread]) -> list[str]:
    """Without kills, every run ends as its input makes it, and its thread as its last run
    left it."""
    live = Stores.on(stack.redis, Settings(redis_url="redis://unused"))
    problems = []
    for thread in threads:
        for run_id, kind in zip(thread.run_ids, thread.kinds, strict=False):
            status = live.runs.get(thread.thread_id, run_id)["status"]
            if status != kind.status:
                problems.append(f"run {run_id} ({kind.input}) is {status}, not {kind.status}")
        want = thread.kinds[-1].thread_status
        status = live.threads.get(thread.thread_id)["status"]
        if len(thread.run_ids) != len(thread.kinds) or status != want:
            problems.append(
                f"thread {thread.thread_id}: {thread.run_ids} runs, {status} not {want}"
            )
    return problems


def reclaimed(stack: RunStack) -> dict[str, int]:
    """The sweeper's counts so far: runs it ended as lost, queued again, or whose hand-off
    (a run waiting behind one that ended) it had to resume."""
    values = stack.redis.hmget(KEYS.metrics(), [field("reclaimed", a) for a in RECLAIMED])
    return {action: int(v or 0) for action, v in zip(RECLAIMED, values, strict=True)}
