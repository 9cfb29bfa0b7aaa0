"""What a flow returns: each step's answer (or its error), in order, and the ids it named."""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from tests.compat.normalise import jsonable


async def resolve(value: Any) -> Any:
    """The value of a sync SDK call as it is, of an async one awaited."""
    return await value if inspect.isawaitable(value) else value


async def collect(stream: Any) -> list[Any]:
    """Every part of a sync or async stream, as [event, data]."""
    parts = [p async for p in stream] if hasattr(stream, "__aiter__") else list(stream)
    return [[getattr(p, "event", None), getattr(p, "data", p)] for p in parts]


def error_of(exc: BaseException) -> dict[str, Any]:
    """An HTTP error as its status and body, anything else as its type and message."""
    if isinstance(exc, httpx.HTTPStatusError):
        response = exc.response
        try:
            body = response.json()
        except (json.JSONDecodeError, httpx.ResponseNotRead):
            body = response.text if response.is_stream_consumed else "<stream>"
        return {"http_error": response.status_code, "body": body}
    return {"exception": type(exc).__name__, "message": str(exc)[:300]}


class Recorder:
    """Runs a flow's steps one by one; a failing step is recorded and the flow goes on."""

    def __init__(self) -> None:
        self.steps: dict[str, Any] = {}
        self.names: dict[str, str] = {}

    def name(self, name: str, value: str | None) -> str | None:
        if value:
            self.names[name] = value
        return value

    async def step(self, name: str, call: Callable[[], Awaitable[Any]]) -> Any:
        try:
            value = jsonable(await call())
        except Exception as exc:  # recorded: the other server's answer is compared with it
            self.steps[name] = {"failed": error_of(exc)}
            return None
        self.steps[name] = value
        return value

    def result(self) -> dict[str, Any]:
        return {"steps": self.steps, "names": self.names}
