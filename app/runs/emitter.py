"""Report run events from Python straight to Redis, through the same Lua transition
script as ``POST /runs/events`` (no HTTP hop; batches are pipelined).

    from threadwatch import Emitter

    with Emitter.from_url("redis://localhost:6379/0") as emitter:
        emitter.emit(thread_id, run_id, "run.started")
        emitter.emit(thread_id, run_id, "run.interrupted", values={...}, interrupts={...})
        emitter.emit_many([{"thread_id": ..., "run_id": ..., "type": "run.succeeded"}, ...])

Each call returns once Redis has applied the events, so a crash of the caller loses
nothing that a call returned for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import TypeAdapter
from redis import Redis

from threadwatch.models import RunEvent
from threadwatch.settings import Settings
from threadwatch.store.runs import Applied
from threadwatch.store.stores import Stores

# Events per pipelined round trip, the same bound as the HTTP batch endpoint.
BATCH_SIZE = 1000
_events_adapter = TypeAdapter(list[RunEvent])


class Emitter:
    """Validates run events like the API and applies them atomically, in order."""

    def __init__(
        self, redis: Redis, key_prefix: str | None = None, settings: Settings | None = None
    ) -> None:
        """Events go to ``redis`` with the service's limits (lease, status history kept):
        ``settings``, else those the THREADWATCH_* environment gives, as the service reads
        them; ``key_prefix`` overrides theirs."""
        settings = settings or Settings()
        if key_prefix is not None:
            settings = settings.model_copy(update={"key_prefix": key_prefix})
        self.store = Stores.on(redis, settings).runs

    @classmethod
    def from_url(
        cls, url: str, key_prefix: str | None = None, settings: Settings | None = None
    ) -> Emitter:
        return cls(Redis.from_url(url), key_prefix, settings)

    def close(self) -> None:
        """Release the Redis connections."""
        self.store.redis.close()

    def __enter__(self) -> Emitter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def emit(self, thread_id: str, run_id: str, type: str, **fields: Any) -> Applied:
        """Apply one event; ``fields`` are the optional RunEvent fields (at, values, ...)."""
        event = RunEvent.model_validate(
            {"thread_id": thread_id, "run_id": run_id, "type": type, **fields}
        )
        return self.store.apply([event])[0]

    def emit_many(self, events: Iterable[RunEvent | Mapping[str, Any]]) -> list[Applied]:
        """Apply events in order, pipelined BATCH_SIZE at a time; all are validated first."""
        validated = _events_adapter.validate_python(
            [e if isinstance(e, RunEvent) else dict(e) for e in events]
        )
        results: list[Applied] = []
        for start in range(0, len(validated), BATCH_SIZE):
            results.extend(self.store.apply(validated[start : start + BATCH_SIZE]))
        return results
