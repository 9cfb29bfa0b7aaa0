"""The Lua scripts in ``lua/``: loaded, registered once per Redis client, and called through
typed wrappers.

Redis scripts cannot import: the libraries in ``lua/lib/`` that a script names on its
``-- uses:`` header line are prepended to it. A script returns small codes; its wrapper here
(the method of ``Scripts`` or ``RepairScripts`` named after it) turns them into named
results or raises the typed error, as redis-py's ``Lock.do_release`` does. ``lua_<name>`` is
the script's redis-py ``Script`` (EVALSHA, reloaded on NOSCRIPT), for the callers that send
it in a pipeline; they decode its reply with the functions here (``transitions``,
``held_turn``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from functools import cache
from importlib.resources import files
from typing import Any, NamedTuple

from redis import Redis
from redis.client import Pipeline
from redis.commands.core import Script

from threadwatch.domain import ThreadStatus
from threadwatch.errors import (
    AssistantVersionNotFound,
    NoSuchAssistant,
    RunNotFound,
    ThreadBusy,
    ThreadNotFound,
)

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
    "trim_runs",
    "expire_runs",
    "alerts",
    "watch_thread",
    "put_assistant",
    "update_assistant",
    "delete_assistant",
    "store_put",
    "store_delete",
    "store_touch",
    "store_index",
    "claim_cron",
)
# The repairs of `threadwatch doctor` (app/store/integrity.py), in lua/repair/.
REPAIR_SCRIPT_NAMES = (
    "reindex_thread",
    "reindex_thread_leaves",
    "drop_leaf",
    "drop_leaf_id",
    "fix_run_index",
    "inflight",
    "read_thread",
)
# A script's header names the libraries it calls on a line `-- uses: lib/a.lua, lib/b.lua`
# (or several such lines); so does a library's header.
_USES = "-- uses:"

# KEYS and ARGV of a call, in the order of the script's header.
Operands = Sequence[Any]


def lua_file(path: str) -> str:
    """The text of lua/<path>, as shipped (package data)."""
    return files("threadwatch.store").joinpath("lua", path).read_text(encoding="utf-8")


def uses(path: str) -> list[str]:
    """The libraries (paths under lua/) that the `-- uses:` lines of the leading comment of
    lua/<path> name, in their order."""
    names: list[str] = []
    for line in lua_file(path).splitlines():
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
    return "".join(lua_file(library) for library in libraries(path)) + lua_file(path)


# -- what the scripts return ---------------------------------------------------------------


class TransitionCode(IntEnum):
    """transition.lua's code for one event (lua/transition.lua has the contract)."""

    APPLIED = 1
    DUPLICATE = 2
    STALE = 3
    # The thread's metadata changed since the caller read it: nothing written, read again.
    METADATA_CHANGED = -1
    # The run belongs to another thread: nothing written.
    OTHER_THREAD = -2
    # Admission "reject" while a run of the thread is in flight: nothing written.
    REJECTED = -3
    # Admission "reclaim": the run's lease is live, or it holds none; admission "start": the
    # run does not exist (requeue_run.lua answers it too). Nothing written.
    NOT_RECLAIMED = -4


class CronClaim(IntEnum):
    """claim_cron.lua's answer (lua/claim_cron.lua has the contract)."""

    CLAIMED = 1
    # Claimed by another caller, rescheduled, disabled or deleted: nothing to fire here.
    NOT_OURS = 0
    # The cron's end_time has passed: it fires no more.
    ENDED = -1


class Transition(NamedTuple):
    """What transition.lua did with one event: its code, the thread's status before and after
    (None for METADATA_CHANGED and OTHER_THREAD) and, for a run admitted here, the thread's
    previous last run."""

    code: TransitionCode
    old_status: ThreadStatus | None
    new_status: ThreadStatus | None
    previous_run: str | None


class ChangedSinceRead(Exception):
    """What the caller read for a script (metadata, runs) changed before it ran: nothing was
    written; read again and retry."""


@dataclass(frozen=True)
class InFlight:
    """repair/inflight.lua: a thread's stored in-flight counter and status, against its runs
    in flight counted now and the status they derive."""

    stored: int
    counted: int
    status: str
    derived: str


