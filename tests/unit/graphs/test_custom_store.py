"""langgraph.json's ``store.path``: the value it names is loaded as langgraph-api loads a
custom store (a BaseStore, or a function, context manager or coroutine giving one), and
entered once per thread; a path that names nothing usable is an error naming the key."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from langgraph.store.memory import InMemoryStore

from tests.unit.helpers import KEYS
from threadwatch.graphs import GraphConfigError
from threadwatch.graphs.custom_store import CustomStore, load_store_value, open_store
from threadwatch.graphs.store_config import memory_store
from threadwatch.store.items import ItemStore

STORES = """
from contextlib import asynccontextmanager, contextmanager
from langgraph.store.memory import InMemoryStore

instance = InMemoryStore()
entered = []

def function():
    return instance

async def coroutine_function():
    return instance

@asynccontextmanager
async def async_context():
    entered.append("async")
    yield instance
    entered.append("left")

@contextmanager
def sync_context():
    yield instance

@asynccontextmanager
async def gives_a_dict():
    yield {}
"""


@pytest.fixture
def stores_file(tmp_path: Path) -> Path:
    (tmp_path / "stores.py").write_text(STORES)
    return tmp_path


def opened(value: Any) -> Any:
    async def enter() -> Any:
        async with open_store(value) as store:
            return store

    return asyncio.run(enter())


@pytest.mark.parametrize(
    "name", ["instance", "function", "coroutine_function", "async_context", "sync_context"]
)
def test_each_form_gives_the_store(stores_file: Path, name: str) -> None:
    value = load_store_value(f"./stores.py:{name}", stores_file)
    instance = load_store_value("./stores.py:instance", stores_file)
    assert isinstance(instance, InMemoryStore)
    assert opened(value) is instance


def test_a_module_path_in_either_spelling(
    stores_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(stores_file))
    colon = load_store_value("stores:instance", stores_file)
    dotted = load_store_value("stores.instance", stores_file)  # langgraph-api's spelling
    assert colon is dotted and isinstance(colon, InMemoryStore)


@pytest.mark.parametrize(
    ("path", "named"),
    [
        ("./missing.py:store", '"store.path": no such file'),
        ("./stores.py:nope", '"store.path": ./stores.py has no "nope" (it defines: '),
        ("store", '"store.path": "store" needs the form'),
        ("no_such_module_here:store", '"store.path": cannot import no_such_module_here'),
    ],
)
def test_a_bad_path_names_the_key(stores_file: Path, path: str, named: str) -> None:
    with pytest.raises(GraphConfigError) as caught:
        load_store_value(path, stores_file)
    assert named in str(caught.value)


def test_a_value_that_gives_no_store_names_the_key(stores_file: Path) -> None:
    with pytest.raises(GraphConfigError, match='"store.path" gave a dict, not a BaseStore'):
        opened(load_store_value("./stores.py:gives_a_dict", stores_file))
    with pytest.raises(GraphConfigError, match='"store.path": a int is not a store'):
        opened(lambda: 3)


def test_a_context_is_entered_once_per_thread_and_left_on_close(stores_file: Path) -> None:
    custom = CustomStore(load_store_value("./stores.py:async_context", stores_file))
    entered = load_store_value("./stores.py:entered", stores_file)

    async def another_threads_life() -> None:
        await custom.get()
        await custom.close()

    async def life() -> None:
        first, again = await custom.get(), await custom.get()
        assert first is again and entered == ["async"]
        other = threading.Thread(target=asyncio.run, args=(another_threads_life(),))
        other.start()
        other.join()
        assert entered == ["async", "async", "left"]  # the other thread's own
        await custom.close()

    asyncio.run(life())
    assert entered == ["async", "async", "left", "left"]


def test_with_a_store_path_the_index_is_not_loaded(tmp_path: Path, fake_redis: Any) -> None:
    config = {
        "graphs": {},
        "store": {
            "path": "./stores.py:instance",
            "index": {"embed": "./missing.py:embed", "dims": 4},
        },
    }
    (tmp_path / "langgraph.json").write_text(json.dumps(config))
    memory = memory_store(ItemStore(fake_redis, KEYS), tmp_path / "langgraph.json")
    assert memory.index is None  # the Redis store's embeddings would fail to load
    del config["store"]["path"]  # type: ignore[attr-defined]
    (tmp_path / "langgraph.json").write_text(json.dumps(config))
    with pytest.raises(GraphConfigError, match="missing.py"):
        memory_store(ItemStore(fake_redis, KEYS), tmp_path / "langgraph.json")
