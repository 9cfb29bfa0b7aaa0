"""Assistants in Redis: each one's hash (its latest version), its versions, and its graph's
index, written atomically by lua/put_assistant.lua, update_assistant.lua and
delete_assistant.lua.

The hash holds ``assistant_id``, ``graph_id``, ``name``, the JSON of ``config``,
``context``, ``metadata`` and ``description``, ``created_at`` and ``updated_at`` (µs),
``version`` (the latest) and ``max_version`` (the last one recorded: set latest can go back,
a patch always records max_version + 1). What LangGraph's rules decide (merges, defaults,
errors) is in app/graphs/assistants.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import methodcaller
from typing import Any

import orjson
from redis import Redis

from threadwatch.store.codec import decode_hash, text, us_to_iso
from threadwatch.store.keys import Keys
from threadwatch.store.pipelined import Read
from threadwatch.store.scripts import Scripts

_JSON_FIELDS = ("config", "context", "metadata", "description")


@dataclass(frozen=True)
class AssistantFields:
    """What one version of an assistant holds."""

    graph_id: str
    config: dict[str, Any]
    context: dict[str, Any]
    metadata: dict[str, Any]
    name: str
    description: str | None = None

    def record(self) -> bytes:
        """The version record as stored (JSON; its time is kept beside it)."""
        return orjson.dumps(
            {
                "graph_id": self.graph_id,
                "config": self.config,
                "context": self.context,
                "metadata": self.metadata,
                "name": self.name,
                "description": self.description,
            }
        )

    def operands(self) -> list[Any]:
        """graph_id, config, context, metadata, name and description as the scripts take
        them."""
        dumps = orjson.dumps
        return [
            self.graph_id,
            dumps(self.config),
            dumps(self.context),
            dumps(self.metadata),
            self.name,
            dumps(self.description),
        ]


@dataclass(frozen=True)
class StoredAssistant:
    """An assistant in the API's shape, with what an update must find unchanged."""

    assistant: dict[str, Any]
    max_version: int
    created_at_us: int

    @property
    def graph_id(self) -> str:
        return str(self.assistant["graph_id"])

    @property
    def version(self) -> int:
        return int(self.assistant["version"])

    @property
    def token(self) -> str:
        """``version:max_version``, as update_assistant.lua checks it."""
        return f"{self.version}:{self.max_version}"

    def fields(self) -> AssistantFields:
        a = self.assistant
        return AssistantFields(
            a["graph_id"], a["config"], a["context"], a["metadata"], a["name"], a["description"]
        )


def assistant_from_hash(h: dict[str, bytes]) -> StoredAssistant:
    """The API shape of an assistant hash (LangGraph's key order)."""
    value = {f: orjson.loads(h[f]) if h.get(f) else None for f in _JSON_FIELDS}
    assistant = {
        "assistant_id": text(h["assistant_id"]),
        "graph_id": text(h["graph_id"]),
        "config": value["config"] or {},
        "context": value["context"] or {},
        "metadata": value["metadata"] or {},
        "name": text(h["name"]),
        "created_at": us_to_iso(int(h["created_at"])),
        "updated_at": us_to_iso(int(h["updated_at"])),
        "version": int(h["version"]),
        "description": value["description"],
    }
    return StoredAssistant(assistant, int(h["max_version"]), int(h["created_at"]))


