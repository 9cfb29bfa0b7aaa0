"""One conversion of graph values to JSON, langgraph-api's: a run's values and the thread's
state read from the same checkpoint agree."""

from __future__ import annotations

import dataclasses
from collections import deque
from datetime import timedelta
from decimal import Decimal

from langgraph.types import Send
from pydantic import BaseModel

from threadwatch.graphs.serde import jsonable


class Model(BaseModel):
    name: str


@dataclasses.dataclass
class Point:
    x: int


class Opaque:
    pass


def test_values_convert_as_langgraph_api_converts_them() -> None:
    value = {
        "bytes": b"hi",
        "delay": timedelta(seconds=3),
        "opaque": Opaque(),
        "error": ValueError("x"),
        "model": Model(name="a"),
        "point": Point(1),
        "set": {1},
        "deque": deque([2]),
        "decimal": [Decimal("2"), Decimal("2.5")],
        "send": Send("node", {"a": 1}),
        "type": int,
        1: "non-string key",
    }
    assert jsonable(value) == {
        "bytes": "aGk=",
        "delay": 3.0,
        "opaque": None,
        "error": {"error": "ValueError", "message": "x"},
        "model": {"name": "a"},
        "point": {"x": 1},
        "set": [1],
        "deque": [2],
        "decimal": [2, 2.5],
        "send": {"node": "node", "args": {"a": 1}},
        "type": None,
        "1": "non-string key",
    }


def test_the_runner_and_the_state_api_share_it() -> None:
    from threadwatch.graphs import state
    from threadwatch.runs import runner

    assert runner.jsonable is jsonable
    assert state.jsonable is jsonable
