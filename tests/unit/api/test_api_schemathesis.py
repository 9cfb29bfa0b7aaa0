"""schemathesis over the served OpenAPI document, in process on fakeredis: no answer is a
5xx, and every answer matches the document (its status code is declared, its content type
too, and its body fits the declared schema).

Generated cases mostly reach the error answers (random ids are unknown); a fixed session of
real calls (create, read, list, update and delete of each resource) checks the success
answers against the same document. The operations that wait for a run to end
(streams, joins, waits) are left out: no worker runs here, so they would wait for their
timeout; tests/integration/runs/test_waiting_operations_conformance.py holds their answers
to the same document on the real stack (a stream's events to its StreamEvent schema).
"""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import parse_qsl

import fakeredis
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support import FIXTURES, load_project_graphs
from tests.unit.helpers import make_client

WAITING = r".*(/stream|/join|/wait|/commands).*"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
AGENT = "fe096781-5601-53d2-b2f6-0d3403f7e9ca"  # the system assistant of the graph "agent"
RUN_ID = str(uuid.uuid4())  # a run reported through events

_client = make_client(
    fakeredis.FakeRedis(), graphs=load_project_graphs(FIXTURES / "graphs" / "project")
)
# The document as served; the calls go through the client, which has no lifespan (no
# Redis connection: the stores are fakeredis's).
document = _client.app.openapi()
schema = schemathesis.openapi.from_dict(document).exclude(path_regex=WAITING)
every_operation = schemathesis.openapi.from_dict(document)


def validate(case: schemathesis.Case, response: httpx.Response) -> None:
    """The checks, but LangGraph's refusal of a namespace label in the memory store, a plain
    422 without a content type that its clients expect, is held to its status code only."""
    plain = case.path.startswith("/store/") and "content-type" not in response.headers
    checks = [status_code_conformance] if plain and response.status_code == 422 else CHECKS
    case.validate_response(response, checks=checks)


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_answer_matches_the_document(case: schemathesis.Case) -> None:
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    kwargs.pop("cookies", None)  # the API reads none
    if isinstance(kwargs.get("data"), str | bytes):  # raw bodies: httpx's own name for them
        kwargs["content"] = kwargs.pop("data")
    validate(case, _client.request(**kwargs))


THREAD, RUN = "/threads/{thread_id}", "/threads/{thread_id}/runs/{run_id}"
CRON, ASSISTANT = "/runs/crons/{cron_id}", "/assistants/{assistant_id}"
# A session of real calls, in order: (method, path, body, the answer's field to keep). Path
# parameters come from the fields kept so far; a query string is part of the path.
SESSION: list[tuple[str, str, Any, str | None]] = [
    ("POST", "/threads", {"metadata": {"team": "a"}}, "thread_id"),
    ("GET", THREAD, None, None),
    ("PATCH", THREAD, {"metadata": {"n": 1}}, None),
    ("POST", "/threads/search", {"metadata": {"team": "a"}}, None),
    ("POST", "/threads/search", {"select": ["status"]}, None),
    ("POST", "/threads/count", {}, None),
    ("POST", THREAD + "/copy", None, None),
    ("POST", "/runs/events", {"events": [{"run_id": RUN_ID, "type": "run.started"}]}, None),
    ("POST", THREAD + "/runs", {"assistant_id": "echo"}, "run_id"),
    ("GET", THREAD + "/runs", None, None),
    ("GET", RUN, None, None),
    ("GET", THREAD + "/transitions", None, None),
    ("GET", THREAD + "/state", None, None),
    ("GET", THREAD + "/history", None, None),
    ("POST", THREAD + "/history", {}, None),
    ("POST", RUN + "/cancel", None, None),
    ("POST", "/runs/crons", {"assistant_id": "echo", "schedule": "0 * * * *"}, "cron_id"),
    ("GET", CRON, None, None),
    ("PATCH", CRON, {"enabled": False}, None),
    ("POST", "/runs/crons/search", {}, None),
    ("POST", "/runs/crons/count", {}, None),
    ("POST", "/assistants/search", {"limit": 3}, None),
    ("POST", "/assistants/count", {}, None),
    ("GET", ASSISTANT, None, None),
    ("POST", ASSISTANT + "/versions", {}, None),
    ("GET", ASSISTANT + "/graph", None, None),
    ("GET", ASSISTANT + "/schemas", None, None),
    ("GET", ASSISTANT + "/subgraphs", None, None),
    ("POST", "/assistants", {"graph_id": "echo", "name": "e"}, "assistant_id"),
    ("PATCH", ASSISTANT, {"name": "f"}, None),
    ("POST", ASSISTANT + "/latest", {"version": 1}, None),
    ("PUT", "/store/items", {"namespace": ["a"], "key": "k", "value": {"x": 1}}, None),
    ("GET", "/store/items?namespace=a&key=k", None, None),
    ("GET", "/store/items?namespace=a&key=nope", None, None),
    ("POST", "/store/items/search", {"namespace_prefix": ["a"]}, None),
    ("POST", "/store/namespaces", {}, None),
    ("DELETE", RUN, None, None),
    ("DELETE", CRON, None, None),
    ("DELETE", THREAD, None, None),
]


def test_real_answers_match_the_document(fake_redis: fakeredis.FakeRedis) -> None:
    client = make_client(fake_redis, graphs=load_project_graphs(FIXTURES / "graphs" / "project"))
    kept: dict[str, str] = {"assistant_id": AGENT}
    for method, template, body, keep in SESSION:
        route, _, query = template.partition("?")
        params = {name: kept[name] for name in re.findall(r"{(\w+)}", route)}
        if body is not None and "events" in body:  # reported on the session's thread
            body = {"events": [{**e, "thread_id": kept["thread_id"]} for e in body["events"]]}
        response = client.request(method, template.format(**params), json=body)
        assert response.status_code < 300, (method, template, response.text)
        operation = every_operation[route][method]
        if body is None:
            case = operation.Case(path_parameters=params, query=dict(parse_qsl(query)))
        else:
            case = operation.Case(path_parameters=params, body=body, media_type="application/json")
        validate(case, response)
        if keep is not None:
            kept[keep] = response.json()[keep]


@pytest.mark.parametrize("path", ["/threads/{thread_id}/runs/{run_id}/stream"])
def test_a_stream_is_declared_as_one(path: str) -> None:
    responses = document["paths"][path]["get"]["responses"]
    assert list(responses["200"]["content"]) == ["text/event-stream"]
