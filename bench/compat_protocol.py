"""Runs the same thread-centric protocol flows against LangGraph's server and threadwatch
and prints where their normalised answers differ (ids, run ids, timestamps and message
ids replaced by placeholders in order of appearance).

Both servers must serve tests/fixtures/graphs/protocol_project, e.g. (from a copy of it:
``langgraph dev`` writes its state next to langgraph.json)::

    cp -r tests/fixtures/graphs/protocol_project /tmp/lg && cd /tmp/lg
    <langgraph venv>/bin/langgraph dev --no-browser --no-reload --port 8205
    threadwatch dev --config tests/fixtures/graphs/protocol_project --port 8341
    python -m bench.compat_protocol http://127.0.0.1:8205 http://127.0.0.1:8341

Differences that docs/guides/thread-protocol.md explains are listed as such; the exit
status is the number of the others."""

from __future__ import annotations

import difflib
import re
import sys
import time
import uuid
from typing import Any

import httpx
import orjson

HI = {"messages": [{"role": "user", "content": "hi"}]}
ALL = ["values", "updates", "checkpoints", "messages", "tools", "custom", "lifecycle", "input"]
ALL.append("tasks")
ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}")
ENTRY_ID = re.compile(r"^\d+-\d+(\.\d+)?$")
# (flow, line) pairs of differences the guide explains ("Where threadwatch differs").
EXPLAINED = {
    ("state.get", "unknown_command"),
    ("agent.getTree", "no_such_run"),
}


def command(client: httpx.Client, thread_id: str, method: str, **params: Any) -> Any:
    body = {"id": 1, "method": method, "params": params}
    response = client.post(f"/threads/{thread_id}/commands", json=body)
    return {"status": response.status_code, "body": response.json()}


def events(client: httpx.Client, thread_id: str, body: dict[str, Any], end: str) -> list[Any]:
    """One SSE connection's events, up to the root lifecycle event ``end``."""
    seen = []
    with client.stream("POST", f"/threads/{thread_id}/stream/events", json=body) as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                event = orjson.loads(line[6:])
                seen.append(event)
                params = event["params"]
                if event["method"] == "lifecycle" and not params["namespace"]:
                    if params["data"]["event"] == end:
                        return seen
    return seen


def wait_status(client: httpx.Client, thread_id: str, status: str) -> None:
    deadline = time.monotonic() + 30
    while client.get(f"/threads/{thread_id}").json().get("status") != status:
        if time.monotonic() > deadline:
            raise TimeoutError(f"thread {thread_id} never {status}")
        time.sleep(0.05)


def flows(url: str) -> dict[str, Any]:
    """Each flow's answers, raw."""
    out: dict[str, Any] = {}
    with httpx.Client(base_url=url, timeout=30) as client:
        thread_id = str(uuid.uuid4())
        out["run.start"] = command(
            client, thread_id, "run.start", assistant_id="agent", input={**HI, "review": True}
        )
        out["interrupted run"] = events(client, thread_id, {"channels": ALL}, "interrupted")
        wait_status(client, thread_id, "interrupted")
        out["since 2"] = events(
            client, thread_id, {"channels": ["lifecycle", "input"], "since": 2}, "interrupted"
        )
        asked = [e for e in out["interrupted run"] if e["method"] == "input.requested"]
        interrupt_id = asked[0]["params"]["data"]["interrupt_id"] if asked else "none"
        out["bad interrupt"] = command(
            client, thread_id, "input.respond", interrupt_id="nope", response=1
        )
        out["input.respond"] = command(
            client, thread_id, "input.respond", interrupt_id=interrupt_id, response=True
        )
        out["resumed run"] = events(
            client,
            thread_id,
            {"channels": ALL, "since": out["interrupted run"][-1]["seq"]},
            "completed",
        )
        out["state.get"] = command(client, thread_id, "state.get", namespace=[])
        out["agent.getTree"] = command(client, thread_id, "agent.getTree")
        out["unknown"] = command(client, thread_id, "input.inject")
        out["no assistant"] = command(client, thread_id, "run.start")
        bad = client.post(f"/threads/{thread_id}/stream/events", json={"channels": ["x"]})
        out["bad channel"] = {"status": bad.status_code, "body": bad.json()}
        malformed = client.post(f"/threads/{thread_id}/commands", json={"method": "x"})
        out["malformed"] = {"status": malformed.status_code, "body": malformed.json()}
    return out


def normalised(value: Any) -> list[str]:
    """JSON lines with ids and times replaced by placeholders, in order of appearance."""
    names: dict[str, str] = {}

    def placeholder(match: re.Match[str]) -> str:
        return names.setdefault(match.group(0), f"<id{len(names)}>")

    def walk(node: Any, key: str = "") -> Any:
        if isinstance(node, dict):
            return {k: walk(v, k) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        if key == "timestamp":
            return "<time>"
        if key in ("event_id", "id") and isinstance(node, str) and ENTRY_ID.match(node):
            return "<entry>"
        if isinstance(node, str):
            return ID.sub(placeholder, re.sub(r"lc_run--", "", node))
        return node

    text = orjson.dumps(walk(value), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    return text.decode().splitlines()


def main(langgraph_url: str, threadwatch_url: str) -> int:
    theirs, ours = flows(langgraph_url), flows(threadwatch_url)
    unexplained = 0
    for flow in theirs:
        diff = list(
            difflib.unified_diff(
                normalised(theirs[flow]), normalised(ours[flow]), "langgraph", "threadwatch", n=1
            )
        )
        if not diff:
            print(f"same: {flow}")
            continue
        explained = any(f == flow and any(s in line for line in diff) for f, s in EXPLAINED)
        print(f"{'explained' if explained else 'DIFFERENT'}: {flow}")
        print("\n".join(diff))
        unexplained += not explained
    print(f"{unexplained} unexplained difference(s)")
    return unexplained


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
