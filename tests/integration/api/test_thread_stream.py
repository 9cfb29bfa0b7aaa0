"""A thread's event stream through the real SDKs (`threads.join_stream` / `joinStream`):
each run's start, chunks and end as they come, in the modes asked for (run_modes,
lifecycle, state_update), resumable after a Last-Event-ID; runs that external runtimes
report show too; 404 for an unknown thread, 422 for an unknown mode."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import SyncLangGraphClient
from langgraph_sdk.errors import NotFoundError

from tests.integration.run_stack import GREETING, KEYS, RunStack, wait_for
from threadwatch.store.threads import ThreadStore

Part = tuple[str, Any, str | None]  # (event, data, id)


def run_done(part: Part) -> bool:
    return part[0] == "metadata" and part[1].get("status") == "run_done"


class Watcher:
    """``threads.join_stream`` read on a thread of its own until ``until`` holds for a part
    it got (or ``count`` parts); started once the server watches the thread."""

    def __init__(
        self,
        sdk: SyncLangGraphClient,
        run_stack: RunStack,
        thread_id: str,
        until: Callable[[Part], bool] = run_done,
        **options: Any,
    ) -> None:
        self.parts: list[Part] = []
        self._reader = threading.Thread(
            target=self._read, args=(sdk, thread_id, until, options), daemon=True
        )
        self._reader.start()
        thread = KEYS.thread(thread_id)
        wait_for(lambda: run_stack.redis.hexists(thread, "watch") or None)

    def _read(
        self,
        sdk: SyncLangGraphClient,
        thread_id: str,
        until: Callable[[Part], bool],
        options: dict[str, Any],
    ) -> None:
        for part in sdk.threads.join_stream(thread_id, **options):
            self.parts.append((part.event, part.data, part.id))
            if until(self.parts[-1]):
                return

    def result(self, timeout: float = 15.0) -> list[Part]:
        self._reader.join(timeout)
        assert not self._reader.is_alive(), f"the stream did not end: {self.parts}"
        return self.parts


@pytest.fixture
def thread_id(sdk: SyncLangGraphClient) -> Iterator[str]:
    yield sdk.threads.create()["thread_id"]


def test_join_stream_sends_each_runs_start_chunks_and_end(
    sdk: SyncLangGraphClient, run_stack: RunStack, thread_id: str
) -> None:
    watcher = Watcher(sdk, run_stack, thread_id)
    run = sdk.runs.create(thread_id, "agent", input={"ask": False})  # not a streamed run
    got = watcher.result()
    final = {"ask": False, "count": 1, "greeting": GREETING}
    assert [(event, data) for event, data, _ in got] == [
        ("metadata", {"run_id": run["run_id"], "attempt": 1}),
        ("values", {"ask": False}),
        ("values", final),
        ("metadata", {"status": "run_done", "run_id": run["run_id"]}),
    ]
    assert all(part_id for _, _, part_id in got)  # entry ids: a client can resume after any

    # Back after the first event: the events it missed, then the stream goes on.
    resumed = Watcher(sdk, run_stack, thread_id, last_event_id=got[0][2]).result()
    assert resumed == got[1:]


def test_lifecycle_sends_starts_and_ends_and_a_failure_ends_with_its_error(
    sdk: SyncLangGraphClient, run_stack: RunStack, thread_id: str
) -> None:
    everything = Watcher(sdk, run_stack, thread_id, stream_mode=["run_modes", "lifecycle"])
    run = sdk.runs.create(thread_id, "agent", input={"fail": True})
    got = everything.result()
    assert got[0][:2] == ("metadata", {"run_id": run["run_id"], "attempt": 1})
    assert got[-2][:2] == ("error", {"error": "ValueError", "message": "step failed on purpose"})
    assert run_done(got[-1])
    # The same events, replayed from the start ("-"), in lifecycle mode: starts and ends.
    lifecycle = Watcher(sdk, run_stack, thread_id, stream_mode="lifecycle", last_event_id="-")
    assert [(event, data) for event, data, _ in lifecycle.result()] == [
        ("metadata", {"run_id": run["run_id"], "attempt": 1}),
        ("metadata", {"status": "run_done", "run_id": run["run_id"]}),
    ]


def test_state_updates_stream_as_state_update(
    sdk: SyncLangGraphClient, run_stack: RunStack, thread_id: str
) -> None:
    sdk.runs.wait(thread_id, "agent", input={"ask": False})  # the thread gets its graph
    watcher = Watcher(
        sdk,
        run_stack,
        thread_id,
        until=lambda part: part[0] == "state_update",
        stream_mode=["state_update"],
    )
    sdk.threads.update_state(thread_id, {"count": 5})
    ((event, data, _),) = watcher.result()
    assert event == "state_update" and data["thread_id"] == thread_id
    assert data["state"]["values"]["count"] == 5
    assert data["state"]["checkpoint"]["thread_id"] == thread_id


def test_runs_reported_by_an_external_runtime_show_in_the_stream(
    sdk: SyncLangGraphClient, run_stack: RunStack, thread_id: str
) -> None:
    watcher = Watcher(sdk, run_stack, thread_id, stream_mode="lifecycle")
    run_id = str(uuid.uuid4())
    events = [
        {"thread_id": thread_id, "run_id": run_id, "type": "run.started"},
        {"thread_id": thread_id, "run_id": run_id, "type": "run.succeeded"},
    ]
    response = httpx.post(f"{run_stack.url}/runs/events", json={"events": events})
    assert response.status_code == 200
    assert [(event, data) for event, data, _ in watcher.result()] == [
        ("metadata", {"run_id": run_id, "attempt": 1}),
        ("metadata", {"status": "run_done", "run_id": run_id}),
    ]


def test_an_unknown_thread_is_a_404_and_an_unknown_mode_a_422(
    sdk: SyncLangGraphClient, run_stack: RunStack, thread_id: str
) -> None:
    with pytest.raises(NotFoundError):
        list(sdk.threads.join_stream(str(uuid.uuid4())))
    response = httpx.get(
        f"{run_stack.url}/threads/{thread_id}/stream", params={"stream_modes": "everything"}
    )
    assert response.status_code == 422
    assert response.json() == {"detail": "Invalid stream mode: everything"}


JS_JOIN = """
import { Client } from "@langchain/langgraph-sdk";
const client = new Client({ apiUrl: process.env.API_URL });
const events = [];
// The stream stays open: leave it (and its connection) once the run is done.
const leave = new AbortController();
for await (const chunk of client.threads.joinStream(process.env.THREAD_ID, {
  lastEventId: "-",
  streamMode: ["lifecycle"],
  signal: leave.signal,
})) {
  events.push([chunk.event, chunk.data]);
  if (chunk.data.status === "run_done") break;
}
leave.abort();
console.log(JSON.stringify(events));
"""


def test_the_js_sdk_replays_a_threads_lifecycle(
    run_node: Callable[..., str], sdk: SyncLangGraphClient, run_stack: RunStack, thread_id: str
) -> None:
    """Events recorded while another client watched, replayed from the start ("-")."""
    ThreadStore(run_stack.redis, KEYS).watch(thread_id, 60)
    run = sdk.runs.wait(thread_id, "agent", input={"ask": False}, raise_error=False)
    assert run["count"] == 1
    env = {"API_URL": run_stack.url, "THREAD_ID": thread_id}
    got = orjson.loads(run_node(JS_JOIN, env=env))
    assert [event for event, _ in got] == ["metadata", "metadata"]
    assert got[0][1]["attempt"] == 1 and got[1][1]["status"] == "run_done"


def test_a_quiet_stream_gets_heartbeats(run_stack: RunStack, thread_id: str) -> None:
    """Every 5 s without an event, a comment line keeps proxies (and the JS SDK's idle
    check) from closing the stream."""
    url = f"{run_stack.url}/threads/{thread_id}/stream"
    with httpx.stream("GET", url, timeout=30) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        first = next(response.iter_lines())
    assert first == ": heartbeat"


def test_the_async_sdk_joins_a_thread_stream(run_stack: RunStack) -> None:
    """`get_client` (async): one run's lifecycle, then the client leaves."""

    async def watch_a_run() -> list[tuple[str, Any]]:
        client = get_client(url=run_stack.url)
        thread_id = (await client.threads.create())["thread_id"]
        got: list[tuple[str, Any]] = []

        async def read() -> None:
            # The async client's join_stream is a coroutine that gives the stream.
            stream = await client.threads.join_stream(thread_id, stream_mode="lifecycle")
            async for part in stream:
                got.append((part.event, part.data))
                if part.data.get("status") == "run_done":
                    return

        reader = asyncio.create_task(read())
        thread, deadline = KEYS.thread(thread_id), time.monotonic() + 10
        while not await asyncio.to_thread(run_stack.redis.hexists, thread, "watch"):
            assert time.monotonic() < deadline and not reader.done(), reader
            await asyncio.sleep(0.02)
        run = await client.runs.create(thread_id, "agent", input={"ask": False})
        await asyncio.wait_for(reader, timeout=15)
        await client.aclose()
        assert got[0] == ("metadata", {"run_id": run["run_id"], "attempt": 1})
        return got

    got = asyncio.run(watch_a_run())
    assert [event for event, _ in got] == ["metadata", "metadata"]
    assert got[1][1]["status"] == "run_done"
