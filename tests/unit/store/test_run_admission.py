"""RunStore.admit: a run created here on a thread that must already exist."""

from __future__ import annotations

import uuid

import pytest
from fakeredis import FakeRedis

from tests.unit.helpers import event, keyspace
from threadwatch.errors import ThreadNotFound
from threadwatch.store.stores import Stores


def new_id() -> str:
    return str(uuid.uuid4())


@pytest.mark.parametrize("metadata", [{"graph_id": "agent"}, None])
def test_an_unknown_thread_is_refused_and_nothing_is_written(
    stores: Stores, fake_redis: FakeRedis, metadata: dict[str, str] | None
) -> None:
    pending = event(new_id(), new_id(), "run.pending", metadata=metadata)
    before = keyspace(fake_redis)
    with pytest.raises(ThreadNotFound):
        stores.runs.admit(pending, reject_if_busy=False, thread_must_exist=True)
    assert keyspace(fake_redis) == before


@pytest.mark.parametrize("metadata", [{"graph_id": "agent"}, None])
def test_a_known_thread_admits_the_run(stores: Stores, metadata: dict[str, str] | None) -> None:
    thread_id, run_id = new_id(), new_id()
    stores.threads.create(thread_id, {"team": "a"})
    pending = event(thread_id, run_id, "run.pending", metadata=metadata)
    admitted = stores.runs.admit(pending, reject_if_busy=False, thread_must_exist=True)
    assert admitted.result == "applied"
    assert stores.runs.get(thread_id, run_id)["status"] == "pending"
    assert stores.threads.get(thread_id)["status"] == "busy"


def test_without_the_check_an_unknown_thread_is_created(stores: Stores) -> None:
    thread_id = new_id()
    stores.runs.admit(event(thread_id, new_id(), "run.pending"), reject_if_busy=False)
    assert stores.threads.get(thread_id)["status"] == "busy"
