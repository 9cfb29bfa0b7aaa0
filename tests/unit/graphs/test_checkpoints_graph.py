"""Compiled LangGraph graphs on RedisSaver (fakeredis) behave as on InMemorySaver: the same
history, interrupts in subgraphs, Send fan-out, forks from a copied thread, and DeltaChannel
state that survives pruning."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

import fakeredis
import pytest
from langgraph.channels import DeltaChannel
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, Interrupt, Send, interrupt

from threadwatch.store.checkpoints import RedisSaver


class Review(TypedDict):
    draft: str
    verdict: str


class State(TypedDict):
    topic: str
    parts: Annotated[list[str], operator.add]
    draft: str
    verdict: str


def review_graph() -> Any:
    """A subgraph that asks a human for a verdict (its checkpoints get their own namespace)."""

    def ask(state: Review) -> dict[str, Any]:
        return {"verdict": interrupt({"review": state["draft"]})}

    builder = StateGraph(Review)
    builder.add_node(ask)
    builder.add_edge(START, "ask")
    return builder.compile()


def build(saver: BaseCheckpointSaver) -> Any:
    """topic -> Send one `write` per part -> join -> review (subgraph, interrupts) -> done."""

    def fan_out(state: State) -> list[Send]:
        return [Send("write", {"part": p}) for p in state["topic"].split()]

    def write(payload: dict[str, str]) -> dict[str, Any]:
        return {"parts": [payload["part"].upper()]}

    def join(state: State) -> dict[str, Any]:
        return {"draft": "-".join(sorted(state["parts"]))}

    builder = StateGraph(State)
    builder.add_node(write)
    builder.add_node(join)
    builder.add_node("review", review_graph())
    builder.add_conditional_edges(START, fan_out, ["write"])
    builder.add_edge("write", "join")
    builder.add_edge("join", "review")
    builder.add_edge("review", END)
    return builder.compile(checkpointer=saver)


def run_to_the_end(saver: BaseCheckpointSaver, thread_id: str) -> list[Any]:
    """Invoke to the interrupt, resume, and return what both calls returned."""
    graph, cfg = build(saver), {"configurable": {"thread_id": thread_id}}
    first = graph.invoke({"topic": "b a c", "parts": []}, cfg)
    second = graph.invoke(Command(resume="ok"), cfg)
    return [plain(first), plain(second)]


def plain(output: dict[str, Any]) -> dict[str, Any]:
    """A graph's output with interrupts reduced to their values (their ids are random)."""
    found = output.get("__interrupt__")
    return {**output, "__interrupt__": [i.value for i in found]} if found else output


def history(saver: BaseCheckpointSaver, thread_id: str) -> list[tuple]:
    """The thread's history with everything that differs between two runs (ids) left out."""
    graph, cfg = build(saver), {"configurable": {"thread_id": thread_id}}
    states = list(graph.get_state_history(cfg))
    return [
        (
            s.values,
            s.next,
            {k: v for k, v in s.metadata.items() if k != "parents"},
            [(t.name, [i.value for i in t.interrupts], t.result) for t in s.tasks],
        )
        for s in states
    ]


def writes(saver: BaseCheckpointSaver, thread_id: str) -> list[list[tuple[str, Any]]]:
    """The (channel, value) pending writes of every checkpoint of every namespace."""
    found = saver.list({"configurable": {"thread_id": thread_id}})
    by_ns = sorted(found, key=lambda t: t.config["configurable"]["checkpoint_ns"].split(":")[0])
    return [sorted((c, repr(without_ids(v))) for _, c, v in t.pending_writes or []) for t in by_ns]


def without_ids(value: Any) -> Any:
    """Interrupts (in a list or alone) as their values: their ids are random."""
    if isinstance(value, list):
        return [without_ids(v) for v in value]
    return ("interrupt", value.value) if isinstance(value, Interrupt) else value


@pytest.fixture
def saver(fake_redis: fakeredis.FakeRedis) -> RedisSaver:
    return RedisSaver(fake_redis)


