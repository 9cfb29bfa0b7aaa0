"""The layers import one way: the worker package calls app code and is never imported by it
(the CLI, which starts every process, aside); the store, which owns every Redis read and
write, imports no web framework, no job queue and no layer above it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support import ROOT

APP = ROOT / "app"
ABOVE_THE_STORE = ("api", "cli", "graphs", "ops", "runs", "webhooks", "ui")


def modules_imported(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def sources(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


@pytest.mark.parametrize("path", sources(APP), ids=lambda p: str(p.relative_to(APP)))
def test_app_code_never_imports_the_workers(path: Path) -> None:
    if path.is_relative_to(APP / "cli"):
        return  # `threadwatch worker` starts the worker process
    workers = [m for m in modules_imported(path) if m.split(".")[0] == "threadwatch_workers"]
    assert workers == []


@pytest.mark.parametrize("path", sources(APP / "store"), ids=lambda p: p.name)
def test_the_store_imports_nothing_above_it(path: Path) -> None:
    above = {f"threadwatch.{name}" for name in ABOVE_THE_STORE}
    wrong = [
        m
        for m in modules_imported(path)
        if m.split(".")[0] in ("fastapi", "starlette", "rq", "threadwatch_workers")
        or ".".join(m.split(".")[:2]) in above
    ]
    assert wrong == []
