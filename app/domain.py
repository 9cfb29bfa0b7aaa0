"""Domain vocabulary shared by the store, the API and the workers."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any


class ThreadStatus(StrEnum):
    IDLE = "idle"
    BUSY = "busy"
    INTERRUPTED = "interrupted"
    ERROR = "error"


class RunStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    ERROR = "error"
    SUCCESS = "success"
    TIMEOUT = "timeout"
    INTERRUPTED = "interrupted"


class EventType(StrEnum):
    PENDING = "run.pending"
    STARTED = "run.started"
    SUCCEEDED = "run.succeeded"
    INTERRUPTED = "run.interrupted"
    FAILED = "run.failed"
    CANCELLED = "run.cancelled"
    TIMEOUT = "run.timeout"
    # A sign of life of a run in flight: renews its lease, changes nothing else.
    HEARTBEAT = "run.heartbeat"


class EventResult(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    STALE = "stale"


# What each event makes of its run (an interrupt() hit is a successful run on LangGraph).
RUN_STATUS_OF_EVENT: dict[EventType, RunStatus] = {
    EventType.PENDING: RunStatus.PENDING,
    EventType.STARTED: RunStatus.RUNNING,
    EventType.SUCCEEDED: RunStatus.SUCCESS,
    EventType.INTERRUPTED: RunStatus.SUCCESS,
    EventType.FAILED: RunStatus.ERROR,
    EventType.CANCELLED: RunStatus.INTERRUPTED,
    EventType.TIMEOUT: RunStatus.TIMEOUT,
}

# The thread status a terminal event leaves behind when no other run is in flight.
THREAD_OUTCOME_OF_EVENT: dict[EventType, ThreadStatus] = {
    EventType.SUCCEEDED: ThreadStatus.IDLE,
    EventType.INTERRUPTED: ThreadStatus.INTERRUPTED,
    EventType.FAILED: ThreadStatus.ERROR,
    EventType.CANCELLED: ThreadStatus.INTERRUPTED,
    EventType.TIMEOUT: ThreadStatus.ERROR,
}

IN_FLIGHT_EVENTS = frozenset({EventType.PENDING, EventType.STARTED, EventType.HEARTBEAT})

# Stripped from user metadata on create and patch, as the LangGraph server does.
RESERVED_METADATA_KEYS = frozenset(
    {"thread_id", "assistant_id", "run_id", "cron_id", "counters_since_delta_snapshot"}
)

# The namespace LangGraph derives system assistant ids from: uuid5(NS, graph_id).
ASSISTANT_NAMESPACE = uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8")


def system_assistant_id(graph_id: str) -> str:
    """The id of the assistant LangGraph creates for a graph ("agent" -> fe096781-…)."""
    return str(uuid.uuid5(ASSISTANT_NAMESPACE, graph_id))


def assistant_of(metadata: dict[str, Any]) -> str:
    """The assistant thread metadata names: ``assistant_id``, else the system assistant of
    ``graph_id``, else "" (none)."""
    if metadata.get("assistant_id"):
        return str(metadata["assistant_id"])
    graph_id = metadata.get("graph_id")
    return system_assistant_id(str(graph_id)) if graph_id else ""
