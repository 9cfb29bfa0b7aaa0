"""threadwatch: a Redis-backed thread-status service compatible with the LangGraph threads API.

The library API is what this module exports; everything else is the service's own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Emitter", "EventType", "RunEvent", "ThreadStatus", "__version__"]

if TYPE_CHECKING:
    from threadwatch.domain import EventType, ThreadStatus
    from threadwatch.models import RunEvent
    from threadwatch.runs.emitter import Emitter

# Imported on first use: the CLI imports this package, and need not load Redis and pydantic
# models to print its help.
_EXPORTS = {
    "Emitter": "threadwatch.runs.emitter",
    "EventType": "threadwatch.domain",
    "RunEvent": "threadwatch.models",
    "ThreadStatus": "threadwatch.domain",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'threadwatch' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(module), name)
