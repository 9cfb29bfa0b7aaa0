"""langgraph.json's ``http`` section shapes the app as on LangGraph's Agent Server: disabled
route groups are not mounted (404) and GET /info's flags follow, ``cors`` replaces the CORS
defaults, ``mount_prefix`` moves every route under it, and ``app`` merges a user's app."""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from fakeredis import FakeRedis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.unit.helpers import make_stores
from threadwatch.api.app import create_app, serve_app, serve_from
from threadwatch.api.custom_app import merge_custom_app
from threadwatch.graphs import EMPTY_REGISTRY, GraphConfigError
from threadwatch.settings import Settings, get_settings

HTTP_PROJECT = Path(__file__).parents[2] / "fixtures" / "graphs" / "http_project"
THREAD = "00000000-0000-4000-8000-000000000000"
# One request per route group: (group, method, path, body).
GROUP_PROBES = [
    ("assistants", "POST", "/assistants/search", {}),
    ("threads", "POST", "/threads/search", {}),
    ("threads", "GET", f"/threads/{THREAD}/state", None),
    ("runs", "POST", "/runs/crons/search", {}),
    ("runs", "GET", f"/threads/{THREAD}/runs", None),
    ("store", "POST", "/store/namespaces", {}),
    ("meta", "GET", "/info", None),
    ("meta", "GET", "/openapi.json", None),
    ("meta", "GET", "/docs", None),
    ("meta", "GET", "/metrics", None),
    ("ui", "GET", "/ui/", None),
    ("event_streaming", "POST", f"/threads/{THREAD}/commands", {}),
]


def project(folder: Path, **http: Any) -> Settings:
    (folder / "langgraph.json").write_text(json.dumps({"graphs": {}, "http": http}))
    return Settings(redis_url="redis://unused", graphs_config=str(folder))


def client_of(settings: Settings, redis: FakeRedis) -> TestClient:
    """The app without its lifespan, the stores where the lifespan puts them."""
    app = create_app(settings)
    serve_from(app, make_stores(redis), EMPTY_REGISTRY, settings)
    return TestClient(app, raise_server_exceptions=False)


def unmounted(client: TestClient, method: str, path: str, body: Any) -> bool:
    """Whether no route takes the request: the router's 404, not a route's (a missing id)."""
    answer = client.request(method, path, json=body)
    return answer.status_code == 404 and answer.text == '{"detail":"Not Found"}'


@pytest.mark.parametrize("group", sorted({g for g, *_ in GROUP_PROBES}))
def test_a_disabled_group_is_not_mounted(group: str, tmp_path: Path, fake_redis: FakeRedis) -> None:
    client = client_of(project(tmp_path, **{f"disable_{group}": True}), fake_redis)
    for probe_group, method, path, body in GROUP_PROBES:
        gone = probe_group == group or (group == "runs" and probe_group == "event_streaming")
        assert unmounted(client, method, path, body) == gone, (method, path)


def test_disable_meta_keeps_the_probe(tmp_path: Path, fake_redis: FakeRedis) -> None:
    client = client_of(project(tmp_path, disable_meta=True), fake_redis)
    assert client.get("/ok").json() == {"ok": True}
    assert client.get("/redoc").status_code == 404


def test_info_flags_follow_the_mounted_routes(tmp_path: Path, fake_redis: FakeRedis) -> None:
    settings = project(tmp_path, disable_store=True, disable_event_streaming=True)
    flags = client_of(settings, fake_redis).get("/info").json()["flags"]
    assert not flags["store"] and not flags["event_streaming"]
    assert flags["assistants"] and flags["crons"]
    settings = project(tmp_path, disable_runs=True, disable_assistants=True)
    flags = client_of(settings, fake_redis).get("/info").json()["flags"]
    assert not flags["crons"] and not flags["event_streaming"] and not flags["assistants"]
    assert flags["store"]


def test_mcp_and_a2a_flags_are_accepted(tmp_path: Path, fake_redis: FakeRedis) -> None:
    client = client_of(project(tmp_path, disable_mcp=True, disable_a2a=True), fake_redis)
    assert client.post("/threads/search", json={}).status_code == 200


def test_http_cors_replaces_the_defaults(tmp_path: Path, fake_redis: FakeRedis) -> None:
    cors = {"allow_origins": ["https://ui.example"], "allow_methods": ["POST"], "max_age": 5}
    settings = project(tmp_path, cors=cors).model_copy(update={"cors_origins": ["*"]})
    client = client_of(settings, fake_redis)
    preflight = {"origin": "https://ui.example", "access-control-request-method": "POST"}
    answer = client.options("/threads/search", headers=preflight)
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == "https://ui.example"
    assert answer.headers["access-control-max-age"] == "5"
    assert "access-control-allow-credentials" not in answer.headers  # Starlette's default
    refused = client.options("/threads/search", headers={**preflight, "origin": "https://x.io"})
    assert refused.status_code == 400
    get = client.options(
        "/threads/search", headers={**preflight, "access-control-request-method": "GET"}
    )
    assert get.status_code == 400


def test_http_cors_takes_listed_env_origins(tmp_path: Path, fake_redis: FakeRedis) -> None:
    settings = project(tmp_path, cors={"allow_methods": ["*"]})
    settings = settings.model_copy(update={"cors_origins": ["https://env.example"]})
    answer = client_of(settings, fake_redis).post(
        "/threads/search", json={}, headers={"origin": "https://env.example"}
    )
    assert answer.headers["access-control-allow-origin"] == "https://env.example"


