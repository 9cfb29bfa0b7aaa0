"""JSON responses serialized with orjson, splicing stored JSON in unchanged."""

from __future__ import annotations

from typing import Any

from fastapi.responses import Response

from threadwatch.store.codec import to_json


def json_response(
    content: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(to_json(content), status_code, headers, media_type="application/json")
