"""Graphs for bench/bench_runs.py, served by threadwatch and by `langgraph dev` alike.

Each node writes ``time.time()`` into the state, so the benchmark can tell when the graph
ran from the thread's values alone, on any server: ``t`` when the node ran (noop), ``t0``
and ``t1`` when it started and ended (sleep, asleep).
"""

from __future__ import annotations

import asyncio
import time
from typing import NotRequired

from langgraph.graph import START, StateGraph
from typing_extensions import TypedDict


class NoopState(TypedDict):
    n: NotRequired[int]
    t: NotRequired[float]


class SleepState(TypedDict):
    seconds: float
    t0: NotRequired[float]
    t1: NotRequired[float]


def _noop(state: NoopState) -> dict:
    return {"n": 1, "t": time.time()}


def _sleep(state: SleepState) -> dict:
    t0 = time.time()
    time.sleep(state["seconds"])
    return {"t0": t0, "t1": time.time()}


async def _asleep(state: SleepState) -> dict:
    t0 = time.time()
    await asyncio.sleep(state["seconds"])
    return {"t0": t0, "t1": time.time()}


def _one_node(state: type, name: str, node: object) -> object:
    builder = StateGraph(state)
    builder.add_node(name, node)
    builder.add_edge(START, name)
    return builder.compile()


noop = _one_node(NoopState, "noop", _noop)  # one node returning {"n": 1} (and its time)
sleep = _one_node(SleepState, "sleep", _sleep)  # time.sleep(seconds) in a sync node
asleep = _one_node(SleepState, "sleep", _asleep)  # await asyncio.sleep(seconds)
