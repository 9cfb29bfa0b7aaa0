"""The code passes ruff as configured in pyproject.toml: lint rules, then the format."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support import ROOT


@pytest.mark.parametrize("check", [["check", "."], ["format", "--check", "."]], ids=" ".join)
def test_ruff_finds_nothing(check: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ruff", *check],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