def test_mount_prefix_moves_the_routes(tmp_path: Path, fake_redis: FakeRedis) -> None:
    client = client_of(project(tmp_path, mount_prefix="/my-api"), fake_redis)
    assert client.post("/my-api/threads/search", json={}).json() == []
    assert client.post("/threads/search", json={}).status_code == 404
    assert client.get("/ok").json() == {"ok": True}  # probes stay at the root too
    assert client.get("/metrics").status_code == 200
    assert client.get("/my-api/ok").json() == {"ok": True}
    docs = client.get("/my-api/docs")
    assert docs.status_code == 200 and "/my-api/openapi.json" in docs.text
    assert client.get("/my-api/info").json()["flags"]["store"]


def user_project(folder: Path, **http: Any) -> Settings:
    shutil.copy(HTTP_PROJECT / "web.py", folder / "web.py")
    return project(folder, app="./web.py:app", **http)


def test_the_user_app_is_merged_as_on_langgraph(tmp_path: Path, fake_redis: FakeRedis) -> None:
    client = client_of(user_project(tmp_path), fake_redis)
    teapot = client.get("/custom/teapot")
    assert teapot.status_code == 418  # its route, with its exception handler
    assert teapot.headers["x-user-middleware"] == "1"
    # Its middleware wraps the API's routes too.
    assert client.post("/threads/search", json={}).headers["x-user-middleware"] == "1"
    assert client.post("/threads/count", json={}).json() == {"shadowed": True}
    assert client.get("/ok").json() == {"ok": True}  # the probe is not shadowed
    # The API's error envelope (one string, not FastAPI's list) stays: a user's FastAPI
    # app's default handlers do not replace the API's.
    refused = client.post("/threads/search", json={"limit": "many"})
    assert refused.status_code == 422 and isinstance(refused.json()["detail"], str)
    assert "/custom/hello" in client.get("/openapi.json").json()["paths"]
    # get_store() in its routes gives the server's store (here the Redis one).
    note = {"namespace": ["notes"], "key": "a", "value": {"text": "hi"}}
    assert client.put("/store/items", json=note).status_code == 204
    assert client.get("/custom/notes").json() == ["a"]


def test_the_lifespans_run_the_apis_first_and_share_the_state() -> None:
    seen: list[str] = []

    @asynccontextmanager
    async def ours(app: FastAPI) -> AsyncIterator[None]:
        seen.append("api up")
        app.state.stores = "the stores"
        yield
        seen.append("api down")

    @asynccontextmanager
    async def theirs(app: Starlette) -> AsyncIterator[dict[str, str]]:
        seen.append(f"user up, sees {app.state.stores}")
        yield {"from_user": "state"}
        seen.append("user down")

    async def mine(request: Request) -> JSONResponse:
        return JSONResponse([request.app.state.stores, request.state.from_user])

    api = FastAPI(lifespan=ours)
    user = Starlette(routes=[Route("/mine", mine)], lifespan=theirs)
    merge_custom_app(api, user)
    with TestClient(api) as client:
        assert client.get("/mine").json() == ["the stores", "state"]
    assert seen == ["api up", "user up, sees the stores", "user down", "api down"]
    assert user.state is api.state


def test_without_meta_the_user_app_may_shadow_the_probe(
    tmp_path: Path, fake_redis: FakeRedis
) -> None:
    client = client_of(user_project(tmp_path, disable_meta=True), fake_redis)
    assert client.get("/ok").json() == {"ok": False}


@pytest.mark.parametrize(
    ("app", "named"),
    [
        ("./missing.py:app", '"http.app": no such file'),
        ("./web.py:nope", '"http.app": ./web.py has no "nope"'),
        ("./web.py:Teapot", '"http.app": "Teapot" in ./web.py is a type, not a Starlette'),
    ],
)
def test_a_bad_user_app_names_the_key(tmp_path: Path, app: str, named: str) -> None:
    settings = user_project(tmp_path)
    project(tmp_path, app=app)
    with pytest.raises(GraphConfigError) as caught:
        create_app(settings)
    assert named in str(caught.value)


def test_the_served_app_ends_on_a_bad_config_without_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    project(tmp_path, disable_threads="yes")
    monkeypatch.setenv("THREADWATCH_GRAPHS_CONFIG", str(tmp_path))
    monkeypatch.setenv("REDIS_URL", "redis://unused")
    get_settings.cache_clear()  # serve_app reads the environment through get_settings()
    try:
        with pytest.raises(SystemExit) as ended:
            serve_app()
    finally:
        get_settings.cache_clear()
    assert ended.value.code == 1
    assert '"http.disable_threads" must be true or false, got "yes"' in caplog.text
    assert "Traceback" not in caplog.text


def test_the_prefix_wraps_the_user_app_too(tmp_path: Path, fake_redis: FakeRedis) -> None:
    client = client_of(user_project(tmp_path, mount_prefix="/my-api"), fake_redis)
    assert client.get("/my-api/custom/teapot").status_code == 418
    assert client.get("/custom/teapot").status_code == 404
    assert client.post("/my-api/threads/count", json={}).json() == {"shadowed": True}


def test_api_keys_cover_the_user_app(tmp_path: Path, fake_redis: FakeRedis) -> None:
    settings = user_project(tmp_path).model_copy(update={"api_keys": ["k1"]})
    client = client_of(settings, fake_redis)
    assert client.get("/custom/teapot").status_code == 401
    assert client.get("/custom/teapot", headers={"x-api-key": "k1"}).status_code == 418
    assert client.get("/ok").status_code == 200


def test_a_key_langgraph_does_not_know_is_served_past_with_a_warning(
    tmp_path: Path, fake_redis: FakeRedis, caplog: pytest.LogCaptureFixture
) -> None:
    client = client_of(project(tmp_path, disable_thread=True), fake_redis)
    assert client.post("/threads", json={}).status_code == 200
    assert "http.disable_thread ignored" in caplog.text
