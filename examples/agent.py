"""The README walkthrough's graph: `write` drafts a post (sleeping first if asked, to keep the
thread busy), `review` asks a human to approve it through `interrupt()` when asked to."""

from __future__ import annotations

import time
from typing import NotRequired

from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from typing_extensions import TypedDict


class State(TypedDict):
    topic: str
    review: NotRequired[bool]
    sleep: NotRequired[float]
    draft: NotRequired[str]
    approved: NotRequired[bool]


def write(state: State) -> dict:
    time.sleep(state.get("sleep", 0))
    return {"draft": f"A short post about {state['topic']}."}


def review(state: State) -> dict:
    if not state.get("review"):
        return {}
    answer = interrupt({"question": "Publish this draft?", "draft": state["draft"]})
    return {"approved": bool(answer)}


builder = StateGraph(State)
builder.add_node("write", write)
builder.add_node("review", review)
builder.add_edge(START, "write")
builder.add_edge("write", "review")
builder.add_edge("review", END)
graph = builder.compile()
