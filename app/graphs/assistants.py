"""Assistants as the LangGraph server keeps them: create, get, patch (a new version), set
latest, versions, delete, search and count, with its defaults, merges and error texts; the
system assistant of each loaded graph; and the assistant a run uses.

Only the assistants of loaded graphs are seen (as LangGraph's production server scopes its
reads to its registered graphs). The Redis side is app/store/assistants.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from threadwatch.errors import (
    AssistantExists,
    BadRequestError,
    ConflictError,
    InvalidAssistant,
    InvalidInputError,
    NoSuchAssistant,
    NotFoundError,
)
from threadwatch.graphs.registry import GraphRegistry, LoadedGraph
from threadwatch.store.assistants import AssistantFields, AssistantStore, StoredAssistant
from threadwatch.store.metadata_index import contains
from threadwatch.store.scripts import ChangedSinceRead

AssistantSortBy = Literal["assistant_id", "graph_id", "name", "created_at", "updated_at"]
AssistantField = Literal[
    "assistant_id",
    "graph_id",
    "name",
    "description",
    "config",
    "context",
    "created_at",
    "updated_at",
    "metadata",
    "version",
]
SYSTEM_METADATA = {"created_by": "system"}
INVALID_ID = "Invalid assistant ID: must be a UUID"
BOTH_CONFIGURABLE_AND_CONTEXT = (
    "Cannot specify both configurable and context. Prefer setting context alone. Context was "
    "introduced in LangGraph 0.6.0 and is the long term planned replacement for configurable."
)
# An update retried this many times against concurrent writers gives up with a 409.
UPDATE_ATTEMPTS = 20


class AssistantChanged(ConflictError):
    """Concurrent writers kept changing the assistant between our read and our write."""

    def __init__(self, assistant_id: str) -> None:
        super().__init__(f"Assistant {assistant_id} was modified concurrently; retry")


def _system(graph: LoadedGraph) -> AssistantFields:
    """What LangGraph creates for a graph: no config, ``created_by: system``."""
    return AssistantFields(
        graph.graph_id, {}, {}, dict(SYSTEM_METADATA), graph.name, graph.description
    )


def canonical_id(assistant_id: str) -> str:
    """The UUID in its canonical spelling; LangGraph's 422 otherwise."""
    try:
        return str(uuid.UUID(str(assistant_id)))
    except ValueError:
        raise InvalidInputError(INVALID_ID) from None


def synced(config: dict[str, Any], context: dict[str, Any] | None) -> tuple[dict, dict | None]:
    """Config and context kept in step as LangGraph keeps them: its 400 when both carry
    values; else ``configurable`` becomes the context, or the context the ``configurable``."""
    config = dict(config)
    if config.get("configurable") and context:
        raise BadRequestError(BOTH_CONFIGURABLE_AND_CONTEXT)
    if config.get("configurable"):
        context = config["configurable"]
    elif context:
        config["configurable"] = context
    return config, context


@dataclass(frozen=True)
class AssistantQuery:
    metadata: dict[str, Any] | None = None
    graph_id: str | None = None
    name: str | None = None
    limit: int = 10
    offset: int = 0
    sort_by: AssistantSortBy | None = None
    sort_order: Literal["asc", "desc"] | None = None

    @property
    def filtered(self) -> bool:
        return bool(self.name or self.metadata)

    def matches(self, assistant: dict[str, Any]) -> bool:
        """Name containing ``name`` (any case), metadata containing ``metadata``."""
        return (self.name or "").lower() in assistant["name"].lower() and (
            not self.metadata or contains(assistant["metadata"], self.metadata)
        )


