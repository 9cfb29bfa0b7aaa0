"""RedisSaver (app/store/checkpoints/) on fakeredis: the sync API, checked against the
semantics of LangGraph's InMemorySaver, and the keys it leaves behind."""

from __future__ import annotations

import pickle
from typing import Any

import fakeredis
import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import Checkpoint, CheckpointTuple
from langgraph.checkpoint.serde.types import ERROR, INTERRUPT

import threadwatch.store.checkpoints.checkpoint_ops as checkpoint_ops
import threadwatch.store.checkpoints.saver as saver_module
from threadwatch.store.checkpoints import CheckpointConflict, RedisSaver, SyncSession
from threadwatch.store.checkpoints.steps import WRITE
from threadwatch.store.keys import Keys

KEYS = Keys()


def checkpoint(
    checkpoint_id: str, values: dict[str, Any] | None = None, **versions: Any
) -> Checkpoint:
    """A checkpoint whose channel_versions are `versions` (values default to none)."""
    return Checkpoint(
        v=1,
        id=checkpoint_id,
        ts="2025-01-01T00:00:00+00:00",
        channel_values=values or {},
        channel_versions=versions,
        versions_seen={"node": {"a": 1}},
        updated_channels=None,
    )


def config(thread_id: str, ns: str = "", checkpoint_id: str | None = None) -> RunnableConfig:
    conf: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ns}
    if checkpoint_id is not None:
        conf["checkpoint_id"] = checkpoint_id
    return {"configurable": conf}


def put_chain(
    saver: RedisSaver, thread_id: str, n: int, ns: str = "", **metadata: Any
) -> list[RunnableConfig]:
    """n checkpoints c-000.. each the child of the previous one, metadata step = index."""
    stored, parent = [], None
    for i in range(n):
        conf = config(thread_id, ns, parent)
        meta = {"source": "loop", "step": i, **metadata}
        cfg = saver.put(conf, checkpoint(f"c-{i:03d}", {"a": i}, a=i + 1), meta, {"a": i + 1})
        parent = cfg["configurable"]["checkpoint_id"]
        stored.append(cfg)
    return stored


def ids(tuples: Any) -> list[str]:
    return [t.config["configurable"]["checkpoint_id"] for t in tuples]


def parent_id(found: CheckpointTuple) -> str | None:
    return found.parent_config["configurable"]["checkpoint_id"] if found.parent_config else None


def keyspace(redis: fakeredis.FakeRedis) -> set[str]:
    return {key.decode() for key in redis.keys("*")}


@pytest.fixture
def saver(fake_redis: fakeredis.FakeRedis) -> RedisSaver:
    return RedisSaver(fake_redis)


def test_put_then_get_round_trips_the_tuple(saver: RedisSaver) -> None:
    first = saver.put(config("t"), checkpoint("c-1", {"a": "x", "b": [1, 2]}, a=1, b=1), {}, {})
    assert first == config("t", "", "c-1")
    conf = {**config("t", "", "c-1"), "metadata": {"user": "ann", "__hidden": 1}}
    values = {"a": {"nested": True}, "b": [1, 2]}
    saver.put(conf, checkpoint("c-2", values, a=2, b=1), {"source": "loop", "step": 1}, {"a": 2})

    got = saver.get_tuple(config("t", "", "c-2"))
    assert isinstance(got, CheckpointTuple)
    assert got.config == config("t", "", "c-2")
    # b was not in new_versions: no blob for b@1 was ever written (first put had none).
    assert got.checkpoint["channel_values"] == {"a": {"nested": True}}
    assert got.checkpoint["channel_versions"] == {"a": 2, "b": 1}
    assert got.checkpoint["versions_seen"] == {"node": {"a": 1}}
    assert got.metadata == {"source": "loop", "step": 1, "user": "ann"}
    assert got.parent_config == config("t", "", "c-1")
    assert got.pending_writes == []
    assert saver.get_tuple(config("t", "", "c-1")).parent_config is None


