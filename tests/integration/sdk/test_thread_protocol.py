"""The thread-centric protocol with LangGraph's own clients: the Python SDK's
``client.threads.stream(...)`` over SSE and WebSocket, ``RemoteGraph.stream_events``
(v3), RemoteGraph's first protocol beside it, and raw commands and streams for what the
clients do not show (resuming by ``since`` after a dropped connection, the refusals). The
graphs are tests/fixtures/graphs/protocol_project."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from langgraph.pregel.remote import RemoteGraph
from langgraph.types import Command
from langgraph_sdk import get_client, get_sync_client
from websockets.sync.client import connect

from tests.integration.run_stack import RunStack, wait_for
from tests.support import FIXTURES

PROJECT = FIXTURES / "graphs" / "protocol_project"
REPLY = "hello there friend"
HI = {"messages": [{"role": "user", "content": "hi"}]}
ALL = ["values", "updates", "checkpoints", "messages", "tools", "custom", "lifecycle", "input"]
ALL.append("tasks")


@pytest.fixture(scope="module")
def run_stack_env() -> dict[str, str]:
    return {"THREADWATCH_GRAPHS_CONFIG": str(PROJECT / "langgraph.json")}


@pytest.fixture
def url(run_stack: RunStack) -> AsyncIterator[str]:
    yield run_stack.url
    run_stack.settle()


def root_end(event: dict[str, Any]) -> bool:
    params = event.get("params") or {}
    data = params.get("data") or {}
    return (
        event.get("method") == "lifecycle"
        and params.get("namespace") == []
        and data.get("event") in ("completed", "failed", "interrupted")
    )


async def until_end(events: AsyncIterator[dict[str, Any]]) -> list[dict[str, Any]]:
    seen = []
    async for event in events:
        if "method" in event:  # a WebSocket also delivers its subscribe reply
            seen.append(event)
            if root_end(event):
                return seen
    return seen


@pytest.mark.parametrize("transport", ["sse", "websocket"])
def test_sdk_streams_interrupts_and_resumes(url: str, transport: str) -> None:
    """values as they come, the interrupt as `thread.interrupted`, `run.respond` resumes
    the run, and `thread.output` is the thread's final state."""

    async def flow() -> tuple[list[Any], bool, list[Any], Any, str]:
        async with (
            get_client(url=url) as client,
            client.threads.stream(assistant_id="agent", transport=transport) as thread,
        ):
            await thread.run.start(input={**HI, "review": True})
            snapshots = [snapshot async for snapshot in thread.values]
            interrupted, interrupts = thread.interrupted, list(thread.interrupts)
            status = (await client.threads.get(thread.thread_id))["status"]
            await thread.run.respond(True)
            return snapshots, interrupted, interrupts, await thread.output, status

    snapshots, interrupted, interrupts, output, status = asyncio.run(flow())
    assert snapshots[-1]["review"] is True
    assert snapshots[-1]["messages"][-1]["content"][0]["text"] == REPLY
    assert interrupted and status == "interrupted"
    assert len(interrupts) == 1 and interrupts[0]["namespace"] == []
    assert output["approved"] is True
    assert [m["type"] for m in output["messages"]] == ["human", "ai"]


@pytest.mark.parametrize("transport", ["sse", "websocket"])
def test_every_channel_as_langgraph_sends_it(url: str, transport: str) -> None:
    async def flow() -> list[dict[str, Any]]:
        async with (
            get_client(url=url) as client,
            client.threads.stream(assistant_id="agent", transport=transport) as thread,
        ):
            await thread.run.start(input=HI)
            return await until_end(thread.events)

    events = asyncio.run(flow())
    methods = [event["method"] for event in events]
    assert methods[0] == "lifecycle" and events[0]["params"]["data"]["event"] == "running"
    assert events[-1]["params"]["data"] == {"event": "completed", "graph_name": "agent"}
    assert [event["seq"] for event in events] == list(range(1, len(events) + 1))
    assert len({event["event_id"] for event in events}) == len(events)
    messages = [e["params"]["data"] for e in events if e["method"] == "messages"]
    assert messages[0]["event"] == "message-start" and messages[-1]["event"] == "message-finish"
    deltas = [m["delta"]["text"] for m in messages if m["event"] == "content-block-delta"]
    assert "".join(deltas) == REPLY and len(deltas) > 1
    final = [e for e in events if e["method"] == "values"][-1]["params"]["data"]
    assert [m["type"] for m in final["messages"]] == ["human", "ai"]


