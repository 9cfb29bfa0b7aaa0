"""The code passes mypy at the level pyproject.toml sets ([tool.mypy]; tests/typecheck links
each package under its import name, which mypy cannot map from package-dir)."""

from __future__ import annotations

import subprocess
import sys

from tests.support import ROOT


def test_mypy_finds_nothing() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mypy"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
