"""Unit tests run on fakeredis with its Lua engine (fakeredis[lua]); no server needed."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import fakeredis
import pytest
from fakeredis.commands_mixins.set_mixin import SetCommandsMixin

from tests.unit.helpers import make_stores
from tests.unit.store.search_dataset import all_ids, populate
from tests.unit.store.store_clock import Clock, settable_clock
from threadwatch.store.codec import materialize
from threadwatch.store.stores import Stores


@pytest.fixture(scope="session", autouse=True)
def sintercard_of_missing_keys() -> Iterator[None]:
    """fakeredis 2.40 answers SINTERCARD with WRONGTYPE when its first key does not exist;
    Redis and Valkey answer 0 (a missing key is an empty set). Make fakeredis agree, so that
    counting a filter with an absent leaf works here as on a server (checked on a real one
    in tests/integration/test_search_planner.py)."""
    real = SetCommandsMixin.sintercard

    def sintercard(self: Any, numkeys: int, *args: bytes) -> Any:
        keys = args[:numkeys] if numkeys >= 1 else ()
        if len(keys) == numkeys and any(self._db.get(key) is None for key in keys):
            return 0
        return real(self, numkeys, *args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SetCommandsMixin, "sintercard", sintercard)
        yield


@pytest.fixture(autouse=True)
def graphs_config_as_found(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CLI command invoked in-process exports THREADWATCH_GRAPHS_CONFIG for the processes
    it starts (cli/base.py); restored after each test, so that it never reaches the servers
    later tests start."""
    monkeypatch.setenv("THREADWATCH_GRAPHS_CONFIG", "")  # recorded as found, even unset
    monkeypatch.delenv("THREADWATCH_GRAPHS_CONFIG")


@pytest.fixture
def fake_redis() -> Iterator[fakeredis.FakeRedis]:
    """A fresh in-memory Redis (bytes replies) per test; register_script() works on it."""
    client = fakeredis.FakeRedis()
    yield client
    client.close()


@pytest.fixture
def stores(fake_redis: fakeredis.FakeRedis) -> Stores:
    """ThreadStore, RunStore and ThreadSearch on `fake_redis`, with the default key prefix."""
    return make_stores(fake_redis)


@pytest.fixture(scope="session")
def search_db() -> Iterator[Stores]:
    """The search dataset (tests/unit/search_dataset.py), built once: tests only read it."""
    redis = fakeredis.FakeRedis()
    stores = make_stores(redis)
    populate(stores, random.Random(20251))
    yield stores
    redis.close()


@pytest.fixture(scope="session")
def search_threads(search_db: Stores) -> list[dict[str, Any]]:
    """Every thread of the search dataset, as the API returns them."""
    return materialize(search_db.threads.get_many(all_ids(search_db)))


@pytest.fixture
def clock() -> Iterator[Clock]:
    """fakeredis's clock, moved by the test (store TTL tests)."""
    with settable_clock() as clock:
        yield clock
