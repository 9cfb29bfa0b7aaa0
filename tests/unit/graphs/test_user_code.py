"""The one way a user's file is imported (graphs, http.app, store.path, embeddings)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from threadwatch.graphs.user_code import MissingFile, import_file, import_target


def test_a_file_is_imported_once_under_a_name_of_its_kind(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("import random\nvalue = random.random()\n")
    first = import_file(tmp_path / "app.py", "http_app")
    assert first.__name__.startswith("_threadwatch_http_app_app_")
    assert import_file(tmp_path / "app.py", "http_app") is first
    again = import_file(tmp_path / "app.py", "http_app", once=False)
    assert again is not first and again.value != first.value


def test_a_missing_file_is_told_from_a_file_not_found_its_code_raises(tmp_path: Path) -> None:
    with pytest.raises(MissingFile) as missing:
        import_target("./nope.py", tmp_path, "store")
    assert missing.value.path == (tmp_path / "nope.py").resolve()
    (tmp_path / "opens.py").write_text("open('/no/such/thing')\n")
    with pytest.raises(FileNotFoundError) as raised:
        import_file(tmp_path / "opens.py", "graph")
    assert not isinstance(raised.value, MissingFile)
    assert not any("opens" in name for name in sys.modules)  # the half-made module dropped


def test_a_module_path_is_imported_as_python_imports_it(tmp_path: Path) -> None:
    assert import_target("json", tmp_path, "store").__name__ == "json"
