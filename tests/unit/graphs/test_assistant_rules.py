"""LangGraph's assistant rules (app/graphs/assistants.py) over the store on fakeredis: the
system assistants, create/patch/set latest/versions/delete with their merges and texts,
search and count scoped to loaded graphs, and what a run takes from its assistant."""

from __future__ import annotations

from typing import Any

import pytest
from fakeredis import FakeRedis

from tests.unit.helpers import KEYS
from threadwatch.domain import system_assistant_id
from threadwatch.errors import (
    AssistantExists,
    BadRequestError,
    InvalidAssistant,
    InvalidInputError,
    NoSuchAssistant,
    NotFoundError,
)
from threadwatch.graphs import GraphNotFound, GraphRegistry, LoadedGraph
from threadwatch.graphs.assistants import AssistantQuery, Assistants
from threadwatch.graphs.run_settings import run_settings
from threadwatch.store.assistants import AssistantStore
from threadwatch.store.scripts import Scripts

AID = "11111111-1111-1111-1111-111111111111"


def graph(graph_id: str, name: str | None = None, description: str | None = None) -> LoadedGraph:
    return LoadedGraph(graph_id, "callable", "-", lambda x, c: x, name or graph_id, description)


def registry(*graphs: LoadedGraph) -> GraphRegistry:
    return GraphRegistry({g.graph_id: g for g in graphs})


@pytest.fixture
def store(fake_redis: FakeRedis) -> AssistantStore:
    return AssistantStore(fake_redis, KEYS, Scripts(fake_redis))


@pytest.fixture
def assistants(store: AssistantStore) -> Assistants:
    rules = Assistants(store, registry(graph("a"), graph("b")))
    rules.register_system()
    return rules


def ids(found: list[dict[str, Any]]) -> list[str]:
    return [a["assistant_id"] for a in found]


# -- system assistants --------------------------------------------------------------------


def test_system_assistants_are_registered_once_in_config_order(
    assistants: Assistants, store: AssistantStore
) -> None:
    a, b = system_assistant_id("a"), system_assistant_id("b")
    first = assistants.get(a)
    assert first["metadata"] == {"created_by": "system"} and first["version"] == 1
    assistants.register_system()  # a second start changes nothing
    assert assistants.get(a) == first
    assert ids(assistants.search(AssistantQuery())[0]) == [b, a]  # newest first


def test_a_renamed_graph_patches_its_system_assistant(store: AssistantStore) -> None:
    Assistants(store, registry(graph("a"))).register_system()
    renamed = Assistants(store, registry(graph("a", "bot", "Says hi.")))
    renamed.register_system()
    renamed.register_system()  # a second process starting: no second version
    got = renamed.get("a")
    assert (got["name"], got["description"], got["version"]) == ("bot", "Says hi.", 2)


def test_a_system_assistant_stays(assistants: Assistants, fake_redis: FakeRedis) -> None:
    """Deleted, or flushed away with the rest, it is made again at version 1 when asked for:
    runs by graph name keep working (LangGraph's server only makes it again at its next
    start)."""
    system = system_assistant_id("a")
    assistants.patch(system, metadata={"k": 1})
    assistants.delete(system)
    again, _ = assistants.for_run("a")
    assert (again.version, again.assistant["metadata"]) == (1, {"created_by": "system"})
    fake_redis.flushdb()
    assert assistants.get(system)["graph_id"] == "a"
    fake_redis.flushdb()
    assert assistants.count(AssistantQuery()) == 2
    fake_redis.flushdb()
    assert assistants.patch(system, name="x")["version"] == 2
    fake_redis.flushdb()
    assert [v["version"] for v in assistants.versions(system, None, 10, 0)] == [1]
    fake_redis.flushdb()
    assert assistants.require_existing(system.upper()) == system


# -- create ---------------------------------------------------------------------------------