def test_remote_graph_stream_events_v3(url: str) -> None:
    with get_sync_client(url=url) as sync_client:
        remote_graph_flow(RemoteGraph("agent", sync_client=sync_client))


def remote_graph_flow(remote: RemoteGraph) -> None:
    config = {"configurable": {"thread_id": str(uuid.uuid4())}}
    with remote.stream_events({**HI, "review": True}, config, version="v3") as run:
        snapshots = list(run.values)  # they stop at the interrupt
        interrupted, interrupts = run.interrupted, run.interrupts
    assert snapshots[-1]["review"] is True
    assert interrupted and len(interrupts) == 1
    with remote.stream_events(Command(resume=True), config, version="v3") as run:
        output = run.output
    assert output["approved"] is True
    assert output["messages"][-1]["content"][0]["text"] == REPLY


def test_remote_graph_invoke_stream_and_state(url: str) -> None:
    """RemoteGraph's first protocol (runs/stream and the thread's state routes), on a thread
    it creates: invoke to the interrupt, resume by stream, read the state and its history,
    update it, draw the graph."""
    with get_sync_client(url=url) as sync_client:
        remote = RemoteGraph("agent", sync_client=sync_client)
        config = {"configurable": {"thread_id": str(uuid.uuid4())}}
        values = remote.invoke({**HI, "review": True}, config)
        assert values["messages"][-1]["content"] == REPLY
        waiting = remote.get_state(config)
        assert waiting.next == ("review",)
        assert [i.value for i in waiting.interrupts] == [{"question": "Publish?"}]
        updates = list(remote.stream(Command(resume=True), config, stream_mode="updates"))
        assert updates == [{"review": {"approved": True}}]
        done = remote.get_state(config)
        assert done.next == () and done.values["approved"] is True
        history = list(remote.get_state_history(config))
        assert history[0].values == done.values and history[-1].next == ("__start__",)
        remote.update_state(config, {"approved": False})
        assert remote.get_state(config).values["approved"] is False
        assert {"talk", "review"} <= set(remote.get_graph().nodes)


def paused(event: dict[str, Any]) -> bool:
    return root_end(event) and event["params"]["data"]["event"] == "interrupted"