def test_get_tuple_without_id_is_the_latest_of_the_namespace(saver: RedisSaver) -> None:
    put_chain(saver, "t", 3)
    put_chain(saver, "t", 5, ns="child:1")
    assert saver.get_tuple(config("t")).checkpoint["id"] == "c-002"
    assert saver.get_tuple(config("t", "child:1")).checkpoint["id"] == "c-004"
    assert saver.get_tuple({"configurable": {"thread_id": "t"}}).checkpoint["id"] == "c-002"
    assert saver.get_tuple(config("other")) is None
    assert saver.get_tuple(config("t", "", "missing")) is None


def test_channel_values_come_from_the_version_each_checkpoint_names(saver: RedisSaver) -> None:
    saver.put(
        config("t"), checkpoint("c-1", {"a": "a1", "b": "b1"}, a=1, b=1), {}, {"a": 1, "b": 1}
    )
    cp2 = checkpoint("c-2", {"a": "a2", "b": "b1"}, a=2, b=1)
    saver.put(config("t", "", "c-1"), cp2, {}, {"a": 2})
    cp3 = checkpoint("c-3", {"a": "a2"}, a=2, c=1)  # b dropped; c updated without a value
    saver.put(config("t", "", "c-2"), cp3, {}, {"c": 1})

    def values(checkpoint_id: str) -> dict[str, Any]:
        return saver.get_tuple(config("t", "", checkpoint_id)).checkpoint["channel_values"]

    assert values("c-1") == {"a": "a1", "b": "b1"}
    assert values("c-2") == {"a": "a2", "b": "b1"}
    assert values("c-3") == {"a": "a2"}  # c's blob is the "empty" marker


def test_list_is_newest_first_with_before_and_limit(saver: RedisSaver) -> None:
    put_chain(saver, "t", 6)
    assert ids(saver.list(config("t"))) == [f"c-{i:03d}" for i in range(5, -1, -1)]
    assert ids(saver.list(config("t"), limit=2)) == ["c-005", "c-004"]
    before = config("t", "", "c-003")
    assert ids(saver.list(config("t"), before=before)) == ["c-002", "c-001", "c-000"]
    assert ids(saver.list(config("t"), before=before, limit=1)) == ["c-002"]
    assert ids(saver.list(config("t"), limit=0)) == []
    assert ids(saver.list(config("t", "", "c-004"))) == ["c-004"]
    assert ids(saver.list(config("t", "", "c-004"), before=before)) == []
    assert ids(saver.list(config("nobody"))) == []


def test_list_pages_through_long_threads(
    saver: RedisSaver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkpoint_ops, "PAGE", 3)
    put_chain(saver, "t", 10)
    assert ids(saver.list(config("t"))) == [f"c-{i:03d}" for i in range(9, -1, -1)]
    assert ids(saver.list(config("t"), limit=7)) == [f"c-{i:03d}" for i in range(9, 2, -1)]
    assert ids(saver.list(config("t"), filter={"parity": 1}, limit=4)) == []
    assert ids(saver.list(config("t"), filter={"step": 7})) == ["c-007"]
    loop = {"source": "loop"}
    assert len(list(saver.list(config("t"), filter=loop))) == 10
    found = saver.list(config("t"), filter=loop, limit=2, before=config("t", "", "c-008"))
    assert ids(found) == ["c-007", "c-006"]


def test_list_filter_matches_every_key_like_in_memory_saver(saver: RedisSaver) -> None:
    for i, (source, step) in enumerate([("input", 1), ("loop", 1), ("input", 2)]):
        meta = {"source": source, "step": step, "tags": ["x"], "score": 1.0}
        saver.put(config("t"), checkpoint(f"c-{i}"), meta, {})
    assert ids(saver.list(config("t"), filter={"source": "input"})) == ["c-2", "c-0"]
    assert ids(saver.list(config("t"), filter={"source": "input", "step": 2})) == ["c-2"]
    assert ids(saver.list(config("t"), filter={"tags": ["x"], "score": 1})) == ["c-2", "c-1", "c-0"]
    assert ids(saver.list(config("t"), filter={"source": "update", "step": 99})) == []


