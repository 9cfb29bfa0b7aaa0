"""The OpenAPI document is committed (docs/openapi.json), and the served one must offer the
same surface: paths, methods, parameters, request bodies and response codes. A change to the
API shows up as a diff of that file in review. After changing the API, write it again:

    .venv/bin/python -m tests.unit.api.test_openapi > docs/openapi.json
"""

from __future__ import annotations

import json
from typing import Any

from tests.support import ROOT
from threadwatch.api.app import create_app
from threadwatch.settings import Settings

COMMITTED = ROOT / "docs" / "openapi.json"
METHODS = ("get", "put", "post", "patch", "delete", "options", "head")


def served() -> dict[str, Any]:
    return create_app(Settings(redis_url="redis://unused")).openapi()


def surface(document: dict[str, Any]) -> dict[str, Any]:
    """What a client relies on: per path and method, the parameters (name, where, required),
    the request body's schema and the response codes; not FastAPI's wording."""
    found: dict[str, Any] = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            body = operation.get("requestBody", {}).get("content", {})
            found[f"{method.upper()} {path}"] = {
                "parameters": sorted(
                    (p["name"], p["in"], bool(p.get("required")))
                    for p in operation.get("parameters", [])
                ),
                "body": sorted(
                    (kind, json.dumps(spec.get("schema", {}), sort_keys=True))
                    for kind, spec in body.items()
                ),
                "responses": sorted(operation.get("responses", {})),
            }
    return found


def test_the_served_api_is_the_committed_one() -> None:
    committed = json.loads(COMMITTED.read_text())
    assert surface(served()) == surface(committed), (
        "the API changed: write docs/openapi.json again (see this module's docstring)"
    )


def test_every_operation_answers_json_errors_it_documents() -> None:
    """Each operation documents at least one response (the FastAPI default 422 included)."""
    assert all(op["responses"] for op in surface(served()).values())


if __name__ == "__main__":
    print(json.dumps(served(), indent=2, sort_keys=True))