def post_command(client: httpx.Client, thread_id: str, method: str, **params: Any) -> Any:
    body = {"id": 1, "method": method, "params": params}
    response = client.post(f"/threads/{thread_id}/commands", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def read_events(
    client: httpx.Client, thread_id: str, body: dict[str, Any], stop: Any
) -> list[dict[str, Any]]:
    """The events of one SSE connection, up to the first that ``stop`` accepts; the
    connection is then dropped."""
    events = []
    with client.stream("POST", f"/threads/{thread_id}/stream/events", json=body) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(orjson.loads(line[6:]))
                if stop(events[-1]):
                    return events
    return events


def test_a_dropped_connection_resumes_by_since(url: str) -> None:
    """A client drops its stream mid-run, the run goes on to its interrupt; the client
    comes back with `since` and gets exactly what it missed, then the resumed run."""
    thread_id = str(uuid.uuid4())
    with httpx.Client(base_url=url, timeout=30) as client:
        started = post_command(client, thread_id, "run.start", assistant_id="agent", input=HI)
        assert started["type"] == "success" and started["result"]["run_id"]
        wait_for(lambda: client.get(f"/threads/{thread_id}").json()["status"] == "idle")
        run = post_command(
            client, thread_id, "run.start", assistant_id="agent", input={**HI, "review": True}
        )
        assert run["type"] == "success"
        first = read_events(client, thread_id, {"channels": ALL}, lambda e: e["seq"] == 3)
        wait_for(lambda: client.get(f"/threads/{thread_id}").json()["status"] == "interrupted")
        everything = read_events(client, thread_id, {"channels": ALL}, paused)
        rest = read_events(client, thread_id, {"channels": ALL, "since": 3}, paused)
        assert first == everything[:3]
        assert rest == everything[3:]
        asked = [e for e in rest if e["method"] == "input.requested"]
        assert len(asked) == 1 and asked[0]["params"]["data"]["payload"] == {"question": "Publish?"}
        assert rest[-1]["params"]["data"]["event"] == "interrupted"
        interrupt_id = asked[0]["params"]["data"]["interrupt_id"]
        answer = post_command(
            client, thread_id, "input.respond", interrupt_id=interrupt_id, response=True
        )
        assert answer == {
            "type": "success",
            "id": 1,
            "result": {},
            "meta": {"applied_through_seq": 0},
        }
        since = rest[-1]["seq"]
        lifecycle = read_events(
            client, thread_id, {"channels": ["lifecycle"], "since": since}, root_end
        )
        assert [e["params"]["data"]["event"] for e in lifecycle] == ["running", "completed"]
        assert client.get(f"/threads/{thread_id}").json()["values"]["approved"] is True


def test_subgraph_namespaces_and_the_agent_tree(url: str) -> None:
    thread_id = str(uuid.uuid4())
    with httpx.Client(base_url=url, timeout=30) as client:
        before = post_command(client, thread_id, "agent.getTree")
        assert before["error"] == "no_such_run"
        post_command(client, thread_id, "run.start", assistant_id="nested", input={"n": 0})
        events = read_events(client, thread_id, {"channels": ["lifecycle", "values"]}, root_end)
        inner = [e for e in events if e["params"]["namespace"]]
        assert {e["method"] for e in inner} >= {"lifecycle"}
        namespace = inner[0]["params"]["namespace"]
        assert namespace[0].startswith("inner:")
        tree = post_command(client, thread_id, "agent.getTree")["result"]["tree"]
        assert (tree["namespace"], tree["status"], tree["graph_name"]) == (
            [],
            "completed",
            "nested",
        )
        assert [child["namespace"] for child in tree["children"]] == [namespace]
        scoped = read_events(
            client,
            thread_id,
            {"channels": ["lifecycle"], "namespaces": [["inner"]], "depth": 0},
            lambda e: e["params"]["data"]["event"] == "completed",
        )
        assert {tuple(e["params"]["namespace"]) for e in scoped} == {tuple(namespace)}


def test_state_get_and_refusals_with_langgraphs_codes(url: str) -> None:
    thread_id = str(uuid.uuid4())
    with httpx.Client(base_url=url, timeout=30) as client:
        post_command(client, thread_id, "run.start", assistant_id="agent", input=HI)
        wait_for(lambda: client.get(f"/threads/{thread_id}").json()["status"] == "idle")
        state = post_command(client, thread_id, "state.get", namespace=[], keys=["messages"])
        assert list(state["result"]["values"]) == ["messages"]
        assert state["result"]["checkpoint"]["id"]
        assert post_command(client, thread_id, "run.start")["error"] == "invalid_argument"
        huge = {f"k{i}": i for i in range(1001)}
        refused = post_command(client, thread_id, "run.start", assistant_id="agent", metadata=huge)
        assert refused["error"] == "invalid_argument"
        assert refused["message"].startswith("metadata: ")
        unknown = post_command(client, thread_id, "input.inject")
        assert unknown == {
            "type": "error",
            "id": 1,
            "error": "unknown_command",
            "message": "Unknown protocol command: input.inject",
        }
        stale = post_command(client, thread_id, "input.respond", interrupt_id="x", response=1)
        assert stale["error"] == "no_such_interrupt"
        malformed = client.post(f"/threads/{thread_id}/commands", json={"method": "run.start"})
        assert malformed.status_code == 400 and malformed.json()["error"] == "invalid_argument"
        bad = client.post(f"/threads/{thread_id}/stream/events", json={"channels": ["debug"]})
        assert bad.status_code == 400
        assert bad.json()["detail"].startswith("channels contains unsupported entries: debug.")
        runs = client.get(f"/threads/{thread_id}/runs").json()
        assert len(runs) == 1  # the refused commands started nothing


def test_a_failed_run_ends_its_lifecycle_with_the_error(url: str) -> None:
    async def flow() -> str:
        async with (
            get_client(url=url) as client,
            client.threads.stream(assistant_id="broken") as thread,
        ):
            await thread.run.start(input={"n": 0})
            with pytest.raises(RuntimeError) as failed:
                await thread.output
            return str(failed.value)

    assert asyncio.run(flow()) == "Run errored: boom"


class Socket:
    """A raw protocol WebSocket: commands out, replies and events in, in order."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.next_id = 0

    def send(self, method: str, **params: Any) -> int:
        self.next_id += 1
        command = {"id": self.next_id, "method": method, "params": params}
        self.connection.send(orjson.dumps(command).decode())
        return self.next_id

    def until(self, stop: Any) -> list[dict[str, Any]]:
        seen = []
        while True:
            seen.append(orjson.loads(self.connection.recv(timeout=30)))
            if stop(seen[-1]):
                return seen

    def call(self, method: str, **params: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """A command's reply, and the events that came before it."""
        command_id = self.send(method, **params)
        *events, reply = self.until(lambda m: m.get("id") == command_id and "type" in m)
        return reply, events


def test_a_websocket_takes_commands_and_replays_subscriptions(url: str) -> None:
    thread_id = str(uuid.uuid4())
    ws_url = url.replace("http://", "ws://") + f"/threads/{thread_id}/stream/events"
    with connect(ws_url) as connection:
        socket = Socket(connection)
        connection.send("{not json")
        assert socket.until(lambda m: True) == [
            {
                "type": "error",
                "id": None,
                "error": "invalid_argument",
                "message": "Protocol commands must be valid JSON.",
            }
        ]
        reply, _ = socket.call("subscription.subscribe", channels=["lifecycle", "input"])
        subscription_id = reply["result"]["subscription_id"]
        assert reply["result"]["replayed_events"] == 0
        reply, _ = socket.call("run.start", assistant_id="agent", input={**HI, "review": True})
        assert reply["type"] == "success" and reply["result"]["run_id"]
        events = socket.until(paused)
        assert [e["method"] for e in events] == ["lifecycle", "input.requested", "lifecycle"]
        paused_at = events[-1]["seq"]
        interrupt_id = events[1]["params"]["data"]["interrupt_id"]
        reply, _ = socket.call("input.respond", interrupt_id=interrupt_id, response=True)
        assert reply["type"] == "success"
        ends = socket.until(root_end)
        assert [e["params"]["data"]["event"] for e in ends if "method" in e] == [
            "running",
            "completed",
        ]
        reply, _ = socket.call("subscription.unsubscribe", subscription_id=subscription_id)
        assert reply["result"] == {}
        reply, _ = socket.call("subscription.unsubscribe", subscription_id=subscription_id)
        assert reply["error"] == "no_such_subscription"
    with connect(ws_url) as connection:
        socket = Socket(connection)
        reply, replayed = socket.call(
            "subscription.reconnect", channels=["lifecycle"], since=paused_at
        )
        assert reply["result"]["replayed_events"] == len(replayed) == 2
        assert [e["params"]["data"]["event"] for e in replayed] == ["running", "completed"]
        assert all(e["seq"] > paused_at for e in replayed)
