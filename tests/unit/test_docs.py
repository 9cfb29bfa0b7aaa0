"""The README and the docs stay honest: CI runs the README's test command, and the README
links only to files of the repository (the docs site's own links are checked by
`mkdocs build --strict`)."""

from __future__ import annotations

import re

from tests.support import ROOT

README = ROOT / "README.md"
CI_RUN = ROOT / ".ci" / "run"
LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_ci_runs_exactly_the_readme_test_command() -> None:
    test_commands = [line for line in README.read_text().splitlines() if "-m pytest" in line]
    assert len(test_commands) == 1, test_commands
    steps = [
        line
        for line in CI_RUN.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert steps[-1] == test_commands[0]


def test_the_readme_links_only_to_files_of_the_repository() -> None:
    for target in LINK.findall(README.read_text()):
        assert "://" not in target, target
        path = target.split("#", 1)[0]
        assert (ROOT / path).resolve().is_relative_to(ROOT), target
        assert (ROOT / path).exists(), target
