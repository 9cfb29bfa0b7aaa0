"""Every run's graph gets LangGraph's store on Redis (Runner, on fakeredis): as a node's
``store`` argument and through ``get_store()``, the same items the /store API serves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakeredis import FakeRedis

from tests.support import FIXTURES, load_project_graphs
from tests.unit.helpers import KEYS, event
from threadwatch.runs.runner import Runner
from threadwatch.store.codec import materialize
from threadwatch.store.items import ItemStore
from threadwatch.store.stores import Stores

PROJECT = FIXTURES / "store"
T1 = "00000000-0000-4000-8000-0000000000b1"
R1 = "00000000-0000-4000-8000-0000000000e1"
INPUT = {"user": "u1", "key": "redis", "fact": "redis keeps data in memory"}


def test_a_run_writes_and_reads_the_store(fake_redis: FakeRedis, stores: Stores) -> None:
    runner = Runner(stores, load_project_graphs(PROJECT), run_timeout=30)
    ItemStore(fake_redis, KEYS).put(("memories", "u1"), "lua", {"text": "lua scripts"})
    stores.runs.apply([event(T1, R1, "run.pending", kwargs={"graph_id": "memory", "input": INPUT})])
    assert runner.execute(R1, T1) == "run.succeeded"
    values = materialize(stores.threads.get(T1)["values"])
    assert values["memories"] == ["lua scripts", "redis keeps data in memory"]
    assert values["closest"] == "redis"
    assert values["count"] == 2
    [item] = ItemStore(fake_redis, KEYS).get([(("memories", "u1"), "redis")])
    assert item is not None and item.value == {"text": INPUT["fact"]}


def test_a_bad_store_config_leaves_runs_without_a_store(
    fake_redis: FakeRedis, stores: Stores, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = json.loads((PROJECT / "langgraph.json").read_text())
    config["graphs"] = {"memory": str(PROJECT / "memory_graph.py") + ":graph"}
    config["store"]["index"]["embed"] = "./missing.py:embed"
    (tmp_path / "langgraph.json").write_text(json.dumps(config))
    runner = Runner(stores, load_project_graphs(tmp_path), run_timeout=30)
    assert runner.store is None
    assert "the store of langgraph.json failed to load" in caplog.text
    stores.runs.apply([event(T1, R1, "run.pending", kwargs={"graph_id": "memory", "input": INPUT})])
    assert runner.execute(R1, T1) == "run.failed"  # the run ends; it does not hang


NOTES_GRAPH = FIXTURES / "graphs" / "http_project" / "graph.py"
USER_STORE = """from langgraph.store.memory import InMemoryStore

store = InMemoryStore()
"""


def notes_project(folder: Path, **http: object) -> Path:
    (folder / "users_store.py").write_text(USER_STORE)
    config = {
        "graphs": {"notes": f"{NOTES_GRAPH}:graph"},
        "store": {"path": "./users_store.py:store"},
        "http": http,
    }
    (folder / "langgraph.json").write_text(json.dumps(config))
    return folder


def test_a_store_path_gives_runs_the_users_store(
    fake_redis: FakeRedis, stores: Stores, tmp_path: Path
) -> None:
    runner = Runner(stores, load_project_graphs(notes_project(tmp_path)), run_timeout=30)
    assert runner.custom_store is not None
    users = runner.custom_store.value
    users.put(("notes",), "a", {"text": "from before"})
    kwargs = {"graph_id": "notes", "input": {"key": "b", "text": "from the run"}}
    stores.runs.apply([event(T1, R1, "run.pending", kwargs=kwargs)])
    assert runner.execute(R1, T1) == "run.succeeded"
    values = materialize(stores.threads.get(T1)["values"])
    assert values["notes"] == ["from before", "from the run"]
    assert users.get(("notes",), "b").value == {"text": "from the run"}
    assert ItemStore(fake_redis, KEYS).get([(("notes",), "b")]) == [None]


def test_disable_webhooks_sends_none(
    fake_redis: FakeRedis, stores: Stores, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    project = notes_project(tmp_path, disable_webhooks=True)
    runner = Runner(stores, load_project_graphs(project), run_timeout=30)
    kwargs = {
        "graph_id": "notes",
        "input": {"key": "b", "text": "t"},
        "webhook": "https://hooks.example.com/done",
    }
    stores.runs.apply([event(T1, R1, "run.pending", kwargs=kwargs)])
    caplog.set_level("INFO")
    assert runner.execute(R1, T1) == "run.succeeded"
    assert "webhooks are disabled (http.disable_webhooks); not sent" in caplog.text
    assert not [key for key in fake_redis.keys("*") if b"webhook" in key]
