"""GET /info: LangGraph's shape (version, langgraph_py_version, flags, host), with flags
read from the routes the app mounts, so that a feature's router turns its flag on."""

from __future__ import annotations

from fakeredis import FakeRedis
from fastapi import APIRouter

from tests.unit.helpers import make_client
from threadwatch.api.capabilities import FEATURE_ROUTES, Capabilities

# langgraph-api 0.16.7's keys, in its order (api/meta.py).
LANGGRAPH_KEYS = ["version", "langgraph_py_version", "flags", "host"]
LANGGRAPH_FLAGS = [
    "assistants",
    "crons",
    "langsmith",
    "langsmith_tracing_replicas",
    "langsmith_tracing_session_on_runs",
]
HOST_KEYS = ["kind", "project_id", "host_revision_id", "revision_id", "tenant_id"]


def test_info_has_langgraphs_keys_and_says_what_is_missing(fake_redis: FakeRedis) -> None:
    resp = make_client(fake_redis).get("/info")
    assert resp.status_code == 200
    info = resp.json()
    assert list(info)[:4] == LANGGRAPH_KEYS
    assert isinstance(info["version"], str) and isinstance(info["langgraph_py_version"], str)
    assert list(info["flags"])[:5] == LANGGRAPH_FLAGS
    assert not any(info["flags"][f] for f in LANGGRAPH_FLAGS if f.startswith("langsmith"))
    assert info["flags"]["store"] and info["flags"]["crons"] and info["flags"]["assistants"]
    assert info["flags"]["event_streaming"]
    assert list(info["host"]) == HOST_KEYS and info["host"]["kind"] == "self-hosted"
    assert info["graphs"] == {"loaded": [], "errors": {}}


def test_a_mounted_route_turns_its_flag_on(fake_redis: FakeRedis) -> None:
    client = make_client(fake_redis)
    router = APIRouter()
    for feature in ("assistants", "crons"):
        method, path = FEATURE_ROUTES[feature]
        router.add_api_route(path, lambda: None, methods=[method])
    client.app.include_router(router)  # type: ignore[attr-defined]
    flags = client.get("/info").json()["flags"]
    assert flags["assistants"] and flags["crons"]
    assert not flags["langsmith"]


def test_only_the_method_that_makes_the_feature_counts() -> None:
    router = APIRouter()
    router.add_api_route("/assistants", lambda: None, methods=["GET"])
    router.add_api_route("/store/items", lambda: None, methods=["PUT"])
    router.add_api_route("/threads/{thread_id}/commands", lambda: None, methods=["GET"])
    found = Capabilities.of_routes(router.routes)
    assert found.features == frozenset({"store"})
