"""A chat model's tokens stream as LangGraph's `messages-tuple` mode sends them, a node's
own writes as `custom` events, a run's LangChain events as `events`, and a subgraph's chunks
under its namespace (tests/fixtures/graphs/stream_project)."""

from __future__ import annotations

from typing import Any

import pytest
from langgraph_sdk.client import SyncLangGraphClient

from tests.support import FIXTURES

PROJECT = FIXTURES / "graphs" / "stream_project"
REPLY = "hello there friend"


@pytest.fixture(scope="module")
def run_stack_env() -> dict[str, str]:
    return {"THREADWATCH_GRAPHS_CONFIG": str(PROJECT / "langgraph.json")}


def chat(sdk: SyncLangGraphClient, stream_mode: str | list[str]) -> tuple[str, list[Any]]:
    """Stream a run of the chat graph on a new thread: (the thread, the parts)."""
    thread_id = sdk.threads.create()["thread_id"]
    hi = {"messages": [{"role": "user", "content": "hi"}]}
    return thread_id, list(sdk.runs.stream(thread_id, "chat", input=hi, stream_mode=stream_mode))


def test_tokens_stream_as_messages_and_node_writes_as_custom(sdk: SyncLangGraphClient) -> None:
    thread_id, parts = chat(sdk, ["messages-tuple", "custom"])
    events = [part.event for part in parts]
    assert events[:2] == ["metadata", "custom"] and set(events[2:]) == {"messages"}
    assert parts[1].data == {"progress": "calling the model"}
    tokens = [part.data for part in parts[2:]]
    assert "".join(message["content"] for message, _ in tokens) == REPLY
    assert len(tokens) > 1  # token by token, not the whole reply at once
    message, metadata = tokens[0]
    assert message["type"] == "AIMessageChunk"
    assert metadata["langgraph_node"] == "call_model"
    values = sdk.threads.get(thread_id)["values"]
    assert [m["content"] for m in values["messages"]] == ["hi", REPLY]


def test_subgraph_chunks_are_named_after_their_namespace(sdk: SyncLangGraphClient) -> None:
    """`stream_subgraphs`: a subgraph's chunks come as `<mode>|<namespace>`, as LangGraph
    sends them, and a join's `stream_mode` keeps them with their mode."""
    thread_id = sdk.threads.create()["thread_id"]
    parts = list(
        sdk.runs.stream(
            thread_id,
            "nested",
            input={"n": 0},
            stream_mode="updates",
            stream_subgraphs=True,
            stream_resumable=True,
        )
    )
    (metadata, inner, root_inner, root_add) = [(p.event, p.data) for p in parts]
    assert metadata[0] == "metadata"
    assert inner[0].startswith("updates|inner:") and inner[1] == {"add_one": {"n": 1}}
    assert root_inner == ("updates", {"inner": {"n": 1}})
    assert root_add == ("updates", {"add_one": {"n": 2}})
    run_id = metadata[1]["run_id"]
    assert sdk.runs.get(thread_id, run_id)["kwargs"]["subgraphs"] is True
    joined = list(sdk.runs.join_stream(thread_id, run_id, stream_mode="updates"))
    assert [p.event for p in joined] == [inner[0], "updates", "updates"]  # modes named: no metadata
    assert sdk.threads.get(thread_id)["values"] == {"n": 2}

    plain = list(sdk.runs.stream(thread_id, "nested", input={"n": 0}, stream_mode="updates"))
    assert [p.event for p in plain] == ["metadata", "updates", "updates"]


def test_the_events_mode_sends_langchains_events_beside_the_chunks(
    sdk: SyncLangGraphClient,
) -> None:
    """`events`: every LangChain event of the run (astream_events v2), as LangGraph's
    server sends them, beside the chunks of the other modes asked for."""
    thread_id, parts = chat(sdk, ["events", "values"])
    assert parts[0].event == "metadata"
    events = [part.data for part in parts if part.event == "events"]
    kinds = [event["event"] for event in events]
    assert kinds[0] == "on_chain_start" and events[0]["parent_ids"] == []  # the graph's
    assert "on_chat_model_start" in kinds and "on_chat_model_end" in kinds
    tokens = [e["data"]["chunk"]["content"] for e in events if e["event"] == "on_chat_model_stream"]
    assert "".join(tokens) == REPLY and len(tokens) > 1
    assert all({"run_id", "name", "tags", "metadata", "data"} <= set(e) for e in events)
    values = [part.data for part in parts if part.event == "values"]
    assert [m["content"] for m in values[-1]["messages"]] == ["hi", REPLY]
    assert sdk.threads.get(thread_id)["values"] == values[-1]


def test_the_messages_mode_sends_each_message_so_far(sdk: SyncLangGraphClient) -> None:
    """`messages` (without `-tuple`): a message's metadata once, then the whole message so
    far at each token (`messages/partial`), as LangGraph's server sends them."""
    _, parts = chat(sdk, "messages")
    events = [part.event for part in parts]
    assert events[:2] == ["metadata", "messages/metadata"]
    assert set(events[2:]) == {"messages/partial"} and len(events) > 3
    ((message_id, described),) = parts[1].data.items()
    assert described["metadata"]["langgraph_node"] == "call_model"
    so_far = [part.data[0] for part in parts[2:]]
    assert all(message["id"] == message_id and message["type"] == "ai" for message in so_far)
    contents = [message["content"] for message in so_far]
    assert contents[-1] == REPLY and all(REPLY.startswith(c) for c in contents)
    assert len(set(contents)) == len(contents)  # it grows token by token