class AssistantStore:
    """Reads and atomic writes of assistants, and their per-graph index."""

    def __init__(self, redis: Redis, keys: Keys, scripts: Scripts) -> None:
        self.redis, self.keys, self.scripts = redis, keys, scripts

    def _keys(self, assistant_id: str) -> list[str]:
        return [self.keys.assistant(assistant_id), self.keys.assistant_versions(assistant_id)]

    def put(
        self, assistant_id: str, fields: AssistantFields, after_us: int | None = None
    ) -> tuple[bool, StoredAssistant]:
        """Create the assistant at version 1 unless it exists: (created, the assistant).
        ``after_us``: a time its ``created_at`` must come after."""
        keys = [*self._keys(assistant_id), self.keys.graph_assistants(fields.graph_id)]
        args = [*fields.operands(), fields.record(), after_us or "", assistant_id]
        created, raw = self.scripts.put_assistant(keys, args)
        return created, assistant_from_hash(decode_hash(raw))

    def get(self, assistant_id: str) -> StoredAssistant | None:
        return _stored(self.redis.hgetall(self.keys.assistant(assistant_id)))

    def read(self, assistant_id: str) -> Read[StoredAssistant | None]:
        """``get``, to send with other reads."""
        return Read(methodcaller("hgetall", self.keys.assistant(assistant_id)), _stored)

    def exist(self, assistant_ids: Sequence[str]) -> list[bool]:
        """Whether each exists (one round trip)."""
        pipe = self.redis.pipeline(transaction=False)
        for assistant_id in assistant_ids:
            pipe.exists(self.keys.assistant(assistant_id))
        return [bool(n) for n in pipe.execute()]

    def get_many(self, assistant_ids: Sequence[str]) -> list[StoredAssistant]:
        """Those that exist, in the order asked (one round trip)."""
        pipe = self.redis.pipeline(transaction=False)
        for assistant_id in assistant_ids:
            pipe.hgetall(self.keys.assistant(assistant_id))
        return [assistant_from_hash(decode_hash(raw)) for raw in pipe.execute() if raw]

    def update(
        self, read: StoredAssistant, version: int, fields: AssistantFields, new: bool
    ) -> StoredAssistant:
        """Make ``version`` the latest with ``fields``: recorded here when ``new``, else it
        must be recorded. ChangedSinceRead when the assistant is no longer as ``read``."""
        assistant_id = read.assistant["assistant_id"]
        keys = [
            *self._keys(assistant_id),
            self.keys.graph_assistants(read.graph_id),
            self.keys.graph_assistants(fields.graph_id),
        ]
        args = [
            read.token,
            read.graph_id,
            version,
            "new" if new else "existing",
            *fields.operands(),
            fields.record() if new else "",
        ]
        raw = self.scripts.update_assistant(assistant_id, version, keys, args)
        return assistant_from_hash(decode_hash(raw))

    def delete(self, read: StoredAssistant) -> None:
        """NoSuchAssistant, or ChangedSinceRead when it moved to another graph."""
        assistant_id = read.assistant["assistant_id"]
        keys = [*self._keys(assistant_id), self.keys.graph_assistants(read.graph_id)]
        self.scripts.delete_assistant(assistant_id, keys, [assistant_id, read.graph_id])

    def versions(self, assistant_id: str) -> list[dict[str, Any]]:
        """Every recorded version, newest first, in LangGraph's version shape."""
        raw = decode_hash(self.redis.hgetall(self.keys.assistant_versions(assistant_id)))
        found = []
        for field, value in raw.items():
            if field.isdigit():
                record = orjson.loads(value)
                found.append(
                    {
                        "assistant_id": assistant_id,
                        "version": int(field),
                        "graph_id": record["graph_id"],
                        "config": record["config"],
                        "context": record["context"],
                        "metadata": record["metadata"],
                        "created_at": us_to_iso(int(raw[f"{field}:at"])),
                        "name": record["name"],
                        "description": record["description"],
                    }
                )
        return sorted(found, key=lambda v: v["version"], reverse=True)

    def version(self, assistant_id: str, version: int) -> AssistantFields | None:
        raw = self.redis.hget(self.keys.assistant_versions(assistant_id), str(version))
        return AssistantFields(**orjson.loads(raw)) if raw else None

    def index(self, graph_ids: Iterable[str]) -> list[tuple[str, int]]:
        """(assistant_id, created_at µs) of every assistant of these graphs."""
        pipe = self.redis.pipeline(transaction=False)
        for graph_id in graph_ids:
            pipe.zrange(self.keys.graph_assistants(graph_id), 0, -1, withscores=True)
        return [(text(member), int(score)) for reply in pipe.execute() for member, score in reply]

    def count(self, graph_ids: Iterable[str]) -> int:
        """How many assistants these graphs have (ZCARD each)."""
        pipe = self.redis.pipeline(transaction=False)
        for graph_id in graph_ids:
            pipe.zcard(self.keys.graph_assistants(graph_id))
        return sum(int(n) for n in pipe.execute())


def _stored(raw: dict[bytes, bytes]) -> StoredAssistant | None:
    return assistant_from_hash(decode_hash(raw)) if raw else None
