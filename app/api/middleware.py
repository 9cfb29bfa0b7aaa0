"""Request bodies, checked once before any route sees them: a size limit (413), a time
limit (408), strict JSON (422; 400 on the thread-centric protocol's routes, as LangGraph's),
and JSON whatever the content type."""

from __future__ import annotations

import asyncio
import re

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from threadwatch.api.responses import json_response

BODY_METHODS = ("POST", "PATCH", "PUT")
MAX_JSON_DEPTH = 1024  # orjson's: a body nested deeper is refused before any route
PROTOCOL_PATH = re.compile(r"/threads/[^/]+/(commands|stream/events)$")


class JSONBodyMiddleware:
    """Pure ASGI middleware for the bodies of POST, PATCH and PUT.

    * A declared Content-Length over the limit is refused at once, a streamed (chunked)
      body as soon as it passes the limit: 413.
    * A body not received in full within ``max_seconds`` is refused: 408.
    * The body must be strict JSON (RFC 8259, as orjson reads it): Python's json module,
      which FastAPI uses, also takes NaN and lone surrogates, which no JSON peer can read
      back. Otherwise 422 "Invalid JSON in request body", LangGraph's text.
    * Every body this API takes is JSON, so it is labelled so even when a client
      (``curl -d``) says form data, as the LangGraph server reads it.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, max_seconds: float = 30.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._reject(scope, receive, send, 413, self._too_large())
            return
        try:
            async with asyncio.timeout(self.max_seconds):
                body = await self._read(receive)
        except TimeoutError:  # a client that trickles its body holds a connection: no more
            detail = f"Request body not received within {self.max_seconds:g} s"
            await self._reject(scope, receive, send, 408, detail)
            return
        if body is None:
            await self._reject(scope, receive, send, 413, self._too_large())
            return
        if body.strip():
            try:
                orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                status, detail = _invalid_json_answer(scope["path"])
                if str(exc).startswith("depth limit exceeded"):
                    detail += f": nested deeper than {MAX_JSON_DEPTH} levels"
                await self._reject(scope, receive, send, status, detail)
                return
        headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
        headers.append((b"content-type", b"application/json"))
        await self.app({**scope, "headers": headers}, _replay(body, receive), send)

    async def _read(self, receive: Receive) -> bytes | None:
        """The whole body, or None as soon as it passes the limit."""
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return None
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)

    def _too_large(self) -> str:
        return f"Request body is larger than {self.max_bytes} bytes"

    @staticmethod
    async def _reject(scope: Scope, receive: Receive, send: Send, code: int, detail: str) -> None:
        await json_response({"detail": detail}, status_code=code)(scope, receive, send)


def _invalid_json_answer(path: str) -> tuple[int, str]:
    """What a body that is not JSON gets: LangGraph's 422, or on the thread-centric
    protocol's routes the 400 of LangGraph's protocol routes."""
    if PROTOCOL_PATH.search(path):
        return 400, "Invalid JSON body"
    return 422, "Invalid JSON in request body"


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive() that hands the app the body already read, then defers to the client."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