def test_list_spans_namespaces_and_threads_when_the_config_leaves_them_out(
    saver: RedisSaver,
) -> None:
    put_chain(saver, "t1", 2)
    put_chain(saver, "t1", 1, ns="sub:1")
    put_chain(saver, "t2", 1)
    whole_thread = [
        (t.config["configurable"]["checkpoint_ns"], t.checkpoint["id"])
        for t in saver.list({"configurable": {"thread_id": "t1"}})
    ]
    assert whole_thread == [("", "c-001"), ("", "c-000"), ("sub:1", "c-000")]
    everything = [
        (t.config["configurable"]["thread_id"], t.checkpoint["id"]) for t in saver.list(None)
    ]
    assert everything == [("t1", "c-001"), ("t1", "c-000"), ("t1", "c-000"), ("t2", "c-000")]
    assert len(list(saver.list(None, limit=3))) == 3


def test_put_writes_order_idempotence_and_special_channels(saver: RedisSaver) -> None:
    cfg = saver.put(config("t"), checkpoint("c-1"), {}, {})
    saver.put_writes(cfg, [("b", 1), ("a", 2)], "task-2", task_path="~1")
    saver.put_writes(cfg, [("a", 3)], "task-1", task_path="~1")
    saver.put_writes(cfg, [("x", 0)], "task-3")  # no task_path sorts first
    # Regular writes are kept as first written; special channels overwrite.
    saver.put_writes(cfg, [("b", 99), (ERROR, "boom")], "task-2", task_path="~1")
    saver.put_writes(cfg, [(ERROR, "boom again"), (INTERRUPT, {"q": 1})], "task-2", "~1")
    writes = saver.get_tuple(cfg).pending_writes
    assert writes == [
        ("task-3", "x", 0),
        ("task-1", "a", 3),
        ("task-2", INTERRUPT, {"q": 1}),
        ("task-2", ERROR, "boom again"),
        ("task-2", "b", 1),
        ("task-2", "a", 2),
    ]
    later = saver.put(cfg, checkpoint("c-2"), {}, {})
    assert saver.get_tuple(later).pending_writes == []
    assert [len(t.pending_writes) for t in saver.list(config("t"))] == [0, 6]


def test_writes_stay_with_their_namespace(saver: RedisSaver) -> None:
    root = saver.put(config("t"), checkpoint("c-1"), {}, {})
    child = saver.put(config("t", "child:1"), checkpoint("c-1"), {}, {})
    saver.put_writes(root, [("ch", "root")], "task")
    saver.put_writes(child, [("ch", "child")], "task")
    assert saver.get_tuple(root).pending_writes == [("task", "ch", "root")]
    assert saver.get_tuple(child).pending_writes == [("task", "ch", "child")]
    with pytest.raises(ValueError):
        saver.put_writes(config("t"), [("ch", 1)], "task")


def test_ids_with_colons_and_percents_do_not_collide(saver: RedisSaver) -> None:
    put_chain(saver, "a", 1, ns="b:c")
    put_chain(saver, "a:b", 2, ns="c")
    put_chain(saver, "a%3Ab", 3, ns="c")
    assert len(list(saver.list({"configurable": {"thread_id": "a"}}))) == 1
    assert len(list(saver.list({"configurable": {"thread_id": "a:b"}}))) == 2
    saver.delete_thread("a:b")
    assert len(list(saver.list({"configurable": {"thread_id": "a"}}))) == 1
    assert len(list(saver.list({"configurable": {"thread_id": "a%3Ab"}}))) == 3
    assert KEYS.checkpoint_registry("a:b") != KEYS.checkpoint_registry("a%3Ab")