def test_create_defaults_and_syncs_context_with_configurable(assistants: Assistants) -> None:
    made = assistants.create("a", context={"k": 1})
    assert made["name"] == "Untitled" and made["metadata"] == {}
    assert made["config"] == {"configurable": {"k": 1}} and made["context"] == {"k": 1}
    other = assistants.create("a", config={"configurable": {"m": 2}, "tags": ["t"]})
    assert other["context"] == {"m": 2}


def test_create_conflicts(assistants: Assistants) -> None:
    first = assistants.create("a", AID, name="one")
    with pytest.raises(AssistantExists, match=f"^Assistant {AID} already exists$"):
        assistants.create("a", AID)
    assert assistants.create("b", AID.upper(), name="x", if_exists="do_nothing") == first
    with pytest.raises(BadRequestError, match="^Cannot specify both configurable and context"):
        assistants.create("a", config={"configurable": {"a": 1}}, context={"b": 2})
    with pytest.raises(InvalidInputError, match="^Invalid assistant ID: must be a UUID$"):
        assistants.create("a", "nope")
    with pytest.raises(GraphNotFound, match=r"^Graph 'z' not found. Expected one of: \['a', 'b'\]"):
        assistants.create("z")


# -- patch, versions, set latest -----------------------------------------------------------


def test_patch_makes_a_new_version_with_merged_metadata(assistants: Assistants) -> None:
    assistants.create("a", AID, config={"tags": ["t"]}, metadata={"team": "x"}, name="one")
    second = assistants.patch(AID, metadata={"k": 2}, name="two")
    assert second["version"] == 2 and second["metadata"] == {"team": "x", "k": 2}
    assert second["config"] == {"tags": ["t"]}  # not given: kept
    third = assistants.patch(AID, context={"c": 3}, graph_id="b")
    assert third["config"] == {"configurable": {"c": 3}} and third["graph_id"] == "b"
    assert [v["version"] for v in assistants.versions(AID, None, 10, 0)] == [3, 2, 1]
    assert [v["version"] for v in assistants.versions(AID, {"k": 2}, 1, 1)] == [2]


def test_set_latest_takes_the_whole_version_and_the_next_patch_goes_past_it(
    assistants: Assistants,
) -> None:
    assistants.create("a", AID, context={"a": 1}, name="one")
    assistants.patch(AID, context={"c": 3}, graph_id="b", name="two")
    back = assistants.set_latest(AID, 1)
    assert (back["version"], back["graph_id"], back["context"]) == (1, "a", {"a": 1})
    assert back["name"] == "one"
    assert assistants.patch(AID)["version"] == 3


def test_version_errors(assistants: Assistants) -> None:
    assistants.create("a", AID)
    with pytest.raises(NoSuchAssistant, match=f"^Version 9 not found for assistant {AID}$"):
        assistants.set_latest(AID, 9)
    with pytest.raises(NoSuchAssistant, match=f"^Version None not found for assistant {AID}$"):
        assistants.set_latest(AID, None)
    unknown = "22222222-2222-2222-2222-222222222222"
    for call in (
        lambda: assistants.set_latest(unknown, 1),
        lambda: assistants.patch(unknown),
        lambda: assistants.versions(unknown, None, 10, 0),
    ):
        with pytest.raises(NoSuchAssistant, match=f"^Assistant {unknown} not found$"):
            call()
    with pytest.raises(NoSuchAssistant):  # a filter that leaves none is LangGraph's 404 too
        assistants.versions(AID, {"no": 1}, 10, 0)


# -- get, delete ----------------------------------------------------------------------------


def test_lookup_texts(assistants: Assistants, store: AssistantStore) -> None:
    with pytest.raises(NoSuchAssistant, match="^Not Found$"):
        assistants.get(AID)
    with pytest.raises(InvalidAssistant):
        assistants.get("nope")
    assistants.create("a", AID)
    only_b = Assistants(store, registry(graph("b")))
    with pytest.raises(NoSuchAssistant, match=f"^assistant {AID} not found$"):
        only_b.get(AID)  # its graph is not loaded here


