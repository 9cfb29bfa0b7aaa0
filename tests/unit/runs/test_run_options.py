"""A run's options: stored as its `kwargs` JSON with every key, read back typed."""

from __future__ import annotations

import orjson
import pytest
from pydantic import ValidationError

from threadwatch.errors import InvalidInputError
from threadwatch.runs.options import RunOptions, forked_config, latest_config


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


FORK_ID = "1f0c0000-0000-6000-8000-000000000001"


def test_a_fork_goes_to_the_configurable_as_langgraph_puts_it() -> None:
    config = {"tags": ["t"], "configurable": {"model": "m"}}
    forked = forked_config(config, FORK_ID, {"checkpoint_ns": "", "thread_id": "other"})
    assert forked == {
        "tags": ["t"],
        "configurable": {
            "model": "m",
            "checkpoint_id": FORK_ID,
            "checkpoint_ns": "",
            "thread_id": "other",  # the runner sets the run's own thread over it
        },
    }
    assert config == {"tags": ["t"], "configurable": {"model": "m"}}  # not changed in place
    # `checkpoint` comes after `checkpoint_id`, as on LangGraph's server.
    both = forked_config(None, FORK_ID, {"checkpoint_id": "from-checkpoint"})
    assert both["configurable"]["checkpoint_id"] == "from-checkpoint"
    assert forked_config(None, None, None) == {}
    assert forked_config({"configurable": {}}, None, None) == {"configurable": {}}


@pytest.mark.parametrize("bad", ["nope", "1f0c0000", "  "])
def test_a_checkpoint_id_must_be_a_uuid(bad: str) -> None:
    with pytest.raises(InvalidInputError, match="^Invalid checkpoint ID$"):
        forked_config(None, bad, None)


def test_the_state_a_run_left_is_read_without_its_fork_point() -> None:
    config = {
        "recursion_limit": 5,
        "configurable": {
            "thread_id": "t",
            "checkpoint_id": FORK_ID,
            "checkpoint_ns": "",
            "checkpoint_map": {},
        },
    }
    assert latest_config(config) == {"recursion_limit": 5, "configurable": {"thread_id": "t"}}
