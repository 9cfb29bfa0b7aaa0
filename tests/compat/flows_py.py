"""The client flows, written once for the Python SDK's sync and async clients (a sync call's
answer is used as it is, an async one's awaited; see record.resolve), plus RemoteGraph, the
thread-centric protocol and the browsers' CORS preflights."""

from __future__ import annotations

import time
from typing import Any

import httpx
import orjson
from langgraph.pregel.remote import RemoteGraph
from langgraph.types import Command
from langgraph_sdk import get_client, get_sync_client

from tests.compat.normalise import jsonable, unordered
from tests.compat.record import Recorder, collect, resolve

ASSISTANT = "agent"
# What agent-chat-ui's useStream asks for: reading `messages` adds values and messages-tuple,
# onCustomEvent adds custom (reference §1.3 A, call 4).
CHAT_UI_STREAM = {
    "stream_mode": ["values", "messages-tuple", "custom"],
    "stream_subgraphs": True,
    "stream_resumable": True,
    "on_disconnect": "continue",
}
TIMEOUT = 30.0


def human(text: str) -> dict[str, Any]:
    return {"messages": [{"type": "human", "content": text}]}


def fork_point(history: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    """The checkpoint agent-chat-ui sends to edit the first message: the parent of the
    oldest state that holds it (useStream's `getMessagesMetadata(...).firstSeenState`)."""
    holding = [s for s in history or [] if len(s["values"].get("messages", [])) == 1]
    return holding[-1]["parent_checkpoint"] if holding else None


async def chat_ui(client: Any) -> dict[str, Any]:
    """agent-chat-ui's five calls over one conversation: ask, approve (HITL), edit."""
    rec = Recorder()
    await rec.step("info", lambda: resolve(client.http.get("/info")))
    sidebar = {"metadata": {"graph_id": ASSISTANT}, "limit": 100, "offset": 0}
    await rec.step("search", lambda: resolve(client.threads.search(**sidebar)))
    thread = await rec.step("create", lambda: resolve(client.threads.create(metadata={})))
    tid = rec.name("thread", (thread or {}).get("thread_id")) or "00000000-0000-0000-0000-0"

    async def turn(n: int, **body: Any) -> Any:
        stream = lambda: client.runs.stream(tid, ASSISTANT, **CHAT_UI_STREAM, **body)  # noqa: E731
        await rec.step(f"stream{n}", lambda: collect(stream()))
        history = lambda: client.threads.get_history(tid, limit=10)  # noqa: E731
        states = await rec.step(f"history{n}", lambda: resolve(history()))
        await rec.step(f"thread{n}", lambda: resolve(client.threads.get(tid)))
        return states

    await turn(1, input=human("Paris"))
    history = await turn(2, command={"resume": "yes"})
    await turn(3, input=human("Lyon"), checkpoint=fork_point(history))
    await rec.step("search_after", lambda: resolve(client.threads.search(**sidebar)))
    return rec.result()


async def join(client: Any) -> dict[str, Any]:
    """useStream's join: a resumable run, then join its stream from the start (`-1`)."""
    rec = Recorder()
    thread = await rec.step("create", lambda: resolve(client.threads.create()))
    tid = rec.name("thread", (thread or {}).get("thread_id")) or ""
    body = {"input": human("Paris"), "stream_resumable": True, "stream_mode": ["values"]}
    run = await rec.step("run", lambda: resolve(client.runs.create(tid, ASSISTANT, **body)))
    rid = rec.name("run", (run or {}).get("run_id")) or ""
    joined = lambda **kw: client.runs.join_stream(tid, rid, last_event_id="-1", **kw)  # noqa: E731
    await rec.step("join_minus_one", lambda: collect(joined()))
    # Wait for the run's end, so that the thread's status is its final one on both servers.
    await rec.step("wait", lambda: resolve(client.runs.join(tid, rid)))
    await rec.step("thread", lambda: resolve(client.threads.get(tid)))
    await rec.step("join_after_end", lambda: collect(joined(stream_mode=["values"])))
    return rec.result()


async def store(client: Any) -> dict[str, Any]:
    """The SDK's store methods, and the item the chat graph's `remember` node wrote."""
    rec = Recorder()
    ns = ["compat", "a"]
    await rec.step("put1", lambda: resolve(client.store.put_item(ns, "k1", {"v": 1})))
    await rec.step("put2", lambda: resolve(client.store.put_item(ns, "k2", {"v": 2}, ttl=60)))
    await rec.step("get", lambda: resolve(client.store.get_item(ns, "k1")))
    await rec.step("get_missing", lambda: resolve(client.store.get_item(ns, "nope")))
    search = client.store.search_items
    await rec.step("search_filter", lambda: resolve(search(["compat"], filter={"v": 1})))
    await rec.step("search_page", lambda: resolve(search(["compat"], limit=1, offset=1)))
    # The namespaces come in no defined order.
    listed = client.store.list_namespaces
    await rec.step("namespaces", lambda: sorted_namespaces(lambda: listed()))
    prefixed = lambda: listed(prefix=["compat"], max_depth=1)  # noqa: E731
    await rec.step("namespaces_prefix", lambda: sorted_namespaces(prefixed))
    memory = lambda: client.store.get_item(["memories"], "last_city")  # noqa: E731
    await rec.step("graph_memory", lambda: resolve(memory()))
    await rec.step("delete", lambda: resolve(client.store.delete_item(ns, "k1")))
    await rec.step("get_deleted", lambda: resolve(client.store.get_item(ns, "k1")))
    return rec.result()


async def sorted_namespaces(call: Any) -> dict[str, Any]:
    answer = await resolve(call())
    return {**answer, "namespaces": unordered(answer["namespaces"])}


async def assistants(client: Any) -> dict[str, Any]:
    """Create, read, patch (a new version), versions, set latest, search, count, delete."""
    rec = Recorder()
    body = {"config": {"tags": ["compat"]}, "metadata": {"team": "compat"}, "name": "compat"}
    made = await rec.step("create", lambda: resolve(client.assistants.create(ASSISTANT, **body)))
    aid = rec.name("assistant", (made or {}).get("assistant_id")) or ASSISTANT
    await rec.step("get", lambda: resolve(client.assistants.get(aid)))
    patch = {"metadata": {"team": "compat", "v": 2}}
    await rec.step("update", lambda: resolve(client.assistants.update(aid, **patch)))
    await rec.step("versions", lambda: resolve(client.assistants.get_versions(aid)))
    await rec.step("set_latest", lambda: resolve(client.assistants.set_latest(aid, 1)))
    mine = {"metadata": {"team": "compat"}}
    await rec.step("search", lambda: resolve(client.assistants.search(**mine)))
    await rec.step("search_all", lambda: resolve(client.assistants.search(limit=10)))
    await rec.step("count", lambda: resolve(client.assistants.count(graph_id=ASSISTANT)))
    await rec.step("graph", lambda: resolve(client.assistants.get_graph(aid)))
    await rec.step("schemas", lambda: resolve(client.assistants.get_schemas(aid)))
    await rec.step("delete", lambda: resolve(client.assistants.delete(aid)))
    await rec.step("get_deleted", lambda: resolve(client.assistants.get(aid)))
    return rec.result()


async def crons(client: Any) -> dict[str, Any]:
    """Stateless and per-thread crons: create, search, count, update, delete."""
    rec = Recorder()
    yearly = "0 0 1 1 *"  # never fires while the script runs
    body = {"schedule": yearly, "input": human("Paris")}
    cron = await rec.step("create", lambda: resolve(client.crons.create(ASSISTANT, **body)))
    cid = rec.name("cron", (cron or {}).get("cron_id")) or "00000000-0000-0000-0000-000000000000"
    thread = await rec.step("thread", lambda: resolve(client.threads.create()))
    tid = rec.name("thread", (thread or {}).get("thread_id")) or ""
    per_thread = lambda: client.crons.create_for_thread(tid, ASSISTANT, **body)  # noqa: E731
    made2 = await rec.step("create_for_thread", lambda: resolve(per_thread()))
    rec.name("thread_cron", (made2 or {}).get("cron_id"))
    # LangGraph's search and count take an assistant's UUID only, not a graph id (422).
    oldest_first = {"sort_by": "created_at", "sort_order": "asc"}
    await rec.step("search", lambda: resolve(client.crons.search(**oldest_first)))
    await rec.step("search_thread", lambda: resolve(client.crons.search(thread_id=tid)))
    await rec.step("count", lambda: resolve(client.crons.count()))
    change = {"schedule": "0 0 2 1 *", "enabled": False}
    await rec.step("update", lambda: resolve(client.crons.update(cid, **change)))
    await rec.step("delete", lambda: resolve(client.crons.delete(cid)))
    await rec.step("count_after", lambda: resolve(client.crons.count()))
    return rec.result()


async def chat_ui_sync(url: str) -> dict[str, Any]:
    with get_sync_client(url=url, timeout=TIMEOUT) as client:
        return await chat_ui(client)


async def chat_ui_async(url: str) -> dict[str, Any]:
    async with get_client(url=url, timeout=TIMEOUT) as client:
        return await chat_ui(client)


def sync_flow(flow: Any) -> Any:
    async def run(url: str) -> dict[str, Any]:
        with get_sync_client(url=url, timeout=TIMEOUT) as client:
            return await flow(client)

    return run


def async_flow(flow: Any) -> Any:
    async def run(url: str) -> dict[str, Any]:
        async with get_client(url=url, timeout=TIMEOUT) as client:
            return await flow(client)

    return run


# -- RemoteGraph -----------------------------------------------------------------------------


async def remote_graph(url: str) -> dict[str, Any]:
    """RemoteGraph's methods on one thread: invoke to the interrupt, resume by stream, read
    the state and its history, update it, draw the graph."""
    rec = Recorder()
    with get_sync_client(url=url, timeout=TIMEOUT) as sync_client:
        graph = RemoteGraph(ASSISTANT, sync_client=sync_client)
        tid = rec.name("thread", "6a2d8c1e-0000-4000-8000-000000000001") or ""
        config = {"configurable": {"thread_id": tid}}
        await rec.step("invoke", lambda: resolve(graph.invoke(human("Paris"), config)))
        await rec.step("get_state", lambda: resolve(graph.get_state(config)))
        resume = Command(resume="yes")
        resumed = lambda: list(graph.stream(resume, config, stream_mode="updates"))  # noqa: E731
        await rec.step("stream", lambda: resolve(resumed()))
        await rec.step("history", lambda: resolve(list(graph.get_state_history(config))))
        update = {"messages": [{"type": "ai", "content": "edited", "id": "m-edited"}]}
        await rec.step("update_state", lambda: resolve(graph.update_state(config, update)))
        await rec.step("state_after", lambda: resolve(graph.get_state(config)))
        await rec.step("get_graph", lambda: resolve(graph.get_graph().to_json()))
    return rec.result()


async def remote_graph_async(url: str) -> dict[str, Any]:
    rec = Recorder()
    async with get_client(url=url, timeout=TIMEOUT) as client:
        graph = RemoteGraph(ASSISTANT, client=client)
        tid = rec.name("thread", "6a2d8c1e-0000-4000-8000-000000000002") or ""
        config = {"configurable": {"thread_id": tid}}
        await rec.step("ainvoke", lambda: graph.ainvoke(human("Paris"), config))
        await rec.step("aget_state", lambda: graph.aget_state(config))

        async def resume() -> list[Any]:
            stream = graph.astream(Command(resume="yes"), config, stream_mode="values")
            return [part async for part in stream]

        await rec.step("astream", resume)
        await rec.step("ahistory", lambda: collect_async(graph.aget_state_history(config)))
    return rec.result()


async def collect_async(stream: Any) -> list[Any]:
    return [jsonable(part) async for part in stream]


# -- the thread-centric protocol ---------------------------------------------------------------


async def thread_centric(url: str) -> dict[str, Any]:
    """`client.threads.stream` over SSE and over WebSocket: run.start to the interrupt,
    input.respond, the output; and RemoteGraph.stream_events(version="v3")."""
    rec = Recorder()
    with get_sync_client(url=url, timeout=TIMEOUT) as client:
        for n, transport in enumerate(("sse", "websocket"), start=1):
            tid = rec.name(f"{transport}_thread", f"6a2d8c1e-0000-4000-8000-00000000001{n}")
            await thread_session(rec, client, url, tid or "", transport)
        graph = RemoteGraph(ASSISTANT, sync_client=client)
        other = rec.name("v3_thread", "6a2d8c1e-0000-4000-8000-000000000004") or ""
        config = {"configurable": {"thread_id": other}}

        def events_v3() -> dict[str, Any]:
            # run.output waits for the run's end, which an interrupted run never reaches;
            # its projections stop at the interrupt. What they held by then depends on the
            # SDK's pause race, so the events are read back from the thread instead.
            with graph.stream_events(human("Lyon"), config, version="v3") as run:
                for _ in run.values:
                    pass
                events = replayed_until_paused(url, other)
                return {"events": events, "paused": run.interrupted, "interrupts": run.interrupts}

        await rec.step("stream_events_v3", lambda: resolve(events_v3()))
    return rec.result()


async def thread_session(rec: Recorder, client: Any, url: str, tid: str, transport: str) -> None:
    """One thread's session: start, wait for the interrupt, answer it, read the output."""
    session = client.threads.stream(
        tid, assistant_id=ASSISTANT, run_start_timeout=20, transport=transport
    )

    async def enter() -> bool:
        return session.__enter__() is session

    if not await rec.step(f"{transport}_open", enter):
        return
    thread = session
    try:
        start = lambda: thread.run.start(input=human("Paris"))  # noqa: E731
        started = await rec.step(f"{transport}_run_start", lambda: resolve(start()))
        rec.name(f"{transport}_run", (started or {}).get("run_id"))
        interrupted = lambda: resolve(wait_interrupted(thread, url, tid))  # noqa: E731
        await rec.step(f"{transport}_interrupted", interrupted)
        await rec.step(f"{transport}_respond", lambda: resolve(thread.run.respond("yes")))
        await rec.step(f"{transport}_output", lambda: resolve(thread.output))
    finally:
        session.__exit__(None, None, None)


PAUSED = {"interrupted", "completed", "failed"}


def until_paused(events: Any, limit: int = 200) -> list[Any]:
    """Events up to the root's lifecycle event saying the run paused or ended."""
    seen = []
    for event in events:
        seen.append(jsonable(event))
        params = event.get("params", {}) if isinstance(event, dict) else {}
        ended = event.get("method") == "lifecycle" and params.get("data", {}).get("event") in PAUSED
        if (ended and not params.get("namespace")) or len(seen) >= limit:
            break
    return seen


def wait_interrupted(thread: Any, url: str, tid: str) -> dict[str, Any]:
    """The interrupts the SDK holds once its lifecycle watcher has seen the pause (it fills
    `thread.interrupts`), and the thread's lifecycle and input events up to the pause, read
    back from the thread: a subscription open meanwhile ends when the SDK pauses it, after
    as many events as the race between its two streams lets through."""
    deadline = time.monotonic() + 20
    while not thread.interrupts and time.monotonic() < deadline:
        time.sleep(0.05)
    events = replayed_until_paused(url, tid)
    return {"events": events, "interrupts": jsonable(thread.interrupts)}


def replayed_until_paused(url: str, tid: str) -> list[Any]:
    """The thread's lifecycle and input events from its first, up to the run's pause, read
    with the protocol's own stream (POST /threads/{id}/stream/events)."""
    body = {"channels": ["lifecycle", "input"]}
    with (
        httpx.Client(base_url=url, timeout=TIMEOUT) as http,
        http.stream("POST", f"/threads/{tid}/stream/events", json=body) as response,
    ):
        lines = (line[6:] for line in response.iter_lines() if line.startswith("data: "))
        return until_paused(orjson.loads(line) for line in lines)


# -- CORS and Private Network Access ------------------------------------------------------------

PREFLIGHTS = {
    "agent_chat_ui": {
        "Origin": "http://localhost:3000",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-api-key",
    },
    "studio_pna": {
        "Origin": "https://smith.langchain.com",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
        "Access-Control-Request-Private-Network": "true",
    },
}


def cors_view(response: httpx.Response) -> dict[str, Any]:
    headers = {k: v for k, v in response.headers.items() if k.startswith("access-control-")}
    return {"status": response.status_code, "headers": dict(sorted(headers.items()))}


async def cors(url: str) -> dict[str, Any]:
    """The preflights a browser sends before useStream's POSTs, and a simple GET."""
    rec = Recorder()
    with httpx.Client(base_url=url, timeout=TIMEOUT) as http:
        for name, headers in PREFLIGHTS.items():
            preflight = lambda h=headers: http.options("/threads/search", headers=h)  # noqa: E731
            await rec.step(name, lambda p=preflight: resolve(cors_view(p())))
        origin = {"Origin": "http://localhost:3000"}
        await rec.step("simple_get", lambda: resolve(cors_view(http.get("/info", headers=origin))))
    return rec.result()


FLOWS = {
    "chat_ui/py_sync": chat_ui_sync,
    "chat_ui/py_async": chat_ui_async,
    "join/py_sync": sync_flow(join),
    "join/py_async": async_flow(join),
    "cors": cors,
    "remote_graph/sync": remote_graph,
    "remote_graph/async": remote_graph_async,
    "store/py_sync": sync_flow(store),
    "store/py_async": async_flow(store),
    "assistants/py_sync": sync_flow(assistants),
    "assistants/py_async": async_flow(assistants),
    "crons/py_sync": sync_flow(crons),
    "crons/py_async": async_flow(crons),
    "thread_centric/py": thread_centric,
}
