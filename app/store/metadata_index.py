"""The metadata index: which sets a thread belongs to, and which sets answer a filter.

Filters follow Postgres ``jsonb @>`` (containment), as on the production LangGraph server:
objects match as subsets, arrays match when every filter element is contained in some
stored element, scalars by JSON equality (``1`` = ``1.0``, ``1`` != ``"1"``, ``true`` != ``1``,
``null`` only matches a present null).

Stored metadata is flattened into *leaves*, each a JSON array ``[path..., value]``:

* a scalar at ``path`` -> ``[*path, value]`` (integral floats written as integers);
* an object or array at ``path`` (below the top) -> ``[*path, {}]`` / ``[*path, []]``;
* an array element steps into the path as ``0``: ``{"tags": ["a"]}`` gives
  ``["tags", []]`` and ``["tags", 0, "a"]``.

A filter compiles to the leaves every match must have; a thread matches only if it is in
every leaf's set. The sets are exact for scalars and for arrays of scalars. Three cases
are only a superset, and their candidates are checked with :func:`contains` on the stored
metadata: array elements that are objects or arrays (the leaves may come from different
elements), values whose JSON exceeds ``MAX_VALUE_BYTES`` or paths whose JSON exceeds
``MAX_PATH_BYTES`` (indexed by digest, so that no key name grows with user input), and paths
deeper than ``MAX_DEPTH`` (indexed as a container marker only).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

MAX_VALUE_BYTES = 128
MAX_PATH_BYTES = 256
MAX_DEPTH = 6

_ARRAY_STEP = 0
_OBJECT_MARK: dict[str, Any] = {}
_ARRAY_MARK: list[Any] = []


def scalar_json(value: Any) -> bytes:
    """JSON text of a leaf value, one text per JSON-equal value: integral numbers are
    written as integers of any size, so ``1.0``, ``1`` and ``1e20`` / ``10**20`` agree."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value).encode()
    return orjson.dumps(value)


def encode_leaf(path: list[str | int], value: Any) -> tuple[str, bool]:
    """Leaf text for ``value`` at ``path``, and whether it is exact (not a digest)."""
    value_json = scalar_json(value)
    path_json = orjson.dumps(path).decode()
    if len(path_json) > MAX_PATH_BYTES:
        digest = hashlib.sha256(path_json.encode() + b"\0" + value_json).hexdigest()[:32]
        return f"#{digest}", False
    if len(value_json) > MAX_VALUE_BYTES:
        digest = hashlib.sha256(value_json).hexdigest()[:32]
        return f"{path_json}#{digest}", False
    prefix = path_json[:-1] + ("," if path else "")
    return f"{prefix}{value_json.decode()}]", True


def metadata_leaves(metadata: dict[str, Any]) -> set[str]:
    """Every leaf of stored metadata (the sets this thread belongs to)."""
    leaves: set[str] = set()
    for key, value in metadata.items():
        _collect(value, [key], leaves)
    return leaves


def _collect(value: Any, path: list[str | int], leaves: set[str]) -> None:
    if isinstance(value, dict):
        leaves.add(encode_leaf(path, _OBJECT_MARK)[0])
        if len(path) < MAX_DEPTH:
            for key, item in value.items():
                _collect(item, [*path, key], leaves)
    elif isinstance(value, list):
        leaves.add(encode_leaf(path, _ARRAY_MARK)[0])
        if len(path) < MAX_DEPTH:
            for item in value:
                _collect(item, [*path, _ARRAY_STEP], leaves)
    else:
        leaves.add(encode_leaf(path, value)[0])


@dataclass(frozen=True)
class CompiledFilter:
    """Leaves a match must hold; ``exact`` is False when candidates need :func:`contains`."""

    leaves: frozenset[str]
    exact: bool


def compile_filter(query: dict[str, Any]) -> CompiledFilter:
    """Compile a metadata filter; ``{}`` compiles to no leaves (matches everything)."""
    leaves: set[str] = set()
    exact = True
    for key, value in query.items():
        exact &= _compile(value, [key], leaves, inside_array=False)
    return CompiledFilter(frozenset(leaves), exact)


def _compile(value: Any, path: list[str | int], leaves: set[str], inside_array: bool) -> bool:
    """Add the leaves ``value`` at ``path`` requires; return whether they decide exactly."""
    if isinstance(value, dict | list):
        if not value or len(path) >= MAX_DEPTH:
            mark = _OBJECT_MARK if isinstance(value, dict) else _ARRAY_MARK
            leaves.add(encode_leaf(path, mark)[0])
            return not value
        # Several leaves of one array element may be satisfied by different elements.
        exact = not inside_array
        items = value.items() if isinstance(value, dict) else ((_ARRAY_STEP, v) for v in value)
        for step, item in items:
            in_array = inside_array or isinstance(value, list)
            exact &= _compile(item, [*path, step], leaves, in_array)
        return exact
    leaf, exact = encode_leaf(path, value)
    leaves.add(leaf)
    return exact


def contains(doc: Any, query: Any) -> bool:
    """Postgres ``doc @> query`` for JSON values below the top level."""
    if isinstance(query, dict):
        return isinstance(doc, dict) and all(
            key in doc and contains(doc[key], item) for key, item in query.items()
        )
    if isinstance(query, list):
        return isinstance(doc, list) and all(any(contains(d, q) for d in doc) for q in query)
    return _scalar_equal(doc, query)


def _scalar_equal(a: Any, b: Any) -> bool:
    if isinstance(a, dict | list) or isinstance(b, dict | list):
        return False
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b
