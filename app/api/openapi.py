"""The served OpenAPI document: FastAPI's, with the error answers the API really gives.

Every error is ``{"detail": "<text>"}`` (error_handlers.py), not FastAPI's list of
validation errors; any operation can answer a 4xx (a bad id or body, a body too large or too
slow, a missing key) and a 503 (Redis away or full), so each declares them. The memory
store's namespace checks answer LangGraph's plain text. Streams declare text/event-stream.
schemathesis checks every answer against this document
(tests/unit/api/test_api_schemathesis.py).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from threadwatch.api.response_schemas import ANSWERS, COMPONENTS, OTHER_SUCCESS, STREAMS, ref

ERROR = "Error"
# `error` instead of `detail` where LangGraph answers so (a memory-store read without a key).
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": ERROR,
    "properties": {
        "detail": {"type": "string", "title": "Detail"},
        "error": {"type": "string", "title": "Error"},
    },
    "anyOf": [{"required": ["detail"]}, {"required": ["error"]}],
}
_ERROR_REF = {"$ref": f"#/components/schemas/{ERROR}"}
_FASTAPI_ERRORS = ("HTTPValidationError", "ValidationError")
STREAM_TYPE = "text/event-stream"


def install_openapi(app: FastAPI) -> None:
    """Serve ``document(app)`` as the app's OpenAPI document (built once)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def document(app: FastAPI) -> dict[str, Any]:
    doc = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for name in _FASTAPI_ERRORS:
        schemas.pop(name, None)
    schemas[ERROR] = ERROR_SCHEMA
    schemas.update(COMPONENTS)
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            _declare_answers(method, path, operation["responses"])
            _declare_errors(path, operation["responses"])
    return doc


def _declare_answers(method: str, path: str, responses: dict[str, Any]) -> None:
    """The success answer's schema, or its event-stream type, and any other success code."""
    success = next(code for code in responses if code.startswith("2"))
    if (method, path) in STREAMS:
        responses[success]["content"] = {STREAM_TYPE: {"schema": ref("StreamEvent")}}
    elif (method, path) in ANSWERS:
        responses[success]["content"] = {"application/json": {"schema": ANSWERS[method, path]}}
    if (method, path) in OTHER_SUCCESS:
        code = OTHER_SUCCESS[method, path]
        responses[code] = {"description": "Accepted: the run is being stopped"}


def _declare_errors(path: str, responses: dict[str, Any]) -> None:
    content: dict[str, Any] = {"application/json": {"schema": _ERROR_REF}}
    if path.startswith("/store/"):
        content["text/plain"] = {"schema": {"type": "string"}}
    for code in ("422", "4XX", "503"):
        responses[code] = {"description": _DESCRIPTIONS[code], "content": content}


_DESCRIPTIONS = {
    "422": "A field is invalid, or the body is not JSON (the detail names it)",
    "4XX": "The request was refused (the detail says why); nothing changed",
    "503": "Redis is away or refuses writes; retry after Retry-After",
}
