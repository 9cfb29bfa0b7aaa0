"""Per-checkpoint operations of ``RedisSaver``: get, list, put and put_writes.

Per (thread, namespace) Redis keeps the checkpoint ids, each checkpoint without its channel
values (with its metadata and parent), the channel values once per (channel, version), and
each checkpoint's pending writes; the keys are in keys.py (``ckpt:*``). Each operation is a
generator of steps (steps.py), run by the sync or the async driver.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

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
    get_checkpoint_metadata,
)

from threadwatch.store.checkpoints.encoding import (
    EMPTY,
    blob_field,
    checkpoint_id_of,
    data_fields,
    decoded,
    frame,
    run_config,
    target,
    unframe,
    writes_sort_key,
)
from threadwatch.store.checkpoints.steps import EMIT, READ, WRITE, Cmd, Op, cmd
from threadwatch.store.checkpoints.write_batch import WriteBatch
from threadwatch.store.keys import Keys

PAGE = 100  # checkpoint ids read per round trip when listing


class CheckpointOps(BaseCheckpointSaver[str]):
    """Step generators that read and write single checkpoints and their writes."""

    keys: Keys
    server_metadata: bool = False

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
        values: dict[str, Any] = stored.pop("channel_values")
        meta = (
            server_checkpoint_metadata(config, metadata)
            if self.server_metadata
            else get_checkpoint_metadata(config, metadata)
        )
        record = {
            f"{checkpoint_id}:checkpoint": self._dumps(stored),
            f"{checkpoint_id}:metadata": self._dumps(meta),
            f"{checkpoint_id}:parent": (parent_id or "").encode(),
        }
        ids, data = keys.checkpoint_ids(thread_id, ns), keys.checkpoint_data(thread_id, ns)
        namespaces = keys.checkpoint_namespaces(thread_id)
        registry = keys.checkpoint_registry(thread_id)
        batch = (
            WriteBatch()
            .hset(data, record)
            .zadd(ids, {checkpoint_id: 0})
            .sadd(namespaces, ns)
            .sadd(registry, ids, data, namespaces)
            .sadd(keys.checkpoint_threads(), thread_id)
        )
        if new_versions:
            blobs = keys.checkpoint_blobs(thread_id, ns)
            batch.hset(blobs, self._blobs(values, new_versions)).sadd(registry, blobs)
        if run_id := meta.get("run_id"):
            self._index_run(batch, thread_id, str(run_id), [(ns, checkpoint_id)])
        yield WRITE, batch
        return run_config(thread_id, ns, checkpoint_id)

    def _blobs(self, values: dict[str, Any], new_versions: ChannelVersions) -> dict[bytes, bytes]:
        """The blobs of the new channel versions; "empty" for a channel without a value."""
        return {
            blob_field(channel, version): self._dumps(values[channel])
            if channel in values
            else EMPTY
            for channel, version in new_versions.items()
        }

    def _index_run(
        self, batch: WriteBatch, thread_id: str, run_id: str, refs: Sequence[tuple[str, str]]
    ) -> WriteBatch:
        """Add to `batch` that `run_id` made these (ns, checkpoint_id) of the thread."""
        keys = self.keys
        refs_key, runs = (
            keys.checkpoint_run_refs(thread_id, run_id),
            keys.checkpoint_thread_runs(thread_id),
        )
        return (
            batch.sadd(refs_key, *map(orjson.dumps, refs))
            .sadd(runs, run_id)
            .sadd(keys.checkpoint_registry(thread_id), refs_key, runs)
            .sadd(keys.checkpoint_run(run_id), thread_id)
        )

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
        batch = WriteBatch()
        for idx, (channel, value) in enumerate(writes):
            write_idx = WRITES_IDX_MAP.get(channel, idx)
            field = orjson.dumps([task_id, write_idx])
            # Special channels (error, interrupt, ...) overwrite; others keep the first write.
            put = batch.hset if write_idx < 0 else batch.hsetnx
            put(key, {field: self._dumps_write(channel, value, task_path)})
        if batch:
            batch.sadd(self.keys.checkpoint_registry(thread_id), key)
            yield WRITE, batch


# Keys of a run's configurable that are request-scoped (langgraph-api's transient keys) or
# name the checkpoint itself: never part of a checkpoint's metadata.
_TRANSIENT_KEYS = frozenset(
    {"langgraph_request_id", "langgraph_auth_user", "langgraph_auth_user_id",
     "langgraph_auth_permissions"}
)  # fmt: skip
_CHECKPOINT_KEYS = frozenset({"checkpoint_ns", "checkpoint_id"})


def server_checkpoint_metadata(
    config: RunnableConfig, metadata: CheckpointMetadata
) -> CheckpointMetadata:
    """A checkpoint's metadata as LangGraph's server writes it (its checkpointer adapter's
    enrichment): the configurable's keys (thread_id, graph_id, ...), then the config's
    metadata (which LangChain filled with the configurable's plain values, a fork's
    checkpoint_id among them), then what the graph gave; request-scoped keys left out."""
    configurable = config.get("configurable") or {}
    enriched: dict[str, Any] = {
        **{
            k: v
            for k, v in configurable.items()
            if not k.startswith("__") and k not in _CHECKPOINT_KEYS | _TRANSIENT_KEYS
        },
        **{k: v for k, v in (config.get("metadata") or {}).items() if k not in _TRANSIENT_KEYS},
        **{k: v for k, v in metadata.items() if k not in _TRANSIENT_KEYS},
    }
    if not enriched.get("run_id"):
        run_id = config.get("run_id") or configurable.get("run_id")
        if run_id:
            enriched["run_id"] = run_id
    cleaned = {k: v.replace("\u0000", "") if isinstance(v, str) else v for k, v in enriched.items()}
    return cast(CheckpointMetadata, cleaned)
