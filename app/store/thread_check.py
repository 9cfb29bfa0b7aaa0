"""The doctor's check of threads (app/store/integrity.py): what each thread hash says against
its entries in the status, order and leaf indexes.

The doctor reads threads a batch at a time, in a few pipelined round trips, which a write of
the service can fall between: a thread that looks wrong from such a reading is read again at
one instant (lua/repair/read_thread.lua), and only what that reading shows is a problem. A
thread deleted meanwhile is no problem at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from redis import Redis

from threadwatch.domain import ThreadStatus
from threadwatch.store.codec import text, thread_member
from threadwatch.store.keys import SORT_FIELDS, Keys
from threadwatch.store.leaf_sets import leaf_names
from threadwatch.store.metadata_index import metadata_leaves
from threadwatch.store.scripts import RepairScripts

STATUSES = tuple(s.value for s in ThreadStatus)
THREAD_FIELDS = ("status", "status_since", "created_at", "updated_at", "state_updated_at")
# What the doctor reads of each thread hash.
ROW_FIELDS = (*THREAD_FIELDS, "metadata", "mver", "leaves", "inflight")
# Times a thread is read again while its metadata keeps changing under the reading.
REREADS = 5

Finding = tuple[str, str]  # (problem class, example)


@dataclass
class ThreadView:
    """One reading of a thread and of its index entries."""

    thread_id: str
    fields: dict[str, bytes | None]
    statuses: list[float | None]  # its score in each status zset (Keys.statuses)
    orders: list[float | None]  # its score in each order zset (Keys.orders)
    names: list[str] | None  # the names of its metadata's leaves (None: malformed metadata)
    ids: list[str | None] = field(default_factory=list)  # the id of each leaf, if it has one
    held: list[bool] = field(default_factory=list)  # in the set of its status, per leaf

    @property
    def status(self) -> str:
        return text(self.fields["status"] or b"")

    @property
    def well_formed(self) -> bool:
        """A known status and every timestamp (the checks below need them)."""
        return self.status in STATUSES and all(self.fields[f] is not None for f in THREAD_FIELDS)


@dataclass
class Findings:
    """What a view shows wrong, by the repair that mends it."""

    index: list[Finding] = field(default_factory=list)  # status and order entries
    leaves: list[Finding] = field(default_factory=list)  # leaves field, leaf sets
    malformed: list[Finding] = field(default_factory=list)  # reported, never repaired

    def __bool__(self) -> bool:
        return bool(self.index or self.leaves or self.malformed)


def findings(keys: Keys, view: ThreadView) -> Findings:
    """Every disagreement between the thread's hash and its index entries in ``view``."""
    found = Findings()
    thread_id, fields, status = view.thread_id, view.fields, view.status
    if not view.well_formed:
        found.malformed.append(("malformed_thread", f"{thread_id}: status {status!r}"))
        return found
    since = int(fields["status_since"] or 0)
    member_of = [s for s, score in zip(STATUSES, view.statuses, strict=True) if score is not None]
    if status not in member_of:
        found.index.append(("status_missing", f"{thread_id}: {status}, in {member_of or 'none'}"))
    elif view.statuses[STATUSES.index(status)] != since:
        found.index.append(("status_score", f"{thread_id}: status_since {since}"))
    if [s for s in member_of if s != status]:
        found.index.append(("status_extra", f"{thread_id}: {status}, in {member_of}"))
    for name, score in zip(SORT_FIELDS, view.orders, strict=True):
        want = 0 if name == "thread_id" else int(fields[name] or 0)
        if score is None:
            found.index.append(("order_missing", f"{thread_id}: order:{name}"))
        elif score != want:
            example = f"{thread_id}: order:{name} {score:.0f} != {want}"
            found.index.append(("order_score", example))
    if view.names is None:
        found.malformed.append(("malformed_thread", f"{thread_id}: metadata is not a JSON object"))
    else:
        found.leaves += _leaf_findings(keys, view)
    return found