def test_a_graph_runs_as_on_in_memory_saver(saver: RedisSaver) -> None:
    memory = InMemorySaver()
    outputs = run_to_the_end(saver, "t")
    assert outputs[1] == {
        "topic": "b a c",
        "parts": ["B", "A", "C"],  # in Send order
        "draft": "A-B-C",
        "verdict": "ok",
    }
    assert outputs[0]["__interrupt__"] == [{"review": "A-B-C"}]
    assert outputs == run_to_the_end(memory, "t")
    assert history(saver, "t") == history(memory, "t")
    assert writes(saver, "t") == writes(memory, "t")
    namespaces = {t.config["configurable"]["checkpoint_ns"].split(":")[0] for t in saver.list(None)}
    assert namespaces == {"", "review"}


def test_the_pending_interrupt_is_visible_while_waiting(saver: RedisSaver) -> None:
    graph, cfg = build(saver), {"configurable": {"thread_id": "t"}}
    graph.invoke({"topic": "x", "parts": []}, cfg)
    state = graph.get_state(cfg, subgraphs=True)
    assert state.next == ("review",)
    (task,) = state.tasks
    assert task.state.next == ("ask",)
    assert [i.value for i in task.state.tasks[0].interrupts] == [{"review": "X"}]


def test_a_copied_thread_resumes_on_its_own(saver: RedisSaver) -> None:
    graph = build(saver)
    graph.invoke({"topic": "x y", "parts": []}, {"configurable": {"thread_id": "src"}})
    saver.copy_thread("src", "dst")
    dst = {"configurable": {"thread_id": "dst"}}
    assert graph.invoke(Command(resume="from copy"), dst)["verdict"] == "from copy"
    src = graph.get_state({"configurable": {"thread_id": "src"}})
    assert src.next == ("review",)
    assert graph.invoke(Command(resume="from src"), src.config)["verdict"] == "from src"
    assert graph.get_state(dst).values["verdict"] == "from copy"


def test_time_travel_forks_from_an_old_checkpoint(saver: RedisSaver) -> None:
    run_to_the_end(saver, "t")
    graph, cfg = build(saver), {"configurable": {"thread_id": "t"}}
    joined = next(s for s in graph.get_state_history(cfg) if s.next == ("review",))
    forked = graph.update_state(joined.config, {"draft": "EDITED"})
    graph.invoke(None, forked)
    final = graph.invoke(Command(resume="again"), cfg)
    assert (final["draft"], final["verdict"]) == ("EDITED", "again")
    update = next(s for s in graph.get_state_history(cfg) if s.metadata["source"] == "update")
    assert update.parent_config == joined.config


def append(state: list[int] | None, batches: list[list[int]]) -> list[int]:
    return [*(state or []), *(x for batch in batches for x in batch)]


class Counter(TypedDict):
    items: Annotated[list[int], DeltaChannel(append, snapshot_frequency=4)]
    n: int


def counter_graph(saver: BaseCheckpointSaver) -> Any:
    def step(state: Counter) -> dict[str, Any]:
        return {"items": [state["n"]], "n": state["n"] + 1}

    builder = StateGraph(Counter)
    builder.add_node(step)
    builder.add_edge(START, "step")
    builder.add_conditional_edges("step", lambda s: END if s["n"] >= 10 else "step")
    return builder.compile(checkpointer=saver)


def test_prune_keeps_what_a_delta_channel_replays(saver: RedisSaver) -> None:
    graph, cfg = counter_graph(saver), {"configurable": {"thread_id": "d"}}
    graph.invoke({"items": [], "n": 0}, cfg)
    expected = {"items": list(range(10)), "n": 10}
    assert graph.get_state(cfg).values == expected
    saver.prune(["d"], strategy="keep_latest")
    kept = list(saver.list(cfg))
    assert 1 < len(kept) < 12  # the latest and its ancestors back to the last snapshot
    assert "items" in kept[-1].checkpoint["channel_values"]  # a snapshot ends the chain
    assert graph.get_state(cfg).values == expected
