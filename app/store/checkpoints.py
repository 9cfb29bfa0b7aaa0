"""A LangGraph checkpoint saver on plain Redis (no RedisJSON / RediSearch): ``RedisSaver``.

It keeps what ``InMemorySaver`` keeps, with the same semantics: per (thread, namespace) the
checkpoint ids, each checkpoint without its channel values, its metadata and parent, the
channel values once per (channel, version), and each checkpoint's pending writes. The key
layout is in keys.py (``ckpt:*``). Values are ``serde.dumps_typed`` output framed as
``type NUL bytes``, so any serializer (encrypted too) round-trips.

Every operation is written once, as a generator of steps (READ: one pipelined round trip;
WRITE: one MULTI/EXEC; WATCH: keys whose change aborts the next WRITE; EMIT: tuples for the
caller; see checkpoints_async.py). A sync session runs the steps on ``redis.Redis``, the
async half of the saver on ``redis.asyncio.Redis``. A put or put_writes is one MULTI/EXEC;
deleting, copying and pruning read under WATCH and restart when a concurrent write changed
what they read. No Lua: nothing here needs a decision on the server.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from operator import methodcaller
from typing import Any, TypeVar

import orjson
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    PendingWrite,
    get_checkpoint_id,
    get_checkpoint_metadata,
)
from langgraph.checkpoint.serde.base import SerializerProtocol
from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import WatchError

from app.store.checkpoints_async import (
    EMIT,
    MAX_ATTEMPTS,
    READ,
    WATCH,
    WRITE,
    AsyncSaverMethods,
    CheckpointConflict,
    Op,
    Step,
)
from app.store.keys import Keys

T = TypeVar("T")
PAGE = 100  # checkpoint ids read per round trip when listing
DEL_CHUNK = 500  # keys per DEL command
EMPTY = b"empty\0"  # the serde "empty" marker: the channel had no value at that version
FIELDS = ("checkpoint", "metadata", "parent")
Cmd = Callable[[Any], Any]
cmd = methodcaller  # cmd("hget", key, field)(pipeline) queues HGET on the pipeline


def frame(head: bytes, data: bytes) -> bytes:
    """``head NUL data``; heads (serde type names, JSON) never hold a NUL byte."""
    return head + b"\0" + data


def unframe(raw: bytes) -> tuple[bytes, bytes]:
    head, _, data = raw.partition(b"\0")
    return head, data


def blob_field(channel: str, version: str | int | float) -> bytes:
    return orjson.dumps([channel, version])


def run_config(thread_id: str, checkpoint_ns: str, checkpoint_id: str) -> RunnableConfig:
    """The config that names one checkpoint, as savers return it."""
    ids = {"thread_id": thread_id, "checkpoint_ns": checkpoint_ns, "checkpoint_id": checkpoint_id}
    return {"configurable": ids}


def target(config: RunnableConfig) -> tuple[str, str, str | None]:
    """(thread_id, checkpoint_ns, checkpoint_id or None) of a config ("" counts as None)."""
    conf = config["configurable"]
    return str(conf["thread_id"]), conf.get("checkpoint_ns") or "", checkpoint_id_of(config)


def checkpoint_id_of(config: RunnableConfig | None) -> str | None:
    """The checkpoint id a config names, None for none or "" (as InMemorySaver reads it)."""
    return (get_checkpoint_id(config) or None) if config else None


def writes_sort_key(task_path: str, task_id: str, idx: int) -> tuple[str, str, int]:
    """The order of a checkpoint's pending writes: langgraph-checkpoint's `writes_sort_key`
    (4.3+; defined here so that older versions, which Postgres also sorted so, still work)."""
    return (task_path, task_id, idx)


def data_fields(checkpoint_id: str) -> list[str]:
    return [f"{checkpoint_id}:{name}" for name in FIELDS]


def decoded(members: Any) -> list[str]:
    """Sorted str of a SMEMBERS / ZRANGE reply (bytes)."""
    return sorted(m.decode() for m in members)


class SyncSession:
    """Runs the steps of one operation attempt on a sync client; owns its WATCH connection."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self.watcher: Any = None

    def run(self, step: Step) -> Any:
        kind, payload = step
        if kind == WATCH:
            if self.watcher is None:
                self.watcher = self.redis.pipeline()
            self.watcher.watch(*payload)
            return None
        if kind == READ:
            return self._execute(self.redis.pipeline(transaction=False), payload)
        assert kind == WRITE, kind
        pipe, self.watcher = self.watcher or self.redis.pipeline(), None
        if pipe.watching:
            pipe.multi()
        return self._execute(pipe, payload)

    @staticmethod
    def _execute(pipe: Any, cmds: Sequence[Cmd]) -> list[Any]:
        with pipe:
            for c in cmds:
                c(pipe)
            return pipe.execute() if cmds else []

    def close(self) -> None:
        if self.watcher is not None:
            self.watcher.reset()


