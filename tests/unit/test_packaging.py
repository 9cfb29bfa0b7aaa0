"""What the distribution installs: its own import names, every package of its folders, and
the library API users import."""

from __future__ import annotations

import tomllib

import threadwatch
from tests.support import ROOT

FOLDERS = {"threadwatch": "app", "threadwatch_workers": "workers"}


def test_every_package_folder_is_installed_under_its_import_name() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools["package-dir"] == FOLDERS
    found = set()
    for name, folder in FOLDERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((name, *parts)))
    assert set(setuptools["packages"]) == found


def test_the_library_api() -> None:
    assert sorted(threadwatch.__all__) == [
        "Emitter",
        "EventType",
        "RunEvent",
        "ThreadStatus",
        "__version__",
    ]
    from threadwatch.domain import EventType, ThreadStatus
    from threadwatch.models import RunEvent
    from threadwatch.runs.emitter import Emitter

    assert threadwatch.Emitter is Emitter
    assert threadwatch.RunEvent is RunEvent
    assert threadwatch.EventType is EventType
    assert threadwatch.ThreadStatus is ThreadStatus
