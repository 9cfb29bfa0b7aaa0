"""The thread-centric protocol's routes (app/api/protocol/): POST /threads/{id}/commands,
and the thread's events at /threads/{id}/stream/events, as an SSE response to a POST (the
body is the filter: channels, namespaces, depth, since) or over a WebSocket."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Request, WebSocket
from fastapi.responses import StreamingResponse
from starlette.responses import Response

from threadwatch.api.deps import StoresDep
from threadwatch.api.protocol.commands import ProtocolCommands
from threadwatch.api.protocol.reader import ThreadTapeReader
from threadwatch.api.protocol.socket import ProtocolSocket
from threadwatch.api.protocol.wire import (
    CHANNELS_ALLOWED,
    Subscription,
    error,
    read_since,
    read_subscription,
    supported_channel,
)
from threadwatch.api.responses import json_response
from threadwatch.api.run_stream import HEARTBEAT, HEARTBEAT_SECONDS
from threadwatch.graphs import EMPTY_REGISTRY
from threadwatch.graphs.state import ThreadStates
from threadwatch.models import ThreadId
from threadwatch.runs.service import RunService
from threadwatch.store.stores import Stores

router = APIRouter(prefix="/threads", tags=["thread protocol"])
ThreadIdPath = Annotated[ThreadId, Path(description="The thread's UUID.")]
SSE_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


def _commands(app: Any, stores: Stores, thread_id: str) -> ProtocolCommands:
    service: RunService = app.state.run_service
    graphs = getattr(app.state, "graphs", None) or EMPTY_REGISTRY
    states = ThreadStates(stores.threads, stores.saver, graphs)
    return ProtocolCommands(
        thread_id,
        service,
        stores.threads,
        states,
        lambda: ThreadTapeReader(app.state.stream_reader, stores.threads, thread_id),
    )


@router.post("/{thread_id}/commands")
async def thread_command(request: Request, stores: StoresDep, thread_id: ThreadIdPath) -> Response:
    """One command ({id, method, params}); its reply, success or error, as LangGraph's."""
    command = await _json_body(request)
    if command is None:
        return json_response({"detail": "Invalid JSON body"}, status_code=400)
    if (
        not isinstance(command, dict)
        or not isinstance(command.get("id"), int)
        or not isinstance(command.get("method"), str)
    ):
        command_id = command.get("id") if isinstance(command, dict) else None
        message = "Protocol commands must include an integer id and string method."
        return json_response(error(command_id, "invalid_argument", message), status_code=400)
    reply = await _commands(request.app, stores, thread_id).answer(command)
    return json_response(reply)


@router.post("/{thread_id}/stream/events")
async def thread_events(request: Request, stores: StoresDep, thread_id: ThreadIdPath) -> Response:
    """The thread's events that the body's filter selects, from the first the thread's
    stream holds (after ``since``), then as they come, until the client leaves."""
    body = await _json_body(request)
    if body is None:
        return json_response({"detail": "Invalid JSON body"}, status_code=400)
    params = body if isinstance(body, dict) else {}
    subscription = read_subscription(params)
    if subscription is None:
        return json_response({"detail": _channels_detail(params)}, status_code=400)
    reader = ThreadTapeReader(request.app.state.stream_reader, stores.threads, thread_id)
    since = read_since(params.get("since"))
    return StreamingResponse(
        _sse(reader, subscription, since), media_type="text/event-stream", headers=SSE_HEADERS
    )


@router.websocket("/{thread_id}/stream/events")
async def thread_socket(websocket: WebSocket, thread_id: ThreadIdPath) -> None:
    """Commands and events on one socket, for the socket's lifetime."""
    await websocket.accept()
    app = websocket.app
    stores: Stores = app.state.stores
    reader = ThreadTapeReader(app.state.stream_reader, stores.threads, thread_id)
    socket = ProtocolSocket(websocket, reader)
    commands = _commands(app, stores, thread_id)
    commands.connection = socket.connection()
    await socket.serve(commands)


async def _sse(
    reader: ThreadTapeReader, subscription: Subscription, since: int | None
) -> AsyncIterator[bytes]:
    sent = time.monotonic()
    async for events in reader.follow():
        for event in events or ():
            if (since is None or event["seq"] > since) and subscription.matches(event):
                yield _sse_event(event)
                sent = time.monotonic()
        if time.monotonic() - sent >= HEARTBEAT_SECONDS:
            yield HEARTBEAT
            sent = time.monotonic()


def _sse_event(event: dict[str, Any]) -> bytes:
    """As LangGraph frames it: the method as the event name, the seq as its id."""
    return (
        b"event: "
        + event["method"].encode()
        + b"\ndata: "
        + orjson.dumps(event)
        + b"\nid: "
        + str(event["seq"]).encode()
        + b"\n\n"
    )


async def _json_body(request: Request) -> Any:
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return None


def _channels_detail(params: dict[str, Any]) -> str:
    channels = params.get("channels")
    if not isinstance(channels, list) or not channels:
        return "channels is required and must be a non-empty array"
    bad = [c if isinstance(c, str) else repr(c) for c in channels if not supported_channel(c)]
    return f"channels contains unsupported entries: {', '.join(bad[:5])}. {CHANNELS_ALLOWED}"
