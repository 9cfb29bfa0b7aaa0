"""lua/put_assistant.lua, update_assistant.lua and delete_assistant.lua through the assistant
store (app/store/assistants.py): the hash, the versions and the per-graph index change
together, a stale update or delete writes nothing, and a delete leaves no key behind."""

from __future__ import annotations

import pytest
from fakeredis import FakeRedis

from tests.unit.helpers import KEYS, keyspace
from threadwatch.errors import AssistantVersionNotFound, NoSuchAssistant
from threadwatch.store.assistants import AssistantFields, AssistantStore
from threadwatch.store.scripts import ChangedSinceRead, Scripts

AID = "11111111-1111-1111-1111-111111111111"


@pytest.fixture
def store(fake_redis: FakeRedis) -> AssistantStore:
    return AssistantStore(fake_redis, KEYS, Scripts(fake_redis))


def fields(graph_id: str = "g", **changes: object) -> AssistantFields:
    values: dict = {
        "config": {"tags": ["t"], "configurable": {"a": 1}},
        "context": {"a": 1},
        "metadata": {"team": "x"},
        "name": "one",
        "description": None,
    }
    return AssistantFields(graph_id, **{**values, **changes})


def test_put_creates_version_one_and_indexes_it(store: AssistantStore) -> None:
    created, stored = store.put(AID, fields())
    assert created and stored.version == 1 and stored.max_version == 1
    a = stored.assistant
    assert list(a) == [
        "assistant_id",
        "graph_id",
        "config",
        "context",
        "metadata",
        "name",
        "created_at",
        "updated_at",
        "version",
        "description",
    ]
    assert a["config"] == {"tags": ["t"], "configurable": {"a": 1}}
    assert a["created_at"] == a["updated_at"] and a["description"] is None
    assert store.get(AID) == stored
    assert store.index(["g"]) == [(AID, stored.created_at_us)] and store.count(["g", "h"]) == 1
    [version] = store.versions(AID)
    assert version["version"] == 1 and version["created_at"] == a["created_at"]


def test_put_of_an_existing_id_changes_nothing(store: AssistantStore) -> None:
    _, first = store.put(AID, fields())
    created, again = store.put(AID, fields("h", name="other"))
    assert not created and again == first
    assert store.count(["h"]) == 0


def test_put_after_a_time_keeps_an_order(store: AssistantStore) -> None:
    _, first = store.put(AID, fields())
    far = first.created_at_us + 10_000_000_000
    _, second = store.put("22222222-2222-2222-2222-222222222222", fields(), after_us=far)
    assert second.created_at_us == far + 1


def test_update_records_a_new_version_and_moves_the_graph(store: AssistantStore) -> None:
    _, read = store.put(AID, fields())
    updated = store.update(read, 2, fields("h", name="two"), new=True)
    assert (updated.version, updated.max_version, updated.graph_id) == (2, 2, "h")
    assert updated.assistant["created_at"] == read.assistant["created_at"]
    assert store.index(["g"]) == [] and store.index(["h"]) == [(AID, read.created_at_us)]
    assert [v["version"] for v in store.versions(AID)] == [2, 1]
    back = store.update(updated, 1, store.version(AID, 1) or fields(), new=False)
    assert (back.version, back.max_version, back.graph_id) == (1, 2, "g")
    assert back.assistant["name"] == "one"


def test_a_stale_update_writes_nothing(store: AssistantStore) -> None:
    _, read = store.put(AID, fields())
    store.update(read, 2, fields(name="two"), new=True)
    with pytest.raises(ChangedSinceRead):
        store.update(read, 2, fields(name="lost"), new=True)
    assert store.get(AID).assistant["name"] == "two"  # type: ignore[union-attr]


def test_update_errors(store: AssistantStore) -> None:
    _, read = store.put(AID, fields())
    with pytest.raises(
        AssistantVersionNotFound, match=f"^Version 7 not found for assistant {AID}$"
    ):
        store.update(read, 7, fields(), new=False)
    store.delete(read)
    with pytest.raises(NoSuchAssistant, match=f"^Assistant {AID} not found$"):
        store.update(read, 2, fields(), new=True)


def test_delete_leaves_no_key(store: AssistantStore, fake_redis: FakeRedis) -> None:
    _, read = store.put(AID, fields())
    store.update(read, 2, fields(), new=True)
    store.delete(store.get(AID))  # type: ignore[arg-type]
    assert keyspace(fake_redis) == set()
    with pytest.raises(NoSuchAssistant):
        store.delete(read)


def test_get_many_skips_the_missing(store: AssistantStore) -> None:
    store.put(AID, fields())
    found = store.get_many(["00000000-0000-4000-8000-000000000000", AID])
    assert [s.assistant["assistant_id"] for s in found] == [AID]


def test_a_delete_after_a_move_writes_nothing(store: AssistantStore) -> None:
    _, read = store.put(AID, fields())
    store.update(read, 2, fields("h"), new=True)
    with pytest.raises(ChangedSinceRead):
        store.delete(read)  # read in graph g, now in h
    assert store.index(["h"]) == [(AID, read.created_at_us)]
