"""The operations that wait for a run (streams, joins, waits), which the in-process
schemathesis test leaves out, against the served OpenAPI document on the real stack: each
answer's status code and content type are declared (a stream is text/event-stream), and a
JSON answer fits its schema."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.integration.run_stack import RunStack

THREAD, RUN = "/threads/{thread_id}", "/threads/{thread_id}/runs/{run_id}"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
ECHO = {"assistant_id": "echo", "input": {"said": "hi"}}
# (method, path, body, expected content type); ids come from the run made first.
CALLS: list[tuple[str, str, dict[str, Any] | None, str]] = [
    ("POST", THREAD + "/runs/stream", ECHO, "text/event-stream"),
    ("POST", "/runs/stream", ECHO, "text/event-stream"),
    ("POST", THREAD + "/runs/wait", ECHO, "application/json"),
    ("POST", "/runs/wait", ECHO, "application/json"),
    ("GET", RUN + "/stream", None, "text/event-stream"),
    ("GET", RUN + "/join", None, "application/json"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "kind"), CALLS, ids=[f"{m} {p}" for m, p, *_ in CALLS]
)
def test_a_waiting_operation_answers_as_documented(
    run_stack: RunStack, method: str, path: str, body: dict[str, Any] | None, kind: str
) -> None:
    with httpx.Client(base_url=run_stack.url, timeout=30.0) as http:
        schema = schemathesis.openapi.from_dict(http.get("/openapi.json").json())
        thread_id = http.post("/threads", json={}).json()["thread_id"]
        run_id = (
            http.post(f"/threads/{thread_id}/runs/wait", json=ECHO)
            .headers.get("content-location", "")
            .rsplit("/", 1)[-1]
        )
        if not run_id:  # no Content-Location: the thread's only run
            run_id = http.get(f"/threads/{thread_id}/runs").json()[0]["run_id"]
        params = {"thread_id": thread_id, "run_id": run_id}
        params = {name: value for name, value in params.items() if "{" + name + "}" in path}
        response = http.request(method, path.format(**params), json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(kind)
    operation = schema[path][method]
    if body is None:
        case = operation.Case(path_parameters=params)
    else:
        case = operation.Case(path_parameters=params, body=body, media_type="application/json")
    case.validate_response(response, checks=CHECKS)
    run_stack.settle()


def test_the_state_a_run_wrote_answers_as_documented(run_stack: RunStack) -> None:
    """State and history read from real checkpoints (the unit tests have none)."""
    with httpx.Client(base_url=run_stack.url, timeout=30.0) as http:
        schema = schemathesis.openapi.from_dict(http.get("/openapi.json").json())
        thread_id = http.post("/threads", json={}).json()["thread_id"]
        body = {"assistant_id": "agent", "input": {"ask": True}}  # ends interrupted
        assert http.post(f"/threads/{thread_id}/runs/wait", json=body).status_code == 200
        params = {"thread_id": thread_id}
        for method, path in (("GET", THREAD + "/state"), ("POST", THREAD + "/history")):
            response = http.request(
                method, path.format(**params), json={} if method == "POST" else None
            )
            assert response.status_code == 200, response.text
            operation = schema[path][method]
            if method == "POST":
                case = operation.Case(
                    path_parameters=params, body={}, media_type="application/json"
                )
            else:
                case = operation.Case(path_parameters=params)
            case.validate_response(response, checks=CHECKS)
        assert http.get(f"/threads/{thread_id}/state").json()["next"] == ["ask"]
    run_stack.settle()
