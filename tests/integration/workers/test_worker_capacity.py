"""One worker process with --concurrency 50 runs 50 runs at once: its Redis pools are sized
for its threads (redis-py's default pool of 100 connections is not enough)."""

from __future__ import annotations

import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from langgraph_sdk.client import SyncLangGraphClient

from tests.integration.run_stack import RunStack, wait_for

RUNS = 50
SLEEP = 3.0


def test_fifty_runs_at_once_on_one_worker(sdk: SyncLangGraphClient, run_stack: RunStack) -> None:
    for proc in list(run_stack.workers):
        run_stack.kill(proc)
        run_stack.workers.remove(proc)
    argv = [sys.executable, "-m", "threadwatch.cli", "worker", "--concurrency", str(RUNS)]
    worker = run_stack._spawn(argv, "worker-50.log")
    run_stack.workers.append(worker)
    wait_for(lambda: len(run_stack.registered(worker.pid)) >= RUNS, timeout=30)
    threads = [sdk.threads.create()["thread_id"] for _ in range(RUNS)]
    with ThreadPoolExecutor(10) as pool:
        runs = list(
            pool.map(
                lambda t: sdk.runs.create(t, "agent", input={"sleep": SLEEP, "ask": False}),
                threads,
            )
        )

    peak = 0  # the most runs seen running at once

    def all_succeeded() -> bool:
        nonlocal peak
        now = Counter(sdk.runs.get(r["thread_id"], r["run_id"])["status"] for r in runs)
        peak = max(peak, now["running"])
        return now == Counter(success=RUNS)

    wait_for(all_succeeded, timeout=60, interval=0.1)
    # Many at once, where one at a time would show one (how fast: bench_runs.py).
    assert peak > 10, peak
    log = run_stack.log(worker)
    assert "Too many connections" not in log
    # One line a run, with its outcome, from the runner; none of RQ's per-job lines.
    for run in runs:
        assert f"run {run['run_id']} on thread {run['thread_id']}: run.succeeded in " in log
    assert "Job OK" not in log
