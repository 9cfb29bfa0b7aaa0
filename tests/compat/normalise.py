"""Turn two servers' answers into comparable JSON, and list where they differ.

Ids (UUIDs and 32-hex ids: threads, runs, checkpoints, messages, interrupts) become tokens
that say where the id was first seen (see Normaliser), so that the same id seen twice on one
server maps to the same token as on the other. Timestamps become `<ts>`.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
HEX32 = re.compile(r"(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])")
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$")
# Epoch milliseconds between 2001 and 2286 (the thread-centric protocol's timestamps).
EPOCH_MS = (1e12, 1e13)
ABSENT = "<absent>"


def jsonable(value: Any) -> Any:
    """Plain JSON of what an SDK returned (named tuples, dataclasses, pydantic, messages)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if hasattr(value, "_asdict"):
        return jsonable(value._asdict())
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    if hasattr(value, "model_dump"):
        return jsonable(value.model_dump())
    if hasattr(value, "to_json") and callable(value.to_json):
        return jsonable(value.to_json())
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)


def masked(value: Any) -> str:
    """A sort key with every id and timestamp masked (for answers that have no order)."""
    text = json.dumps(value, sort_keys=True, default=str)
    return HEX32.sub("<id>", UUID.sub("<id>", text))


def unordered(items: Iterable[Any]) -> list[Any]:
    return sorted((jsonable(i) for i in items), key=masked)


class Normaliser:
    """Replaces ids with tokens and timestamps with `<ts>`.

    An id's token names the path where the walk first met it (steps in order, keys within a
    step sorted, so that both servers' answers are walked alike): `<id@/stream1/3/1/id>`.
    One extra id on one side then changes nothing else, which numbering by first appearance
    would. Ids the flow named (its thread, run, assistant...) get those names: `<thread>`.
    """

    def __init__(self, names: dict[str, str] | None = None) -> None:
        self.ids: dict[str, str] = {i.lower(): f"<{n}>" for n, i in (names or {}).items()}

    def string(self, text: str, path: str = "") -> str:
        if TIMESTAMP.match(text):
            return "<ts>"

        def token(match: re.Match[str]) -> str:
            return self.ids.setdefault(match.group(0).lower(), f"<id@{path or '/'}>")

        return HEX32.sub(token, UUID.sub(token, text))

    def __call__(self, value: Any, path: str = "") -> Any:
        if isinstance(value, dict):
            # The top level is a flow's steps: walked in the order they ran.
            order = list(value) if not path else sorted(value)
            # A key that is an id (an interrupt's task, say) is named before what it holds,
            # so that the ids inside are named after its token, not after the raw id.
            names = {k: self.string(k, path) for k in order}
            walked = {k: self(value[k], f"{path}/{names[k]}") for k in order}
            return {names[k]: walked[k] for k in value}
        if isinstance(value, list):
            return [self(v, f"{path}/{i}") for i, v in enumerate(value)]
        if isinstance(value, str):
            return self.string(value, path)
        if isinstance(value, int | float) and EPOCH_MS[0] <= value < EPOCH_MS[1]:
            return "<epoch-ms>"
        return value


@dataclass(frozen=True)
class Difference:
    """One place where the answers differ: `path` as step/key/index, and both values."""

    path: str
    langgraph: Any
    threadwatch: Any


def differences(lg: Any, tw: Any, path: str = "") -> list[Difference]:
    """Every leaf where ``lg`` and ``tw`` differ; a missing key or item shows as ABSENT."""
    if failed(lg) != failed(tw):  # one step failed, the other answered: one difference
        return [Difference(path, lg, tw)]
    if isinstance(lg, dict) and isinstance(tw, dict):
        found: list[Difference] = []
        for key in [*lg, *(k for k in tw if k not in lg)]:
            found += differences(lg.get(key, ABSENT), tw.get(key, ABSENT), f"{path}/{key}")
        return found
    if isinstance(lg, list) and isinstance(tw, list):
        found = []
        for i in range(max(len(lg), len(tw))):
            left = lg[i] if i < len(lg) else ABSENT
            right = tw[i] if i < len(tw) else ABSENT
            found += differences(left, right, f"{path}/{i}")
        return found
    return [] if lg == tw else [Difference(path, lg, tw)]


def failed(value: Any) -> bool:
    """Whether ``value`` is a failed step's record (record.Recorder)."""
    return isinstance(value, dict) and set(value) == {"failed"}
