"""The how-to's Javascript tab run verbatim with @langchain/langgraph-sdk, and the rest of the
JS threads surface. Each node script prints one JSON document that the test asserts on."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.integration.helpers import assert_thread_shape, create_thread, new_id
from tests.integration.servers import running_api

RunNode = Callable[..., str]
DEFAULT_PORT = 8123

# A run's events per status, posted with fetch (what an agent runtime would report).
JS_DRIVE = """
const API_URL = process.env.API_URL;
const EVENTS = {
  idle: ["run.pending", "run.started", "run.succeeded"],
  busy: ["run.pending", "run.started"],
  interrupted: ["run.pending", "run.started", "run.interrupted"],
  error: ["run.pending", "run.started", "run.failed"],
};
async function drive(threadId, status, metadata = { graph_id: "agent" }) {
  const runId = crypto.randomUUID();
  const events = EVENTS[status].map((type) => ({ thread_id: threadId, run_id: runId, type }));
  events[0].metadata = metadata;
  if (status === "interrupted") events.at(-1).interrupts = { t: [{ id: "i", value: "ok?" }] };
  if (status === "error") events.at(-1).error = { error: "ValueError", message: "boom" };
  const response = await fetch(`${API_URL}/runs/events`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ events }),
  });
  if (!response.ok) throw new Error(`events: ${response.status} ${await response.text()}`);
}
"""

SEED = (
    """
import { Client } from "@langchain/langgraph-sdk";
"""
    + JS_DRIVE
    + """
const printed = [];
const log = console.log;
console.log = (value) => printed.push(value);

const foo = await new Client({ apiUrl: API_URL }).threads.create();
await drive(foo.thread_id, "idle", { graph_id: "agent", foo: "bar" });

const client = new Client({ apiUrl: process.env.API_URL });
// Using the graph deployed with the name "agent"
const assistantId = "agent";
const thread = await client.threads.create();

for (const status of ["interrupted", "busy", "error"]) {
  await drive((await client.threads.create()).thread_id, status);
}
await drive(thread.thread_id, "idle");

console.log(await client.threads.search({ status: "idle", limit: 1 }));
console.log(await client.threads.search({ status: "interrupted", limit: 1 }));
console.log(await client.threads.search({ status: "busy", limit: 1 }));
console.log((await client.threads.get(thread.thread_id)).status);
console.log((await client.threads.search({ metadata: { "foo": "bar" }, limit: 1 }))[0].status);

log(JSON.stringify({ assistantId, thread, foo, printed }));
"""
)


def test_seed_javascript(run_node: RunNode, api_url: str, http: httpx.Client) -> None:
    out = json.loads(run_node(SEED, env={"API_URL": api_url}))
    idle, interrupted, busy, by_id, by_metadata = out["printed"]
    assert out["assistantId"] == "agent"
    assert_thread_shape(out["thread"])
    assert out["thread"]["metadata"] == {} and out["thread"]["status"] == "idle"
    for found, status in ((idle, "idle"), (interrupted, "interrupted"), (busy, "busy")):
        (thread,) = found
        assert_thread_shape(thread)
        assert thread["status"] == status
        assert thread["metadata"] == {"graph_id": "agent"}
    assert idle[0]["thread_id"] == out["thread"]["thread_id"]
    assert interrupted[0]["interrupts"] == {"t": [{"id": "i", "value": "ok?"}]}
    assert by_id == "idle"
    assert by_metadata == "idle"


SURFACE = """
import { Client } from "@langchain/langgraph-sdk";

const client = new Client({ apiUrl: process.env.API_URL });
const id = process.env.THREAD_ID;
const out = {};
async function failure(promise) {
  try {
    await promise;
    return null;
  } catch (error) {
    return { status: error.status, message: error.message };
  }
}

