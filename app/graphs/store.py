"""LangGraph's ``BaseStore`` on Redis: the ``store`` every run's graph gets, as a node
argument (``store: BaseStore``) and through ``langgraph.config.get_store()``.

It executes LangGraph's ops (GetOp, PutOp, SearchOp, ListNamespacesOp) in their order on the
same memory store the ``/store`` API serves (memory.py). ``abatch`` awaits the embeddings
asynchronously; its Redis calls run inline (``inline``: a worker thread's loop serves one
run, as the checkpointer's do) or in a thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from langgraph.store.base import (
    BaseStore,
    GetOp,
    InvalidNamespaceError,
    Item,
    ListNamespacesOp,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    validate_op_namespace,
)

from threadwatch.graphs.memory import MemoryStore, Scored
from threadwatch.store.items import StoredItem

# What an op needs embedded before it runs: the texts of a put, the query of a search.
Embedded = dict[int, Any]


class RedisStore(BaseStore):
    """LangGraph's store on Redis, with TTLs and, when configured, semantic search."""

    supports_ttl = True

    def __init__(self, memory: MemoryStore, *, inline: bool = False) -> None:
        self.memory = memory
        self.ttl_config = memory.ttl.as_config()  # type: ignore[assignment]
        self.inline = inline

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        ops = _checked(ops)
        embedded: Embedded = {}
        for i, op in enumerate(ops):
            if isinstance(op, PutOp) and op.value is not None:
                embedded[i] = self.memory.embed(self.memory.texts(op.value, op.index))
            elif isinstance(op, SearchOp):
                embedded[i] = self.memory.embed_query(op.query)
        return self._apply(ops, embedded)

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        ops = _checked(ops)
        embedded: Embedded = {}
        for i, op in enumerate(ops):
            if isinstance(op, PutOp) and op.value is not None:
                embedded[i] = await self.memory.aembed(self.memory.texts(op.value, op.index))
            elif isinstance(op, SearchOp):
                embedded[i] = await self.memory.aembed_query(op.query)
        if self.inline:
            return self._apply(ops, embedded)
        return await asyncio.to_thread(self._apply, ops, embedded)

    def _apply(self, ops: list[Op], embedded: Embedded) -> list[Result]:
        return [self._one(op, embedded.get(i)) for i, op in enumerate(ops)]

    def _one(self, op: Op, embedded: Any) -> Result:
        memory = self.memory
        if isinstance(op, GetOp):
            found = memory.get(op.namespace, op.key, op.refresh_ttl)
            return None if found is None else to_item(found)
        if isinstance(op, PutOp):
            if op.value is None:
                memory.delete(op.namespace, op.key)
            else:
                memory.put(op.namespace, op.key, op.value, op.ttl, embedded)
            return None
        if isinstance(op, SearchOp):
            page = memory.search(
                op.namespace_prefix, op.filter, op.limit, op.offset, op.refresh_ttl, embedded
            )
            return [to_search_item(scored) for scored in page]
        if isinstance(op, ListNamespacesOp):
            conditions = [(c.match_type, tuple(c.path)) for c in op.match_conditions or ()]
            return memory.list_namespaces(conditions, op.max_depth, op.limit, op.offset)
        raise ValueError(f"Unknown operation type: {type(op)}")


def _checked(ops: Iterable[Op]) -> list[Op]:
    """The ops, each namespace validated as LangGraph's stores do (no "." and no empty
    label: a label with a "." would address another namespace; a put names one)."""
    ops = list(ops)
    for op in ops:
        validate_op_namespace(op)
        if isinstance(op, PutOp) and not op.namespace:
            raise InvalidNamespaceError("Namespace cannot be empty.")
    return ops


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _time(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def to_item(found: StoredItem) -> Item:
    return Item(
        value=found.value,
        key=found.key,
        namespace=found.namespace,
        created_at=_time(found.created_us),
        updated_at=_time(found.updated_us),
    )


def to_search_item(scored: Scored) -> SearchItem:
    found = scored.item
    return SearchItem(
        namespace=found.namespace,
        key=found.key,
        value=found.value,
        created_at=_time(found.created_us),
        updated_at=_time(found.updated_us),
        score=scored.score,
    )
