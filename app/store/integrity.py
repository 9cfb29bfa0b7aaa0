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

Nothing the service is writing meanwhile is reported. A batch read can fall between the
writes of a change (or see a thread deleted since SCAN named it), so whatever looks wrong is
read again at one instant before it is reported: a thread and its status, order and leaf
entries by lua/repair/read_thread.lua (app/store/thread_check.py), a run or cron with its
index entries, an index member with its record, a leaf id with its sets by MULTI, and a
thread's runs in flight by lua/repair/inflight.lua. The service changes each of these at
once, so such a reading shows a problem only where there is one.

Repairs are small Lua scripts (app/store/lua/repair/) that read the hash again, atomically,
before they change an index, so a thread that changed since it was checked is never indexed
from stale data (its repair is skipped and shows up again in the verifying pass).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from redis import Redis

from threadwatch.domain import ThreadStatus
from threadwatch.store.codec import MEMBER_LENGTH, thread_id_of, thread_member
from threadwatch.store.cron_integrity import CRON_PROBLEMS, CronIntegrity
from threadwatch.store.keys import SORT_FIELDS, Keys
from threadwatch.store.scripts import ChangedSinceRead, InFlight, RepairScripts
from threadwatch.store.thread_check import STATUSES, Findings, ThreadReader, ThreadView, findings

