"""Crash under load, the short load of tests/load/crash_load.py (the long one is that script):
SDK runs and run events, with and without SIGKILLs of workers and API processes. Each test
has a fixed seed, printed with the summary when it fails."""

from __future__ import annotations

import pytest

from tests.integration.run_stack import RunStack
from tests.load.crash_load import LoadPlan, run_load


@pytest.fixture(scope="module")
def run_stack_env() -> dict[str, str]:
    # Heartbeats every 3.3 s: a worker starved of CPU on a loaded machine keeps its runs
    # (the load without kills counts every run the sweeper took). Runs of a killed worker
    # are taken back within the lease and a sweep interval.
    return {"THREADWATCH_LEASE_SECONDS": "10"}


def test_the_same_load_without_kills_leaves_no_run_behind_a_finished_one(
    run_stack: RunStack,
) -> None:
    summary = run_load(run_stack, LoadPlan(seed=20261207, kills=0))
    print(summary.render())
    assert not summary.violations, summary.render()
    assert summary.acknowledged == summary.events, summary.render()


def test_a_load_with_kills_leaves_every_thread_as_its_runs_and_events_say(
    run_stack: RunStack,
) -> None:
    summary = run_load(run_stack, LoadPlan(seed=147, kills=3))
    print(summary.render())
    assert not summary.violations, summary.render()
    assert len(summary.kills) == 3, summary.render()
