"""``WriteBatch``: the writes of a WRITE step, which go out merged by key.

A put writes a few hash fields, set members and zset members, most of them to the same
keys as the previous put (the thread's registry, namespaces, ids, ...). A batch notes each
write as (kind, key, entries) and merges them by key only when its commands are made: one
command per key and kind. A group commit (write_buffer.py) joins the batches of a run's
puts and so sends a dozen commands for the run instead of forty; outside one, a batch runs
alone as a plain WRITE step.

The merged commands leave Redis as the writes one after the other would: a key holds one
type, so writes to different keys commute; SADD members are unioned, HSET fields and ZADD
scores keep the later value, HSETNX fields the first (an HSET of the same field wins over
them whichever came first, as it does in any order), and a later SET replaces an earlier
one whole. A field or a member is compared as given: pass one always as the same type
(str or bytes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple

from threadwatch.store.checkpoints.steps import Cmd, cmd

Write = tuple[str, str, Any]  # (kind, key, entries): fields, members or a SET's (value, ex)

# How a write's entries merge into those of the earlier writes of its kind to its key
# (`held`, None for the first; a dict of the batch's own, never one a caller gave).


def _later_wins(held: dict | None, fields: Mapping[Any, Any]) -> dict:
    held = {} if held is None else held
    held.update(fields)
    return held


def _first_wins(held: dict | None, fields: Mapping[Any, Any]) -> dict:
    held = {} if held is None else held
    for field, value in fields.items():
        held.setdefault(field, value)
    return held


def _union(held: dict | None, members: Iterable[Any]) -> dict:
    return _later_wins(held, dict.fromkeys(members))


def _replace(held: Any, entry: Any) -> Any:
    return entry


def _hsetnx(key: str, fields: dict) -> list[Cmd]:
    return [cmd("hsetnx", key, field, value) for field, value in fields.items()]


def _hset(key: str, fields: dict) -> list[Cmd]:
    return [cmd("hset", key, mapping=fields)]


def _sadd(key: str, members: dict) -> list[Cmd]:
    return [cmd("sadd", key, *members)]


def _zadd(key: str, scores: dict) -> list[Cmd]:
    return [cmd("zadd", key, scores)]


def _set(key: str, entry: tuple[bytes, int | None]) -> list[Cmd]:
    value, ex = entry
    return [cmd("set", key, value, ex=ex)]


class Kind(NamedTuple):
    """How the writes of one kind to one key merge, and the commands the merge makes."""

    merge: Callable[[Any, Any], Any]
    render: Callable[[str, Any], list[Cmd]]


# The kinds of write, in the order their commands go out.
KINDS: dict[str, Kind] = {
    "hsetnx": Kind(_first_wins, _hsetnx),
    "hset": Kind(_later_wins, _hset),
    "sadd": Kind(_union, _sadd),
    "zadd": Kind(_later_wins, _zadd),
    "set": Kind(_replace, _set),
}


class WriteBatch:
    """Writes to Redis, in order; iterating it gives their commands, merged by key.

    It keeps the mappings it is given and reads them when it makes its commands: do not
    change one after adding it."""

    __slots__ = ("writes",)

    def __init__(self) -> None:
        self.writes: list[Write] = []

    def hset(self, key: str, fields: Mapping[Any, Any]) -> WriteBatch:
        """HSET these fields of a hash."""
        return self._add("hset", key, fields)

    def hsetnx(self, key: str, fields: Mapping[Any, Any]) -> WriteBatch:
        """HSETNX each of these fields of a hash: set it unless it is there."""
        return self._add("hsetnx", key, fields)

    def sadd(self, key: str, *members: Any) -> WriteBatch:
        """SADD these members to a set."""
        return self._add("sadd", key, members)

    def zadd(self, key: str, scores: Mapping[Any, float]) -> WriteBatch:
        """ZADD these members with their scores to a sorted set."""
        return self._add("zadd", key, scores)

    def set(self, key: str, value: bytes, *, ex: int | None = None) -> WriteBatch:
        """SET a string (expiring in `ex` seconds)."""
        return self._add("set", key, (value, ex))

    def extend(self, other: WriteBatch) -> WriteBatch:
        """Add the writes of `other`, to run after these."""
        self.writes += other.writes
        return self

    def _add(self, kind: str, key: str, entries: Any) -> WriteBatch:
        if entries:  # Redis refuses an HSET, SADD or ZADD of nothing
            self.writes.append((kind, key, entries))
        return self

    def merged(self) -> dict[str, dict[str, Any]]:
        """The writes by kind and key, merged (kinds in KINDS order)."""
        by_kind: dict[str, dict[str, Any]] = {kind: {} for kind in KINDS}
        for kind, key, entries in self.writes:
            by_key = by_kind[kind]
            by_key[key] = KINDS[kind].merge(by_key.get(key), entries)
        return by_kind

    def __bool__(self) -> bool:
        return bool(self.writes)

    def __iter__(self) -> Iterator[Cmd]:
        """The commands: one per key and kind (one per field for HSETNX), in KINDS order."""
        for kind, by_key in self.merged().items():
            render = KINDS[kind].render
            for key, entries in by_key.items():
                yield from render(key, entries)

    def apply(self, client: Any) -> None:
        """Run the commands on a client one by one (not atomically: for one command, say)."""
        for command in self:
            command(client)
