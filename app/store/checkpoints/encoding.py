"""How the saver frames values and names hash fields, and reads and builds configs.

Values are ``serde.dumps_typed`` output framed as ``type NUL bytes``, so any serializer
(encrypted too) round-trips.
"""

from __future__ import annotations

from typing import Any

import orjson
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import get_checkpoint_id

EMPTY = b"empty\0"  # the serde "empty" marker: the channel had no value at that version
FIELDS = ("checkpoint", "metadata", "parent")


def frame(head: bytes, data: bytes) -> bytes:
    """``head NUL data``; heads (serde type names, JSON) never hold a NUL byte."""
    return head + b"\0" + data


def unframe(raw: bytes) -> tuple[bytes, bytes]:
    head, _, data = raw.partition(b"\0")
    return head, data


def blob_field(channel: str, version: str | int | float) -> bytes:
    return orjson.dumps([channel, version])


def data_fields(checkpoint_id: str) -> list[str]:
    return [f"{checkpoint_id}:{name}" for name in FIELDS]


def decoded(members: Any) -> list[str]:
    """Sorted str of a SMEMBERS / ZRANGE reply (bytes)."""
    return sorted(m.decode() for m in members)


def writes_sort_key(task_path: str, task_id: str, idx: int) -> tuple[str, str, int]:
    """The order of a checkpoint's pending writes: langgraph-checkpoint's `writes_sort_key`
    (4.3+; defined here so that older versions, which Postgres also sorted so, still work)."""
    return (task_path, task_id, idx)


def run_config(thread_id: str, checkpoint_ns: str, checkpoint_id: str) -> RunnableConfig:
    """The config that names one checkpoint, as savers return it."""
    ids = {"thread_id": thread_id, "checkpoint_ns": checkpoint_ns, "checkpoint_id": checkpoint_id}
    return {"configurable": ids}


def target(config: RunnableConfig) -> tuple[str, str, str | None]:
    """(thread_id, checkpoint_ns, checkpoint_id or None) of a config ("" counts as None)."""
    conf = config["configurable"]
    return str(conf["thread_id"]), conf.get("checkpoint_ns") or "", checkpoint_id_of(config)


def checkpoint_id_of(config: RunnableConfig | None) -> str | None:
    """The checkpoint id a config names, None for none or "" (as InMemorySaver reads it)."""
    return (get_checkpoint_id(config) or None) if config else None
