"""What the /store routes call, in LangGraph's JSON shapes: the Redis store (memory.py), or
the user's own ``BaseStore`` when langgraph.json's ``store.path`` names one, which the
routes call as langgraph-api's ``api/store.py`` calls it (``aput``, ``aget``, ...)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol

from starlette.concurrency import run_in_threadpool

from threadwatch.errors import InvalidInputError
from threadwatch.graphs.memory import MemoryStore, Scored
from threadwatch.store.codec import us_to_iso
from threadwatch.store.items import Namespace, StoredItem

Index = Literal[False] | list[str] | None
Conditions = Sequence[tuple[str, Namespace]]  # ("prefix" | "suffix", labels)


class StoreBackend(Protocol):
    async def put(
        self, namespace: Namespace, key: str, value: dict[str, Any], index: Index, ttl: float | None
    ) -> None: ...

    async def get(
        self, namespace: Namespace, key: str, refresh_ttl: bool | None
    ) -> dict[str, Any] | None: ...

    async def delete(self, namespace: Namespace, key: str) -> None: ...

    async def search(
        self,
        prefix: Namespace,
        filter: Mapping[str, Any] | None,
        limit: int,
        offset: int,
        query: str | None,
        refresh_ttl: bool | None,
    ) -> list[dict[str, Any]]: ...

    async def list_namespaces(
        self, conditions: Conditions, max_depth: int | None, limit: int, offset: int
    ) -> list[list[str]]: ...


class RedisItems:
    """The Redis store, with the index and TTLs of langgraph.json's ``store``; its Redis
    calls run in the thread pool, its embeddings (which may be async) on the loop."""

    def __init__(self, memory: MemoryStore) -> None:
        self.memory = memory

    async def put(
        self, namespace: Namespace, key: str, value: dict[str, Any], index: Index, ttl: float | None
    ) -> None:
        memory = self.memory
        vectors = await memory.aembed(memory.texts(value, index))
        await run_in_threadpool(memory.put, namespace, key, value, memory.ttl_of(ttl), vectors)

    async def get(
        self, namespace: Namespace, key: str, refresh_ttl: bool | None
    ) -> dict[str, Any] | None:
        found = await run_in_threadpool(
            self.memory.get, namespace, key, self.memory.refresh(refresh_ttl)
        )
        return None if found is None else item_json(found)

    async def delete(self, namespace: Namespace, key: str) -> None:
        await run_in_threadpool(self.memory.delete, namespace, key)

    async def search(
        self,
        prefix: Namespace,
        filter: Mapping[str, Any] | None,
        limit: int,
        offset: int,
        query: str | None,
        refresh_ttl: bool | None,
    ) -> list[dict[str, Any]]:
        memory = self.memory
        query_vector = await memory.aembed_query(query)
        refresh = memory.refresh(refresh_ttl)
        found = await run_in_threadpool(
            memory.search, prefix, filter, limit, offset, refresh, query_vector
        )
        return [search_item_json(scored) for scored in found]

    async def list_namespaces(
        self, conditions: Conditions, max_depth: int | None, limit: int, offset: int
    ) -> list[list[str]]:
        found = await run_in_threadpool(
            self.memory.list_namespaces, conditions, max_depth, limit, offset
        )
        return [list(namespace) for namespace in found]


class CustomItems:
    """The user's ``BaseStore`` (``store.path``), called as langgraph-api calls it."""

    def __init__(self, store: Any) -> None:
        self.store = store

    async def put(
        self, namespace: Namespace, key: str, value: dict[str, Any], index: Index, ttl: float | None
    ) -> None:
        if ttl is not None and not getattr(self.store, "supports_ttl", False):
            # LangGraph's store raises NotImplementedError (a 500); it is the caller's input.
            name = type(self.store).__name__
            raise InvalidInputError(f"TTL is not supported by {name}; put the item without one")
        await self.store.aput(namespace, key, value, index=index, ttl=ttl)

    async def get(
        self, namespace: Namespace, key: str, refresh_ttl: bool | None
    ) -> dict[str, Any] | None:
        found = await self.store.aget(namespace, key, refresh_ttl=refresh_ttl)
        return None if found is None else dict(found.dict())

    async def delete(self, namespace: Namespace, key: str) -> None:
        await self.store.adelete(namespace, key)

    async def search(
        self,
        prefix: Namespace,
        filter: Mapping[str, Any] | None,
        limit: int,
        offset: int,
        query: str | None,
        refresh_ttl: bool | None,
    ) -> list[dict[str, Any]]:
        found = await self.store.asearch(
            prefix,
            filter=dict(filter) if filter else None,
            limit=limit,
            offset=offset,
            query=query,
            refresh_ttl=refresh_ttl,
        )
        return [dict(item.dict()) for item in found]

    async def list_namespaces(
        self, conditions: Conditions, max_depth: int | None, limit: int, offset: int
    ) -> list[list[str]]:
        sides = dict(conditions)
        found = await self.store.alist_namespaces(
            prefix=sides.get("prefix"),
            suffix=sides.get("suffix"),
            max_depth=max_depth,
            limit=limit,
            offset=offset,
        )
        return [list(namespace) for namespace in found]


def item_json(item: StoredItem) -> dict[str, Any]:
    return {
        "namespace": list(item.namespace),
        "key": item.key,
        "value": item.value,
        "created_at": us_to_iso(item.created_us),
        "updated_at": us_to_iso(item.updated_us),
    }


def search_item_json(scored: Scored) -> dict[str, Any]:
    return {**item_json(scored.item), "score": scored.score}
