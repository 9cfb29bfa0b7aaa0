"""A thread's stream (app/store/run_streams.py, lua/lib/thread_stream.lua) read as the
protocol's events, numbered.

Every reader replays the stream from its first entry, so the same entries give the same
events, `seq` numbers and event ids on every connection: a client resumes with ``since``
on any connection, as with LangGraph's server. The root `lifecycle` and `input` events
are the thread's status transitions: they come from the run starts and ends that
transition.lua appends (their `run_status`, `event_type` and `interrupts` fields), never
from the graph's output. The other channels come from the runs' chunks: the protocol
events of runs started here (``astream_events`` v3), and the chunks of other runs on a
watched thread (values, updates, custom, tasks, checkpoints)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from threadwatch.api.protocol.wire import envelope, namespace_key, state_payload, synthetic_id
from threadwatch.store.run_streams import StreamEntry

# The lifecycle event of a run's end, by its terminal event (a cancelled run is
# `interrupted`, as LangGraph's run status; a timed-out one `failed`).
END_LIFECYCLE = {
    "run.succeeded": "completed",
    "run.interrupted": "interrupted",
    "run.failed": "failed",
    "run.timeout": "failed",
    "run.cancelled": "interrupted",
}
# Chunks of runs outside the protocol that map onto its channels.
CHUNK_CHANNELS = frozenset({"values", "updates", "custom", "tasks", "checkpoints"})


@dataclass
class Node:
    """A namespace of the current run, for agent.getTree."""

    namespace: list[str]
    status: str
    graph_name: str


class ProtocolTape:
    """Turns a thread's stream entries, in order from the first, into protocol events.
    ``graph_of`` names the graph of a run (lifecycle events carry it)."""

    def __init__(self, graph_of: Callable[[str], str]) -> None:
        self.graph_of = graph_of
        self.seq = 0
        self.run_id: str | None = None
        self.graph_name = "root"
        self.error: str | None = None
        self.nodes: dict[str, Node] = {}
        self.asked: set[str] = set()  # interrupt ids whose `input.requested` went out
        # The root `values` event of a run's interrupt: it follows the run's end, as on
        # LangGraph's server (which sends `input` and `lifecycle` first).
        self.held: tuple[str, Any, Any] | None = None

    def events(self, entry: StreamEntry) -> list[dict[str, Any]]:
        """The protocol events of one entry (often one; none for what the protocol does
        not carry)."""
        name = entry.event.decode()
        method, *namespace = name.split("|")
        data = _json(entry.data)
        out = _Batch(self, entry)
        if method == "metadata" and isinstance(data, dict):
            self._transition(out, data, entry.extra)
        elif method == "error":
            self.error = data.get("message") if isinstance(data, dict) else str(data)
        elif _is_protocol_event(data):
            self._protocol_event(out, method, namespace, data)
        elif method in CHUNK_CHANNELS:
            self._chunk(out, method, namespace, data)
        return out.events

    # -- the thread's transitions: lifecycle and input ------------------------------------

    def _transition(self, out: _Batch, data: dict[str, Any], extra: Mapping[bytes, bytes]) -> None:
        run_id = str(data.get("run_id", ""))
        event_type = (extra.get(b"event_type") or b"").decode()
        if data.get("status") != "run_done":  # a run's start
            self.run_id, self.error, self.asked, self.held = run_id, None, set(), None
            self.graph_name = self.graph_of(run_id)
            self.nodes = {"": Node([], "running", self.graph_name)}
            out.lifecycle([], "running", self.graph_name, run_id)
            return
        if self.run_id != run_id:  # its start went before the stream's first entry
            self.run_id, self.graph_name = run_id, self.graph_of(run_id)
            self.nodes = {"": Node([], "running", self.graph_name)}
        for interrupt in _interrupts(extra.get(b"interrupts")):
            if interrupt["interrupt_id"] not in self.asked:
                self.asked.add(interrupt["interrupt_id"])
                out.add(
                    "input.requested",
                    [],
                    interrupt,
                    synthetic_id(run_id, "input", "", interrupt["interrupt_id"]),
                )
        status = END_LIFECYCLE.get(event_type, "completed")
        for key, node in sorted(self.nodes.items()):
            if key and node.status in ("started", "running"):
                node.status = "completed"
                out.lifecycle(node.namespace, "completed", node.graph_name, run_id)
        self.nodes[""].status = status
        error = (self.error or "Run failed") if status == "failed" else None
        out.lifecycle([], status, self.graph_name, run_id, error)
        if self.held is not None:
            event_id, values, stamp = self.held
            out.add("values", [], values, event_id, stamp=stamp)
            self.held = None

    # -- the runs' output ----------------------------------------------------------------

    def _protocol_event(
        self, out: _Batch, method: str, namespace: list[str], event: dict[str, Any]
    ) -> None:
        params = event.get("params") or {}
        data = params.get("data")
        stamp = params.get("timestamp")
        if method == "lifecycle":
            self._subgraph_lifecycle(out, data, namespace)
        elif method == "messages":
            if isinstance(data, list) and data and isinstance(data[0], dict):
                data = data[0]  # (payload, metadata) as the mux may give it
            if isinstance(data, dict) and isinstance(data.get("event"), str):
                out.add("messages", namespace, data, stamp=stamp)
        elif method.startswith("custom:"):
            out.add("custom", namespace, {"name": method[7:], "payload": data}, stamp=stamp)
        elif method == "values" and not namespace and params.get("interrupts"):
            self.held = (out.entry_id, state_payload(data), stamp)
        elif method == "values":
            out.add("values", namespace, state_payload(data), stamp=stamp)
        elif method == "updates":
            self._update(out, namespace, data, params.get("node"), stamp)
        elif method in ("custom", "tasks", "checkpoints", "tools"):
            node = params.get("node")
            if method == "tools" and isinstance(data, dict):
                node = data.pop("__node", node)
            out.add(method, namespace, data, node=node if isinstance(node, str) else None)

    def _subgraph_lifecycle(self, out: _Batch, data: Any, namespace: list[str]) -> None:
        """A subgraph's lifecycle, as the graph reports it (the root's is the thread's)."""
        if not isinstance(data, dict) or not isinstance(data.get("event"), str):
            return
        inner = data.get("namespace")
        if isinstance(inner, list) and len(inner) > len(namespace):
            namespace = [str(segment) for segment in inner]
        if not namespace:
            return
        key = namespace_key(namespace)
        name = data.get("graph_name") or namespace[-1].split(":")[0]
        node = self.nodes.get(key)
        if node is not None and node.status == data["event"]:
            return
        self.nodes[key] = Node(namespace, data["event"], str(name))
        if data["event"] == "started":
            out.add("lifecycle", namespace, data)
        else:
            out.lifecycle(namespace, data["event"], str(name), self.run_id or "")

    def _update(
        self, out: _Batch, namespace: list[str], data: Any, node: Any, stamp: Any = None
    ) -> None:
        """An `updates` event: one node's update (LangGraph's `{node: values}` chunk)."""
        if isinstance(data, dict) and not isinstance(node, str) and len(data) == 1:
            node, data = next(iter(data.items()))
        if node == "__interrupt__":
            return  # interrupts are the thread's: `input`, at the run's end
        values = data if isinstance(data, dict) else {"value": data}
        out.add(
            "updates",
            namespace,
            state_payload(values),
            node=node if isinstance(node, str) else None,
            stamp=stamp,
        )

    def _chunk(self, out: _Batch, method: str, namespace: list[str], data: Any) -> None:
        """A chunk of a run outside the protocol (GET /threads/{id}/stream's)."""
        if method == "values":
            out.add("values", namespace, state_payload(data))
        elif method == "updates":
            self._update(out, namespace, data, None)
        elif method == "custom":
            out.add("custom", namespace, {"payload": data})
        else:
            out.add(method, namespace, data)


