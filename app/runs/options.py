"""What a run was created with: its options, typed. They are stored as the run's `kwargs`
(JSON, returned by the runs API as LangGraph returns them) and read back by the worker that
executes the run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict

# A run of the thread-centric protocol keeps its thread watched this long (renewed while it
# runs), so that its start, chunks and end are written to the thread's stream.
PROTOCOL_WATCH_SECONDS = 30.0
# The configurable key that marks a run of the protocol (LangGraph's name).
PROTOCOL_MARKER = "__event_streaming_v2"


class RunOptions(BaseModel):
    """A run's input and how to run it. Unknown keys (from a later version) are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    graph_id: str = ""
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
