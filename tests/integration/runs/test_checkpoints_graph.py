"""A real LangGraph graph on RedisSaver and the real Redis: it stops at an interrupt() inside
a subgraph, another process resumes it with Command(resume=...), and a third saver reads the
final state and the history back."""

from __future__ import annotations

import asyncio
import json
import operator
import subprocess
import sys
import uuid
from typing import Annotated, Any, TypedDict

import pytest
import redis
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

from tests.support import REPO_ROOT, server_env
from threadwatch.store.checkpoints import RedisSaver
from threadwatch.store.keys import Keys

# Run by a fresh interpreter: resume the thread with the answer, print the output as JSON.
RESUME = """
import asyncio, json, sys
from langgraph.types import Command
from threadwatch.store.checkpoints import RedisSaver
from tests.integration.runs.test_checkpoints_graph import build_graph

async def resume_async(saver):
    try:
        return await build_graph(saver).ainvoke(Command(resume=answer), config)
    finally:
        await saver.aclose()

url, thread_id, answer, mode = sys.argv[1:]
saver, config = RedisSaver.from_url(url), {"configurable": {"thread_id": thread_id}}
if mode == "async":
    out = asyncio.run(resume_async(saver))
else:
    out = build_graph(saver).invoke(Command(resume=answer), config)
saver.close()
print(json.dumps(out))
"""


class Review(TypedDict):
    draft: str
    verdict: str


class State(TypedDict):
    topic: str
    draft: str
    verdict: str
    log: Annotated[list[str], operator.add]


def build_graph(saver: RedisSaver) -> Any:
    """draft -> review (a subgraph whose node interrupts for a verdict) -> publish."""

    def ask(state: Review) -> dict[str, Any]:
        return {"verdict": interrupt({"question": f"publish {state['draft']!r}?"})}

    review = StateGraph(Review)
    review.add_node(ask)
    review.add_edge(START, "ask")

    def draft(state: State) -> dict[str, Any]:
        return {"draft": f"about {state['topic']}", "log": ["draft"]}

    def publish(state: State) -> dict[str, Any]:
        return {"log": [f"publish:{state['verdict']}"]}

    builder = StateGraph(State)
    builder.add_node(draft)
    builder.add_node("review", review.compile())
    builder.add_node(publish)
    builder.add_edge(START, "draft")
    builder.add_edge("draft", "review")
    builder.add_edge("review", "publish")
    builder.add_edge("publish", END)
    return builder.compile(checkpointer=saver)


def resume_elsewhere(redis_url: str, thread_id: str, answer: str, mode: str) -> dict[str, Any]:
    """Resume the thread in a new process; what its invoke returned."""
    argv = [sys.executable, "-c", RESUME, redis_url, thread_id, answer, mode]
    env = server_env(redis_url)
    done = subprocess.run(argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def start(redis_url: str, thread_id: str, mode: str) -> dict[str, Any]:
    """Run the graph from its input to the interrupt with a saver of this process."""
    config = {"configurable": {"thread_id": thread_id}}
    saver = RedisSaver.from_url(redis_url)
    graph, first = build_graph(saver), {"topic": "redis", "log": []}

    async def run_async() -> dict[str, Any]:
        try:
            return await graph.ainvoke(first, config)
        finally:
            await saver.aclose()

    out = asyncio.run(run_async()) if mode == "async" else graph.invoke(first, config)
    saver.close()
    return out


@pytest.mark.parametrize(
    ("first", "then"), [("sync", "sync"), ("async", "async"), ("sync", "async")]
)
def test_another_process_resumes_the_interrupted_thread(
    redis_client: redis.Redis, redis_url: str, first: str, then: str
) -> None:
    thread_id = str(uuid.uuid4())
    out = start(redis_url, thread_id, first)
    assert [i.value for i in out["__interrupt__"]] == [{"question": "publish 'about redis'?"}]

    graph = build_graph(RedisSaver(redis_client))  # a second saver sees the paused thread
    config = {"configurable": {"thread_id": thread_id}}
    waiting = graph.get_state(config, subgraphs=True)
    assert waiting.next == ("review",)
    assert [i.value["question"] for i in waiting.tasks[0].interrupts] == ["publish 'about redis'?"]
    assert waiting.tasks[0].state.next == ("ask",)

    final = resume_elsewhere(redis_url, thread_id, "yes", then)
    expected = {"topic": "redis", "draft": "about redis", "verdict": "yes"}
    assert final == {**expected, "log": ["draft", "publish:yes"]}

    state = graph.get_state(config)
    assert (state.values, state.next, state.tasks) == (final, (), ())
    history = list(graph.get_state_history(config))
    assert [(s.metadata["source"], s.metadata["step"], s.next) for s in history] == [
        ("loop", 3, ()),
        ("loop", 2, ("publish",)),
        ("loop", 1, ("review",)),
        ("loop", 0, ("draft",)),
        ("input", -1, ("__start__",)),
    ]
    assert [s.values for s in history[-2:]] == [{"topic": "redis", "log": []}, {"log": []}]
    assert [s.parent_config for s in history[:-1]] == [s.config for s in history[1:]]


def test_the_thread_leaves_no_key_behind(redis_client: redis.Redis, redis_url: str) -> None:
    thread_id = str(uuid.uuid4())
    start(redis_url, thread_id, "sync")
    resume_elsewhere(redis_url, thread_id, "no", "sync")
    saver = RedisSaver(redis_client)
    namespaces = {t.config["configurable"]["checkpoint_ns"] for t in saver.list(None)}
    assert "" in namespaces and any(ns.startswith("review:") for ns in namespaces)
    saver.copy_thread(thread_id, "copy")
    saver.delete_thread(thread_id)
    left = {key.decode() for key in redis_client.scan_iter()}
    copy_keys = {key for key in left if key.startswith(Keys().checkpoint_registry("copy"))}
    assert left - copy_keys == {Keys().checkpoint_threads()}
    assert (
        build_graph(saver).get_state({"configurable": {"thread_id": "copy"}}).values["verdict"]
        == "no"
    )
    saver.delete_thread("copy")
    assert list(redis_client.scan_iter()) == []
