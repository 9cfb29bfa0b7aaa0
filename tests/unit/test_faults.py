"""The fault hook (app/faults.py): a process stops itself at the point named, and only
there; a name not listed stops its start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from threadwatch.faults import MARKER_VARIABLE, PAUSE_VARIABLE, Point

REACH = "from threadwatch import faults; faults.pause(faults.Point({!r})); print('went on')"
WAIT = 30.0  # seconds for a child interpreter to get there on a loaded machine


def child(point: Point, env: dict[str, str]) -> subprocess.Popen[str]:
    """A Python process that reaches ``point``, with ``env`` added."""
    argv = [sys.executable, "-c", REACH.format(point.value)]
    return subprocess.Popen(
        argv, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_a_process_stops_at_its_point_after_writing_the_marker(tmp_path: Path) -> None:
    marker = tmp_path / "paused"
    env = {PAUSE_VARIABLE: Point.RUN_ENDED.value, MARKER_VARIABLE: str(marker)}
    proc = child(Point.RUN_ENDED, env)
    try:
        deadline = time.monotonic() + WAIT
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert marker.read_text() == f"{proc.pid} {Point.RUN_ENDED.value}\n"
        state = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        assert state == "T"  # stopped, not exited
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL


def test_other_points_and_processes_without_the_variable_go_on(tmp_path: Path) -> None:
    marker = tmp_path / "paused"
    env = {PAUSE_VARIABLE: Point.RUN_ENDED.value, MARKER_VARIABLE: str(marker)}
    for point, extra in ((Point.JOB_RETURNED, env), (Point.RUN_ENDED, {})):
        out, _ = child(point, extra).communicate(timeout=WAIT)
        assert out == "went on\n"
    assert not marker.exists()


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({PAUSE_VARIABLE: "worker.nowhere", MARKER_VARIABLE: "m"}, "not one of"),
        ({PAUSE_VARIABLE: Point.RUN_ENDED.value}, f"{MARKER_VARIABLE} is not"),
    ],
)
def test_a_point_not_listed_or_no_marker_stops_the_start(env: dict[str, str], said: str) -> None:
    proc = child(Point.RUN_ENDED, env)
    out, err = proc.communicate(timeout=WAIT)
    assert proc.returncode == 1 and out == ""
    assert said in err
