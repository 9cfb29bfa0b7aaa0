"""Loads the Lua scripts in ``lua/`` and registers each once per Redis client.

Redis scripts cannot import: the libraries in ``lua/lib/`` that a script names on its
``-- uses:`` header line are prepended to it. redis-py's ``Script`` objects run by EVALSHA,
reload on NOSCRIPT, and accept ``client=pipeline`` so that many calls share one round trip.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from redis import Redis
from redis.commands.core import Script

SCRIPT_NAMES = (
    "create_thread",
    "patch_thread",
    "delete_thread",
    "transition",
    "search",
    "leaf_count",
    "set_state",
    "delete_run",
    "requeue_run",
    "run_turn",
    "alerts",
    "watch_thread",
)
# The repairs of `threadwatch doctor` (app/ops/doctor.py), in lua/repair/.
REPAIR_SCRIPT_NAMES = (
    "reindex_thread",
    "reindex_thread_leaves",
    "drop_leaf",
    "drop_leaf_id",
    "fix_run_index",
    "inflight",
)

# A script's header names the libraries it calls on a line `-- uses: lib/a.lua, lib/b.lua`
# (or several such lines); so does a library's header.
_USES = "-- uses:"


def _read(path: str) -> str:
    return files("threadwatch.store").joinpath("lua", path).read_text(encoding="utf-8")


def uses(path: str) -> list[str]:
    """The libraries (paths under lua/) that the `-- uses:` lines of the leading comment of
    lua/<path> name, in their order."""
    names: list[str] = []
    for line in _read(path).splitlines():
        if not line.startswith("--"):
            break
        if line.startswith(_USES):
            names += [name.strip() for name in line[len(_USES) :].split(",") if name.strip()]
    return names


def libraries(path: str) -> list[str]:
    """Every library lua/<path> uses, directly or through another: each once, after those
    it uses."""
    order: list[str] = []

    def visit(library: str, chain: tuple[str, ...]) -> None:
        if library in chain:
            raise ValueError(f"lua/{library} uses itself: {' -> '.join((*chain, library))}")
        if library in order:
            return
        for used in uses(library):
            visit(used, (*chain, library))
        order.append(library)

    for library in uses(path):
        visit(library, (path,))
    return order


@cache
def lua_source(name: str) -> str:
    """The text of lua/<name>.lua (shipped as package data) after the libraries it uses."""
    path = f"{name}.lua"
    return "".join(_read(library) for library in libraries(path)) + _read(path)


class Scripts:
    """The registered scripts of one client."""

    def __init__(self, redis: Redis) -> None:
        self.create_thread: Script = redis.register_script(lua_source("create_thread"))
        self.patch_thread: Script = redis.register_script(lua_source("patch_thread"))
        self.delete_thread: Script = redis.register_script(lua_source("delete_thread"))
        self.transition: Script = redis.register_script(lua_source("transition"))
        self.search: Script = redis.register_script(lua_source("search"))
        self.leaf_count: Script = redis.register_script(lua_source("leaf_count"))
        self.set_state: Script = redis.register_script(lua_source("set_state"))
        self.delete_run: Script = redis.register_script(lua_source("delete_run"))
        self.requeue_run: Script = redis.register_script(lua_source("requeue_run"))
        self.run_turn: Script = redis.register_script(lua_source("run_turn"))
        self.alerts: Script = redis.register_script(lua_source("alerts"))
        self.watch_thread: Script = redis.register_script(lua_source("watch_thread"))


class RepairScripts:
    """The registered repair scripts (lua/repair/) of one client."""

    def __init__(self, redis: Redis) -> None:
        self.reindex_thread: Script = redis.register_script(lua_source("repair/reindex_thread"))
        self.reindex_thread_leaves: Script = redis.register_script(
            lua_source("repair/reindex_thread_leaves")
        )
        self.drop_leaf: Script = redis.register_script(lua_source("repair/drop_leaf"))
        self.drop_leaf_id: Script = redis.register_script(lua_source("repair/drop_leaf_id"))
        self.fix_run_index: Script = redis.register_script(lua_source("repair/fix_run_index"))
        self.inflight: Script = redis.register_script(lua_source("repair/inflight"))