def test_delete_thread_leaves_no_key_behind(
    saver: RedisSaver, fake_redis: fakeredis.FakeRedis
) -> None:
    put_chain(saver, "keep", 2, run_id="run-k")
    before = keyspace(fake_redis)
    stored = put_chain(saver, "gone", 3, run_id="run-g")
    put_chain(saver, "gone", 2, ns="child:1", run_id="run-k")
    saver.put_writes(stored[-1], [("ch", 1), (ERROR, "x")], "task")
    saver.delete_thread("gone")
    assert keyspace(fake_redis) == before
    assert fake_redis.smembers(KEYS.checkpoint_threads()) == {b"keep"}
    assert fake_redis.smembers(KEYS.checkpoint_run("run-k")) == {b"keep"}
    assert saver.get_tuple(config("gone")) is None
    assert len(list(saver.list(config("keep")))) == 2
    saver.delete_thread("never-existed")


def test_copy_thread_copies_every_checkpoint_write_and_namespace(
    saver: RedisSaver, fake_redis: fakeredis.FakeRedis
) -> None:
    stored = put_chain(saver, "src", 3, run_id="run-1")
    put_chain(saver, "src", 1, ns="child:1")
    saver.put_writes(stored[-1], [("ch", "w")], "task", "~1")
    saver.copy_thread("src", "dst")

    def snapshot(thread_id: str) -> list[tuple]:
        found = saver.list({"configurable": {"thread_id": thread_id}})
        return [(t.checkpoint, t.metadata, t.pending_writes, parent_id(t)) for t in found]

    assert snapshot("dst") == snapshot("src")
    assert saver.get_tuple(config("dst")).config == config("dst", "", "c-002")
    saver.delete_thread("src")
    assert len(snapshot("dst")) == 4
    assert fake_redis.smembers(KEYS.checkpoint_run("run-1")) == {b"dst"}
    saver.delete_for_runs(["run-1"])
    assert ids(saver.list(config("dst"))) == []
    assert ids(saver.list(config("dst", "child:1"))) == ["c-000"]
    saver.copy_thread("missing", "dst2")
    assert saver.get_tuple(config("dst2")) is None
    assert not any(key.startswith(KEYS.checkpoint_registry("dst2")) for key in keyspace(fake_redis))


def test_prune_keep_latest_keeps_one_checkpoint_per_namespace_and_its_blobs(
    saver: RedisSaver, fake_redis: fakeredis.FakeRedis
) -> None:
    stored = put_chain(saver, "t", 4, run_id="run-1")
    put_chain(saver, "t", 2, ns="child:1", run_id="run-2")
    put_chain(saver, "other", 2)
    saver.put_writes(stored[0], [("ch", "old")], "task")
    saver.put_writes(stored[-1], [("ch", "new")], "task")
    saver.prune(["t"], strategy="keep_latest")
    assert ids(saver.list(config("t"))) == ["c-003"]
    assert ids(saver.list(config("t", "child:1"))) == ["c-001"]
    assert ids(saver.list(config("other"))) == ["c-001", "c-000"]
    latest = saver.get_tuple(config("t"))
    assert latest.pending_writes == [("task", "ch", "new")]
    assert latest.checkpoint["channel_values"] == {"a": 3}
    assert fake_redis.hlen(KEYS.checkpoint_blobs("t", "")) == 1
    assert not fake_redis.exists(KEYS.checkpoint_writes("t", "", "c-000"))
    assert fake_redis.smembers(KEYS.checkpoint_run_refs("t", "run-1")) == {b'["","c-003"]'}
    saver.prune(["t", "other"], strategy="delete")
    assert list(saver.list(None)) == []
    assert keyspace(fake_redis) == set()
    with pytest.raises(ValueError, match="strategy"):
        saver.prune(["t"], strategy="keep_some")


def test_delete_for_runs_removes_only_that_runs_checkpoints(
    saver: RedisSaver, fake_redis: fakeredis.FakeRedis
) -> None:
    first = put_chain(saver, "t", 2, run_id="run-1")
    conf = config("t", "", first[-1]["configurable"]["checkpoint_id"])
    second = saver.put(conf, checkpoint("d-1"), {"run_id": "run-2"}, {})
    put_chain(saver, "t", 1, ns="child:1", run_id="run-1")
    saver.put_writes(first[0], [("ch", 1)], "task")
    saver.delete_for_runs(["run-1", "no-such-run"])
    assert ids(saver.list({"configurable": {"thread_id": "t"}})) == ["d-1"]
    assert saver.get_tuple(second).parent_config == first[-1]  # dangling, as in Postgres
    assert not fake_redis.exists(KEYS.checkpoint_writes("t", "", "c-000"))
    assert not fake_redis.exists(KEYS.checkpoint_run("run-1"))
    assert fake_redis.smembers(KEYS.checkpoint_thread_runs("t")) == {b"run-2"}
    saver.delete_for_runs([])


