"""``store.path`` of langgraph.json: the user's own LangGraph ``BaseStore``, used instead of
the Redis store by the graphs (the node ``store`` argument, ``get_store()``) and by the
/store API, loaded as langgraph-api loads one (``store.py``, ``_yield_store``).

The value at the path is a ``BaseStore``; or a sync or async context manager, or a
coroutine, giving one; or a function (called with no argument) returning any of these. A
context manager is entered once per event loop thread and left open for the life of the
process, as LangGraph keeps one per thread: the API's loop enters it in the lifespan (and
leaves it at shutdown), each worker thread's loop on its first run. ``store.index`` and
``store.ttl`` configure the Redis store only (LangGraph: "ignored by custom stores").
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from threadwatch.graphs.project import Project
from threadwatch.graphs.registry import GraphConfigError
from threadwatch.graphs.user_code import MissingFile, import_target


def load_store_value(path: str, folder: Path) -> Any:
    """The value ``store.path`` names: ``"./file.py:variable"`` (relative to ``folder``),
    ``"package.module:variable"``, or LangGraph's ``"package.module.variable"``."""
    if ":" in path:
        target, _, name = path.rpartition(":")
    else:
        target, _, name = path.rpartition(".")
    if not target or not name.isidentifier():
        raise GraphConfigError(
            f'"store.path": "{path}" needs the form "./file.py:variable" or '
            '"package.module:variable"'
        )
    try:
        module = _import(target, folder)
    except GraphConfigError:
        raise
    except Exception as exc:
        raise GraphConfigError(
            f'"store.path": cannot import {target}: {type(exc).__name__}: {exc}'
        ) from exc
    if name not in vars(module):
        found = ", ".join(k for k in vars(module) if not k.startswith("_")) or "nothing"
        raise GraphConfigError(f'"store.path": {target} has no "{name}" (it defines: {found})')
    return vars(module)[name]


def _import(target: str, folder: Path) -> Any:
    try:
        return import_target(target, folder, "store")
    except MissingFile as exc:
        raise GraphConfigError(f'"store.path": no such file: {exc.path}') from None


@asynccontextmanager
async def open_store(value: Any) -> AsyncIterator[Any]:
    """The BaseStore ``value`` gives, for as long as the context lasts (LangGraph's rules)."""
    from langgraph.store.base import BaseStore

    if isinstance(value, BaseStore):
        yield value
    elif hasattr(value, "__aenter__") and hasattr(value, "__aexit__"):
        async with value as entered:
            yield _checked(entered)
    elif hasattr(value, "__enter__") and hasattr(value, "__exit__"):
        with value as entered:
            yield _checked(entered)
    elif asyncio.iscoroutine(value):
        async with open_store(await value) as store:
            yield store
    elif callable(value):
        async with open_store(value()) as store:
            yield store
    else:
        raise GraphConfigError(
            f'"store.path": a {type(value).__name__} is not a store: expected a BaseStore, or '
            "a function, a context manager or a coroutine giving one"
        )


def _checked(store: Any) -> Any:
    from langgraph.store.base import BaseStore

    if not isinstance(store, BaseStore):
        raise GraphConfigError(f'"store.path" gave a {type(store).__name__}, not a BaseStore')
    return store


class CustomStore:
    """The user's store, entered once per thread (each on that thread's event loop)."""

    def __init__(self, value: Any) -> None:
        self.value = value
        self._local = threading.local()

    async def get(self) -> Any:
        """This thread's store, entered on its first use."""
        store = getattr(self._local, "store", None)
        if store is None:
            stack = AsyncExitStack()
            store = await stack.enter_async_context(open_store(self.value))
            self._local.stack, self._local.store = stack, store
        return store

    async def close(self) -> None:
        """Leave this thread's store (the API's, at shutdown)."""
        stack = getattr(self._local, "stack", None)
        if stack is not None:
            self._local.stack = self._local.store = None
            await stack.aclose()


def custom_store(project: Project) -> CustomStore | None:
    """The project's ``store.path``, imported (not entered); None when it names none."""
    path = project.store.get("path")
    if not path:
        return None
    return CustomStore(load_store_value(path, project.folder))
