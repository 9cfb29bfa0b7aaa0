"""Graph values as JSON, converted the one way: as langgraph-api's serde converts them, so
that a run's values and GET /threads/{id}/state read from the same checkpoint agree."""

from __future__ import annotations

import base64
from collections import deque
from datetime import timedelta
from decimal import Decimal
from typing import Any

import orjson

JSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON data: pydantic models and named tuples dumped, exceptions as
    ``{error, message}``, sets as lists, timedeltas as seconds, bytes as base64, ``Send``
    as ``{node, args}``, anything else unknown as null."""
    return orjson.loads(orjson.dumps(value, default=_default, option=JSON_OPTIONS))


def _default(obj: Any) -> Any:
    if _is_send(obj):
        return {"node": obj.node, "args": obj.arg}
    if isinstance(obj, type):
        return None
    for method in ("model_dump", "dict", "_asdict"):
        if callable(getattr(obj, method, None)):
            return getattr(obj, method)()
    if isinstance(obj, BaseException):
        return {"error": type(obj).__name__, "message": str(obj)}
    if isinstance(obj, set | frozenset | deque):
        return list(obj)
    if isinstance(obj, timedelta):
        return obj.total_seconds()
    if isinstance(obj, Decimal):
        return int(obj) if obj.is_finite() and obj == obj.to_integral_value() else float(obj)
    if isinstance(obj, bytes | bytearray):
        return base64.b64encode(obj).decode()
    return None


def _is_send(obj: Any) -> bool:
    try:  # langgraph is optional: plain callables run without it
        from langgraph.types import Send
    except ImportError:
        return False
    return isinstance(obj, Send)
