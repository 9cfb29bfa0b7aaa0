"""A streamed run's chunks, in a Redis stream per run: the worker appends what the graph
yields (one entry per chunk: its SSE event name and JSON data), and ``/runs/stream`` and
``join_stream`` read it from the start or from a ``Last-Event-ID``. The run's end appends
the END marker in the same MULTI/EXEC as its terminal event, so a reader that sees the
marker knows the run has ended, and one that sees the run ended has every chunk."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import methodcaller
from typing import Any

import orjson
from redis import Redis

from app.store.keys import Keys

# Kept this long after its last entry, for late joins and reconnects.
STREAM_TTL_SECONDS = 3600
# Entries kept per run (approximately): the oldest go first on a very chatty run.
STREAM_MAXLEN = 10_000
# The entry that closes a run's stream; not sent to clients.
END = "__end__"
# The stream modes of the API and the graph's `astream` mode that gives each; the SSE event
# is named after the API mode ("messages-tuple" chunks go out as `messages`, as LangGraph's).
GRAPH_MODE_OF = {
    "values": "values",
    "updates": "updates",
    "messages-tuple": "messages",
    "custom": "custom",
    "debug": "debug",
    "tasks": "tasks",
    "checkpoints": "checkpoints",
}
EVENT_OF_GRAPH_MODE = {"messages": "messages"} | {
    graph: api for api, graph in GRAPH_MODE_OF.items() if api != "messages-tuple"
}

QueuedCommand = Callable[[Any], Any]


def stream_modes(value: str | Sequence[str] | None) -> list[str]:
    """The API stream modes a run asked for (LangGraph's default: values)."""
    if not value:
        return ["values"]
    return [value] if isinstance(value, str) else list(dict.fromkeys(value))


def entry(event: str, data: Any) -> dict[str, bytes]:
    """The stream entry of one event: its name and its data as JSON."""
    return {"event": event.encode(), "data": orjson.dumps(data)}


class RunStreamWriter:
    """Appends a run's chunks, of the modes it asked for, to its stream."""

    def __init__(self, redis: Redis, keys: Keys, run_id: str, modes: Sequence[str]) -> None:
        self.redis = redis
        self.key = keys.run_stream(run_id)
        self.graph_modes = [GRAPH_MODE_OF[mode] for mode in modes if mode in GRAPH_MODE_OF]

    def publish(self, graph_mode: str, data: Any) -> None:
        """Append one chunk (JSON-ready ``data``) if the run asked for its mode."""
        if graph_mode not in self.graph_modes:
            return
        pipe = self.redis.pipeline(transaction=False)
        self.append(EVENT_OF_GRAPH_MODE[graph_mode], data)(pipe)
        pipe.expire(self.key, STREAM_TTL_SECONDS)
        pipe.execute()

    def append(self, event: str, data: Any) -> QueuedCommand:
        """The XADD of one event, to queue on a pipeline."""
        return methodcaller(
            "xadd", self.key, entry(event, data), maxlen=STREAM_MAXLEN, approximate=True
        )

    def closing(self, error: dict[str, str] | None) -> list[QueuedCommand]:
        """What the run's end appends, with its terminal event: the `error` event of a
        failed run, then the END marker."""
        commands = [self.append("error", error)] if error else []
        return [
            *commands,
            self.append(END, None),
            methodcaller("expire", self.key, STREAM_TTL_SECONDS),
        ]