out.created = await client.threads.create({
  threadId: id, metadata: { team: "a" }, graphId: "agent", ttl: 60,
});
out.conflict = await failure(client.threads.create({ threadId: id, ifExists: "raise" }));
out.doNothing = await client.threads.create({
  threadId: id, metadata: { team: "b" }, ifExists: "do_nothing",
});
out.plain = await client.threads.get(id);
out.withTtl = await client.threads.get(id, { include: ["ttl"] });
out.updated = await client.threads.update(id, { metadata: { extra: 1 } });
const minimal = await client.threads.update(id, { metadata: { m: true }, returnMinimal: true });
out.minimal = minimal ?? "undefined";
out.copy = await client.threads.copy(id);
out.search = await client.threads.search({
  metadata: { team: "a" }, sortBy: "thread_id", sortOrder: "asc", select: ["thread_id", "metadata"],
});
out.ids = await client.threads.search({ ids: [id], status: "idle" });
out.count = await client.threads.count({ metadata: { graph_id: "agent" } });
out.countIdle = await client.threads.count({ status: "idle" });
out.pruned = await client.threads.prune([out.copy.thread_id]);
out.deleted = (await client.threads.delete(id)) ?? "undefined";
out.missing = await failure(client.threads.get(id));
out.badId = await failure(client.threads.get("not-a-uuid"));
console.log(JSON.stringify(out));
"""


def test_js_threads_surface(run_node: RunNode, api_url: str, http: httpx.Client) -> None:
    thread_id = new_id()
    other = create_thread(http, metadata={"team": "a"})["thread_id"]
    out = json.loads(run_node(SURFACE, env={"API_URL": api_url, "THREAD_ID": thread_id}))
    created = out["created"]
    assert_thread_shape(created)
    assert created["thread_id"] == thread_id
    assert created["metadata"] == {"team": "a", "graph_id": "agent"}
    assert out["conflict"] == {
        "status": 409,
        "message": f'HTTP 409: {{"detail":"Thread with ID {thread_id} already exists"}}',
    }
    assert out["doNothing"] == created
    assert "ttl" not in out["plain"]
    # The JS SDK sends ?include=["ttl"] (a JSON array); the server accepts it.
    assert out["withTtl"]["ttl"]["ttl_minutes"] == 60
    assert out["withTtl"]["ttl"]["strategy"] == "delete"
    assert out["updated"]["metadata"] == {"team": "a", "graph_id": "agent", "extra": 1}
    assert out["minimal"] == "undefined"
    assert out["copy"]["thread_id"] not in (thread_id, other)
    assert out["copy"]["metadata"]["m"] is True
    expected = sorted([thread_id, other, out["copy"]["thread_id"]])
    assert [t["thread_id"] for t in out["search"]] == expected
    assert all(set(t) == {"thread_id", "metadata"} for t in out["search"])
    assert [t["thread_id"] for t in out["ids"]] == [thread_id]
    assert (out["count"], out["countIdle"]) == (2, 3)
    assert out["pruned"] == {"pruned_count": 1}
    assert out["deleted"] == "undefined"
    assert out["missing"] == {
        "status": 404,
        "message": f'HTTP 404: {{"detail":"Thread with ID {thread_id} not found"}}',
    }
    assert out["badId"]["status"] == 422
    assert "Invalid thread ID: must be a UUID" in out["badId"]["message"]
    assert http.post("/threads/count", json={}).json() == 1


# -- new Client() with no apiUrl talks to http://localhost:8123 ------------------------------

DEFAULT_URL = """
import { Client } from "@langchain/langgraph-sdk";

const seen = [];
if (process.env.INTERCEPT_TO) {
  // Port 8123 is taken: the SDK's fetch hook (used only when no apiUrl is given) records
  // the URL the SDK chose and forwards the request to the test server.
  globalThis[Symbol.for("langgraph_api:fetch")] = (url, init) => {
    seen.push(String(url));
    return fetch(String(url).replace("http://localhost:8123", process.env.INTERCEPT_TO), init);
  };
}
const client = new Client();
const thread = await client.threads.create({ metadata: { via: "default-url" } });
const found = await client.threads.search({ metadata: { via: "default-url" }, limit: 1 });
console.log(JSON.stringify({ apiUrl: client.threads.apiUrl, thread, found, seen }));
"""


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_js_client_default_url_is_localhost_8123(
    run_node: RunNode, api_url: str, redis_url: str, http: httpx.Client, tmp_path: Path
) -> None:
    if port_is_free(DEFAULT_PORT):
        # A second API process (same code and Redis as `api_url`) on the SDK's default port.
        with running_api(redis_url, tmp_path, port=DEFAULT_PORT):
            out = json.loads(run_node(DEFAULT_URL))
        assert out["seen"] == []
    else:
        out = json.loads(run_node(DEFAULT_URL, env={"INTERCEPT_TO": api_url}))
        assert out["seen"] == [
            "http://localhost:8123/threads",
            "http://localhost:8123/threads/search",
        ]
    assert out["apiUrl"] == "http://localhost:8123"
    assert [t["thread_id"] for t in out["found"]] == [out["thread"]["thread_id"]]
    # The thread landed in the test Redis, where the session's API sees it too.
    assert http.get(f"/threads/{out['thread']['thread_id']}").json()["metadata"] == {
        "via": "default-url"
    }


def test_js_default_url_interception_path(
    run_node: RunNode, api_url: str, http: httpx.Client
) -> None:
    """The fallback used when 8123 is taken, exercised always so that it cannot rot."""
    out = json.loads(run_node(DEFAULT_URL, env={"INTERCEPT_TO": api_url}))
    assert out["apiUrl"] == "http://localhost:8123"
    assert out["seen"][0] == "http://localhost:8123/threads"
    assert [t["thread_id"] for t in out["found"]] == [out["thread"]["thread_id"]]