_CODES = {code.value: code for code in TransitionCode}
# A status as a script replies it (bytes, or text with decode_responses); "" for none.
_STATUSES: dict[bytes | str, ThreadStatus | None] = {
    b"": None,
    "": None,
    **{status.value.encode(): status for status in ThreadStatus},
    **{status.value: status for status in ThreadStatus},
}


def transitions(reply: list[Any]) -> list[Transition]:
    """transition.lua's reply, four values per event, as one Transition per event (on the
    events' hot path: _make and one iterator cost less than slices and keywords)."""
    values, make = iter(reply), Transition._make
    return [
        make((_CODES[code], _STATUSES[old], _STATUSES[new], _text(previous) or None))
        for code, old, new, previous in zip(values, values, values, values, strict=True)
    ]


def held_turn(reply: list[Any]) -> tuple[str, int] | None:
    """run_turn.lua's reply: the run that holds its thread's turn now (its job is the
    caller's to queue) and µs before it may start; None when nothing is to be queued (the
    run waits, no run was waiting, or a take was refused)."""
    if reply[0] != 1:
        return None
    return _text(reply[1]), int(reply[2])


# -- the scripts and their wrappers ---------------------------------------------------------


def _register(redis: Redis, name: str) -> Script:
    return redis.register_script(lua_source(name))


