"""Loads the Lua scripts in ``lua/`` and registers each once per Redis client.

redis-py's ``Script`` objects run by EVALSHA, reload on NOSCRIPT, and accept
``client=pipeline`` so that many calls share one round trip.
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


# Libraries prepended to the scripts that use them (Redis scripts cannot import): the
# scripts that change a thread's status share lua/lib/status_change.lua, and those that move
# a thread between statuses or leaves lua/lib/leaf_sets.lua, and those that write a thread's
# event stream lua/lib/thread_stream.lua.
LIBRARIES = {
    "status_change": frozenset({"transition", "set_state", "delete_run"}),
    "thread_stream": frozenset({"transition", "set_state", "watch_thread"}),
    "leaf_sets": frozenset(
        {
            "create_thread",
            "patch_thread",
            "delete_thread",
            "transition",
            "set_state",
            "delete_run",
            "reindex_thread_leaves",
            "search",
            "leaf_count",
        }
    ),
}


@cache
def lua_source(name: str) -> str:
    """The text of ``lua/<name>.lua`` (shipped as package data), with its library."""
    lua = files("threadwatch.store").joinpath("lua")
    source = lua.joinpath(f"{name}.lua").read_text(encoding="utf-8")
    for library, users in LIBRARIES.items():
        if name in users:
            source = lua.joinpath("lib", f"{library}.lua").read_text(encoding="utf-8") + source
    return source


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