DEFAULT_BATCH = 1000
MAX_EXAMPLES = 5
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
        self.reader = ThreadReader(redis, keys, self.repairs)

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
        """Each thread against its status, order and leaf entries; one that looks wrong is
        read again at one instant (thread_check.py), and only that reading is reported."""
        total = self.redis.zcard(self.keys.order("created_at"))
        self.progress.start("threads", total)
        for ids in self._scan_keys(self.keys.thread(""), "hash"):
            for read in self.reader.batch(ids):
                view: ThreadView | None = read
                found = findings(self.keys, read)
                if found:  # read again at one instant; None: deleted since the scan
                    view = self.reader.at_once(read.thread_id)
                    found = findings(self.keys, view) if view is not None else Findings()
                if view is not None:
                    self._count_thread(state, view)
                    self._report_thread(report, state, view, found, repair)
            report.threads += len(ids)
            self.progress.advance(len(ids))

    def _count_thread(self, state: _Counts, view: ThreadView) -> None:
        """What the later passes need of a thread: the index entries it holds, its counter."""
        for key, score in zip(self.keys.statuses, view.statuses, strict=True):
            state.present[key] += score is not None
        for key, score in zip(self.keys.orders, view.orders, strict=True):
            state.present[key] += score is not None
        for leaf_id, held in zip(view.ids, view.held, strict=True):
            if leaf_id is not None and held:
                state.present[self.keys.leaf_set(view.status, leaf_id)] += 1
        if view.well_formed:
            count = int(view.fields["inflight"] or 0)
            if count or view.status == ThreadStatus.BUSY:
                state.thread_inflight[view.thread_id] = (count, view.status)

    def _report_thread(
        self, report: DoctorReport, state: _Counts, view: ThreadView, found: Findings, repair: bool
    ) -> None:
        """Report (and with ``repair`` mend) what a thread's reading shows wrong."""
        thread_id = view.thread_id
        fixed = bool(found.index) and repair and self._reindex(thread_id)
        for name, example in found.index:
            report.add(name, example, fixed)
        for name, example in found.malformed:
            report.add(name, example)
        if not found.leaves or view.names is None:
            return
        fixed = repair and self._reindex_leaves(thread_id, view.names, view.fields["mver"])
        missing_only = all(name == "leaf_missing" for name, _ in found.leaves)
        if not missing_only:
            state.all_indexed &= fixed or not repair
        elif fixed:  # the repair put it in the sets it was missing from
            for leaf_id, held in zip(view.ids, view.held, strict=True):
                if leaf_id is not None and not held:
                    state.present[self.keys.leaf_set(view.status, leaf_id)] += 1
        for name, example in found.leaves:
            report.add(name, example, fixed)

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
                entries = (in_pending[i], in_running[i], in_leases[i])
                for key, score in zip((pending, running, leases), entries, strict=True):
                    state.present[key] += score is not None
                if rank in IN_FLIGHT_RANKS and thread_id:
                    state.run_inflight[thread_id.decode()] += 1
                if self._run_problem(run_id, rows[i], entries) is not None:
                    self._confirm_run(report, run_id, repair)
            report.runs += len(ids)
            self.progress.advance(len(ids))

    def _run_problem(
        self, run_id: str, row: list[bytes | None], entries: tuple[float | None, ...]
    ) -> tuple[str, str] | None:
        """What a reading of a run (its thread and rank, its scores in runs:pending,
        runs:running and leases) shows wrong (a run without a rank may be one deleted since
        the scan: _confirm_run tells)."""
        _, rank = row
        if rank is None:
            return "malformed_run", f"{run_id}: no rank"
        in_flight = IN_FLIGHT_RANKS.get(rank)
        flags = tuple(score is not None for score in entries)
        want = (in_flight == "pending", in_flight == "running", in_flight is not None and flags[2])
        if flags == want:
            return None
        names = (self.keys.runs_in("pending"), self.keys.runs_in("running"), self.keys.leases())
        where = [key for key, flag in zip(names, flags, strict=True) if flag]
        return "run_index", f"{run_id}: {in_flight or 'finished'}, in {where or 'none'}"

    def _confirm_run(self, report: DoctorReport, run_id: str, repair: bool) -> None:
        """Read the run and its entries again at one instant (MULTI), and report what that
        reading shows."""
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.exists(self.keys.run(run_id))
            pipe.hmget(self.keys.run(run_id), "thread_id", "rank")
            for key in (self.keys.runs_in("pending"), self.keys.runs_in("running")):
                pipe.zscore(key, run_id)
            pipe.zscore(self.keys.leases(), run_id)
            exists, row, *entries = pipe.execute()
        problem = self._run_problem(run_id, row, tuple(entries)) if exists else None
        if problem is not None:
            name, example = problem
            fixed = name == "run_index" and repair and self._run_index(run_id)
            report.add(name, example, fixed)

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
                    report, state, repair, key, ids_of, thread_member, self.keys.thread,
                    self._reindex, f"{kind}_dangling",
                )  # fmt: skip

    def _dangling_run_members(self, report: DoctorReport, state: _Counts, repair: bool) -> None:
        keys = (self.keys.runs_in("pending"), self.keys.runs_in("running"), self.keys.leases())
        for key in keys:
            self._dangling(
                report, state, repair, key, _run_ids, str, self.keys.run, self._run_index,
                "run_dangling",
            )  # fmt: skip

    def _dangling(
        self,
        report: DoctorReport,
        state: _Counts,
        repair: bool,
        key: str,
        ids_of: Callable[[str, list[bytes]], list[str]],
        member_of: Callable[[str], bytes | str],
        record_key: Callable[[str], str],
        reindex: Callable[[str], bool],
        problem: str,
    ) -> None:
        """Members of the zset ``key`` (their ids: ``ids_of(key, members)``, and back:
        ``member_of(id)``) whose record (``record_key(id)``) is gone, still at one instant;
        read only when the zset holds more members than the records found in it."""
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
                if not exists and self._dangles(key, member_of(record_id), record_key(record_id)):
                    fixed = repair and reindex(record_id)
                    report.add(problem, f"{key} holds {record_id}", fixed)
            self.progress.advance(len(members))

    def _dangles(self, key: str, member: bytes | str, record: str) -> bool:
        """Whether the zset ``key`` holds ``member`` while its ``record`` is gone, both read
        at one instant (MULTI): a delete removes both at once."""
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.zscore(key, member)
            pipe.exists(record)
            score, exists = pipe.execute()
        return score is not None and not exists

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
        lacks the leaf, still so at one instant (the repair script decides again, atomically,
        from the hash)."""
        status, _, leaf_id = key[len(self.keys.leaf_set_prefix) :].partition(":")
        name = self._leaf_name(state, leaf_id)
        for members in self._sscan(key):
            ids = self._thread_ids(report, key, members, repair, self.redis.srem)
            pipe = self.redis.pipeline(transaction=False)
            for thread_id in ids:
                pipe.hmget(self.keys.thread(thread_id), "status", "metadata")
            for thread_id, row in zip(ids, pipe.execute(), strict=True):
                if self._leaf_member_problem(status, name, True, row) is None:
                    continue
                with self.redis.pipeline(transaction=True) as at_once:
                    at_once.sismember(key, thread_member(thread_id))
                    at_once.hmget(self.keys.thread(thread_id), "status", "metadata")
                    held, row = at_once.execute()
                problem = self._leaf_member_problem(status, name, bool(held), row)
                if problem is not None:
                    fixed = repair and self._drop(key, thread_id, status, leaf_id)
                    report.add(problem, f"{key} holds {thread_id}", fixed)

    def _leaf_member_problem(
        self, status: str, name: str | None, held: bool, row: list[bytes | None]
    ) -> str | None:
        """Why a thread (its status and metadata: ``row``) does not belong in the set of
        ``status`` for the leaf ``name`` that ``held`` it; None when it does, or left it."""
        held_status, metadata = row
        if not held:
            return None
        if held_status is None:
            return "leaf_dangling"
        names = self.reader.leaf_names({"metadata": metadata})
        if names is None:
            return None  # malformed metadata is reported by the thread pass
        if _text(held_status) != status or name not in names:
            return "leaf_stale"
        return None

    def _leaf_name(self, state: _Counts, leaf_id: str) -> str | None:
        """The leaf that has ``leaf_id``. Ids are never handed out twice, so what was read
        once holds; an id handed out since is read again."""
        if state.leaf_names is None or leaf_id not in state.leaf_names:
            state.leaf_names = {
                leaf: name
                for batch in self._hscan(self.keys.leaf_ids())
                for name, leaf in batch
                if not name.startswith("#")
            }
        return state.leaf_names.get(leaf_id)

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
                if held or not self._unused_at_once(name, leaf_id, of_leaf):
                    continue
                fixed = repair and self.repairs.drop_leaf_id(
                    keys=[ids_key, *of_leaf], args=[name, leaf_id]
                )
                report.add("leaf_unused", f"{name} (id {leaf_id})", fixed)
            self.progress.advance(len(entries))

    def _unused_at_once(self, name: str, leaf_id: str, sets: list[str]) -> bool:
        """Whether the leaf still has ``leaf_id`` while none of its ``sets`` exists, read at
        one instant (MULTI): the last member's leaving drops the id with it."""
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hget(self.keys.leaf_ids(), name)
            pipe.exists(*sets)
            registered, held = pipe.execute()
        return registered is not None and _text(registered) == leaf_id and not held

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
        names = self.reader.leaf_names({"metadata": metadata})
        if names is None or not self._reindex_leaves(thread_id, names, mver):
            return
        for leaf_id in _text(self.redis.hget(self.keys.thread(thread_id), "leaves") or b"").split():
            state.present[self.keys.leaf_set(old, leaf_id)] -= 1
            state.present[self.keys.leaf_set(new, leaf_id)] += 1

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


def _run_ids(_key: str, members: list[bytes]) -> list[str]:
    return [member.decode() for member in members]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
