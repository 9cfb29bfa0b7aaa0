"""The protocol's commands, answered as LangGraph's server answers them: `run.start`,
`input.respond`, `state.get`, `agent.getTree` and the `subscription.*` family. A refused
command is a `type: error` reply (HTTP 200) with LangGraph's code and text."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from threadwatch.api.protocol.reader import ThreadTapeReader
from threadwatch.api.protocol.tape import Node
from threadwatch.api.protocol.wire import (
    Subscription,
    error,
    read_since,
    read_subscription,
    state_payload,
    success,
)
from threadwatch.errors import NotFoundError, ThreadwatchError
from threadwatch.graphs.state import ThreadStates
from threadwatch.models import RunCreate
from threadwatch.runs.service import RunService
from threadwatch.store.codec import materialize
from threadwatch.store.threads import ThreadStore

log = logging.getLogger(__name__)
MULTITASK_STRATEGIES = ("reject", "rollback", "interrupt", "enqueue")
Reply = dict[str, Any]


class Refused(Exception):
    """A command refused: its protocol error code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class Connection:
    """What a command may change on its connection: a WebSocket's subscriptions
    (``subscribe`` returns how many past events it replayed), and its last seq."""

    subscribe: Callable[[Subscription, int | None], Awaitable[int]] | None = None
    unsubscribe: Callable[[str], bool] | None = None
    seq: Callable[[], int] = lambda: 0


