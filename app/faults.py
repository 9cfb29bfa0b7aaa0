"""A test hook: a process that stops itself at a named point, for a test to kill it there.

The crash tests (tests/integration/runs/test_lost_runs.py) must SIGKILL a worker or an API
process at instants no timing can hit, such as between a run's end and the next run's job.
A process started with THREADWATCH_FAULT_PAUSE=<point> writes its pid to the file named by
THREADWATCH_FAULT_MARKER when it reaches that point, then stops itself (SIGSTOP), every
thread at once. Both are read once, at import, from the environment (not Settings: no
deployment sets them). Unset, ``pause`` costs one comparison.
"""

from __future__ import annotations

import os
import signal
from enum import StrEnum
from pathlib import Path

PAUSE_VARIABLE = "THREADWATCH_FAULT_PAUSE"
MARKER_VARIABLE = "THREADWATCH_FAULT_MARKER"


class Point(StrEnum):
    """Every point a process can stop at, in the order a run meets them."""

    # The API recorded a run pending with the interrupt or rollback strategy (the others
    # take their thread's turn in the same step); it has not taken the turn yet.
    RUN_RECORDED = "api.run_recorded"
    # The API's run took its thread's turn; its job is not queued yet.
    TURN_TAKEN = "api.turn_taken"
    # A worker took a run's job from RQ's queue; RQ has not recorded it started yet.
    JOB_DEQUEUED = "worker.job_dequeued"
    # RQ recorded the job started; the worker has not marked the run running yet.
    JOB_STARTED = "worker.job_started"
    # A run's end is recorded and its thread's turn passed on; the next run's job is not
    # queued yet.
    RUN_ENDED = "worker.run_ended"
    # A run's job returned; RQ has not recorded its end yet.
    JOB_RETURNED = "worker.job_returned"


def _pause_at() -> Point | None:
    """The point named by THREADWATCH_FAULT_PAUSE, if any; a name not listed, or no marker
    file to write, stops the start (a typo would otherwise make a test wait in vain)."""
    name = os.environ.get(PAUSE_VARIABLE)
    if not name:
        return None
    if name not in {point.value for point in Point}:
        raise ValueError(f"{PAUSE_VARIABLE}={name!r}: not one of {[p.value for p in Point]}")
    if not os.environ.get(MARKER_VARIABLE):
        raise ValueError(f"{PAUSE_VARIABLE} is set, {MARKER_VARIABLE} is not")
    return Point(name)


PAUSE_AT = _pause_at()


def pause(point: Point) -> None:
    """Stop this process here if THREADWATCH_FAULT_PAUSE names ``point``."""
    if point is PAUSE_AT:
        _stop_here(point)


def _stop_here(point: Point) -> None:
    """Write the marker (whole, by a rename: the test reads it as soon as it appears),
    then SIGSTOP this process."""
    marker = Path(os.environ[MARKER_VARIABLE])
    written = marker.with_name(f"{marker.name}.{os.getpid()}.tmp")
    written.write_text(f"{os.getpid()} {point.value}\n")
    written.replace(marker)
    os.kill(os.getpid(), signal.SIGSTOP)
