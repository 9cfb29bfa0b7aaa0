"""A run's options: stored as its `kwargs` JSON with every key, read back typed."""

from __future__ import annotations

import orjson
import pytest
from pydantic import ValidationError

from threadwatch.runs.options import RunOptions


def test_options_round_trip_through_the_stored_json() -> None:
    options = RunOptions(graph_id="agent", input={"x": 1}, stream_mode=["values"], webhook=None)
    stored = orjson.dumps(options.to_json())
    assert RunOptions.from_json(stored) == options
    assert set(orjson.loads(stored)) == set(RunOptions.model_fields)


def test_a_record_of_another_version_reads_with_defaults() -> None:
    options = RunOptions.from_json(b'{"graph_id": "agent", "started_at": "x", "new_key": 1}')
    assert options.graph_id == "agent"
    assert options.on_completion == "delete" and not options.temporary
    assert RunOptions.from_json(None) == RunOptions()


def test_only_a_temporary_run_deletes_its_thread() -> None:
    assert RunOptions(temporary=True).deletes_its_thread
    assert not RunOptions(temporary=True, on_completion="keep").deletes_its_thread
    assert not RunOptions().deletes_its_thread


def test_options_are_checked() -> None:
    with pytest.raises(ValidationError):
        RunOptions(on_completion="forever")  # type: ignore[arg-type]


def test_a_protocol_run_is_marked_in_its_config_as_langgraph_marks_it() -> None:
    assert RunOptions(config={"configurable": {"__event_streaming_v2": True}}).protocol
    assert not RunOptions(config={"configurable": {"thread_id": "t"}}).protocol
    assert not RunOptions().protocol
