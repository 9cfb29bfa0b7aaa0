"""What a run was created with: its options, typed. They are stored as the run's `kwargs`
(JSON, returned by the runs API as LangGraph returns them) and read back by the worker that
executes the run."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict

from threadwatch.errors import InvalidInputError

# A run of the thread-centric protocol keeps its thread watched this long (renewed while it
# runs), so that its start, chunks and end are written to the thread's stream.
PROTOCOL_WATCH_SECONDS = 30.0
# The configurable key that marks a run of the protocol (LangGraph's name).
PROTOCOL_MARKER = "__event_streaming_v2"


class RunOptions(BaseModel):
    """A run's input and how to run it. Unknown keys (from a later version) are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    graph_id: str = ""
    # The version of its assistant the run uses (its config, context and metadata are
    # merged into those below).
    assistant_version: int | None = None
    input: Any = None
    # A LangGraph Command: {resume, update, goto}.
    command: dict[str, Any] | None = None
    config: dict[str, Any] = {}
    context: dict[str, Any] = {}
    stream_mode: Sequence[str] | str | None = None
    # Whether the run's chunks go to its stream (/runs/stream, stream_resumable).
    streamed: bool = False
    subgraphs: bool = False
    interrupt_before: list[str] | Literal["*"] | None = None
    interrupt_after: list[str] | Literal["*"] | None = None
    webhook: str | None = None
    # A run on a thread made for it alone (stateless /runs): deleted after it by default.
    temporary: bool = False
    on_completion: Literal["delete", "keep"] = "delete"
    durability: str | None = None

    @classmethod
    def from_json(cls, raw: bytes | str | None) -> RunOptions:
        return cls.model_validate(orjson.loads(raw) if raw else {})

    def to_json(self) -> dict[str, Any]:
        """As stored in the run's `kwargs` (every key, as LangGraph lists them)."""
        return self.model_dump()

    @property
    def protocol(self) -> bool:
        """A run of the thread-centric protocol (run.start, input.respond): it streams its
        protocol events (astream_events v3) to its thread's stream. LangGraph marks such
        runs in their config, and so does threadwatch."""
        return bool((self.config.get("configurable") or {}).get(PROTOCOL_MARKER))

    @property
    def deletes_its_thread(self) -> bool:
        return self.temporary and self.on_completion == "delete"


# Where a run starts, in its configurable (LangGraph's keys): removed to read the thread's
# latest state once the run has written its own checkpoints after it.
CHECKPOINT_KEYS = ("checkpoint_id", "checkpoint_ns", "checkpoint_map")


def forked_config(
    config: Mapping[str, Any] | None,
    checkpoint_id: str | None,
    checkpoint: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The run's config with the checkpoint it starts from in its configurable, as
    LangGraph's server puts it there: ``checkpoint_id`` (a UUID, else 422 "Invalid
    checkpoint ID"), then the keys of ``checkpoint``. The graph then runs from that
    checkpoint, and its new checkpoints have it as parent: a fork."""
    if checkpoint_id:
        try:
            uuid.UUID(checkpoint_id)
        except ValueError:
            raise InvalidInputError("Invalid checkpoint ID") from None
    config = dict(config or {})
    configurable = dict(config.get("configurable") or {})
    if checkpoint_id:
        configurable["checkpoint_id"] = checkpoint_id
    configurable.update(checkpoint or {})
    if configurable or "configurable" in config:
        config["configurable"] = configurable
    return config


def latest_config(
    config: Mapping[str, Any], drop: Sequence[str] = (), drop_private: bool = False
) -> dict[str, Any]:
    """``config`` naming the thread's latest checkpoint rather than the one a run forked
    from (what reads the state a run left), without the configurable keys ``drop`` and,
    with ``drop_private``, those starting with ``__`` (the server's own)."""
    configurable = config.get("configurable") or {}
    gone = {*CHECKPOINT_KEYS, *drop}
    kept = {
        k: v
        for k, v in configurable.items()
        if k not in gone and not (drop_private and k.startswith("__"))
    }
    return {**config, "configurable": kept}