def drive(op: Op[T], session: SyncSession) -> T:
    """Run an operation that emits nothing to its end; its return value."""
    reply = None
    while True:
        try:
            step = op.send(reply)
        except StopIteration as stop:
            return stop.value
        if step[0] == EMIT:
            raise TypeError("this operation cannot emit")
        reply = session.run(step)


class RedisCheckpointOps(BaseCheckpointSaver[str]):
    """The operations of RedisSaver as step generators (see checkpoints_async.py)."""

    keys: Keys

    # -- serialization -------------------------------------------------------------------

    def _dumps(self, obj: Any) -> bytes:
        type_, data = self.serde.dumps_typed(obj)
        return frame(type_.encode(), data)

    def _loads(self, raw: bytes) -> Any:
        type_, data = unframe(raw)
        return self.serde.loads_typed((type_.decode(), data))

    def _dumps_write(self, channel: str, value: Any, task_path: str) -> bytes:
        type_, data = self.serde.dumps_typed(value)
        return frame(orjson.dumps([channel, type_, task_path]), data)

    def _pending_writes(self, raw: dict[bytes, bytes]) -> list[PendingWrite]:
        """Decode a writes hash, in writes_sort_key order (task_path, task_id, idx)."""
        rows = []
        for field, value in raw.items():
            task_id, idx = orjson.loads(field)
            head, data = unframe(value)
            channel, type_, task_path = orjson.loads(head)
            write = (task_id, channel, self.serde.loads_typed((type_, data)))
            rows.append((writes_sort_key(task_path, task_id, idx), write))
        rows.sort(key=lambda row: row[0])
        return [write for _, write in rows]

    # -- reads ---------------------------------------------------------------------------

    def _get_tuple_op(self, config: RunnableConfig) -> Op[CheckpointTuple | None]:
        thread_id, ns, checkpoint_id = target(config)
        if checkpoint_id is None:
            (latest,) = yield READ, [cmd("zrange", self.keys.checkpoint_ids(thread_id, ns), -1, -1)]
            if not latest:
                return None
            checkpoint_id = latest[0].decode()
        found = yield from self._load_op(thread_id, ns, [checkpoint_id])
        return found[0] if found else None

    def _load_op(self, thread_id: str, ns: str, ids: Sequence[str]) -> Op[list[CheckpointTuple]]:
        """The tuples of these checkpoint ids of (thread, ns), missing ones left out."""
        data = self.keys.checkpoint_data(thread_id, ns)
        cmds: list[Cmd] = []
        for checkpoint_id in ids:
            writes = self.keys.checkpoint_writes(thread_id, ns, checkpoint_id)
            cmds += [cmd("hmget", data, data_fields(checkpoint_id)), cmd("hgetall", writes)]
        replies = yield READ, cmds
        found = [
            (checkpoint_id, self._loads(row[0]), row, writes)
            for checkpoint_id, row, writes in zip(ids, replies[::2], replies[1::2], strict=True)
            if row[0] is not None
        ]
        blobs = self.keys.checkpoint_blobs(thread_id, ns)
        fields = [[blob_field(*v) for v in c["channel_versions"].items()] for _, c, _, _ in found]
        values = iter((yield READ, [cmd("hmget", blobs, f) for f in fields if f]))
        tuples = []
        for (checkpoint_id, checkpoint, row, writes), f in zip(found, fields, strict=True):
            checkpoint["channel_values"] = self._channel_values(
                checkpoint, next(values) if f else []
            )
            config = run_config(thread_id, ns, checkpoint_id)
            tuples.append(self._tuple(config, checkpoint, row, writes))
        return tuples

    def _tuple(
        self, config: RunnableConfig, checkpoint: Checkpoint, row: list, writes: dict
    ) -> CheckpointTuple:
        """A CheckpointTuple from the HMGET of its data fields and the HGETALL of its writes."""
        _, metadata, parent = row
        conf = config["configurable"]
        parent_config = run_config(conf["thread_id"], conf["checkpoint_ns"], parent.decode())
        return CheckpointTuple(
            config=config,
            checkpoint=checkpoint,
            metadata=self._loads(metadata),
            parent_config=parent_config if parent else None,
            pending_writes=self._pending_writes(writes),
        )

    def _channel_values(self, checkpoint: Checkpoint, raw: Sequence[bytes | None]) -> dict:
        """Channel values of a checkpoint from its blobs (HMGET order of channel_versions)."""
        names = checkpoint["channel_versions"].keys()
        pairs = zip(names, raw, strict=False) if raw else ()
        return {name: self._loads(blob) for name, blob in pairs if blob not in (None, EMPTY)}

    def _list_op(
        self,
        config: RunnableConfig | None,
        filter: dict[str, Any] | None,
        before: RunnableConfig | None,
        limit: int | None,
    ) -> Op[None]:
        left = limit if limit is not None else float("inf")
        only, before_id = checkpoint_id_of(config), checkpoint_id_of(before)
        for thread_id, ns in (yield from self._scopes_op(config)):
            cursor, done = before_id, False
            while left > 0 and not done:
                if only is not None:  # the config names one checkpoint
                    ids, done = [only] if before_id is None or only < before_id else [], True
                else:
                    size = PAGE if filter else int(min(left, PAGE))
                    ids = yield from self._page_op(thread_id, ns, cursor, size)
                    done, cursor = len(ids) < size, ids[-1] if ids else cursor
                if filter:
                    ids = yield from self._matching_op(thread_id, ns, ids, filter)
                found = yield from self._load_op(thread_id, ns, ids[: int(min(left, len(ids)))])
                left -= len(found)
                yield EMIT, found

    def _scopes_op(self, config: RunnableConfig | None) -> Op[list[tuple[str, str]]]:
        """The (thread, namespace) pairs a listing walks, in a stable order."""
        if config is None:
            (members,) = yield READ, [cmd("smembers", self.keys.checkpoint_threads())]
            threads = decoded(members)
        else:
            threads = [str(config["configurable"]["thread_id"])]
        ns = config["configurable"].get("checkpoint_ns") if config else None
        if ns is not None:
            return [(thread_id, ns) for thread_id in threads]
        replies = yield READ, [cmd("smembers", self.keys.checkpoint_namespaces(t)) for t in threads]
        return [(t, n) for t, ns in zip(threads, replies, strict=True) for n in decoded(ns)]

    def _page_op(self, thread_id: str, ns: str, cursor: str | None, size: int) -> Op[list[str]]:
        """Up to `size` checkpoint ids below `cursor` (exclusive), newest first."""
        top = b"(" + cursor.encode() if cursor is not None else b"+"
        key = self.keys.checkpoint_ids(thread_id, ns)
        (ids,) = yield READ, [cmd("zrevrangebylex", key, top, b"-", 0, size)]
        return [i.decode() for i in ids]

    def _matching_op(
        self, thread_id: str, ns: str, ids: Sequence[str], filter: dict[str, Any]
    ) -> Op[list[str]]:
        """The ids whose metadata holds every filter key with an equal value."""
        if not ids:
            return []
        fields = [f"{checkpoint_id}:metadata" for checkpoint_id in ids]
        (raw,) = yield READ, [cmd("hmget", self.keys.checkpoint_data(thread_id, ns), fields)]
        metas = [self._loads(m) if m is not None else {} for m in raw]
        return [
            checkpoint_id
            for checkpoint_id, meta in zip(ids, metas, strict=True)
            if all(value == meta.get(key) for key, value in filter.items())
        ]

    # -- writes --------------------------------------------------------------------------

    def _put_op(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> Op[RunnableConfig]:
        thread_id, ns, parent_id = target(config)
        checkpoint_id, keys = checkpoint["id"], self.keys
        stored = checkpoint.copy()
        values: dict[str, Any] = stored.pop("channel_values")  # type: ignore[misc]
        meta = get_checkpoint_metadata(config, metadata)
        record = {
            f"{checkpoint_id}:checkpoint": self._dumps(stored),
            f"{checkpoint_id}:metadata": self._dumps(meta),
            f"{checkpoint_id}:parent": (parent_id or "").encode(),
        }
        ids, data = keys.checkpoint_ids(thread_id, ns), keys.checkpoint_data(thread_id, ns)
        namespaces = keys.checkpoint_namespaces(thread_id)
        cmds = [
            cmd("hset", data, mapping=record),
            cmd("zadd", ids, {checkpoint_id: 0}),
            cmd("sadd", namespaces, ns),
            cmd("sadd", keys.checkpoint_registry(thread_id), ids, data, namespaces),
            cmd("sadd", keys.checkpoint_threads(), thread_id),
        ]
        if new_versions:
            blobs = keys.checkpoint_blobs(thread_id, ns)
            cmds.append(cmd("hset", blobs, mapping=self._blobs(values, new_versions)))
            cmds.append(cmd("sadd", keys.checkpoint_registry(thread_id), blobs))
        if run_id := meta.get("run_id"):
            cmds += self._index_run(thread_id, str(run_id), [(ns, checkpoint_id)])
        yield WRITE, cmds
        return run_config(thread_id, ns, checkpoint_id)

    def _blobs(self, values: dict[str, Any], new_versions: ChannelVersions) -> dict[bytes, bytes]:
        """The blobs of the new channel versions; "empty" for a channel without a value."""
        return {
            blob_field(channel, version): self._dumps(values[channel])
            if channel in values
            else EMPTY
            for channel, version in new_versions.items()
        }

    def _index_run(self, thread_id: str, run_id: str, refs: Sequence[tuple[str, str]]) -> list:
        """Commands that record that `run_id` made these (ns, checkpoint_id) of the thread."""
        keys = self.keys
        refs_key, runs = (
            keys.checkpoint_run_refs(thread_id, run_id),
            keys.checkpoint_thread_runs(thread_id),
        )
        return [
            cmd("sadd", refs_key, *map(orjson.dumps, refs)),
            cmd("sadd", runs, run_id),
            cmd("sadd", keys.checkpoint_registry(thread_id), refs_key, runs),
            cmd("sadd", keys.checkpoint_run(run_id), thread_id),
        ]

    def _put_writes_op(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str,
    ) -> Op[None]:
        thread_id, ns, checkpoint_id = target(config)
        if checkpoint_id is None:
            raise ValueError("put_writes needs a config with a checkpoint_id")
        key = self.keys.checkpoint_writes(thread_id, ns, checkpoint_id)
        cmds = []
        for idx, (channel, value) in enumerate(writes):
            write_idx = WRITES_IDX_MAP.get(channel, idx)
            field = orjson.dumps([task_id, write_idx])
            # Special channels (error, interrupt, ...) overwrite; others keep the first write.
            verb = "hset" if write_idx < 0 else "hsetnx"
            cmds.append(cmd(verb, key, field, self._dumps_write(channel, value, task_path)))
        if cmds:
            cmds.append(cmd("sadd", self.keys.checkpoint_registry(thread_id), key))
            yield WRITE, cmds

    # -- whole-thread operations ---------------------------------------------------------

    def _snapshot_op(self, thread_id: str) -> Op[dict[str, list[str]]]:
        """WATCH the thread's registry and keys; its namespaces, runs and registry members."""
        keys, registry = self.keys, self.keys.checkpoint_registry(thread_id)
        yield WATCH, [registry]
        reads = [
            cmd("smembers", registry),
            cmd("smembers", keys.checkpoint_namespaces(thread_id)),
            cmd("smembers", keys.checkpoint_thread_runs(thread_id)),
        ]
        members, namespaces, runs = yield READ, reads
        if members:
            yield WATCH, decoded(members)
        return {"keys": decoded(members), "ns": decoded(namespaces), "runs": decoded(runs)}

    def _delete_thread_op(self, thread_id: str) -> Op[None]:
        snap = yield from self._snapshot_op(thread_id)
        doomed = [self.keys.checkpoint_registry(thread_id), *snap["keys"]]
        cmds = [cmd("delete", *doomed[i : i + DEL_CHUNK]) for i in range(0, len(doomed), DEL_CHUNK)]
        cmds += [cmd("srem", self.keys.checkpoint_run(run), thread_id) for run in snap["runs"]]
        cmds.append(cmd("srem", self.keys.checkpoint_threads(), thread_id))
        yield WRITE, cmds

    def _copy_thread_op(self, source: str, dest: str) -> Op[None]:
        snap = yield from self._snapshot_op(source)
        dump = yield from self._dump_op(source, snap)
        yield WRITE, self._restore_cmds(dest, dump)

    def _dump_op(self, thread_id: str, snap: dict[str, list[str]]) -> Op[dict[str, dict]]:
        """What the thread stores, as read: per namespace its ids, data, blobs and writes
        (by checkpoint id), and per run its refs."""
        keys, namespaces = self.keys, snap["ns"]
        reads: list[Cmd] = []
        for ns in namespaces:
            reads.append(cmd("zrange", keys.checkpoint_ids(thread_id, ns), 0, -1))
            reads.append(cmd("hgetall", keys.checkpoint_data(thread_id, ns)))
            reads.append(cmd("hgetall", keys.checkpoint_blobs(thread_id, ns)))
        reads += [cmd("smembers", keys.checkpoint_run_refs(thread_id, r)) for r in snap["runs"]]
        replies = yield READ, reads
        n = len(namespaces)
        parts = {
            ns: {"ids": decoded(ids), "data": data, "blobs": blobs, "writes": {}}
            for ns, (ids, data, blobs) in zip(
                namespaces, (replies[i : i + 3] for i in range(0, 3 * n, 3)), strict=True
            )
        }
        pairs = [(ns, checkpoint_id) for ns, part in parts.items() for checkpoint_id in part["ids"]]
        writes = yield READ, [cmd("hgetall", keys.checkpoint_writes(thread_id, *p)) for p in pairs]
        for (ns, checkpoint_id), written in zip(pairs, writes, strict=True):
            parts[ns]["writes"][checkpoint_id] = written
        refs = replies[3 * n :]
        return {"ns": parts, "runs": dict(zip(snap["runs"], refs, strict=True))}

    def _restore_cmds(self, thread_id: str, dump: dict[str, dict]) -> list[Cmd]:
        """Commands that write a dump (see _dump_op) into a thread, over what it holds."""
        keys, namespaces = self.keys, self.keys.checkpoint_namespaces(thread_id)
        cmds: list[Cmd] = []
        touched: list[str] = []
        for ns, part in dump["ns"].items():
            if not part["ids"]:
                continue
            ids, data = keys.checkpoint_ids(thread_id, ns), keys.checkpoint_data(thread_id, ns)
            cmds.append(cmd("zadd", ids, dict.fromkeys(part["ids"], 0)))
            cmds.append(cmd("hset", data, mapping=part["data"]))
            cmds.append(cmd("sadd", namespaces, ns))
            touched += [ids, data]
            if part["blobs"]:
                blobs = keys.checkpoint_blobs(thread_id, ns)
                cmds.append(cmd("hset", blobs, mapping=part["blobs"]))
                touched.append(blobs)
            for checkpoint_id, written in part["writes"].items():
                if written:
                    key = keys.checkpoint_writes(thread_id, ns, checkpoint_id)
                    cmds.append(cmd("hset", key, mapping=written))
                    touched.append(key)
        if not touched:
            return []
        for run, refs in dump["runs"].items():
            if refs:
                cmds += self._index_run(thread_id, run, [tuple(orjson.loads(r)) for r in refs])
        cmds.append(cmd("sadd", keys.checkpoint_registry(thread_id), namespaces, *touched))
        cmds.append(cmd("sadd", keys.checkpoint_threads(), thread_id))
        return cmds

    def _prune_op(self, thread_id: str, strategy: str) -> Op[None]:
        if strategy == "delete":
            return (yield from self._delete_thread_op(thread_id))
        if strategy != "keep_latest":
            raise ValueError(f"unknown prune strategy {strategy!r}")
        snap = yield from self._snapshot_op(thread_id)
        dropped: set[tuple[str, str]] = set()
        cmds: list[Cmd] = []
        for ns in snap["ns"]:
            gone, ns_cmds = yield from self._prune_namespace_op(thread_id, ns)
            dropped |= {(ns, checkpoint_id) for checkpoint_id in gone}
            cmds += ns_cmds
        cmds += yield from self._unindex_op(thread_id, snap["runs"], dropped)
        yield WRITE, cmds

    def _prune_namespace_op(self, thread_id: str, ns: str) -> Op[tuple[list[str], list[Cmd]]]:
        """Ids to drop from (thread, ns) and the commands that drop them and their blobs."""
        ids_key = self.keys.checkpoint_ids(thread_id, ns)
        blobs_key = self.keys.checkpoint_blobs(thread_id, ns)
        all_ids, blob_names = yield READ, [cmd("zrange", ids_key, 0, -1), cmd("hkeys", blobs_key)]
        kept = yield from self._kept_chain_op(thread_id, ns, decoded(all_ids))
        kept_ids = {t.config["configurable"]["checkpoint_id"] for t in kept}
        used = {blob_field(*v) for t in kept for v in t.checkpoint["channel_versions"].items()}
        gone = [i for i in decoded(all_ids) if i not in kept_ids]
        stale = [name for name in blob_names if name not in used]
        cmds = self._drop_checkpoints(thread_id, ns, gone)
        if stale:
            cmds.append(cmd("hdel", blobs_key, *stale))
        return gone, cmds

    def _kept_chain_op(self, thread_id: str, ns: str, ids: list[str]) -> Op[list[CheckpointTuple]]:
        """The latest checkpoint and the ancestors its DeltaChannels replay writes from.

        A delta channel left out of a checkpoint's values is rebuilt from the writes of its
        ancestors back to the nearest one that stores a value for it (see
        BaseCheckpointSaver.prune), so those ancestors stay.
        """
        chain = yield from self._load_op(thread_id, ns, ids[-1:])
        if not chain:
            return []
        head = chain[0]
        counters = head.metadata.get("counters_since_delta_snapshot") or {}
        needed = set(counters) - set(head.checkpoint["channel_values"])
        while needed and chain[-1].parent_config is not None:
            parent = checkpoint_id_of(chain[-1].parent_config)
            found = yield from self._load_op(thread_id, ns, [parent] if parent else [])
            if not found:
                break
            chain.append(found[0])
            needed -= set(found[0].checkpoint["channel_values"])
        return chain

    def _drop_checkpoints(self, thread_id: str, ns: str, ids: Sequence[str]) -> list[Cmd]:
        """Commands that remove these checkpoints of (thread, ns) and their writes."""
        if not ids:
            return []
        keys = self.keys
        writes = [keys.checkpoint_writes(thread_id, ns, checkpoint_id) for checkpoint_id in ids]
        fields = [field for checkpoint_id in ids for field in data_fields(checkpoint_id)]
        return [
            cmd("zrem", keys.checkpoint_ids(thread_id, ns), *ids),
            cmd("hdel", keys.checkpoint_data(thread_id, ns), *fields),
            *(cmd("delete", *writes[i : i + DEL_CHUNK]) for i in range(0, len(writes), DEL_CHUNK)),
            cmd("srem", keys.checkpoint_registry(thread_id), *writes),
        ]

    def _unindex_op(
        self, thread_id: str, runs: Sequence[str], dropped: set[tuple[str, str]]
    ) -> Op[list[Cmd]]:
        """Commands that forget dropped checkpoints in the thread's run index."""
        if not dropped or not runs:
            return []
        refs_keys = [self.keys.checkpoint_run_refs(thread_id, run) for run in runs]
        replies = yield READ, [cmd("smembers", key) for key in refs_keys]
        cmds: list[Cmd] = []
        for run, refs in zip(runs, replies, strict=True):
            gone = [r for r in refs if tuple(orjson.loads(r)) in dropped]
            cmds += self._unindex_refs(thread_id, run, gone, left=len(refs) - len(gone))
        return cmds

    def _unindex_refs(self, thread_id: str, run: str, refs: Sequence[bytes], left: int) -> list:
        """Commands that remove refs from a run's index, and the run itself when none are left."""
        keys, refs_key = self.keys, self.keys.checkpoint_run_refs(thread_id, run)
        if left:
            return [cmd("srem", refs_key, *refs)] if refs else []
        return [
            cmd("delete", refs_key),
            cmd("srem", keys.checkpoint_thread_runs(thread_id), run),
            cmd("srem", keys.checkpoint_registry(thread_id), refs_key),
            cmd("srem", keys.checkpoint_run(run), thread_id),
        ]

    def _delete_run_op(self, run_id: str) -> Op[None]:
        run_key = self.keys.checkpoint_run(run_id)
        yield WATCH, [run_key]
        (members,) = yield READ, [cmd("smembers", run_key)]
        threads = decoded(members)
        refs_keys = [self.keys.checkpoint_run_refs(t, run_id) for t in threads]
        if refs_keys:
            yield WATCH, refs_keys
        replies = yield READ, [cmd("smembers", key) for key in refs_keys]
        cmds: list[Cmd] = []
        for thread_id, refs in zip(threads, replies, strict=True):
            pairs = sorted(tuple(orjson.loads(r)) for r in refs)
            for ns in {ns for ns, _ in pairs}:
                cmds += self._drop_checkpoints(thread_id, ns, [i for n, i in pairs if n == ns])
            cmds += self._unindex_refs(thread_id, run_id, list(refs), left=0)
        cmds.append(cmd("delete", run_key))
        yield WRITE, cmds


class RedisSaver(AsyncSaverMethods, RedisCheckpointOps):
    """LangGraph checkpointer on plain Redis; sync and async (see checkpoints_async.py).

    `redis` must return bytes (decode_responses=False). The async methods use `aredis`
    when given and otherwise run the sync client in a worker thread.
    """

    def __init__(
        self,
        redis: Redis,
        keys: Keys | None = None,
        *,
        aredis: AsyncRedis | None = None,
        serde: SerializerProtocol | None = None,
    ) -> None:
        super().__init__(serde=serde)
        for client in (redis, aredis):
            if client is not None and client.get_connection_kwargs().get("decode_responses"):
                raise ValueError("RedisSaver needs a client with decode_responses=False")
        self.redis, self.aredis, self.keys = redis, aredis, keys or Keys()

    @classmethod
    def from_url(cls, url: str, keys: Keys | None = None, **kwargs: Any) -> RedisSaver:
        """A saver with a sync and an async client on `url`."""
        aredis = AsyncRedis.from_url(url)
        return cls(Redis.from_url(url), keys, aredis=aredis, **kwargs)

    def close(self) -> None:
        """Close the sync client (its connection pool); see aclose() for the async one."""
        self.redis.close()

    # -- sync API ------------------------------------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint named by `config`, or the thread's latest one in its namespace."""
        return self._run(lambda: self._get_tuple_op(config))

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """Checkpoints newest first per (thread, namespace), as InMemorySaver lists them."""
        session = SyncSession(self.redis)
        op, reply = self._list_op(config, filter, before, limit), None
        while True:  # a listing only reads: no WATCH to release
            try:
                step = op.send(reply)
            except StopIteration:
                return
            if step[0] == EMIT:
                yield from step[1]
                reply = None
            else:
                reply = session.run(step)

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store a checkpoint and the channel values of `new_versions` in one MULTI/EXEC."""
        return self._run(lambda: self._put_op(config, checkpoint, metadata, new_versions))

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store a task's writes; idempotent per (task_id, idx), special channels overwrite."""
        self._run(lambda: self._put_writes_op(config, writes, task_id, task_path))

    def delete_thread(self, thread_id: str) -> None:
        """Remove every checkpoint, blob and write of the thread, in all namespaces."""
        self._run(lambda: self._delete_thread_op(str(thread_id)))

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy all checkpoints (the whole parent chain) and writes into another thread."""
        self._run(lambda: self._copy_thread_op(str(source_thread_id), str(target_thread_id)))

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """``keep_latest``: keep each namespace's latest checkpoint (and the ancestors its
        DeltaChannels replay from); ``delete``: delete the threads."""
        for thread_id in thread_ids:
            self._run(lambda t=str(thread_id): self._prune_op(t, strategy))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Remove the checkpoints (and their writes) that these runs made."""
        for run_id in run_ids:
            self._run(lambda r=str(run_id): self._delete_run_op(r))

    def get_next_version(self, current: str | None, channel: None) -> str:
        """Zero-padded counter plus a random fraction, as InMemorySaver makes them."""
        if current is None:
            current_v = 0
        elif isinstance(current, int):
            current_v = current
        else:
            current_v = int(current.split(".")[0])
        return f"{current_v + 1:032}.{random.random():016}"

    def _sync_session(self) -> SyncSession:
        return SyncSession(self.redis)

    def _run(self, make: Callable[[], Op[T]]) -> T:
        """Run an operation, restarting it while a watched key changes under it."""
        for _ in range(MAX_ATTEMPTS):
            session = SyncSession(self.redis)
            try:
                return drive(make(), session)
            except WatchError:
                continue
            finally:
                session.close()
        raise CheckpointConflict(f"gave up after {MAX_ATTEMPTS} conflicting writes")
