"""Thread records: create, read, patch, delete, copy, prune. Every write is one Lua script.

A thread's LangGraph checkpoints follow its record: ``copy`` copies them, ``delete`` and
``prune`` remove them (through ``checkpoints``, the RedisSaver on the same keys)."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterable, Sequence
from operator import methodcaller
from typing import Any, Protocol, TypeVar

import orjson
import uuid_utils
from redis import Redis

from threadwatch.domain import ThreadStatus, assistant_of
from threadwatch.errors import ConcurrentUpdate, ThreadExists, ThreadNotFound
from threadwatch.store.codec import (
    decode_hash,
    dumps,
    seconds_to_us,
    thread_from_hash,
    thread_member,
    threads_from_hashes,
    transition_from_entry,
    ttl_from_hash,
)
from threadwatch.store.keys import Keys
from threadwatch.store.metadata_index import metadata_leaves
from threadwatch.store.pipelined import Read
from threadwatch.store.run_streams import THREAD_STREAM_MAXLEN, THREAD_STREAM_TTL_SECONDS
from threadwatch.store.scripts import ChangedSinceRead, Scripts

CAS_ATTEMPTS = 20
# Metadata version tokens: random, so that no other writer can produce the one expected.
EMPTY_VERSION = "0"
# A thread's (metadata, metadata version token, exists), as read for an optimistic update.
MetadataRead = tuple[dict[str, Any], str, bool]
T = TypeVar("T")


def new_version() -> str:
    return secrets.token_hex(6)


def new_thread_id() -> str:
    """A time-ordered UUID, as LangGraph generates (uuid7)."""
    return str(uuid_utils.uuid7())


class CheckpointThreads(Protocol):
    """The whole-thread (and whole-run) operations of a checkpoint saver (``RedisSaver``
    has them)."""

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None: ...

    def delete_thread(self, thread_id: str) -> None: ...

    def prune(self, thread_ids: Sequence[str], *, strategy: str = ...) -> None: ...

    def delete_for_runs(self, run_ids: Sequence[str]) -> None: ...


def default_checkpoints(redis: Redis, keys: Keys, inline: bool = False) -> CheckpointThreads | None:
    """A ``RedisSaver`` on the same client and keys (its async methods ``inline``: see
    RedisSaver); None without langgraph (optional), when no thread can have checkpoints."""
    try:
        from threadwatch.store.checkpoints import RedisSaver
    except ImportError:
        return None
    return RedisSaver(redis, keys, inline=inline, server_metadata=True)


# Status changes kept per thread unless configured (settings.status_history_limit).
DEFAULT_HISTORY_LIMIT = 100


class ThreadStore:
    """Reads and writes thread records through ``Keys`` and ``Scripts``; the checkpoints of
    a thread are copied and removed with it (``checkpoints`` defaults to a RedisSaver)."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        scripts: Scripts | None = None,
        checkpoints: CheckpointThreads | None = None,
        history_limit: int = DEFAULT_HISTORY_LIMIT,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.scripts = scripts or Scripts(redis)
        self.history_limit = history_limit
        if checkpoints is None:
            checkpoints = default_checkpoints(redis, keys)
        self.checkpoints = checkpoints

    # -- reads ---------------------------------------------------------------------------

    def transitions(self, thread_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """The thread's last status changes, newest first: {at, from, to, run_id}."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.exists(self.keys.thread(thread_id))
        pipe.lrange(self.keys.thread_transitions(thread_id), 0, limit - 1)
        exists, raw = pipe.execute()
        if not exists:
            raise ThreadNotFound(thread_id)
        return [transition_from_entry(entry) for entry in raw]

    def get(self, thread_id: str, include_ttl: bool = False) -> dict[str, Any]:
        raw = self.redis.hgetall(self.keys.thread(thread_id))
        if not raw:
            raise ThreadNotFound(thread_id)
        fields = decode_hash(raw)
        thread = thread_from_hash(thread_id, fields)
        if include_ttl:
            thread["ttl"] = ttl_from_hash(fields)
        return thread

    def get_many(self, thread_ids: Iterable[str]) -> list[dict[str, Any]]:
        """Threads in the given order; ids that no longer exist are left out."""
        ids = list(thread_ids)
        pipe = self.redis.pipeline(transaction=False)
        for thread_id in ids:
            pipe.hgetall(self.keys.thread(thread_id))
        return threads_from_hashes(ids, pipe.execute())

    def exists(self, thread_id: str) -> bool:
        return bool(self.redis.exists(self.keys.thread(thread_id)))

    def read_metadata(self, thread_id: str) -> MetadataRead:
        """(metadata, metadata version token, exists) for an optimistic metadata update."""
        return _metadata_read(self.redis.hmget(self.keys.thread(thread_id), "metadata", "mver"))

    def metadata_read(self, thread_id: str) -> Read[MetadataRead]:
        """``read_metadata``, to send with other reads."""
        command = methodcaller("hmget", self.keys.thread(thread_id), "metadata", "mver")
        return Read(command, _metadata_read)

    # -- writes --------------------------------------------------------------------------

    def create(
        self,
        thread_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        *,
        config: dict[str, Any] | None = None,
        values: Any = None,
        if_exists: str = "raise",
        ttl: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Insert a thread; with ``if_exists="do_nothing"`` return an existing one unchanged."""
        thread_id = thread_id or new_thread_id()
        metadata = metadata or {}
        leaves = sorted(metadata_leaves(metadata))
        ttl_minutes, ttl_strategy = _ttl_args(ttl)
        created, raw = self.scripts.create_thread(
            keys=[
                self.keys.thread(thread_id),
                self.keys.status(ThreadStatus.IDLE),
                *self.keys.orders,
                self.keys.ttl(),
                *self.keys.leaf_index,
                *(self.keys.metadata_leaf(leaf) for leaf in leaves),
            ],
            args=[
                thread_member(thread_id),
                dumps(metadata),
                dumps(config or {}),
                b"" if values is None else dumps(values),
                new_version() if metadata else EMPTY_VERSION,
                ttl_minutes,
                ttl_strategy,
                assistant_of(metadata),
            ],
        )
        if not created and if_exists != "do_nothing":
            raise ThreadExists(thread_id)
        return thread_from_hash(thread_id, decode_hash(raw))

    def patch(
        self,
        thread_id: str,
        metadata: dict[str, Any] | None = None,
        ttl: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Shallow-merge ``metadata`` into the thread's (top-level keys replaced)."""
        ttl_minutes, ttl_strategy = _ttl_args(ttl)

        def attempt() -> list[Any]:
            old, mver, exists = self.read_metadata(thread_id)
            if not exists:
                raise ThreadNotFound(thread_id)
            merged = {**old, **(metadata or {})}
            changed = merged != old or dumps(merged) != dumps(old)
            leave, join = _leaf_diff(old, merged)
            return self.scripts.patch_thread(
                thread_id,
                keys=[
                    self.keys.thread(thread_id),
                    self.keys.order("updated_at"),
                    self.keys.ttl(),
                    *self.keys.leaf_index,
                    *(self.keys.metadata_leaf(leaf) for leaf in leave),
                    *(self.keys.metadata_leaf(leaf) for leaf in join),
                ],
                args=[
                    thread_member(thread_id),
                    mver if changed else "",
                    dumps(merged),
                    len(leave),
                    ttl_minutes,
                    ttl_strategy,
                    new_version(),
                    assistant_of(merged),
                ],
            )

        return thread_from_hash(thread_id, decode_hash(self._with_cas(thread_id, attempt)))

    def delete(self, thread_id: str) -> None:
        """Remove the thread, its runs, every index entry, then its checkpoints."""

        def attempt() -> None:
            old, mver, exists = self.read_metadata(thread_id)
            if not exists:
                raise ThreadNotFound(thread_id)
            runs = self.redis.zrange(self.keys.thread_runs(thread_id), 0, -1)
            run_ids = [r.decode() for r in runs]
            leaves = sorted(metadata_leaves(old))
            self.scripts.delete_thread(
                thread_id,
                keys=[
                    self.keys.thread(thread_id),
                    self.keys.thread_runs(thread_id),
                    *self.keys.statuses,
                    *self.keys.orders,
                    self.keys.thread_transitions(thread_id),
                    self.keys.leases(),
                    self.keys.runs_in("pending"),
                    self.keys.runs_in("running"),
                    self.keys.ttl(),
                    *self.keys.leaf_index,
                    self.keys.thread_waiting(thread_id),
                    *(self.keys.metadata_leaf(leaf) for leaf in leaves),
                    *(self.keys.run(run_id) for run_id in run_ids),
                ],
                args=[thread_member(thread_id), mver, len(leaves), len(run_ids), *run_ids],
            )

        self._with_cas(thread_id, attempt)
        if self.checkpoints is not None:
            self.checkpoints.delete_thread(thread_id)

    def set_state(
        self,
        thread_id: str,
        values: Any,
        interrupts: dict[str, Any],
        interrupted: bool,
        state: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The thread's state changed outside a run: new values and interrupts, and the
        status the new checkpoint leaves (interrupted with nodes left to run, else idle).
        A watched thread's stream gets the new ``state`` (ThreadState) as `state_update`."""
        update = {"state": state, "thread_id": thread_id}
        raw = self.scripts.set_state(
            thread_id,
            keys=[
                self.keys.thread(thread_id),
                *self.keys.statuses,
                self.keys.order("updated_at"),
                self.keys.order("state_updated_at"),
                self.keys.thread_transitions(thread_id),
                self.keys.metrics(),
                *self.keys.leaf_index,
                self.keys.thread_stream(thread_id),
            ],
            args=[
                thread_member(thread_id),
                dumps(values),
                dumps(interrupts),
                (ThreadStatus.INTERRUPTED if interrupted else ThreadStatus.IDLE).value,
                self.history_limit,
                dumps(update),
                THREAD_STREAM_MAXLEN,
                THREAD_STREAM_TTL_SECONDS,
            ],
        )
        return thread_from_hash(thread_id, decode_hash(raw))

    def watch(self, thread_id: str, seconds: float) -> str:
        """A client watches the thread's stream for ``seconds`` (renewable): the id of the
        stream's last entry, after which its events start. 404 for an unknown thread."""
        return self.scripts.watch_thread(
            thread_id,
            keys=[self.keys.thread(thread_id), self.keys.thread_stream(thread_id)],
            args=[seconds_to_us(seconds)],
        )

    def copy(self, thread_id: str) -> dict[str, Any]:
        """A new idle thread with the source's metadata, values and checkpoints (copied
        first, so that the new thread never shows without its state). The source's TTL is
        not copied: LangGraph's copy takes metadata and checkpoints only (in-memory runtime;
        the Postgres copy is closed source)."""
        raw = self.redis.hmget(self.keys.thread(thread_id), "metadata", "values")
        if raw[0] is None:
            raise ThreadNotFound(thread_id)
        values = orjson.loads(raw[1]) if raw[1] else None
        new_id = str(uuid.uuid4())
        if self.checkpoints is not None:
            self.checkpoints.copy_thread(thread_id, new_id)
        return self.create(new_id, orjson.loads(raw[0]), values=values)

    def prune(self, thread_ids: Iterable[str], strategy: str = "delete") -> int:
        """Delete (``delete``) or keep (``keep_latest``: only each thread's latest checkpoint
        is kept) the given threads; unknown ids are skipped."""
        pruned = 0
        for thread_id in dict.fromkeys(thread_ids):
            if strategy == "keep_latest":
                if self.exists(thread_id):
                    pruned += 1
                    if self.checkpoints is not None:
                        self.checkpoints.prune([thread_id], strategy="keep_latest")
                continue
            try:
                self.delete(thread_id)
            except ThreadNotFound:
                continue
            pruned += 1
        return pruned

    @staticmethod
    def _with_cas(thread_id: str, attempt: Callable[[], T]) -> T:
        """``attempt()``, again while what it read changes before its script runs."""
        for _ in range(CAS_ATTEMPTS):
            try:
                return attempt()
            except ChangedSinceRead:
                continue
        raise ConcurrentUpdate(thread_id)


def _leaf_diff(old: dict[str, Any], new: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Leaf sets to leave and to join when metadata goes from ``old`` to ``new``."""
    old_leaves, new_leaves = metadata_leaves(old), metadata_leaves(new)
    return sorted(old_leaves - new_leaves), sorted(new_leaves - old_leaves)


def _ttl_args(ttl: dict[str, Any] | None) -> tuple[str, str]:
    if not ttl:
        return "", ""
    minutes = ttl.get("ttl")
    if minutes is None:
        return "", ""
    return (repr(minutes) if minutes else "0"), str(ttl.get("strategy") or "delete")


def _metadata_read(reply: list[bytes | None]) -> MetadataRead:
    metadata, mver = reply
    if metadata is None:
        return {}, EMPTY_VERSION, False
    return orjson.loads(metadata), (mver or b"0").decode(), True
