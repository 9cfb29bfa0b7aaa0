"""Maps every error to LangGraph's ``{"detail": "<string>"}`` envelope, in one place."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError, ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from threadwatch.api.responses import json_response
from threadwatch.errors import StoreUnwritable, ThreadwatchError
from threadwatch.store.availability import refusal

log = logging.getLogger(__name__)

# A store that is away or refuses writes is worth asking again in a second.
RETRY_AFTER = {"Retry-After": "1"}

# Field errors that LangGraph reports with a fixed text and no field name.
_BARE_MESSAGES = {"Invalid thread ID: must be a UUID", "Invalid run ID: must be a UUID"}


def _location(loc: tuple[Any, ...]) -> str:
    """('body', 'events', 3, 'type') -> 'events[3].type'."""
    parts = [p for p in loc if p not in ("body", "path", "query", "header")]
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def describe_validation_errors(errors: list[dict[str, Any]]) -> str:
    """One line per error, each naming the field, e.g. "limit: Input should be ... (got 0)"."""
    lines = []
    for error in errors:
        if error.get("type") == "json_invalid":
            return "Invalid JSON in request body"
        message = str(error.get("msg", "Invalid value")).removeprefix("Value error, ")
        where = _location(tuple(error.get("loc", ())))
        if message in _BARE_MESSAGES and where in ("thread_id", "run_id"):
            lines.append(message)
            continue
        got = error.get("input")
        suffix = f" (got {got!r})" if error.get("type") != "missing" and _short(got) else ""
        lines.append(f"{where}: {message}{suffix}" if where else f"{message}{suffix}")
    return "\n".join(lines)


def _short(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) and len(repr(value)) <= 80


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ThreadwatchError)
    async def _domain(_: Request, exc: ThreadwatchError) -> Response:
        return json_response({"detail": exc.detail}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> Response:
        return json_response(
            {"detail": describe_validation_errors(list(exc.errors()))}, status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> Response:
        return json_response(
            {"detail": exc.detail},
            status_code=exc.status_code,
            headers=dict(exc.headers) if exc.headers else None,
        )

    @app.exception_handler(RedisConnectionError)
    @app.exception_handler(RedisTimeoutError)
    async def _store_away(request: Request, exc: Exception) -> Response:
        # Redis unreachable (restart, failover): a retryable 503, not a crash.
        log.warning("Redis unavailable on %s %s: %s", request.method, request.url.path, exc)
        return json_response(
            {"detail": "The store is unavailable; retry shortly."}, 503, headers=RETRY_AFTER
        )

    @app.exception_handler(OutOfMemoryError)
    @app.exception_handler(ReadOnlyError)
    async def _store_unwritable(request: Request, exc: Exception) -> Response:
        # Redis full (maxmemory, noeviction) or a read-only replica: retryable once it
        # takes writes again. A refused command or script wrote nothing.
        log.warning("Redis refused a write on %s %s: %s", request.method, request.url.path, exc)
        detail = StoreUnwritable(refusal(exc)).detail
        return json_response({"detail": detail}, 503, headers=RETRY_AFTER)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return json_response({"detail": "Internal Server Error"}, status_code=500)