class Assistants:
    """LangGraph's assistant rules over the store, scoped to the loaded graphs."""

    def __init__(self, store: AssistantStore, registry: GraphRegistry) -> None:
        self.store, self.registry = store, registry

    # -- the system assistants ----------------------------------------------------------

    def register_system(self) -> None:
        """One assistant per loaded graph, in langgraph.json order (created_at follows it);
        an existing one takes the graph's name and description if they changed."""
        after = None
        for graph in self.registry.graphs.values():
            created, stored = self.store.put(graph.assistant_id, _system(graph), after_us=after)
            after = stored.created_at_us
            if not created:
                self._rename_system(graph)

    def _rename_system(self, graph: LoadedGraph) -> None:
        """A new version with the graph's name and description, unless it has them already
        (checked again after a concurrent write: API processes start together)."""
        for _ in range(UPDATE_ATTEMPTS):
            read = self.store.get(graph.assistant_id)
            if read is None or (read.assistant["name"], read.assistant["description"]) == (
                graph.name,
                graph.description,
            ):
                return
            fields = replace(read.fields(), name=graph.name, description=graph.description)
            try:
                self.store.update(read, read.max_version + 1, fields, new=True)
                return
            except ChangedSinceRead:
                continue

    def _system_again(self, assistant_id: str) -> StoredAssistant | None:
        """A loaded graph's system assistant stays: deleted (or flushed away), it is made
        again at version 1 when next asked for. None for any other id."""
        graph = self.registry.graphs.get(self.registry.system_assistant_graph(assistant_id) or "")
        if graph is None:
            return None
        return self.store.put(assistant_id, _system(graph))[1]

    def _ensure_system(self, graph_ids: Sequence[str]) -> None:
        """Make again the system assistants of these graphs that are missing (one read)."""
        graphs = [self.registry.graphs[g] for g in graph_ids]
        present = self.store.exist([g.assistant_id for g in graphs])
        for graph, there in zip(graphs, present, strict=True):
            if not there:
                self.store.put(graph.assistant_id, _system(graph))

    def _get(self, assistant_id: str) -> StoredAssistant | None:
        return self.store.get(assistant_id) or self._system_again(assistant_id)

    # -- reads --------------------------------------------------------------------------

    def _visible(self, assistant_id: str, missing: str | None = None) -> StoredAssistant:
        """The stored assistant of a loaded graph; ``missing`` is the 404 text."""
        stored = self._get(assistant_id)
        if stored is None:
            raise NoSuchAssistant(assistant_id, missing)
        if stored.graph_id in self.registry.errors:
            self.registry.require(stored.graph_id)  # the load failure, 422
        if stored.graph_id not in self.registry:
            raise NoSuchAssistant(assistant_id, f"assistant {assistant_id} not found")
        return stored

    def lookup(self, assistant_id: str) -> StoredAssistant:
        """For GET and the graph, schemas and subgraphs reads: by UUID, or by graph name
        (its system assistant); 422 for neither, 404 ``Not Found`` for no such assistant."""
        if assistant_id in self.registry.graphs or assistant_id in self.registry.errors:
            return self._visible(self.registry.require(assistant_id).assistant_id, "Not Found")
        try:
            canonical = str(uuid.UUID(assistant_id))
        except ValueError:
            raise InvalidAssistant(assistant_id, self.registry.graphs) from None
        broken = self.registry.system_assistant_graph(canonical)
        if broken is not None and broken in self.registry.errors:
            self.registry.require(broken)
        return self._visible(canonical, "Not Found")

    def get(self, assistant_id: str) -> dict[str, Any]:
        return self.lookup(assistant_id).assistant

    def graph_of(self, assistant_id: str) -> tuple[LoadedGraph, dict[str, Any]]:
        """The loaded graph of an assistant and the assistant's config (for factories)."""
        stored = self.lookup(assistant_id)
        return self.registry.graphs[stored.graph_id], stored.assistant["config"]

    def for_run(self, assistant_id: str) -> tuple[StoredAssistant, LoadedGraph]:
        """The assistant a run names (UUID or graph name) and its graph, with the errors of
        LangGraph's run creation."""
        canonical = self.run_assistant_id(assistant_id)
        return self.run_assistant(canonical, self.store.get(canonical))

    def run_assistant_id(self, assistant_id: str) -> str:
        """The id of the assistant a run names (UUID or graph name); 422 for neither."""
        assistant_id = str(assistant_id)
        if assistant_id in self.registry.graphs or assistant_id in self.registry.errors:
            return self.registry.require(assistant_id).assistant_id
        try:
            return str(uuid.UUID(assistant_id))
        except ValueError:
            raise InvalidAssistant(assistant_id, self.registry.graphs) from None

    def run_assistant(
        self, assistant_id: str, read: StoredAssistant | None
    ) -> tuple[StoredAssistant, LoadedGraph]:
        """``for_run`` from the assistant as the caller read it (``run_assistant_id``'s id,
        read with other reads)."""
        stored = read or self._system_again(assistant_id)
        if stored is None:
            raise NotFoundError("Thread or assistant not found.")
        return stored, self.registry.require(stored.graph_id)

    def versions(
        self, assistant_id: str, metadata: dict[str, Any] | None, limit: int, offset: int
    ) -> list[dict[str, Any]]:
        """Newest first; none to show is LangGraph's 404."""
        assistant_id = canonical_id(assistant_id)
        self._get(assistant_id)  # a system assistant is there to list
        found = [
            v
            for v in self.store.versions(assistant_id)
            if not metadata or contains(v["metadata"], metadata)
        ][offset : offset + limit]
        if not found:
            raise NoSuchAssistant(assistant_id)
        return found

    # -- writes -------------------------------------------------------------------------

    def create(
        self,
        graph_id: str,
        assistant_id: str | None = None,
        config: dict[str, Any] | None = None,
        context: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        name: str | None = None,
        description: str | None = None,
        if_exists: Literal["raise", "do_nothing"] = "raise",
    ) -> dict[str, Any]:
        """A new assistant at version 1 (409 when it exists, unless ``do_nothing``: then
        the existing one)."""
        assistant_id = canonical_id(assistant_id) if assistant_id else str(uuid.uuid4())
        self.registry.require(graph_id)
        config, context = synced(config or {}, context)
        fields = AssistantFields(
            graph_id, config, context or {}, metadata or {}, name or "Untitled", description
        )
        created, stored = self.store.put(assistant_id, fields)
        if not created and if_exists == "raise":
            raise AssistantExists(assistant_id)
        return stored.assistant

    def patch(
        self,
        assistant_id: str,
        graph_id: str | None = None,
        config: dict[str, Any] | None = None,
        context: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        name: str | None = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        """A new version, made the latest: what is given replaces, ``metadata`` merges."""
        assistant_id = canonical_id(assistant_id)
        config, context = synced(config or {}, context)
        if graph_id is not None:
            self.registry.require(graph_id)

        def change(old: AssistantFields) -> AssistantFields:
            return AssistantFields(
                graph_id if graph_id is not None else old.graph_id,
                config or old.config,
                context if context is not None else old.context,
                {**old.metadata, **(metadata or {})},
                name if name is not None else old.name,
                description if description is not None else old.description,
            )

        return self._update(assistant_id, lambda read: (read.max_version + 1, change, True))

    def set_latest(self, assistant_id: str, version: int | None) -> dict[str, Any]:
        """A recorded version becomes the latest, whole (LangGraph's dev server keeps the
        latest context and graph: docs/guides/assistants.md)."""
        assistant_id = canonical_id(assistant_id)

        def target(read: StoredAssistant) -> tuple[int, Callable, bool]:
            recorded = self.store.version(assistant_id, version) if version else None
            if recorded is None:
                raise NoSuchAssistant(
                    assistant_id, f"Version {version} not found for assistant {assistant_id}"
                )
            return int(version or 0), lambda old: recorded, False

        return self._update(assistant_id, target)

    def _update(
        self, assistant_id: str, plan: Callable[[StoredAssistant], tuple[int, Callable, bool]]
    ) -> dict[str, Any]:
        """Read, decide, write; again when another writer got there in between."""
        for _ in range(UPDATE_ATTEMPTS):
            read = self._get(assistant_id)
            if read is None:
                raise NoSuchAssistant(assistant_id)
            version, change, new = plan(read)
            try:
                return self.store.update(read, version, change(read.fields()), new).assistant
            except ChangedSinceRead:
                continue
        raise AssistantChanged(assistant_id)

    def delete(self, assistant_id: str) -> str:
        """Remove it with its versions; its id (canonical). Its threads and runs are the
        caller's (app/runs/assistant_cleanup.py)."""
        assistant_id = canonical_id(assistant_id)
        missing = f"Assistant with ID {assistant_id} not found"
        for _ in range(UPDATE_ATTEMPTS):
            read = self.store.get(assistant_id)
            if read is None:
                raise NoSuchAssistant(assistant_id, missing)
            try:
                self.store.delete(read)
                return assistant_id
            except ChangedSinceRead:
                continue
        raise AssistantChanged(assistant_id)

    def require_existing(self, assistant_id: str) -> str:
        """The canonical id of an existing assistant; DELETE's 404 otherwise."""
        assistant_id = canonical_id(assistant_id)
        if self._get(assistant_id) is None:
            raise NoSuchAssistant(assistant_id, f"Assistant with ID {assistant_id} not found")
        return assistant_id

    # -- search and count -----------------------------------------------------------------

    def _graphs(self, query: AssistantQuery) -> Sequence[str]:
        """The graphs searched, their system assistants made again if missing."""
        graphs = self.registry.ids
        if query.graph_id is not None:
            graphs = (self.registry.require(query.graph_id).graph_id,)
        self._ensure_system(graphs)
        return graphs

    def search(self, query: AssistantQuery) -> tuple[list[dict[str, Any]], bool]:
        """One page of matches, newest first by default; and whether more follow. Without
        name or metadata filters only the page's assistants are read."""
        entries = self.store.index(self._graphs(query))
        sort_by = query.sort_by or "created_at"
        reverse = query.sort_order != "asc" or query.sort_by is None
        end = query.offset + query.limit
        if not query.filtered and sort_by == "created_at":
            entries.sort(key=lambda e: (e[1], e[0]), reverse=reverse)
            ids = [assistant_id for assistant_id, _ in entries[query.offset : end]]
            return [s.assistant for s in self.store.get_many(ids)], len(entries) > end
        found = self._matching(query, [assistant_id for assistant_id, _ in entries])
        found.sort(key=_sort_key(sort_by), reverse=reverse)
        return found[query.offset : end], len(found) > end

    def count(self, query: AssistantQuery) -> int:
        graphs = self._graphs(query)
        if not query.filtered:
            return self.store.count(graphs)
        ids = [assistant_id for assistant_id, _ in self.store.index(graphs)]
        return len(self._matching(query, ids))

    def _matching(self, query: AssistantQuery, ids: list[str]) -> list[dict[str, Any]]:
        stored = self.store.get_many(ids)
        return [s.assistant for s in stored if query.matches(s.assistant)]


def _sort_key(field: str) -> Callable[[dict[str, Any]], Any]:
    """Names and graph ids sort case-insensitively, as LangGraph sorts them."""
    if field in ("name", "graph_id"):
        return lambda assistant: str(assistant[field] or "").lower()
    return lambda assistant: assistant[field]


def project(assistant: dict[str, Any], select: Sequence[str] | None) -> dict[str, Any]:
    return {k: v for k, v in assistant.items() if k in select} if select else assistant