def test_get_next_version_is_monotonic_like_in_memory_saver(saver: RedisSaver) -> None:
    first = saver.get_next_version(None, None)
    second = saver.get_next_version(first, None)
    assert first.startswith("0" * 31 + "1.") and second.startswith("0" * 31 + "2.")
    assert saver.get_next_version(7, None).startswith("0" * 31 + "8.")  # type: ignore[arg-type]
    assert first < second


def test_a_concurrent_write_restarts_a_watched_operation(
    saver: RedisSaver, fake_redis: fakeredis.FakeRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    put_chain(saver, "t", 2)
    other = RedisSaver(fake_redis)  # same server, another pooled connection than the watcher
    interleaved: list[str] = []

    class Interleaving(SyncSession):
        def run(self, step: Any) -> Any:
            if step[0] == WRITE and self.watcher is not None and not interleaved:
                interleaved.append("put")  # a new namespace changes the watched registry
                other.put(config("t", "late:1"), checkpoint("c-9"), {}, {})
            return super().run(step)

    monkeypatch.setattr(saver_module, "SyncSession", Interleaving)
    saver.delete_thread("t")
    assert interleaved == ["put"]
    assert keyspace(fake_redis) == set()  # the retry saw the late namespace too


def test_endless_conflicts_raise(
    saver: RedisSaver, fake_redis: fakeredis.FakeRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    put_chain(saver, "t", 1)

    class AlwaysConflicting(SyncSession):
        def run(self, step: Any) -> Any:
            if step[0] == WRITE and self.watcher is not None:
                fake_redis.sadd(KEYS.checkpoint_registry("t"), "noise")
            return super().run(step)

    monkeypatch.setattr(saver_module, "SyncSession", AlwaysConflicting)
    monkeypatch.setattr(saver_module, "MAX_ATTEMPTS", 3)
    with pytest.raises(CheckpointConflict):
        saver.delete_thread("t")


def test_clients_that_decode_replies_are_refused() -> None:
    with pytest.raises(ValueError, match="decode_responses"):
        RedisSaver(fakeredis.FakeRedis(decode_responses=True))


class PickleSerde:
    """A serializer with a made-up type name and NUL-rich payloads."""

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        return "pickle+test", pickle.dumps(obj)

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        assert data[0] == "pickle+test"
        return pickle.loads(data[1])


def test_any_serializer_and_key_prefix(fake_redis: fakeredis.FakeRedis) -> None:
    saver = RedisSaver(fake_redis, Keys(prefix="other:"), serde=PickleSerde())
    value = {"bytes": b"\0\0\xff", "set": {1, 2}}
    cfg = saver.put(config("t"), checkpoint("c-1", {"a": value}, a=1), {"k": (1, 2)}, {"a": 1})
    saver.put_writes(cfg, [("a", b"\0")], "task")
    got = saver.get_tuple(cfg)
    assert got.checkpoint["channel_values"] == {"a": value}
    assert got.metadata == {"k": (1, 2)}
    assert got.pending_writes == [("task", "a", b"\0")]
    assert all(key.startswith("other:") for key in keyspace(fake_redis))


def test_an_empty_checkpoint_id_means_none(saver: RedisSaver) -> None:
    put_chain(saver, "t", 2)
    assert saver.get_tuple(config("t", "", "")).checkpoint["id"] == "c-001"
    assert ids(saver.list(config("t", "", ""), before=config("t", "", ""))) == ["c-001", "c-000"]
    child = saver.put(config("t", "", ""), checkpoint("c-9"), {}, {})
    assert saver.get_tuple(child).parent_config is None