def _leaf_findings(keys: Keys, view: ThreadView) -> list[Finding]:
    leaves = view.fields["leaves"]
    want = " ".join(sorted(i for i in view.ids if i is not None))
    if leaves is None or None in view.ids or text(leaves) != want:
        name = "leaf_unindexed" if leaves is None else "leaf_ids"
        example = f"{view.thread_id}: leaves field {leaves!r}, metadata leaves {view.names}"
        return [(name, example)]
    return [
        ("leaf_missing", f"{view.thread_id}: not in {keys.leaf_set(view.status, leaf_id)}")
        for leaf_id, held in zip(view.ids, view.held, strict=True)
        if leaf_id is not None and not held
    ]


class ThreadReader:
    """Reads threads for the checks: a batch at a time, or one at one instant."""

    def __init__(self, redis: Redis, keys: Keys, repairs: RepairScripts) -> None:
        self.redis, self.keys, self.repairs = redis, keys, repairs

    def batch(self, thread_ids: list[str]) -> list[ThreadView]:
        """The threads in two round trips: hashes and status and order entries, then leaf
        ids and leaf set entries. A thread deleted since the scan reads as one without a
        status: at_once() tells it from a malformed one."""
        members = [thread_member(thread_id) for thread_id in thread_ids]
        pipe = self.redis.pipeline(transaction=False)
        for thread_id in thread_ids:
            pipe.hmget(self.keys.thread(thread_id), *ROW_FIELDS)
        for key in (*self.keys.statuses, *self.keys.orders):
            pipe.zmscore(key, members)
        replies = pipe.execute()
        rows, scores = replies[: len(thread_ids)], replies[len(thread_ids) :]
        views: list[ThreadView] = []
        for i, (thread_id, row) in enumerate(zip(thread_ids, rows, strict=True)):
            fields = dict(zip(ROW_FIELDS, row, strict=True))
            statuses = [of_key[i] for of_key in scores[: len(STATUSES)]]
            orders = [of_key[i] for of_key in scores[len(STATUSES) :]]
            views.append(ThreadView(thread_id, fields, statuses, orders, self.leaf_names(fields)))
        self._read_leaves([view for view in views if view.names and view.well_formed])
        return views

    def _read_leaves(self, views: list[ThreadView]) -> None:
        wanted = sorted({name for view in views for name in view.names or ()})
        found = self.redis.hmget(self.keys.leaf_ids(), wanted) if wanted else []
        registered = {name: text(i) for name, i in zip(wanted, found, strict=True) if i}
        pipe = self.redis.pipeline(transaction=False)
        for view in views:
            view.ids = [registered.get(name) for name in view.names or ()]
            for leaf_id in view.ids:
                if leaf_id is not None:
                    key = self.keys.leaf_set(view.status, leaf_id)
                    pipe.sismember(key, thread_member(view.thread_id))
        held = iter(pipe.execute() if len(pipe) else [])
        for view in views:
            view.held = [leaf_id is not None and bool(next(held)) for leaf_id in view.ids]

    def at_once(self, thread_id: str) -> ThreadView | None:
        """The thread and its index entries read at one instant; None when it is gone, or
        its metadata kept changing while it was read."""
        key = self.keys.thread(thread_id)
        for _ in range(REREADS):
            metadata, mver = self.redis.hmget(key, "metadata", "mver")
            names = self.leaf_names({"metadata": metadata})
            reply = self.repairs.read_thread(
                keys=[
                    key,
                    *self.keys.statuses,
                    *self.keys.orders,
                    *self.keys.leaf_index,
                    *(names or ()),
                ],
                args=[thread_member(thread_id), text(mver or b"0"), *ROW_FIELDS],
            )
            if reply is None:
                return None
            if reply is False:
                continue
            row, statuses, orders, ids, held = reply
            return ThreadView(
                thread_id,
                dict(zip(ROW_FIELDS, row, strict=True)),
                [None if s is None else float(s) for s in statuses],
                [None if s is None else float(s) for s in orders],
                names,
                [None if i is None else text(i) for i in ids],
                [bool(h) for h in held],
            )
        return None

    def leaf_names(self, fields: dict[str, Any]) -> list[str] | None:
        """The names of a thread's leaves, from its stored metadata (None if malformed)."""
        try:
            metadata = orjson.loads(fields["metadata"] or b"{}")
        except orjson.JSONDecodeError:
            return None
        if not isinstance(metadata, dict):
            return None
        return leaf_names(self.keys, metadata_leaves(metadata))