class ProtocolCommands:
    """Answers the commands of one thread."""

    def __init__(
        self,
        thread_id: str,
        service: RunService,
        threads: ThreadStore,
        states: ThreadStates,
        reader: Callable[[], ThreadTapeReader],
        connection: Connection | None = None,
    ) -> None:
        self.thread_id = thread_id
        self.service = service
        self.threads = threads
        self.states = states
        self.reader = reader
        self.connection = connection or Connection()
        self.handlers: dict[str, Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]] = {
            "run.start": self.run_start,
            "input.respond": self.input_respond,
            "state.get": self.state_get,
            "agent.getTree": self.agent_tree,
            "subscription.subscribe": self.subscribe,
            "subscription.reconnect": self.reconnect,
            "subscription.unsubscribe": self.unsubscribe,
        }

    async def answer(self, command: dict[str, Any]) -> Reply:
        """The reply to one well-formed command ({id, method, params})."""
        command_id, method = command["id"], command["method"]
        handler = self.handlers.get(method)
        if handler is None:
            return error(command_id, "unknown_command", f"Unknown protocol command: {method}")
        params = command.get("params")
        try:
            result = await handler(params if isinstance(params, dict) else {})
        except Refused as refused:
            return error(command_id, refused.code, refused.message)
        except ThreadwatchError as exc:
            return error(command_id, "unknown_error", exc.detail)
        except Exception:
            log.exception("protocol command %s on thread %s failed", method, self.thread_id)
            return error(command_id, "unknown_error", "Internal server error")
        return success(command_id, result, self.connection.seq())

    # -- runs ------------------------------------------------------------------------------

    async def run_start(self, params: dict[str, Any]) -> dict[str, Any]:
        assistant_id = params.get("assistant_id")
        if not isinstance(assistant_id, str) or not assistant_id:
            raise Refused("invalid_argument", "run.start requires an assistant_id.")
        checkpoint_id = _fork_target(params)
        _check_tracer(params.get("langsmith_tracer"))
        body: dict[str, Any] = {
            "assistant_id": assistant_id,
            "input": params.get("input"),
            "config": _object(params.get("config")),
            "metadata": _object(params.get("metadata")),
            "if_not_exists": "create",
            "multitask_strategy": _strategy(params.get("multitaskStrategy")),
        }
        if checkpoint_id:
            body["checkpoint_id"] = checkpoint_id
            body["checkpoint"] = {"checkpoint_id": checkpoint_id}
        if params.get("input") is not None and await self._interrupted():
            # LangGraph resumes an interrupted thread with the input as the resume value.
            body["command"], body["input"] = {"resume": params["input"]}, None
        run = await self._create(body)
        return {"run_id": run["run_id"]}

    async def input_respond(self, params: dict[str, Any]) -> dict[str, Any]:
        answers = _answers(params)
        thread = await self._thread()
        if thread is None:
            raise Refused("no_such_run", "No interrupted run is bound to this thread.")
        pending = {
            item.get("id")
            for items in (thread.get("interrupts") or {}).values()
            for item in items
            if isinstance(item, dict)
        }
        for interrupt_id in answers:
            if interrupt_id not in pending:
                raise Refused(
                    "no_such_interrupt", f"Unknown or already-consumed interrupt: {interrupt_id}"
                )
        assistant_id = (thread.get("metadata") or {}).get("assistant_id") or (
            thread.get("metadata") or {}
        ).get("graph_id")
        if not assistant_id:
            raise Refused("no_such_run", "No interrupted run is bound to this thread.")
        command: dict[str, Any] = {"resume": answers}
        for key in ("update", "goto"):
            if params.get(key) is not None:
                command[key] = params[key]
        body = {
            "assistant_id": assistant_id,
            "command": command,
            "config": _object(params.get("config")),
            "metadata": _object(params.get("metadata")),
            "multitask_strategy": "enqueue",
        }
        await self._create(body)
        return {}

    async def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            run_body = RunCreate.model_validate(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise Refused("invalid_argument", f"{where}: {first['msg']}") from None
        return await asyncio.to_thread(self.service.create, self.thread_id, run_body, False, True)

    async def _thread(self) -> dict[str, Any] | None:
        try:
            return materialize(await asyncio.to_thread(self.threads.get, self.thread_id))
        except NotFoundError:
            return None

    async def _interrupted(self) -> bool:
        thread = await self._thread()
        return thread is not None and thread.get("status") == "interrupted"

    # -- state -----------------------------------------------------------------------------

    async def state_get(self, params: dict[str, Any]) -> dict[str, Any]:
        """The thread's values (only ``keys`` if given) and their checkpoint."""
        try:
            state = await self.states.get(self.thread_id)
        except NotFoundError:
            raise Refused("no_such_run", "No run is bound to this thread.") from None
        values = state.get("values")
        keys = params.get("keys")
        if isinstance(keys, list) and isinstance(values, dict):
            values = {key: values[key] for key in keys if key in values}
        result: dict[str, Any] = {"values": state_payload(values if values is not None else {})}
        checkpoint = state.get("checkpoint") or {}
        if checkpoint.get("checkpoint_id"):
            result["checkpoint"] = {
                "id": checkpoint["checkpoint_id"],
                "ns": checkpoint.get("checkpoint_ns") or "",
            }
        return result

    async def agent_tree(self, params: dict[str, Any]) -> dict[str, Any]:
        """The namespaces of the thread's latest run, as a tree."""
        reader = self.reader()
        await reader.replay()
        if reader.tape.run_id is None:
            raise Refused("no_such_run", "No active run is bound to this thread.")
        return {"tree": _tree(reader.tape.nodes, [])}

    # -- subscriptions ---------------------------------------------------------------------

    async def subscribe(self, params: dict[str, Any]) -> dict[str, Any]:
        subscription = read_subscription(params)
        if subscription is None:
            raise Refused("invalid_argument", _bad_channels("subscription.subscribe", params))
        return await self._install(subscription, None)

    async def reconnect(self, params: dict[str, Any]) -> dict[str, Any]:
        subscription = read_subscription(params)
        if subscription is None:
            raise Refused("invalid_argument", _bad_channels("subscription.reconnect", params))
        since = read_since(params.get("since"))
        if since is None:
            raise Refused(
                "invalid_argument",
                "subscription.reconnect requires a non-negative integer since.",
            )
        given = params.get("subscription_id")
        if isinstance(given, str) and given:
            subscription.id = given
        return await self._install(subscription, since)

    async def _install(self, subscription: Subscription, since: int | None) -> dict[str, Any]:
        subscription.id = subscription.id or str(uuid.uuid4())
        replayed = 0
        if self.connection.subscribe is not None:  # over HTTP, the stream is the subscription
            replayed = await self.connection.subscribe(subscription, since)
        return {"subscription_id": subscription.id, "replayed_events": replayed}

    async def unsubscribe(self, params: dict[str, Any]) -> dict[str, Any]:
        subscription_id = params.get("subscription_id")
        if not isinstance(subscription_id, str):
            raise Refused(
                "invalid_argument", "subscription.unsubscribe requires a subscription_id."
            )
        dropped = self.connection.unsubscribe and self.connection.unsubscribe(subscription_id)
        if not dropped:
            raise Refused("no_such_subscription", f"Unknown subscription: {subscription_id}")
        return {}


def _object(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def _bad_channels(method: str, params: dict[str, Any]) -> str:
    channels = params.get("channels")
    if not isinstance(channels, list) or not channels:
        return f"{method} requires a non-empty channels array."
    return f"{method} received an unsupported channel."


def _fork_target(params: dict[str, Any]) -> str | None:
    """``config.configurable.checkpoint_id``: the checkpoint a run forks from."""
    config = params.get("config")
    configurable = config.get("configurable") if isinstance(config, dict) else None
    target = configurable.get("checkpoint_id") if isinstance(configurable, dict) else None
    if target is None:
        return None
    if not isinstance(target, str) or not target.strip():
        raise Refused(
            "invalid_argument", "config.configurable.checkpoint_id must be a non-empty string."
        )
    try:
        uuid.UUID(target)
    except ValueError:
        raise Refused(
            "invalid_argument", f"Invalid config.configurable.checkpoint_id: {target!r}."
        ) from None
    return target


def _check_tracer(tracer: Any) -> None:
    """``langsmith_tracer`` as LangGraph checks it (threadwatch sends no traces)."""
    if tracer is None:
        return
    if not isinstance(tracer, dict):
        raise Refused("invalid_argument", "langsmith_tracer must be an object.")
    unknown = tracer.keys() - {"project_name", "example_id"}
    if unknown:
        raise Refused(
            "invalid_argument", f"langsmith_tracer has unsupported fields: {sorted(unknown)!r}."
        )
    for key, value in tracer.items():
        if not isinstance(value, str):
            raise Refused("invalid_argument", f"langsmith_tracer.{key} must be a string.")


def _strategy(value: Any) -> str:
    """The run's multitask strategy: the client's, if one LangGraph knows, else enqueue."""
    return value if isinstance(value, str) and value in MULTITASK_STRATEGIES else "enqueue"


def _answers(params: dict[str, Any]) -> dict[str, Any]:
    """input.respond's answers, {interrupt id: response}: one, or a `responses` batch."""
    batch = params.get("responses")
    entries = batch if isinstance(batch, list) else [params]
    if isinstance(batch, list) and not batch:
        raise Refused("invalid_argument", "input.respond requires at least one response.")
    answers: dict[str, Any] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            raise Refused("invalid_argument", "input.respond responses entries must be objects.")
        interrupt_id = entry.get("interrupt_id")
        if not isinstance(interrupt_id, str):
            raise Refused(
                "invalid_argument",
                "input.respond responses entries require an interrupt_id."
                if isinstance(batch, list)
                else "input.respond requires an interrupt_id.",
            )
        namespace = entry.get("namespace", [])
        if not isinstance(namespace, list) or not all(isinstance(s, str) for s in namespace):
            raise Refused(
                "invalid_argument", "input.respond requires namespace to be a list of strings."
            )
        answers[interrupt_id] = entry.get("response")
    return answers


def _tree(nodes: dict[str, Node], namespace: list[str]) -> dict[str, Any]:
    key = "\0".join(namespace)
    node = nodes.get(key) or Node(namespace, "started", namespace[-1].split(":")[0])
    tree: dict[str, Any] = {
        "namespace": node.namespace,
        "status": node.status,
        "graph_name": node.graph_name,
    }
    children = sorted(
        (
            n.namespace
            for n in nodes.values()
            if len(n.namespace) == len(namespace) + 1 and n.namespace[: len(namespace)] == namespace
        ),
    )
    if children:
        tree["children"] = [_tree(nodes, child) for child in children]
    return tree