class Scripts:
    """The scripts (lua/*.lua) of one client, each registered once: ``lua_<name>`` is the
    redis-py Script, ``<name>()`` its typed call."""

    def __init__(self, redis: Redis) -> None:
        self.lua_create_thread = _register(redis, "create_thread")
        self.lua_patch_thread = _register(redis, "patch_thread")
        self.lua_delete_thread = _register(redis, "delete_thread")
        self.lua_transition = _register(redis, "transition")
        self.lua_search = _register(redis, "search")
        self.lua_leaf_count = _register(redis, "leaf_count")
        self.lua_set_state = _register(redis, "set_state")
        self.lua_delete_run = _register(redis, "delete_run")
        self.lua_requeue_run = _register(redis, "requeue_run")
        self.lua_run_turn = _register(redis, "run_turn")
        self.lua_trim_runs = _register(redis, "trim_runs")
        self.lua_expire_runs = _register(redis, "expire_runs")
        self.lua_alerts = _register(redis, "alerts")
        self.lua_watch_thread = _register(redis, "watch_thread")
        self.lua_put_assistant = _register(redis, "put_assistant")
        self.lua_update_assistant = _register(redis, "update_assistant")
        self.lua_delete_assistant = _register(redis, "delete_assistant")
        self.lua_store_put = _register(redis, "store_put")
        self.lua_store_delete = _register(redis, "store_delete")
        self.lua_store_touch = _register(redis, "store_touch")
        self.lua_store_index = _register(redis, "store_index")
        self.lua_claim_cron = _register(redis, "claim_cron")

    def create_thread(
        self, keys: Operands, args: Operands, client: Pipeline | None = None
    ) -> tuple[bool, list[Any]]:
        """Whether the thread was created (False: it existed), and its hash (flat). With a
        pipeline (``client``) the call is queued: ``execute()`` returns its reply as is."""
        if client is not None:
            return self.lua_create_thread(keys=keys, args=args, client=client)
        created, raw = self.lua_create_thread(keys=keys, args=args)
        return created == 1, raw

    def patch_thread(self, thread_id: str, keys: Operands, args: Operands) -> list[Any]:
        """The patched thread's hash (flat); ThreadNotFound, or ChangedSinceRead."""
        code, *rest = self.lua_patch_thread(keys=keys, args=args)
        if code == 0:
            raise ThreadNotFound(thread_id)
        if code == -1:
            raise ChangedSinceRead()
        return rest[0]

    def delete_thread(self, thread_id: str, keys: Operands, args: Operands) -> None:
        """ThreadNotFound, or ChangedSinceRead (metadata or runs)."""
        code = self.lua_delete_thread(keys=keys, args=args)
        if code == 0:
            raise ThreadNotFound(thread_id)
        if code == -1:
            raise ChangedSinceRead()

    def transition(self, keys: Operands, args: Operands) -> list[Transition]:
        """One Transition per event."""
        return transitions(self.lua_transition(keys=keys, args=args))

    def search(self, keys: Operands, args: Operands) -> list[Any]:
        """The plan used, then the ids (or each id and its hash); search.lua has the modes."""
        return self.lua_search(keys=keys, args=args)

    def leaf_count(self, keys: Operands, args: Operands) -> int:
        """The threads holding every leaf of a metadata filter."""
        return int(self.lua_leaf_count(keys=keys, args=args))

    def set_state(self, thread_id: str, keys: Operands, args: Operands) -> list[Any]:
        """The thread's hash (flat) after its new state; ThreadNotFound, or ThreadBusy while
        a run is in flight on it (nothing written)."""
        code, *rest = self.lua_set_state(keys=keys, args=args)
        if code == 0:
            raise ThreadNotFound(thread_id)
        if code == -1:
            raise ThreadBusy(thread_id)
        return rest[0]

    def delete_run(self, run_id: str, keys: Operands, args: Operands) -> None:
        """RunNotFound when the run does not exist on that thread."""
        if self.lua_delete_run(keys=keys, args=args)[0] == 0:
            raise RunNotFound(run_id)

    def requeue_run(self, keys: Operands, args: Operands) -> int:
        """The run's attempt count after this one, or TransitionCode.NOT_RECLAIMED when its
        lease is live or gone, or it is not running (nothing written)."""
        attempts = int(self.lua_requeue_run(keys=keys, args=args))
        if attempts == TransitionCode.NOT_RECLAIMED:
            return TransitionCode.NOT_RECLAIMED
        return attempts

    def trim_runs(self, keys: Operands, args: Operands, client: Pipeline | None = None) -> int:
        """How many of the runs given were ended, and deleted. With a pipeline (``client``)
        the call is queued: ``execute()`` returns that count."""
        if client is not None:
            return self.lua_trim_runs(keys=keys, args=args, client=client)
        return int(self.lua_trim_runs(keys=keys, args=args))

    def expire_runs(self, keys: Operands, args: Operands) -> int:
        """How many of the runs given were due and ended, and deleted."""
        return int(self.lua_expire_runs(keys=keys, args=args))

    def run_turn(self, keys: Operands, args: Operands) -> tuple[str, int] | None:
        """The run that holds the thread's turn now and µs before it may start (held_turn)."""
        return held_turn(self.lua_run_turn(keys=keys, args=args))

    def alerts(self, keys: Operands, args: Operands) -> list[Any]:
        """alerts.lua's reply, per mode (app/ops/alerts/evaluate.py reads it)."""
        return self.lua_alerts(keys=keys, args=args)

    def watch_thread(self, thread_id: str, keys: Operands, args: Operands) -> str:
        """The id of the stream's last entry ("0-0" for none); ThreadNotFound."""
        last = self.lua_watch_thread(keys=keys, args=args)
        if last is None:
            raise ThreadNotFound(thread_id)
        return _text(last)

    def put_assistant(self, keys: Operands, args: Operands) -> tuple[bool, list[Any]]:
        """Whether the assistant was created (False: it existed), and its hash (flat)."""
        created, raw = self.lua_put_assistant(keys=keys, args=args)
        return created == 1, raw

    def update_assistant(
        self, assistant_id: str, version: int, keys: Operands, args: Operands
    ) -> list[Any]:
        """The assistant's hash (flat) with ``version`` as its latest; NoSuchAssistant,
        AssistantVersionNotFound, or ChangedSinceRead."""
        code, *rest = self.lua_update_assistant(keys=keys, args=args)
        if code == 0:
            raise NoSuchAssistant(assistant_id)
        if code == -1:
            raise ChangedSinceRead()
        if code == -2:
            raise AssistantVersionNotFound(assistant_id, version)
        return rest[0]

    def delete_assistant(self, assistant_id: str, keys: Operands, args: Operands) -> None:
        """NoSuchAssistant, or ChangedSinceRead (its graph)."""
        code = self.lua_delete_assistant(keys=keys, args=args)
        if code == 0:
            raise NoSuchAssistant(assistant_id)
        if code == -1:
            raise ChangedSinceRead()

    def store_put(self, keys: Operands, args: Operands) -> tuple[int, int] | int:
        """The item's created_at and updated_at (µs) after the put; or, when fewer vector
        document keys were given than the item has, how many it has (nothing written)."""
        done, *rest = self.lua_store_put(keys=keys, args=args)
        if int(done) == 0:
            return int(rest[0])
        return int(rest[0]), int(rest[1])

    def store_delete(self, keys: Operands, args: Operands) -> int | None:
        """How many items were deleted; None, nothing deleted, when an item has more vector
        documents than keys were given for it."""
        deleted = int(self.lua_store_delete(keys=keys, args=args))
        return None if deleted < 0 else deleted

    def store_index(self, keys: Operands, args: Operands) -> int | None:
        """How many vector documents the item was given; None when it needs more keys."""
        written = int(self.lua_store_index(keys=keys, args=args))
        return None if written < 0 else written

    def store_touch(self, keys: Operands, args: Operands) -> int:
        """How many items had their TTL refreshed."""
        return int(self.lua_store_touch(keys=keys, args=args))

    def claim_cron(self, keys: Operands, args: Operands) -> CronClaim:
        """Whether this caller fires the cron's due firing (lua/claim_cron.lua)."""
        return CronClaim(int(self.lua_claim_cron(keys=keys, args=args)))


