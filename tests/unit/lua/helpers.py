"""Helpers of the contract tests of the Lua scripts (app/store/lua/)."""

from __future__ import annotations

from typing import Any

from redis import Redis

from threadwatch.models import RunEvent
from threadwatch.store.scripts import Transition, libraries, lua_file
from threadwatch.store.stores import Stores


def with_libraries(*names: str) -> str:
    """The text of the libraries (paths under lua/), after those they use: a prelude for a
    snippet of Lua that calls them."""
    order: list[str] = []
    for name in names:
        for library in [*libraries(name), name]:
            if library not in order:
                order.append(library)
    return "".join(lua_file(library) for library in order)


def run_lua(redis: Redis, libs: tuple[str, ...], snippet: str, *args: Any) -> Any:
    """``snippet`` run after the libraries ``libs``, with ``args`` as ARGV (no KEYS)."""
    return redis.eval(with_libraries(*libs) + snippet, 0, *args)


def transition(stores: Stores, *events: RunEvent, admission: str = "") -> list[Transition]:
    """One transition.lua call for ``events`` (their KEYS and ARGV as RunStore sends them)."""
    keys, args = stores.runs._operands(list(events), {}, admission)
    return stores.runs.scripts.transition(keys, args)
