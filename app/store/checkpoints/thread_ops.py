"""Whole-thread operations of ``RedisSaver``: delete, copy, prune and delete_for_runs.

They read under WATCH (the thread's registry of keys and the keys it lists), so a
concurrent write aborts their MULTI/EXEC and the driver restarts them.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson
from langgraph.checkpoint.base import CheckpointTuple

from threadwatch.store.checkpoints.checkpoint_ops import CheckpointOps
from threadwatch.store.checkpoints.encoding import (
    blob_field,
    checkpoint_id_of,
    data_fields,
    decoded,
)
from threadwatch.store.checkpoints.steps import READ, WATCH, WRITE, Cmd, Op, cmd
from threadwatch.store.checkpoints.write_batch import WriteBatch

DEL_CHUNK = 500  # keys per DEL command


class ThreadOps(CheckpointOps):
    """Step generators that act on every checkpoint of a thread, or of a run."""

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
        yield WRITE, self._restore_batch(dest, dump)

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

    def _restore_batch(self, thread_id: str, dump: dict[str, dict]) -> WriteBatch:
        """The writes that put a dump (see _dump_op) into a thread, over what it holds."""
        keys, namespaces = self.keys, self.keys.checkpoint_namespaces(thread_id)
        batch = WriteBatch()
        touched: list[str] = []
        for ns, part in dump["ns"].items():
            if not part["ids"]:
                continue
            ids, data = keys.checkpoint_ids(thread_id, ns), keys.checkpoint_data(thread_id, ns)
            batch.zadd(ids, dict.fromkeys(part["ids"], 0)).hset(data, part["data"])
            batch.sadd(namespaces, ns)
            touched += [ids, data]
            if part["blobs"]:
                blobs = keys.checkpoint_blobs(thread_id, ns)
                batch.hset(blobs, part["blobs"])
                touched.append(blobs)
            for checkpoint_id, written in part["writes"].items():
                if written:
                    key = keys.checkpoint_writes(thread_id, ns, checkpoint_id)
                    batch.hset(key, written)
                    touched.append(key)
        if not touched:
            return batch  # nothing to restore
        for run, refs in dump["runs"].items():
            if refs:
                self._index_run(batch, thread_id, run, [tuple(orjson.loads(r)) for r in refs])
        batch.sadd(keys.checkpoint_registry(thread_id), namespaces, *touched)
        return batch.sadd(keys.checkpoint_threads(), thread_id)

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
