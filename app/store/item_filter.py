"""The ``filter`` of a store search: which item values it accepts, as LangGraph's stores do.

A filter maps top-level fields of an item's value to what they must hold: a value (equal,
nested objects matched field by field, lists element by element), or operators ``$eq``,
``$ne``, ``$gt``, ``$gte``, ``$lt``, ``$lte``. Ordering operators compare numbers with
numbers and text with text; anything else does not match (LangGraph's in-memory store
raises a 500 there).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

from threadwatch.errors import ThreadwatchError

_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "$gt": operator.gt,
    "$gte": operator.ge,
    "$lt": operator.lt,
    "$lte": operator.le,
}
OPERATORS = frozenset({"$eq", "$ne", *_ORDER})


class UnsupportedOperator(ThreadwatchError):
    """A filter names an operator no store knows (LangGraph's 400 and text)."""

    status_code = 400

    def __init__(self, name: str) -> None:
        super().__init__(f"Unsupported operator: {name}")


def check_filter(spec: Any) -> None:
    """UnsupportedOperator for the first unknown ``$`` operator in ``spec``, so that a bad
    filter is refused whatever the items."""
    if isinstance(spec, Mapping):
        for key, value in spec.items():
            if isinstance(key, str) and key.startswith("$") and key not in OPERATORS:
                raise UnsupportedOperator(key)
            check_filter(value)
    elif isinstance(spec, list | tuple):
        for value in spec:
            check_filter(value)


def item_matcher(spec: Mapping[str, Any] | None) -> Callable[[dict[str, Any]], bool] | None:
    """The predicate of a filter over item values; None for no filter."""
    if not spec:
        return None
    check_filter(spec)
    pairs = list(spec.items())
    return lambda value: all(_holds(value.get(field), want) for field, want in pairs)


def _holds(value: Any, want: Any) -> bool:
    if isinstance(want, Mapping):
        if any(isinstance(k, str) and k.startswith("$") for k in want):
            return all(_apply(value, name, operand) for name, operand in want.items())
        return isinstance(value, Mapping) and all(_holds(value.get(k), v) for k, v in want.items())
    if isinstance(want, list | tuple):
        return (
            isinstance(value, list | tuple)
            and len(value) == len(want)
            and all(_holds(v, w) for v, w in zip(value, want, strict=True))
        )
    return _equal(value, want)


def _equal(value: Any, want: Any) -> bool:
    """JSON equality: true is not 1."""
    if isinstance(value, bool) or isinstance(want, bool):
        return isinstance(value, bool) and isinstance(want, bool) and value == want
    return bool(value == want)


def _apply(value: Any, name: str, operand: Any) -> bool:
    if name == "$eq":
        return _holds(value, operand)
    if name == "$ne":
        return not _holds(value, operand)
    if name not in _ORDER:
        raise UnsupportedOperator(name)
    if _number(value) and _number(operand):
        return _ORDER[name](float(value), float(operand))
    if isinstance(value, str) and isinstance(operand, str):
        return _ORDER[name](value, operand)
    return False


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