class RepairScripts:
    """The repair scripts (lua/repair/) of one client, each registered once. A repair reads
    the record again and changes nothing when it changed since the check or is malformed:
    the wrappers say whether the index is now as the record says."""

    def __init__(self, redis: Redis) -> None:
        self.lua_reindex_thread = _register(redis, "repair/reindex_thread")
        self.lua_reindex_thread_leaves = _register(redis, "repair/reindex_thread_leaves")
        self.lua_drop_leaf = _register(redis, "repair/drop_leaf")
        self.lua_drop_leaf_id = _register(redis, "repair/drop_leaf_id")
        self.lua_fix_run_index = _register(redis, "repair/fix_run_index")
        self.lua_inflight = _register(redis, "repair/inflight")
        self.lua_read_thread = _register(redis, "repair/read_thread")

    def reindex_thread(self, keys: Operands, args: Operands) -> bool:
        """Whether the thread's status and order entries follow its hash (False: malformed)."""
        return int(self.lua_reindex_thread(keys=keys, args=args)) >= 0

    def reindex_thread_leaves(self, keys: Operands, args: Operands) -> bool:
        """Whether the thread's leaf sets follow its hash (False: it is gone, or its metadata
        changed since the caller read it)."""
        return int(self.lua_reindex_thread_leaves(keys=keys, args=args)) >= 0

    def drop_leaf(self, keys: Operands, args: Operands) -> bool:
        """Whether the thread is out of the leaf set (False: its hash holds it there)."""
        return int(self.lua_drop_leaf(keys=keys, args=args)) >= 0

    def drop_leaf_id(self, keys: Operands, args: Operands) -> bool:
        """Whether the leaf id was dropped."""
        return int(self.lua_drop_leaf_id(keys=keys, args=args)) == 1

    def fix_run_index(self, keys: Operands, args: Operands) -> bool:
        """Whether the run's index entries follow its hash (False: a run without a rank)."""
        return int(self.lua_fix_run_index(keys=keys, args=args)) >= 0

    def inflight(self, keys: Operands, args: Operands) -> InFlight | None:
        """The thread's in-flight count and status, stored and derived; None for a missing
        thread, ChangedSinceRead when its runs changed since the caller read them."""
        code, *rest = self.lua_inflight(keys=keys, args=args)
        if code == 0:
            return None
        if code == -1:
            raise ChangedSinceRead()
        stored, counted, status, derived = rest
        return InFlight(int(stored), int(counted), _text(status), _text(derived))

    def read_thread(self, keys: Operands, args: Operands) -> list[Any] | bool | None:
        """[fields, status scores, order scores, leaf ids, held] read at one instant; None
        for a missing thread, False when its metadata changed since the caller read it."""
        code, *rest = self.lua_read_thread(keys=keys, args=args)
        if code == 0:
            return None
        if code == -1:
            return False
        return list(rest)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
