"""`threadwatch doctor`: check the index invariants against the hashes, and repair them.

The thread and run hashes are the source of truth (app/store/keys.py has the layout); every
index must agree with them:

* each thread is in exactly one status zset, its own, scored by its status_since;
* each thread is in every order zset with the right score (0 in ``order:thread_id``);
* each per-status leaf set (``leaves:{status}:{id}``, see lua/lib/leaf_sets.lua) holds
  exactly the threads in that status whose metadata has that leaf, and a thread's
  ``leaves`` field names the ids (``leaf-ids``) of its metadata's leaves;
* no status, order or leaf member names a missing thread, and no ``runs:pending``,
  ``runs:running`` or ``leases`` member names a missing run;
* a run is in ``runs:pending`` iff pending, in ``runs:running`` iff running, and holds a
  lease only while in flight;
* a thread's ``inflight`` counter is the number of its runs pending or running, and its
  status is ``busy`` exactly when that number is not 0;
* every cron is in the cron indexes its hash puts it in, and no cron index member names a
  cron that is gone (app/store/cron_integrity.py);
* no leaf id is registered without members, and no key of an earlier layout is left (the
  status-less leaf sets ``mi:*`` and the ``leaf-counts`` hash). ``--fix`` indexes a store
  written before the per-status leaf sets and then marks it complete (``#sets``).

The passes read the keyspace with SCAN / ZSCAN / SSCAN and pipelines, ``batch`` keys at a
time, so that a million threads take a few round trips per thousand, never one big reply.
Membership is checked from the hashes' side (ZMSCORE / SISMEMBER); an index is scanned for
members without a hash only when it holds more members than the threads found in it
(ZCARD / SCARD against those counts), which keeps a healthy index from being read twice.

Repairs are small Lua scripts (app/store/lua/repair/) that read the hash again, atomically,
before they change an index, so a thread that changed since it was checked is never indexed
from stale data (its repair is skipped and shows up again in the verifying pass). Runs the
service is using meanwhile can make a check see transient disagreements; the inflight check
re-counts each suspect atomically before it reports it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from redis import Redis

from threadwatch.domain import ThreadStatus
from threadwatch.store.codec import MEMBER_LENGTH, thread_id_of, thread_member
from threadwatch.store.cron_integrity import CRON_PROBLEMS, CronIntegrity
from threadwatch.store.keys import SORT_FIELDS, Keys
from threadwatch.store.leaf_sets import leaf_names
from threadwatch.store.metadata_index import metadata_leaves
from threadwatch.store.scripts import ChangedSinceRead, InFlight, RepairScripts

DEFAULT_BATCH = 1000
MAX_EXAMPLES = 5
STATUSES = tuple(s.value for s in ThreadStatus)
THREAD_FIELDS = ("status", "status_since", "created_at", "updated_at", "state_updated_at")
# What the thread pass reads of each thread hash.
ROW_FIELDS = (*THREAD_FIELDS, "metadata", "mver", "leaves")
IN_FLIGHT_RANKS = {b"1": "pending", b"2": "running"}

# Problem classes, in report order: name -> what it means.
PROBLEMS: dict[str, str] = {
    "malformed_thread": "thread hash without a valid status or timestamps (not repaired)",
    "status_missing": "thread missing from the status set of its status",
    "status_extra": "thread in a status set other than its status",
    "status_score": "status set score differs from the thread's status_since",
    "order_missing": "thread missing from an order set",
    "order_score": "order set score differs from the thread's field",
    "status_dangling": "status set member without a thread hash",
    "order_dangling": "order set member without a thread hash",
    "leaf_missing": "thread missing from the leaf set of its status for a leaf of its metadata",
    "leaf_stale": "leaf set member in another status, or whose metadata lacks that leaf",
    "leaf_dangling": "leaf set member without a thread hash",
    "text_member": "status, order or leaf set member that is not a 16-byte thread id, e.g. the "
    "text form of stores written before them (the thread pass indexes those threads again; "
    "repair drops the member)",
    "malformed_run": "run hash without a rank (not repaired)",
    "run_index": "run in the wrong runs:pending / runs:running / leases set for its status",
    "run_dangling": "runs:pending / runs:running / leases member without a run hash",
    "inflight": "thread inflight counter differs from its runs pending or running",
    "status_derivation": "thread status disagrees with its runs in flight (busy iff any)",
    "leaf_unindexed": "thread without a leaves field (written before the per-status leaf sets)",
    "leaf_ids": "thread's leaves field differs from the ids of its metadata's leaves",
    "leaf_unused": "leaf id registered while none of its sets has members",
    "legacy_index": "key of an earlier index layout (mi:* leaf sets, leaf-counts); repair "
    "deletes it",
    "index_incomplete": "store not marked (#sets) as having every thread in the leaf sets",
    **CRON_PROBLEMS,
}


class ProgressSink(Protocol):
    """Where a long pass reports how far it got (the CLI shows a progress bar)."""

    def start(self, description: str, total: int | None) -> None: ...

    def advance(self, amount: int) -> None: ...


class NoProgress:
    def start(self, description: str, total: int | None) -> None:
        pass

    def advance(self, amount: int) -> None:
        pass


@dataclass
class Problem:
    """One class of problem: how many were found and repaired, and a few examples."""

    name: str
    description: str
    found: int = 0
    fixed: int = 0
    examples: list[str] = field(default_factory=list)


@dataclass
class DoctorReport:
    """What a check (or a repair) found; after a repair, ``remaining`` is what the
    verifying check still found."""

    threads: int = 0
    runs: int = 0
    leaf_sets: int = 0
    repaired: bool = False
    problems: dict[str, Problem] = field(
        default_factory=lambda: {name: Problem(name, text) for name, text in PROBLEMS.items()}
    )
    remaining: DoctorReport | None = None

    def add(self, name: str, example: str, fixed: bool = False) -> None:
        problem = self.problems[name]
        problem.found += 1
        problem.fixed += fixed
        if len(problem.examples) < MAX_EXAMPLES:
            problem.examples.append(example)

    @property
    def found(self) -> int:
        return sum(p.found for p in self.problems.values())

    @property
    def fixed(self) -> int:
        return sum(p.fixed for p in self.problems.values())

    @property
    def unfixed(self) -> int:
        """Problems left: those found, or after a repair those its verifying check found."""
        if self.remaining is not None:
            return self.remaining.found
        return self.found - self.fixed

    @property
    def clean(self) -> bool:
        return self.unfixed == 0

    def found_problems(self) -> list[Problem]:
        return [p for p in self.problems.values() if p.found]


class Doctor:
    """Checks (``check``) and repairs (``fix``) the indexes of the store at ``redis``."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        batch: int = DEFAULT_BATCH,
        progress: ProgressSink | None = None,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.batch = batch
        self.progress = progress or NoProgress()
        self.repairs = RepairScripts(redis)

    def check(self) -> DoctorReport:
        """Every problem, nothing changed."""
        return self._run(repair=False)

    def fix(self) -> DoctorReport:
        """Repair what was found, then check again (the report's ``remaining``)."""
        report = self._run(repair=True)
        report.remaining = self._run(repair=False)
        return report

    # -- passes --------------------------------------------------------------------------

    def _run(self, repair: bool) -> DoctorReport:
        report = DoctorReport(repaired=repair)
        state = _Counts()
        self._thread_pass(report, state, repair)
        self._run_pass(report, state, repair)
        self._inflight_pass(report, state, repair)
        self._dangling_thread_members(report, state, repair)
        self._dangling_run_members(report, state, repair)
        self._leaf_set_pass(report, state, repair)
        self._leaf_id_pass(report, repair)
        self._legacy_pass(report, repair)
        self._mark_indexed(report, state, repair)
        CronIntegrity(self.redis, self.keys, self._scan_keys).run(report.add, repair)
        return report

    def _thread_pass(self, report: DoctorReport, state: _Counts, repair: bool) -> None:
        total = self.redis.zcard(self.keys.order("created_at"))
        self.progress.start("threads", total)
        for ids in self._scan_keys(self.keys.thread(""), "hash"):
            pipe = self.redis.pipeline(transaction=False)
            for thread_id in ids:
                pipe.hmget(self.keys.thread(thread_id), *ROW_FIELDS)
                pipe.hget(self.keys.thread(thread_id), "inflight")
            members = [thread_member(thread_id) for thread_id in ids]
            for key in (*self.keys.statuses, *self.keys.orders):
                pipe.zmscore(key, members)
            replies = pipe.execute()
            rows = replies[: 2 * len(ids)]
            status_scores = replies[2 * len(ids) : 2 * len(ids) + len(STATUSES)]
            order_scores = replies[2 * len(ids) + len(STATUSES) :]
            leaf_names: dict[str, list[str]] = {}
            for i, thread_id in enumerate(ids):
                row, inflight = rows[2 * i], rows[2 * i + 1]
                statuses = [scores[i] for scores in status_scores]
                orders = [scores[i] for scores in order_scores]
                names = self._check_thread(
                    report, state, thread_id, row, inflight, statuses, orders, repair
                )
                if names is not None:
                    leaf_names[thread_id] = names
            rows_of = {thread_id: rows[2 * i] for i, thread_id in enumerate(ids)}
            self._check_thread_leaves(report, state, leaf_names, rows_of, repair)
            report.threads += len(ids)
            self.progress.advance(len(ids))

    def _check_thread(
        self,
        report: DoctorReport,
        state: _Counts,
        thread_id: str,
        row: list[bytes | None],
        inflight: bytes | None,
        statuses: list[float | None],
        orders: list[float | None],
        repair: bool,
    ) -> list[str] | None:
        """One thread's status and order entries; returns its leaves' names to check (None
        for a malformed thread)."""
        for key, score in zip(self.keys.statuses, statuses, strict=True):
            state.present[key] += score is not None
        for key, score in zip(self.keys.orders, orders, strict=True):
            state.present[key] += score is not None
        fields = dict(zip(ROW_FIELDS, row, strict=True))
        status = (fields["status"] or b"").decode()
        if status not in STATUSES or any(fields[f] is None for f in THREAD_FIELDS):
            report.add("malformed_thread", f"{thread_id}: status {status!r}")
            return None
        found: list[tuple[str, str]] = []
        since = int(fields["status_since"])
        member_of = [s for s, score in zip(STATUSES, statuses, strict=True) if score is not None]
        if status not in member_of:
            found.append(("status_missing", f"{thread_id}: {status}, in {member_of or 'none'}"))
        elif statuses[STATUSES.index(status)] != since:
            found.append(("status_score", f"{thread_id}: status_since {since}"))
        if [s for s in member_of if s != status]:
            found.append(("status_extra", f"{thread_id}: {status}, in {member_of}"))
        for name, score in zip(SORT_FIELDS, orders, strict=True):
            want = 0 if name == "thread_id" else int(fields[name])
            if score is None:
                found.append(("order_missing", f"{thread_id}: order:{name}"))
            elif score != want:
                found.append(("order_score", f"{thread_id}: order:{name} {score:.0f} != {want}"))
        fixed = bool(found) and repair and self._reindex(thread_id)
        for name, example in found:
            report.add(name, example, fixed)
        count = int(inflight or 0)
        if count or status == ThreadStatus.BUSY:
            state.thread_inflight[thread_id] = (count, status)
        names = self._leaf_names(fields["metadata"])
        if names is None:
            report.add("malformed_thread", f"{thread_id}: metadata is not a JSON object")
        return names

    def _run_pass(self, report: DoctorReport, state: _Counts, repair: bool) -> None:
        pending, running = self.keys.runs_in("pending"), self.keys.runs_in("running")
        leases = self.keys.leases()
        self.progress.start("runs", None)
        for ids in self._scan_keys(self.keys.run(""), "hash"):
            pipe = self.redis.pipeline(transaction=False)
            for run_id in ids:
                pipe.hmget(self.keys.run(run_id), "thread_id", "rank")
            for key in (pending, running, leases):
                pipe.zmscore(key, ids)
            *rows, in_pending, in_running, in_leases = pipe.execute()
            for i, run_id in enumerate(ids):
                thread_id, rank = rows[i]
                flags = (in_pending[i] is not None, in_running[i] is not None)
                state.present[pending] += flags[0]
                state.present[running] += flags[1]
                state.present[leases] += in_leases[i] is not None
                if rank is None:
                    report.add("malformed_run", f"{run_id}: no rank")
                    continue
                in_flight = IN_FLIGHT_RANKS.get(rank)
                if in_flight and thread_id:
                    state.run_inflight[thread_id.decode()] += 1
                want = (in_flight == "pending", in_flight == "running")
                leased_after_end = in_flight is None and in_leases[i] is not None
                if flags != want or leased_after_end:
                    where = [k for k, f in zip((pending, running), flags, strict=True) if f]
                    if in_leases[i] is not None:
                        where.append(leases)
                    fixed = repair and self._run_index(run_id)
                    status = in_flight or "finished"
                    report.add("run_index", f"{run_id}: {status}, in {where or 'none'}", fixed)
            report.runs += len(ids)
            self.progress.advance(len(ids))

    def _inflight_pass(self, report: DoctorReport, state: _Counts, repair: bool) -> None:
        """Threads whose counter, status and runs in flight disagree, each counted again
        atomically (the two passes above saw them at different times)."""
        suspects = []
        for thread_id in state.thread_inflight.keys() | state.run_inflight.keys():
            stored, status = state.thread_inflight.get(thread_id, (0, ""))
            counted = state.run_inflight.get(thread_id, 0)
            if stored != counted or (status == ThreadStatus.BUSY) != (counted > 0):
                suspects.append(thread_id)
        self.progress.start("runs in flight", len(suspects))
        for thread_id in sorted(suspects):
            counts = self._count_inflight(thread_id, "fix" if repair else "check")
            self.progress.advance(1)
            if counts is None:
                continue
            stored, counted, status, derived = (
                counts.stored,
                counts.counted,
                counts.status,
                counts.derived,
            )
            if stored != counted:
                example = f"{thread_id}: inflight {stored}, runs in flight {counted}"
                report.add("inflight", example, repair)
            if status != derived:
                if repair:
                    self._leaves_follow_status(state, thread_id, status, derived)
                example = f"{thread_id}: {status}, runs in flight {counted} -> {derived}"
                report.add("status_derivation", example, repair)

    def _dangling_thread_members(self, report: DoctorReport, state: _Counts, repair: bool) -> None:
        def ids_of(key: str, members: list[bytes]) -> list[str]:
            return self._thread_ids(report, key, members, repair, self.redis.zrem)

        for kind, keys in (("status", self.keys.statuses), ("order", self.keys.orders)):
            for key in keys:
                self._dangling(
                    report, state, repair, key, ids_of, self.keys.thread, self._reindex,
                    f"{kind}_dangling",
                )  # fmt: skip

    def _dangling_run_members(self, report: DoctorReport, state: _Counts, repair: bool) -> None:
        keys = (self.keys.runs_in("pending"), self.keys.runs_in("running"), self.keys.leases())
        for key in keys:
            self._dangling(
                report, state, repair, key, _run_ids, self.keys.run, self._run_index,
                "run_dangling",
            )  # fmt: skip

    def _dangling(
        self,
        report: DoctorReport,
        state: _Counts,
        repair: bool,
        key: str,
        ids_of: Callable[[str, list[bytes]], list[str]],
        record_key: Callable[[str], str],
        reindex: Callable[[str], bool],
        problem: str,
    ) -> None:
        """Members of the zset ``key`` (their ids: ``ids_of(key, members)``) whose record
        (``record_key(id)``) is gone; read only when the zset holds more members than the
        records found in it."""
        card = self.redis.zcard(key)
        if card == state.present[key]:
            return
        self.progress.start(key, card)
        for members in self._zscan(key):
            ids = ids_of(key, members)
            pipe = self.redis.pipeline(transaction=False)
            for record_id in ids:
                pipe.exists(record_key(record_id))
            for record_id, exists in zip(ids, pipe.execute(), strict=True):
                if not exists:
                    fixed = repair and reindex(record_id)
                    report.add(problem, f"{key} holds {record_id}", fixed)
            self.progress.advance(len(members))

    def _leaf_set_pass(self, report: DoctorReport, state: _Counts, repair: bool) -> None:
        """Leaf sets holding more threads than the hashes put there: find the members that
        should not be there."""
        prefix = self.keys.leaf_set_prefix
        self.progress.start("metadata leaf sets", None)
        for names in self._scan_keys(prefix, "set"):
            pipe = self.redis.pipeline(transaction=False)
            for name in names:
                pipe.scard(prefix + name)
            for name, card in zip(names, pipe.execute(), strict=True):
                if card != state.present[prefix + name]:
                    self._check_leaf_set(report, state, prefix + name, repair)
            report.leaf_sets += len(names)
            self.progress.advance(len(names))

    def _check_leaf_set(self, report: DoctorReport, state: _Counts, key: str, repair: bool) -> None:
        """Members of one leaf set whose thread is gone, in another status, or whose metadata
        lacks the leaf (the repair script decides again, atomically, from the hash)."""
        status, _, leaf_id = key[len(self.keys.leaf_set_prefix) :].partition(":")
        if state.leaf_names is None:
            state.leaf_names = {
                leaf: name
                for batch in self._hscan(self.keys.leaf_ids())
                for name, leaf in batch
                if not name.startswith("#")
            }
        name = state.leaf_names.get(leaf_id)
        for members in self._sscan(key):
            ids = self._thread_ids(report, key, members, repair, self.redis.srem)
            pipe = self.redis.pipeline(transaction=False)
            for thread_id in ids:
                pipe.hmget(self.keys.thread(thread_id), "status", "metadata")
            for thread_id, (held_status, metadata) in zip(ids, pipe.execute(), strict=True):
                names = self._leaf_names(metadata)
                if held_status is None:
                    problem = "leaf_dangling"
                elif names is None:
                    continue  # malformed metadata is reported by the thread pass
                elif _text(held_status) != status or name not in names:
                    problem = "leaf_stale"
                else:
                    continue
                fixed = repair and self._drop(key, thread_id, status, leaf_id)
                report.add(problem, f"{key} holds {thread_id}", fixed)

    def _thread_ids(
        self,
        report: DoctorReport,
        key: str,
        members: list[bytes],
        repair: bool,
        remove: Callable[..., Any],
    ) -> list[str]:
        """The thread ids of a thread index's members that are 16-byte ids; the others (the
        text form of older stores, or junk) are reported, and dropped (``remove``: ZREM or
        SREM) with ``repair``."""
        text = [m for m in members if len(m) != MEMBER_LENGTH]
        if text and repair:
            remove(key, *text)
        for member in text:
            report.add("text_member", f"{key} holds {member!r}", repair)
        return [thread_id_of(m) for m in members if len(m) == MEMBER_LENGTH]

    def _check_thread_leaves(
        self,
        report: DoctorReport,
        state: _Counts,
        leaf_names: dict[str, list[str]],
        rows: dict[str, list[bytes | None]],
        repair: bool,
    ) -> None:
        """A batch's ``leaves`` fields against the ids of their metadata's leaves, and their
        entries in the leaf sets of their status (with ``repair``, index again those that
        differ)."""
        position = {name: i for i, name in enumerate(ROW_FIELDS)}
        wanted = sorted({name for names in leaf_names.values() for name in names})
        found = self.redis.hmget(self.keys.leaf_ids(), wanted) if wanted else []
        registered = {name: _text(i) for name, i in zip(wanted, found, strict=True) if i}
        checks: list[tuple[str, str]] = []
        for thread_id, names in leaf_names.items():
            row = rows[thread_id]
            leaves, mver = row[position["leaves"]], row[position["mver"]]
            ids = [registered.get(name) for name in names]
            want = " ".join(sorted(i for i in ids if i is not None))
            if leaves is None or None in ids or _text(leaves) != want:
                name = "leaf_unindexed" if leaves is None else "leaf_ids"
                fixed = repair and self._reindex_leaves(thread_id, names, mver)
                state.all_indexed &= fixed or not repair
                example = f"{thread_id}: leaves field {leaves!r}, metadata leaves {names}"
                report.add(name, example, fixed)
                continue
            status = _text(row[position["status"]] or b"")
            checks += [(thread_id, self.keys.leaf_set(status, i)) for i in ids if i is not None]
        pipe = self.redis.pipeline(transaction=False)
        for thread_id, key in checks:
            pipe.sismember(key, thread_member(thread_id))
        missing: dict[str, list[str]] = {}
        for (thread_id, key), held in zip(checks, pipe.execute(), strict=True):
            state.present[key] += bool(held) or repair  # a repair adds it
            if not held:
                missing.setdefault(thread_id, []).append(key)
        for thread_id, keys in missing.items():
            mver = rows[thread_id][position["mver"]]
            fixed = repair and self._reindex_leaves(thread_id, leaf_names[thread_id], mver)
            for key in keys:
                report.add("leaf_missing", f"{thread_id}: not in {key}", fixed)

    def _leaf_id_pass(self, report: DoctorReport, repair: bool) -> None:
        """Leaf ids registered while none of their sets has members."""
        ids_key = self.keys.leaf_ids()
        self.progress.start("leaf ids", None)
        for batch in self._hscan(ids_key):
            entries = [(name, leaf_id) for name, leaf_id in batch if not name.startswith("#")]
            sets = [[self.keys.leaf_set(s, leaf_id) for s in STATUSES] for _, leaf_id in entries]
            pipe = self.redis.pipeline(transaction=False)
            for of_leaf in sets:
                pipe.exists(*of_leaf)
            for (name, leaf_id), of_leaf, held in zip(entries, sets, pipe.execute(), strict=True):
                if held:
                    continue
                fixed = repair and self.repairs.drop_leaf_id(
                    keys=[ids_key, *of_leaf], args=[name, leaf_id]
                )
                report.add("leaf_unused", f"{name} (id {leaf_id})", fixed)
            self.progress.advance(len(entries))

    def _legacy_pass(self, report: DoctorReport, repair: bool) -> None:
        """Keys of the index layout before the per-status leaf sets: leaf sets without a
        status (``mi:*``), the per-status leaf counts and their marker."""
        legacy = [
            self.keys.metadata_leaf(name)
            for names in self._scan_keys(self.keys.metadata_leaf(""), "set")
            for name in names
        ]
        counts = self.keys.legacy_leaf_counts()
        if self.redis.exists(counts):
            legacy.append(counts)
        for start in range(0, len(legacy), self.batch):
            batch = legacy[start : start + self.batch]
            if repair:
                self.redis.unlink(*batch)
            for key in batch:
                report.add("legacy_index", key, repair)
        if self.redis.hexists(self.keys.leaf_ids(), "#all"):
            if repair:
                self.redis.hdel(self.keys.leaf_ids(), "#all")
            report.add("legacy_index", f"{self.keys.leaf_ids()} #all", repair)

    def _mark_indexed(self, report: DoctorReport, state: _Counts, repair: bool) -> None:
        """After a repair that indexed every thread, mark the store as fully indexed;
        otherwise report a store that is not marked."""
        ids_key = self.keys.leaf_ids()
        if repair and state.all_indexed:
            self.redis.hset(ids_key, "#sets", "1")
        elif not self.redis.hexists(ids_key, "#sets") and self.redis.exists(
            self.keys.order("created_at")
        ):
            report.add("index_incomplete", f"{ids_key} has no #sets")

    def _leaves_follow_status(self, state: _Counts, thread_id: str, old: str, new: str) -> None:
        """A thread's status was repaired: its leaf entries move to the new status's sets
        (and so do the entries the thread pass counted in them)."""
        metadata, mver = self.redis.hmget(self.keys.thread(thread_id), "metadata", "mver")
        names = self._leaf_names(metadata)
        if names is None or not self._reindex_leaves(thread_id, names, mver):
            return
        for leaf_id in _text(self.redis.hget(self.keys.thread(thread_id), "leaves") or b"").split():
            state.present[self.keys.leaf_set(old, leaf_id)] -= 1
            state.present[self.keys.leaf_set(new, leaf_id)] += 1

    def _leaf_names(self, metadata: bytes | None) -> list[str] | None:
        """The names of a thread's leaves, from its stored metadata (None if malformed)."""
        loaded = _load_metadata(metadata or b"{}")
        return None if loaded is None else leaf_names(self.keys, metadata_leaves(loaded))

    # -- repairs -------------------------------------------------------------------------

    # Each returns whether the index is now as the hash says (False: the repair was skipped).

    def _reindex_leaves(self, thread_id: str, names: list[str], mver: Any) -> bool:
        return self.repairs.reindex_thread_leaves(
            keys=[self.keys.thread(thread_id), *self.keys.leaf_index, *names],
            args=[thread_member(thread_id), _text(mver or b"0")],
        )

    def _reindex(self, thread_id: str) -> bool:
        orders = ["" if name == "thread_id" else name for name in SORT_FIELDS]
        return self.repairs.reindex_thread(
            keys=[self.keys.thread(thread_id), *self.keys.statuses, *self.keys.orders],
            args=[thread_member(thread_id), *STATUSES, *orders],
        )

    def _drop(self, key: str, thread_id: str, status: str, leaf_id: str) -> bool:
        return self.repairs.drop_leaf(
            keys=[self.keys.thread(thread_id), key],
            args=[thread_member(thread_id), status, leaf_id],
        )

    def _run_index(self, run_id: str) -> bool:
        keys = [
            self.keys.run(run_id),
            self.keys.runs_in("pending"),
            self.keys.runs_in("running"),
            self.keys.leases(),
        ]
        return self.repairs.fix_run_index(keys=keys, args=[run_id])

    def _count_inflight(self, thread_id: str, mode: str) -> InFlight | None:
        """The thread's runs in flight counted atomically (None: it is gone, or its runs kept
        changing while they were read)."""
        for _ in range(5):
            runs = [r.decode() for r in self.redis.zrange(self.keys.thread_runs(thread_id), 0, -1)]
            try:
                return self.repairs.inflight(
                    keys=[
                        self.keys.thread(thread_id),
                        self.keys.thread_runs(thread_id),
                        *self.keys.statuses,
                        *self.keys.leaf_index,
                        *(self.keys.run(run_id) for run_id in runs),
                    ],
                    args=[thread_id, mode, thread_member(thread_id)],
                )
            except ChangedSinceRead:
                continue
        return None

    # -- reading -------------------------------------------------------------------------

    def _scan_keys(self, prefix: str, type_: str) -> Iterator[list[str]]:
        """The names after ``prefix`` of the keys of one type, a batch at a time. SCAN may
        return a key twice while the keyspace is resized; not remembering every name keeps
        memory flat, at worst a problem is counted twice."""
        pattern = _glob_escape(prefix) + "*"
        cursor = 0
        pending: list[str] = []
        while True:
            cursor, found = self.redis.scan(cursor, match=pattern, count=self.batch, _type=type_)
            pending += [raw.decode()[len(prefix) :] for raw in found]
            while len(pending) >= self.batch:
                yield pending[: self.batch]
                pending = pending[self.batch :]
            if cursor == 0:
                break
        if pending:
            yield pending

    def _zscan(self, key: str) -> Iterator[list[bytes]]:
        cursor = 0
        while True:
            cursor, found = self.redis.zscan(key, cursor, count=self.batch)
            if found:
                yield [member for member, _ in found]
            if cursor == 0:
                return

    def _hscan(self, key: str) -> Iterator[list[tuple[str, str]]]:
        cursor = 0
        while True:
            cursor, found = self.redis.hscan(key, cursor, count=self.batch)
            if found:
                yield [(_text(k), _text(v)) for k, v in found.items()]
            if cursor == 0:
                return

    def _sscan(self, key: str) -> Iterator[list[bytes]]:
        cursor = 0
        while True:
            cursor, found = self.redis.sscan(key, cursor, count=self.batch)
            if found:
                yield list(found)
            if cursor == 0:
                return


@dataclass
class _Counts:
    """What the passes carry to the later ones."""

    # Members found in each index key through the hashes (threads, runs) that exist.
    present: Counter[str] = field(default_factory=Counter)
    # Threads with a non-zero inflight counter or busy: (counter, status).
    thread_inflight: dict[str, tuple[int, str]] = field(default_factory=dict)
    # Runs pending or running per thread, from the run hashes.
    run_inflight: Counter[str] = field(default_factory=Counter)
    # Whether a repair put every thread in its leaf sets.
    all_indexed: bool = True
    # Leaf id -> leaf name, read once when a leaf set needs checking.
    leaf_names: dict[str, str] | None = None


def _glob_escape(text: str) -> str:
    """``text`` matched literally in a SCAN MATCH pattern."""
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


def _load_metadata(raw: bytes) -> dict[str, Any] | None:
    try:
        metadata = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return metadata if isinstance(metadata, dict) else None


def _run_ids(_key: str, members: list[bytes]) -> list[str]:
    return [member.decode() for member in members]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
