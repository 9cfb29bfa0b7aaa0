"""``store`` of ``langgraph.json``, loaded as langgraph-api loads it, and the memory store of a
process (the API's and each worker's) built from it.

``store.index.embed`` is either a file and a function (``"./embed.py:embed"``, relative to
langgraph.json; a function of texts, sync or async, or a LangChain ``Embeddings``) or a
LangChain provider string (``"openai:text-embedding-3-small"``, which needs ``langchain``
and the provider's package), both wrapped by LangGraph's ``ensure_embeddings``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from threadwatch.graphs.factories import langgraph_types
from threadwatch.graphs.memory import MemoryStore, StoreIndex, StoreTTL
from threadwatch.graphs.project import project_at
from threadwatch.graphs.registry import GraphConfigError
from threadwatch.graphs.user_code import MissingFile, import_file
from threadwatch.store.items import ItemStore

log = logging.getLogger(__name__)


def load_ttl(section: Mapping[str, Any]) -> StoreTTL:
    ttl = section.get("ttl") or {}
    if not isinstance(ttl, dict):
        raise GraphConfigError('"store.ttl" must be an object')
    refresh = ttl.get("refresh_on_read", True)
    default = ttl.get("default_ttl")
    interval = ttl.get("sweep_interval_minutes")
    if not isinstance(refresh, bool):
        raise GraphConfigError('"store.ttl.refresh_on_read" must be true or false')
    for name, value in (("default_ttl", default), ("sweep_interval_minutes", interval)):
        if value is not None and (_not_number(value) or value <= 0):
            raise GraphConfigError(f'"store.ttl.{name}" must be a number > 0 or null')
    return StoreTTL(refresh, default, interval)


def load_index(section: Mapping[str, Any], base: Path) -> StoreIndex | None:
    index = section.get("index")
    if not index:
        return None
    if not isinstance(index, dict) or "embed" not in index:
        raise GraphConfigError('"store.index" must be an object with "embed" and "dims"')
    dims, fields = index.get("dims"), index.get("fields") or ["$"]
    if not isinstance(dims, int) or isinstance(dims, bool) or dims <= 0:
        raise GraphConfigError('"store.index.dims" must be an integer > 0')
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise GraphConfigError('"store.index.fields" must be a list of field paths')
    return StoreIndex(resolve_embeddings(index["embed"], base), dims, tuple(fields))


def resolve_embeddings(embed: Any, base: Path) -> Any:
    """The LangChain Embeddings of ``embed`` (langgraph_api.graph.resolve_embeddings)."""
    from langchain_core.embeddings import Embeddings
    from langgraph.store.base import ensure_embeddings

    if isinstance(embed, Embeddings):
        return embed
    if not isinstance(embed, str):
        raise GraphConfigError('"store.index.embed" must be a string')
    if ".py:" not in embed:
        return ensure_embeddings(embed)  # a provider string: LangChain's init_embeddings
    target, function = embed.rsplit(":", 1)
    function_value = getattr(_import_file(base / target), function, None)
    if function_value is None:
        raise GraphConfigError(f"Could not find embeddings function '{function}' in {target}")
    if isinstance(function_value, Embeddings):
        return function_value
    if not callable(function_value):
        raise GraphConfigError(f"Embeddings function '{function}' in {target} is not callable")
    return ensure_embeddings(function_value)


def _import_file(path: Path) -> Any:
    try:
        return import_file(path, "embed")
    except MissingFile:
        raise GraphConfigError(f"Could not find embeddings file: {path.name}") from None


def _not_number(value: Any) -> bool:
    return isinstance(value, bool) or not isinstance(value, int | float)


def memory_store(items: ItemStore, config_path: Path | None) -> MemoryStore:
    """The memory store of this process on ``items``, configured by langgraph.json's
    ``store`` (its index and TTLs). With ``store.path`` (app/graphs/custom_store.py) the
    index is the custom store's business, as on LangGraph: its embeddings are not loaded."""
    project = project_at(config_path)
    section = project.store
    index = None if section.get("path") else load_index(section, project.folder)
    return MemoryStore(items, index, load_ttl(section))


def graph_store(memory: MemoryStore, inline: bool = False) -> Any:
    """LangGraph's BaseStore on ``memory`` (graphs/store.py); None without langgraph."""
    if langgraph_types() is None:
        return None
    from threadwatch.graphs.store import RedisStore

    return RedisStore(memory, inline=inline)
