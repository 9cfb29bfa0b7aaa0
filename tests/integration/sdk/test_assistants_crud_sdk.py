"""The Python SDK's assistant writes, sync and async, against the API and two workers on the
fixture project: create, get, update (a new version), get_versions, set_latest, search,
count, delete (with its threads); and runs on a created assistant, whose config reaches
the graph and whose id and version the run records."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import SyncLangGraphClient
from langgraph_sdk.errors import ConflictError, NotFoundError, UnprocessableEntityError

from tests.integration.run_stack import RunStack, wait_for

AGENT_ID = "fe096781-5601-53d2-b2f6-0d3403f7e9ca"


def test_the_sync_client_writes_assistants(sdk: SyncLangGraphClient) -> None:
    made = sdk.assistants.create(
        "factory",
        config={"configurable": {"suffix": "~"}},
        metadata={"team": "docs"},
        name="tilde",
        description="Adds a tilde.",
    )
    assistant_id = made["assistant_id"]
    assert made["version"] == 1 and made["context"] == {"suffix": "~"}
    assert sdk.assistants.get(assistant_id) == made
    with pytest.raises(ConflictError):
        sdk.assistants.create("factory", assistant_id=assistant_id)
    assert sdk.assistants.create("agent", assistant_id=assistant_id, if_exists="do_nothing") == made

    updated = sdk.assistants.update(assistant_id, metadata={"k": 1}, name="tilde 2")
    assert updated["version"] == 2 and updated["metadata"] == {"team": "docs", "k": 1}
    versions = sdk.assistants.get_versions(assistant_id)
    assert [v["version"] for v in versions] == [2, 1]
    back = sdk.assistants.set_latest(assistant_id, 1)
    assert (back["version"], back["name"]) == (1, "tilde")

    found = sdk.assistants.search(metadata={"team": "docs"})
    assert [a["assistant_id"] for a in found] == [assistant_id]
    assert sdk.assistants.count(graph_id="factory") == 2  # with the system assistant
    assert sdk.assistants.count(name="TILDE") == 1

    sdk.assistants.delete(assistant_id)
    with pytest.raises(NotFoundError):
        sdk.assistants.get(assistant_id)
    with pytest.raises(UnprocessableEntityError):
        sdk.assistants.update("not-a-uuid", name="x")


def test_a_run_takes_the_assistants_config_and_records_its_version(
    sdk: SyncLangGraphClient,
) -> None:
    made = sdk.assistants.create("factory", config={"configurable": {"suffix": "~"}})
    assistant_id = made["assistant_id"]
    assert sdk.runs.wait(None, assistant_id, input={"text": "hi"}) == {
        "text": "hi~",
        "suffix": "~",
    }
    sdk.assistants.update(assistant_id, config={"configurable": {"suffix": "+"}})
    thread_id = sdk.threads.create()["thread_id"]
    run = sdk.runs.create(thread_id, assistant_id, input={"text": "hi"}, metadata={"r": 1})
    assert run["assistant_id"] == assistant_id and run["kwargs"]["assistant_version"] == 2
    assert run["metadata"] == {"graph_id": "factory", "r": 1, "assistant_id": assistant_id}
    assert sdk.runs.join(thread_id, run["run_id"])["text"] == "hi+"
    # The run's own configurable wins over the assistant's.
    own = sdk.runs.wait(
        None, assistant_id, input={"text": "hi"}, config={"configurable": {"suffix": "!?"}}
    )
    assert own == {"text": "hi!?", "suffix": "!?"}
    assert sdk.threads.get(thread_id)["metadata"]["assistant_id"] == assistant_id
    sdk.assistants.delete(assistant_id, delete_threads=True)
    with pytest.raises(NotFoundError):
        sdk.threads.get(thread_id)


def test_the_system_assistant_runs_by_name_and_survives_a_delete(
    sdk: SyncLangGraphClient,
) -> None:
    assert sdk.assistants.get(AGENT_ID)["metadata"] == {"created_by": "system"}
    sdk.assistants.delete(AGENT_ID)
    run = sdk.runs.wait(None, "agent", input={"ask": False})
    assert run["count"] == 1
    assert sdk.assistants.get("agent")["version"] == 1


def test_the_async_client_writes_assistants(run_stack: RunStack) -> None:
    async def main() -> dict[str, Any]:
        async with get_client(url=run_stack.url) as sdk:
            assistant_id = str(uuid.uuid4())
            made = await sdk.assistants.create(
                "echo", assistant_id=assistant_id, metadata={"a": 1}, name="async"
            )
            got = await sdk.assistants.get(assistant_id)
            updated = await sdk.assistants.update(assistant_id, context={"c": 1})
            versions = await sdk.assistants.get_versions(assistant_id)
            latest = await sdk.assistants.set_latest(assistant_id, 1)
            found = await sdk.assistants.search(graph_id="echo", name="async")
            count = await sdk.assistants.count(metadata={"a": 1})
            output = await sdk.runs.wait(None, assistant_id, input={"x": 1})
            await sdk.assistants.delete(assistant_id)
            try:
                await sdk.assistants.get(assistant_id)
                gone = False
            except NotFoundError:
                gone = True
            return {
                "same": made == got,
                "updated": (updated["version"], updated["config"]),
                "versions": [v["version"] for v in versions],
                "latest": (latest["version"], latest["context"]),
                "found": [a["assistant_id"] for a in found] == [assistant_id],
                "count": count,
                "output": output["echo"],
                "gone": gone,
            }

    assert asyncio.run(main()) == {
        "same": True,
        "updated": (2, {"configurable": {"c": 1}}),
        "versions": [2, 1],
        "latest": (1, {}),
        "found": True,
        "count": 1,
        "output": {"x": 1},
        "gone": True,
    }


def test_deleting_an_assistant_interrupts_its_runs_in_flight(sdk: SyncLangGraphClient) -> None:
    assistant_id = sdk.assistants.create("agent", name="slow")["assistant_id"]
    thread_id = sdk.threads.create()["thread_id"]
    other = sdk.threads.create()["thread_id"]
    run = sdk.runs.create(thread_id, assistant_id, input={"sleep": 30, "ask": False})
    by_name = sdk.runs.create(other, "agent", input={"sleep": 1, "ask": False})
    wait_for(lambda: sdk.runs.get(thread_id, run["run_id"])["status"] == "running")
    sdk.assistants.delete(assistant_id)
    wait_for(lambda: sdk.runs.get(thread_id, run["run_id"])["status"] == "interrupted")
    assert sdk.threads.get(thread_id)["thread_id"] == thread_id  # kept: no delete_threads
    assert sdk.runs.join(other, by_name["run_id"])["count"] == 1  # another assistant's run