def test_delete(assistants: Assistants) -> None:
    assistants.create("a", AID)
    assert assistants.delete(AID.upper()) == AID
    with pytest.raises(NoSuchAssistant, match=f"^Assistant with ID {AID} not found$"):
        assistants.delete(AID)
    with pytest.raises(NoSuchAssistant, match=f"^Assistant with ID {AID} not found$"):
        assistants.require_existing(AID)


# -- search and count -----------------------------------------------------------------------


def test_search_and_count(assistants: Assistants, store: AssistantStore) -> None:
    one = assistants.create("a", name="Alpha bot", metadata={"team": "x", "n": [1, 2]})
    two = assistants.create("b", name="beta", metadata={"team": "y"})
    sa, sb = system_assistant_id("a"), system_assistant_id("b")
    assert ids(assistants.search(AssistantQuery())[0]) == [
        two["assistant_id"],
        one["assistant_id"],
        sb,
        sa,
    ]
    page, more = assistants.search(AssistantQuery(limit=1, offset=1))
    assert ids(page) == [one["assistant_id"]] and more
    assert ids(assistants.search(AssistantQuery(metadata={"n": [2]}))[0]) == [one["assistant_id"]]
    by_name = assistants.search(AssistantQuery(name="A", sort_by="name", sort_order="asc"))[0]
    assert [a["name"] for a in by_name] == ["a", "Alpha bot", "beta"]  # "b" has no "a"
    assert assistants.count(AssistantQuery()) == 4
    assert assistants.count(AssistantQuery(graph_id="a")) == 2
    assert assistants.count(AssistantQuery(metadata={"team": "y"})) == 1
    only_a = Assistants(store, registry(graph("a")))  # b's assistants are out of scope
    assert only_a.count(AssistantQuery()) == 2
    with pytest.raises(GraphNotFound):
        only_a.count(AssistantQuery(graph_id="b"))


# -- runs -----------------------------------------------------------------------------------


def test_for_run_resolves_by_uuid_or_graph_name(assistants: Assistants) -> None:
    assistants.create("b", AID)
    stored, loaded = assistants.for_run(AID)
    assert stored.assistant["assistant_id"] == AID and loaded.graph_id == "b"
    assert assistants.for_run("a")[0].assistant["assistant_id"] == system_assistant_id("a")
    with pytest.raises(NotFoundError, match=r"^Thread or assistant not found.$"):
        assistants.for_run("22222222-2222-2222-2222-222222222222")
    with pytest.raises(InvalidAssistant):
        assistants.for_run("nope")


def test_run_settings_merge_under_the_runs_own(assistants: Assistants) -> None:
    assistants.create(
        "a",
        AID,
        config={"configurable": {"a": 1, "b": 1}, "tags": ["x"], "recursion_limit": 7},
        metadata={"team": "x", "owner": "a"},
    )
    stored, _ = assistants.for_run(AID)
    merged = run_settings(
        stored,
        {"configurable": {"b": 2}, "tags": ["y"], "metadata": {"cm": 1, "tm": 2}},
        None,
        {"owner": "r", "rm": 1},
        {"owner": "t", "tm": 1},
    )
    assert merged.config == {
        "configurable": {"a": 1, "b": 2},
        "tags": ["y"],
        "recursion_limit": 7,
        "metadata": {"cm": 1, "tm": 2},
    }
    assert merged.context == {"a": 1, "b": 2}
    assert merged.metadata == {
        "team": "x",
        "owner": "r",
        "tm": 2,
        "cm": 1,
        "rm": 1,
        "assistant_id": AID,
    }
    with_context = run_settings(stored, None, {"c": 3}, None)
    assert with_context.context == {"a": 1, "b": 1, "c": 3}
    assert with_context.config["configurable"] == {"a": 1, "b": 1, "c": 3}
    with pytest.raises(BadRequestError):
        run_settings(stored, {"configurable": {"b": 2}}, {"c": 3}, None)
