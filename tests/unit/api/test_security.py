"""API keys, /metrics protection, CORS, `limit` caps, and user strings in Redis key names.

The app is built as in test_api_validation.py (no lifespan, stores on fakeredis), with the
security settings under test.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from fakeredis import FakeRedis
from fastapi.testclient import TestClient

from tests.unit.helpers import keyspace, make_stores
from threadwatch.api import security
from threadwatch.api.app import create_app
from threadwatch.api.security import MISSING_KEY, WRONG_KEY, APIKeyMiddleware
from threadwatch.settings import Settings
from threadwatch.store.keys import Keys
from threadwatch.store.metadata_index import contains, metadata_leaves

KEY = "s3cret-key"
OTHER_KEY = "rotated-key-2"
ORIGIN = "https://ui.example.com"
MISSING = "00000000-0000-4000-8000-00000000dead"


def client_with(redis: FakeRedis, **settings: Any) -> TestClient:
    app = create_app(Settings(redis_url="redis://unused", **settings))
    app.state.stores = make_stores(redis)
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def client(fake_redis: FakeRedis) -> TestClient:
    return client_with(fake_redis, api_keys=[KEY])


def detail(resp: Any, status: int) -> str:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/json"
    body = resp.json()
    assert list(body) == ["detail"] and isinstance(body["detail"], str)
    return body["detail"]


def served(client: TestClient, headers: dict[str, str]) -> bool:
    """Whether POST /threads/count got past the key check and answered."""
    return client.post("/threads/count", json={}, headers=headers).status_code == 200


# -- settings ----------------------------------------------------------------------------------


def test_comma_separated_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THREADWATCH_API_KEYS", " a ,b,, ")
    monkeypatch.setenv("THREADWATCH_CORS_ORIGINS", "https://a.example,http://localhost:5173")
    monkeypatch.setenv("THREADWATCH_METRICS_PUBLIC", "true")
    settings = Settings(_env_file=None)
    assert settings.api_keys == ["a", "b"]
    assert settings.cors_origins == ["https://a.example", "http://localhost:5173"]
    assert settings.metrics_public is True
    assert "api_keys" not in repr(settings)  # keys stay out of logs of the settings


def test_defaults_are_off(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("API_KEYS", "CORS_ORIGINS", "METRICS_PUBLIC"):
        monkeypatch.delenv(f"THREADWATCH_{name}", raising=False)
    settings = Settings(_env_file=None)
    assert settings.api_keys == [] and settings.cors_origins == []
    assert settings.metrics_public is False
    monkeypatch.setenv("THREADWATCH_API_KEYS", "")  # how `threadwatch dev` turns keys off
    assert Settings(_env_file=None).api_keys == []


# -- API keys ----------------------------------------------------------------------------------

ENDPOINTS = [
    ("GET", "/info", None),
    ("POST", "/threads", {}),
    ("POST", "/threads/search", {}),
    ("POST", "/threads/count", {}),
    ("GET", f"/threads/{MISSING}", None),
    ("DELETE", f"/threads/{MISSING}", None),
    ("GET", f"/threads/{MISSING}/runs", None),
    ("POST", "/assistants/search", {}),
    ("GET", "/metrics", None),
    ("GET", "/docs", None),
    ("GET", "/openapi.json", None),
    ("GET", "/no-such-route", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_no_key_is_401(client: TestClient, method: str, path: str, body: Any) -> None:
    assert detail(client.request(method, path, json=body), 401) == MISSING_KEY
    empty = client.request(method, path, json=body, headers={"x-api-key": " "})
    assert detail(empty, 401) == MISSING_KEY


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_wrong_key_is_403(client: TestClient, method: str, path: str, body: Any) -> None:
    for wrong in ("nope", KEY + "x", KEY[:-1], KEY.upper()):
        resp = client.request(method, path, json=body, headers={"x-api-key": wrong})
        assert detail(resp, 403) == WRONG_KEY


def test_right_key_is_served(client: TestClient) -> None:
    headers = {"x-api-key": KEY}
    thread = client.post("/threads", json={"metadata": {"a": 1}}, headers=headers)
    assert thread.status_code == 200, thread.text
    found = client.post("/threads/search", json={"metadata": {"a": 1}}, headers=headers)
    assert [t["thread_id"] for t in found.json()] == [thread.json()["thread_id"]]
    assert client.post("/threads/count", json={}, headers=headers).json() == 1
    # Past the key check, the app's own answers as usual.
    assert detail(client.get(f"/threads/{MISSING}", headers=headers), 404)
    assert detail(client.get("/threads/nope", headers=headers), 422)


def test_the_header_name_is_case_insensitive(client: TestClient) -> None:
    assert served(client, {"X-Api-Key": KEY})
    assert served(client, {"X-API-KEY": KEY})


def test_other_places_for_the_key_do_not_count(client: TestClient) -> None:
    assert detail(client.get(f"/info?x-api-key={KEY}"), 401) == MISSING_KEY
    bearer = client.get("/info", headers={"Authorization": f"Bearer {KEY}"})
    assert detail(bearer, 401) == MISSING_KEY


def test_ok_is_open(client: TestClient) -> None:
    assert client.get("/ok").json() == {"ok": True}
    assert client.get("/ok", headers={"x-api-key": "wrong"}).status_code == 200
    # Only GET (and HEAD) of /ok itself.
    assert detail(client.post("/ok", json={}), 401) == MISSING_KEY
    assert detail(client.get("/ok/extra"), 401) == MISSING_KEY


def test_the_status_page_loads_without_a_key_but_its_data_needs_one(
    client: TestClient,
) -> None:
    assert client.get("/ui/").status_code == 200
    assert client.get("/ui/app.js").status_code == 200
    assert detail(client.get("/uix"), 401) == MISSING_KEY  # only /ui and below
    assert detail(client.post("/threads/count", json={}), 401) == MISSING_KEY


def test_several_keys_are_each_accepted(fake_redis: FakeRedis) -> None:
    client = client_with(fake_redis, api_keys=[KEY, OTHER_KEY])
    for key in (KEY, OTHER_KEY):
        assert client.post("/threads/count", json={}, headers={"x-api-key": key}).json() == 0
    both = client.get("/info", headers={"x-api-key": f"{KEY},{OTHER_KEY}"})
    assert detail(both, 403) == WRONG_KEY


def test_keys_from_a_comma_list(fake_redis: FakeRedis) -> None:
    client = client_with(fake_redis, api_keys=f"{KEY}, {OTHER_KEY}")
    assert served(client, {"x-api-key": OTHER_KEY})
    assert served(client, {"x-api-key": KEY})


def test_no_keys_means_no_check(fake_redis: FakeRedis) -> None:
    client = client_with(fake_redis)
    assert client.post("/threads/count", json={}).json() == 0
    assert served(client, {"x-api-key": "anything"})


def test_the_key_check_comes_before_the_body(client: TestClient) -> None:
    """No key: 401 even for a body the app would refuse (413, 422): nothing is read."""
    resp = client.post("/threads", content=b"{not json", headers={"content-type": "text/plain"})
    assert detail(resp, 401) == MISSING_KEY
    big = client.post("/threads", content=b"x" * 2_000_000)
    assert detail(big, 401) == MISSING_KEY
    resp = client.post("/threads", content=b"{not json", headers={"x-api-key": KEY})
    assert detail(resp, 422) == "Invalid JSON in request body"


def test_every_key_is_compared(monkeypatch: pytest.MonkeyPatch) -> None:
    """No early exit: a match on the first key still compares the others (timing)."""
    calls: list[bytes] = []
    real = security.hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append(b)
        return real(a, b)

    monkeypatch.setattr(security.hmac, "compare_digest", counting)
    middleware = APIKeyMiddleware(lambda *a: None, keys=["k1", "k2", "k3"], open_paths=())  # type: ignore[arg-type, return-value]
    assert middleware.accepts(b"k1")
    assert len(calls) == 3
    assert not middleware.accepts(b"k4")
    assert len(calls) == 6


def test_middleware_needs_a_key() -> None:
    with pytest.raises(ValueError, match="at least one key"):
        APIKeyMiddleware(lambda *a: None, keys=[], open_paths=())  # type: ignore[arg-type, return-value]


# -- /metrics ----------------------------------------------------------------------------------


def test_metrics_needs_a_key_by_default(client: TestClient) -> None:
    assert detail(client.get("/metrics"), 401) == MISSING_KEY
    resp = client.get("/metrics", headers={"x-api-key": KEY})
    assert resp.status_code == 200 and "threadwatch_" in resp.text


def test_metrics_public(fake_redis: FakeRedis) -> None:
    client = client_with(fake_redis, api_keys=[KEY], metrics_public=True)
    resp = client.get("/metrics")
    assert resp.status_code == 200 and "threadwatch_" in resp.text
    # Only /metrics is opened.
    assert detail(client.post("/threads/count", json={}), 401) == MISSING_KEY


# -- CORS --------------------------------------------------------------------------------------


def preflight(client: TestClient, path: str, method: str, headers: str) -> Any:
    return client.options(
        path,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers,
        },
    )


def test_preflight_needs_no_key(fake_redis: FakeRedis) -> None:
    client = client_with(fake_redis, api_keys=[KEY], cors_origins=[ORIGIN])
    resp = preflight(client, "/threads/search", "POST", "content-type,x-api-key,last-event-id")
    assert resp.status_code == 200, resp.text
    assert resp.headers["access-control-allow-origin"] == ORIGIN
    allowed = {h.strip().lower() for h in resp.headers["access-control-allow-headers"].split(",")}
    assert {"content-type", "x-api-key", "last-event-id"} <= allowed
    methods = set(resp.headers["access-control-allow-methods"].split(", "))
    assert {"GET", "POST", "PATCH", "PUT", "DELETE"} <= methods


def test_cors_answers_carry_the_headers(fake_redis: FakeRedis) -> None:
    client = client_with(fake_redis, api_keys=[KEY], cors_origins=[ORIGIN])
    headers = {"Origin": ORIGIN, "x-api-key": KEY}
    resp = client.post("/threads/search", json={}, headers=headers)
    assert resp.status_code == 200
    assert resp.headers["access-control-allow-origin"] == ORIGIN
    exposed = {h.strip().lower() for h in resp.headers["access-control-expose-headers"].split(",")}
    assert {"x-pagination-total", "x-pagination-next", "content-location"} <= exposed
    # The key check's refusals too, so that a page can read them.
    refused = client.get("/info", headers={"Origin": ORIGIN})
    assert detail(refused, 401) == MISSING_KEY
    assert refused.headers["access-control-allow-origin"] == ORIGIN


def test_cors_refuses_other_origins(fake_redis: FakeRedis) -> None:
    client = client_with(fake_redis, cors_origins=[ORIGIN])
    resp = client.options(
        "/threads/search",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert resp.status_code == 400
    assert "access-control-allow-origin" not in resp.headers
    plain = client.get("/ok", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in plain.headers


def test_cors_any_origin(fake_redis: FakeRedis) -> None:
    client = client_with(fake_redis, cors_origins=["*"])
    resp = client.get("/ok", headers={"Origin": "https://anywhere.example"})
    assert resp.headers["access-control-allow-origin"] == "*"


def test_cors_off_by_default(client: TestClient) -> None:
    resp = client.get("/ok", headers={"Origin": ORIGIN})
    assert "access-control-allow-origin" not in resp.headers
    resp = preflight(client, "/threads/search", "POST", "x-api-key")
    assert "access-control-allow-origin" not in resp.headers


# -- limit caps --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("POST", "/threads/search", "body"),
        ("POST", "/assistants/search", "body"),
        ("GET", f"/threads/{MISSING}/runs", "query"),
        ("GET", f"/threads/{MISSING}/transitions", "query"),
    ],
)
def test_limits_are_capped(fake_redis: FakeRedis, method: str, path: str, field: str) -> None:
    client = client_with(fake_redis)
    cap = 10_000 if path.endswith("/transitions") else 1000
    for bad in (0, -1, cap + 1, 10**12):
        if field == "body":
            resp = client.request(method, path, json={"limit": bad})
        else:
            resp = client.request(method, path, params={"limit": bad})
        assert "limit" in detail(resp, 422)
    ok = {"json": {"limit": cap}} if field == "body" else {"params": {"limit": cap}}
    assert client.request(method, path, **ok).status_code in (200, 404)


# -- user strings in key names -----------------------------------------------------------------

HOSTILE = [
    "*",
    "tw:thread:*",
    "a:b",
    "{hash-tag}",
    "}{",
    "line\nbreak\r\n",
    "back\\slash",
    'quote"',
    "[1,2]",
    "#deadbeef",
    "\x00nul",
    "ünïcödé ✓",
    "k" * 5000,
    "",
]


def test_hostile_metadata_makes_no_key_of_user_text(fake_redis: FakeRedis) -> None:
    """Metadata keys and values with glob, separator, hash-tag and control characters, and
    very long ones, make only numbered leaf sets (`leaves:{status}:{id}`); the leaves are
    named, JSON-encoded, in the leaf ids hash, one per distinct leaf; each filter finds
    exactly its thread."""
    client = client_with(fake_redis)
    before = keyspace(fake_redis)
    threads: dict[str, dict[str, Any]] = {}
    for i, text in enumerate(HOSTILE):
        for metadata in ({text: i}, {"k": text}, {text: {text: [text]}}):
            resp = client.post("/threads", json={"metadata": metadata})
            assert resp.status_code == 200, resp.text
            threads[resp.json()["thread_id"]] = metadata

    keys = Keys()
    added = keyspace(fake_redis) - before
    thread_keys = {keys.thread(t) for t in threads}
    leaf_sets = {key for key in added if key.startswith(keys.leaf_set_prefix)}
    expected = {keys.metadata_leaf(leaf) for m in threads.values() for leaf in metadata_leaves(m)}
    names = {n.decode() for n in fake_redis.hkeys(keys.leaf_ids()) if not n.startswith(b"#")}
    assert names == expected and len(leaf_sets) == len(names) > 3 * len(HOSTILE)
    assert all(key.rpartition(":")[2].isdigit() for key in leaf_sets)
    assert max(len(key) for key in added) < 400  # no key name grows with user input
    leaf_prefix = keys.metadata_leaf("")
    for name in names:
        leaf = name[len(leaf_prefix) :]
        if leaf.startswith("#"):  # long paths: a digest of the whole leaf
            assert len(leaf) == 33, name
            continue
        if "#" in leaf and not leaf.endswith("]"):
            leaf = leaf.rsplit("#", 1)[0]  # long values: the path, then a digest
        path = orjson.loads(leaf)
        assert isinstance(path, list) and path and isinstance(path[0], str), name
    for key in added:
        # Every key is a thread's own (by its UUID) or a fixed or numbered index name.
        assert not any(text and text in key for text in HOSTILE if len(text) > 1), key
    assert thread_keys <= added

    # No two different filters share a leaf set: each finds exactly its thread.
    for thread_id, metadata in threads.items():
        found = client.post("/threads/search", json={"metadata": metadata, "limit": 1000})
        ids = [t["thread_id"] for t in found.json()]
        assert thread_id in ids
        assert all(contains(threads[other], metadata) for other in ids), (metadata, ids)


def test_cors_like_langgraph_credentials_only_for_listed_origins(fake_redis: FakeRedis) -> None:
    listed = preflight(client_with(fake_redis, cors_origins=[ORIGIN]), "/info", "GET", "x")
    assert listed.headers["access-control-allow-credentials"] == "true"
    anyone = preflight(client_with(fake_redis, cors_origins=["*"]), "/info", "GET", "x")
    assert anyone.status_code == 200 and anyone.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in anyone.headers
    methods = set(anyone.headers["access-control-allow-methods"].split(", "))
    assert {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"} <= methods  # "*"


@pytest.mark.parametrize("allow", [True, False])
def test_private_network_preflight(fake_redis: FakeRedis, allow: bool) -> None:
    client = client_with(fake_redis, cors_origins=["*"], cors_allow_private_network=allow)
    resp = client.options(
        "/info",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Private-Network": "true",
        },
    )
    if allow:
        assert resp.status_code == 200
        assert resp.headers["access-control-allow-private-network"] == "true"
    else:
        assert resp.status_code == 400 and resp.text == "Disallowed CORS private-network"
        assert "access-control-allow-private-network" not in resp.headers