class _Batch:
    """The events one entry gives: numbered, with ids derived from the entry's id."""

    def __init__(self, tape: ProtocolTape, entry: StreamEntry) -> None:
        self.tape = tape
        self.entry_id = entry.id.decode()
        self.millis = int(self.entry_id.split("-")[0])
        self.events: list[dict[str, Any]] = []
        self.derived = 0

    def add(
        self,
        method: str,
        namespace: list[str],
        data: Any,
        event_id: str | None = None,
        node: str | None = None,
        stamp: Any = None,
    ) -> None:
        if event_id is None:
            event_id = self.entry_id if not self.derived else f"{self.entry_id}.{self.derived}"
            self.derived += 1
        self.tape.seq += 1
        timestamp = stamp if isinstance(stamp, int) else self.millis
        self.events.append(
            envelope(self.tape.seq, event_id, method, namespace, timestamp, data, node)
        )

    def lifecycle(
        self,
        namespace: list[str],
        status: str,
        graph_name: str,
        run_id: str,
        error: str | None = None,
    ) -> None:
        data: dict[str, Any] = {"event": status, "graph_name": graph_name}
        if error is not None:
            data["error"] = error
        event_id = synthetic_id(run_id, "lc", namespace_key(namespace), status)
        self.add("lifecycle", namespace, data, event_id)


def _json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def _is_protocol_event(data: Any) -> bool:
    return (
        isinstance(data, dict)
        and data.get("type") == "event"
        and isinstance(data.get("method"), str)
        and isinstance(data.get("params"), dict)
    )


def _interrupts(raw: bytes | None) -> list[dict[str, Any]]:
    """A run's end's interrupts ({task id: [{id, value}]}) as `input.requested` data."""
    by_task = _json(raw) if raw else None
    if not isinstance(by_task, dict):
        return []
    requests = []
    for items in by_task.values():
        for item in items if isinstance(items, list) else ():
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                request: dict[str, Any] = {"interrupt_id": item["id"]}
                if "value" in item:
                    request["payload"] = item["value"]
                requests.append(request)
    return requests
