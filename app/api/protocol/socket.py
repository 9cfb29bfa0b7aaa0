"""A WebSocket of the protocol: commands in, replies and events out. The socket's
subscriptions share one reading of the thread (ThreadTapeReader); an event goes out once
however many subscriptions match it, and a new subscription first gets the past events it
matches (after its ``since``, for `subscription.reconnect`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from threadwatch.api.protocol.commands import Connection, ProtocolCommands
from threadwatch.api.protocol.reader import ThreadTapeReader
from threadwatch.api.protocol.wire import Subscription, error

log = logging.getLogger(__name__)
# Events a socket keeps for the replays of its later subscriptions, as LangGraph's buffer.
REPLAY_EVENTS = 10_000


class ProtocolSocket:
    """One accepted WebSocket on one thread."""

    def __init__(self, websocket: WebSocket, reader: ThreadTapeReader) -> None:
        self.websocket = websocket
        self.reader = reader
        self.subscriptions: dict[str, Subscription] = {}
        self.floors: dict[str, int] = {}  # a reconnected subscription's `since`
        self.past: list[dict[str, Any]] = []
        self.lock = asyncio.Lock()  # a replay and the live events do not interleave
        # Set once the entries there when the socket opened are read: a subscription
        # replays them all.
        self.caught_up = asyncio.Event()

    def connection(self) -> Connection:
        return Connection(self.subscribe, self.unsubscribe, lambda: self.reader.tape.seq)

    async def serve(self, commands: ProtocolCommands) -> None:
        """Answer commands until the client leaves; events go out meanwhile."""
        live = asyncio.create_task(self._send_live())
        try:
            while True:
                raw = await self.websocket.receive_text()
                reply = await self._answer(commands, raw)
                await self._send(reply)
        except WebSocketDisconnect:
            pass
        finally:
            live.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await live

    async def _answer(self, commands: ProtocolCommands, raw: str) -> dict[str, Any]:
        try:
            command = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return error(None, "invalid_argument", "Protocol commands must be valid JSON.")
        if (
            not isinstance(command, dict)
            or not isinstance(command.get("id"), int)
            or not isinstance(command.get("method"), str)
        ):
            command_id = command.get("id") if isinstance(command, dict) else None
            return error(
                command_id,
                "invalid_argument",
                "Protocol commands must include an integer id and string method.",
            )
        return await commands.answer(command)

    async def subscribe(self, subscription: Subscription, since: int | None) -> int:
        """Add a subscription; the past events it matches go out first."""
        await self.caught_up.wait()
        async with self.lock:
            floor = since if since is not None else 0
            replay = [e for e in self.past if e["seq"] > floor and subscription.matches(e)]
            for event in replay:
                await self._send(event)
            self.subscriptions[subscription.id] = subscription
            self.floors[subscription.id] = floor
        return len(replay)

    def unsubscribe(self, subscription_id: str) -> bool:
        self.floors.pop(subscription_id, None)
        return self.subscriptions.pop(subscription_id, None) is not None

    async def _send_live(self) -> None:
        """Every event of the thread, to the subscriptions that match it; the socket
        closes (1011, as LangGraph's) once the thread is deleted."""
        async for events in self.reader.follow():
            if events is None:
                self.caught_up.set()
                continue
            async with self.lock:
                for event in events:
                    self.past.append(event)
                    if any(
                        event["seq"] > self.floors[sid] and sub.matches(event)
                        for sid, sub in self.subscriptions.items()
                    ):
                        await self._send(event)
                del self.past[:-REPLAY_EVENTS]
        self.caught_up.set()  # nothing more will come: subscriptions stop waiting
        with contextlib.suppress(Exception):
            await self.websocket.close(code=1011, reason="thread stream ended")

    async def _send(self, message: dict[str, Any]) -> None:
        await self.websocket.send_text(orjson.dumps(message).decode())
