"""/store: LangGraph's long-term memory API (put, get, delete and search items; list
namespaces), with its shapes, defaults, codes and texts, on the store the runs' graphs use:
the Redis one (app/graphs/memory.py) or langgraph.json's ``store.path``
(app/api/store_backends.py).

Routes are async: embeddings and a user's store may be async.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import Field, StrictBool, StrictInt, StrictStr

from threadwatch.api.deps import StoreBackendDep
from threadwatch.api.responses import json_response
from threadwatch.models import Metadata
from threadwatch.models import Request as RequestModel
from threadwatch.store.items import check_labels, check_put_namespace

router = APIRouter(prefix="/store", tags=["store"])

Labels = list[StrictStr]
NonNegative = Annotated[StrictInt, Field(ge=0)]
# Minutes; at most a million years' worth, so that an expiry stays a valid time.
TTLMinutes = Annotated[float, Field(gt=0, le=1_000_000_000, strict=True, allow_inf_nan=False)]


class StorePut(RequestModel):
    namespace: Labels
    key: StrictStr
    value: dict[str, Any]
    index: Literal[False] | list[StrictStr] | None = None
    ttl: TTLMinutes | None = None


class StoreDelete(RequestModel):
    namespace: Labels | None = None
    key: StrictStr


class StoreSearch(RequestModel):
    namespace_prefix: Labels | None = None
    filter: Metadata | None = None  # bounded as a metadata filter is
    limit: NonNegative | None = 10
    offset: NonNegative | None = 0
    query: StrictStr | None = None
    refresh_ttl: StrictBool | None = None


class StoreNamespaces(RequestModel):
    prefix: Labels | None = None
    suffix: Labels | None = None
    max_depth: NonNegative | None = None
    limit: NonNegative = 100
    offset: NonNegative = 0


def _rejected(namespace: Sequence[str]) -> Response | None:
    """LangGraph's 422 for an empty label or one with a "." (plain text, no content type);
    then its 400 for a label with a NUL byte."""
    for label in namespace:
        if not label or "." in label:
            detail = f"Namespace label {label!r} must be a non-empty string without periods"
            return Response(status_code=422, content=detail)
    check_labels(tuple(namespace))
    return None


@router.put("/items", status_code=204)
async def put_item(backend: StoreBackendDep, body: StorePut) -> Response:
    """Store or update an item."""
    namespace = tuple(body.namespace)
    if rejected := _rejected(namespace):
        return rejected
    check_put_namespace(namespace)
    await backend.put(namespace, body.key, body.value, body.index, body.ttl)
    return Response(status_code=204)


@router.get("/items")
async def get_item(
    backend: StoreBackendDep,
    namespace: Annotated[str, Query(description="The labels joined by '.'")] = "",
    key: str | None = None,
    refresh_ttl: Annotated[str | None, Query(description="true to restart the TTL")] = None,
) -> Response:
    """One item, or null. ``namespace`` is the labels joined by "." (as the SDKs send it)."""
    labels = tuple(namespace.split("."))
    if rejected := _rejected(labels):
        return rejected
    if not key:
        return json_response({"error": "Key is required"}, status_code=400)
    asked = None if refresh_ttl is None else refresh_ttl.lower() == "true"
    return json_response(await backend.get(labels, key, asked))


@router.delete("/items", status_code=204)
async def delete_item(backend: StoreBackendDep, body: StoreDelete) -> Response:
    """Delete an item (204 whether or not it existed)."""
    namespace = tuple(body.namespace or ())
    if rejected := _rejected(namespace):
        return rejected
    await backend.delete(namespace, body.key)
    return Response(status_code=204)


@router.post("/items/search")
async def search_items(backend: StoreBackendDep, body: StoreSearch) -> Response:
    """Items under a namespace prefix: by similarity to ``query`` when the store has an
    index, else most recently updated first."""
    prefix = tuple(body.namespace_prefix or ())
    if rejected := _rejected(prefix):
        return rejected
    found = await backend.search(
        prefix,
        body.filter,
        body.limit or 10,  # LangGraph reads 0 as the default too
        body.offset or 0,
        body.query,
        body.refresh_ttl,
    )
    return json_response({"items": found})


@router.post("/namespaces")
async def list_namespaces(backend: StoreBackendDep, body: StoreNamespaces) -> Response:
    """Namespaces holding items, matching a prefix and a suffix (``*`` matches any label)."""
    conditions: list[tuple[str, tuple[str, ...]]] = []
    for side, path in (("prefix", body.prefix), ("suffix", body.suffix)):
        if path:
            if rejected := _rejected(path):
                return rejected
            conditions.append((side, tuple(path)))
    found = await backend.list_namespaces(conditions, body.max_depth, body.limit, body.offset)
    return json_response({"namespaces": found})
