"""`threadwatch doctor` on a live store: the real API and workers execute runs, agents report
run events (some of them abandoned, so that the sweeper ends them when their lease runs out),
threads are created, patched and deleted, while the doctor checks again and again, then
repairs. Nothing in flight is a problem: every check must come back clean, the repair must
find nothing to repair, and a check after the load must be clean too.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.integration.helpers import event, new_id, status_events
from tests.integration.run_stack import KEYS, RunStack
from tests.support import server_env
from threadwatch.store.integrity import Doctor, DoctorReport

THREADS = 12  # the threads the agents' events move, over and over
CHECKS = 6  # `threadwatch doctor` processes, one after the other
LOOPS = 400  # the most iterations of each load loop (they stop when the checks are done)
TEAMS = ("a", "b", "c")


def _events_loop(url: str, seed: int, stop: threading.Event) -> None:
    """An agent runtime: each of its runs ends in some status, or is abandoned (its lease
    runs out, the sweeper ends it); the first event may change the thread's metadata."""
    rng = random.Random(seed)
    thread_ids = [new_id() for _ in range(THREADS)]
    with httpx.Client(base_url=url, timeout=30.0) as http:
        for _ in range(LOOPS):
            if stop.is_set():
                return
            thread_id = rng.choice(thread_ids)
            status = rng.choice(("idle", "busy", "interrupted", "error"))
            events = status_events(thread_id, status, metadata={"team": rng.choice(TEAMS)})
            if status == "busy" and rng.random() < 0.5:  # ends it a little later
                run_id = events[0]["run_id"]
                http.post("/runs/events", json={"events": events})
                events = [event(thread_id, run_id, "run.succeeded")]
            response = http.post("/runs/events", json={"events": events})
            assert response.status_code == 200, response.text


def _runs_loop(url: str, seed: int, stop: threading.Event) -> None:
    """A client of the run API: threads created with metadata, runs on them executed by the
    workers, metadata patched, threads deleted."""
    rng = random.Random(seed)
    with httpx.Client(base_url=url, timeout=30.0) as http:
        for _ in range(LOOPS):
            if stop.is_set():
                return
            created = http.post("/threads", json={"metadata": {"team": rng.choice(TEAMS)}})
            assert created.status_code == 200, created.text
            thread_id = created.json()["thread_id"]
            body: dict[str, Any] = {"assistant_id": rng.choice(("echo", "agent")), "input": {}}
            if body["assistant_id"] == "agent":
                body["input"] = {"ask": rng.random() < 0.5}
            run = http.post(f"/threads/{thread_id}/runs", json=body)
            assert run.status_code == 200, run.text
            patch = {"metadata": {"step": rng.randrange(3)}}
            assert http.patch(f"/threads/{thread_id}", json=patch).status_code == 200
            if rng.random() < 0.3:
                http.delete(f"/threads/{thread_id}")


def _doctor(redis_url: str, cwd: Path, *options: str) -> dict[str, Any]:
    """One `threadwatch doctor --json` process (small batches: many round trips, so that
    much happens between them); its report."""
    argv = [sys.executable, "-m", "threadwatch.cli", "doctor", "--json", "--batch", "10"]
    argv += options
    result = subprocess.run(
        argv,
        cwd=cwd,
        env=server_env(redis_url),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode in (0, 1), result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def _in_background(loops: list[Callable[[], None]]) -> tuple[list[threading.Thread], list]:
    errors: list[BaseException] = []

    def guarded(loop: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                loop()
            except BaseException as exc:  # reported by the test
                errors.append(exc)

        return run

    threads = [threading.Thread(target=guarded(loop), daemon=True) for loop in loops]
    for thread in threads:
        thread.start()
    return threads, errors


def test_doctor_reports_nothing_in_flight(
    run_stack: RunStack, redis_url: str, tmp_path: Path
) -> None:
    stop = threading.Event()
    loops: list[Callable[[], None]] = [
        *(lambda s=s: _events_loop(run_stack.url, s, stop) for s in range(3)),
        *(lambda s=s: _runs_loop(run_stack.url, 100 + s, stop) for s in range(2)),
    ]
    threads, errors = _in_background(loops)
    reports = []
    try:
        in_process = Doctor(run_stack.redis, KEYS, batch=7)
        for _ in range(CHECKS):
            reports.append(_doctor(redis_url, tmp_path))
            reports.append(_report_of(in_process.check()))
        # A repair on the live store finds nothing to repair, nor does its verifying check.
        repaired = _doctor(redis_url, tmp_path, "--fix")
        reports += [repaired, repaired["remaining"]]
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert not errors, errors
    assert all(r["threads"] for r in reports), "the checks ran on an empty store"
    problems = [r["problems"] for r in reports if r["problems"]]
    assert problems == []
    run_stack.settle()
    assert _doctor(redis_url, tmp_path)["problems"] == {}


def _report_of(report: DoctorReport) -> dict[str, Any]:
    problems = {p.name: {"found": p.found, "examples": p.examples} for p in report.found_problems()}
    return {"threads": report.threads, "problems": problems}
