"""A user's Python code that langgraph.json names (graphs, ``http.app``, ``store.path``,
``store.index.embed``), imported the one way: a file under a module name of its own per kind
and path (``_threadwatch_<kind>_<stem>_<digest>``), so that two files of one name never
collide and none shadows the user's own packages; a module path as Python imports it."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

_NOT_WORD = re.compile(r"\W")


class MissingFile(FileNotFoundError):
    """The file named is not there (told apart from a FileNotFoundError its code raises)."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"no such file: {path}")
        self.path = path


def import_file(path: Path, kind: str, once: bool = True) -> ModuleType:
    """``path`` as a module: imported once per process, or afresh each call without ``once``.
    MissingFile when there is no such file, ImportError when Python cannot load it;
    what its code raises propagates, and the half-made module is dropped."""
    path = path.resolve()
    if not path.is_file():
        raise MissingFile(path)
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:8]
    name = f"_threadwatch_{kind}_{_NOT_WORD.sub('_', path.stem)}_{digest}"
    if once and name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def import_target(target: str, folder: Path, kind: str) -> ModuleType:
    """A module path (``package.module``), or a file (``./file.py``, relative to ``folder``)."""
    if not (target.endswith(".py") or "/" in target or "\\" in target):
        return importlib.import_module(target)
    return import_file(folder / target, kind)
