"""The README's walkthrough (examples/) runs as written against a real stack."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

import pytest
from langgraph_sdk.client import SyncLangGraphClient

from tests.integration.run_stack import RunStack
from tests.support import ROOT

EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def run_stack_env() -> dict[str, str]:
    return {"THREADWATCH_GRAPHS_CONFIG": str(EXAMPLES / "langgraph.json")}


def test_the_walkthrough_prints_each_status(sdk: SyncLangGraphClient, run_stack: RunStack) -> None:
    env = {**os.environ, "THREADWATCH_URL": run_stack.url, "WALKTHROUGH_BUSY_SECONDS": "6"}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "walkthrough.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    idle, interrupted, busy = (ast.literal_eval(line) for line in lines[:3])
    assert [t["status"] for t in (*idle, *interrupted, *busy)] == ["idle", "interrupted", "busy"]
    assert interrupted[0]["interrupts"]  # the question the human is asked
    assert lines[3:] == ["interrupted", "idle", "idle"]
