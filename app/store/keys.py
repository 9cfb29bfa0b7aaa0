"""Every Redis key name threadwatch uses is built here and nowhere else.

Layout (prefix ``tw:`` by default). The thread-id members of the status, order, ttl and
metadata leaf indexes are the ids' 16 bytes (``codec.thread_member``); keys hold the text.

    {p}thread:{id}              hash   one thread (see codec.py for its fields)
    {p}thread:{id}:runs         zset   run ids of the thread, scored by created_at (µs)
    {p}thread:{id}:waiting      zset   runs created here that wait for the thread's turn
                                       (lua/run_turn.lua), scored by when they may start (µs)
    {p}run:{run_id}             hash   one run
    {p}status:{status}          zset   thread ids in that status, scored by status_since (µs)
    {p}order:{field}            zset   every thread id, scored by created_at / updated_at /
                                       state_updated_at (µs); ``order:thread_id`` scores 0
                                       so that rank order is thread_id order
    {p}leaf-ids                 hash   metadata leaf name (``{p}mi:{json}``, see
                                       metadata_index.py; user text only appears
                                       JSON-encoded) -> a small id of that leaf, while one
                                       of its sets has members; ``#next`` the last id handed
                                       out (none is 0: the id of a leaf no thread holds),
                                       ``#sets`` "1" once every thread is in the sets below
    {p}leaves:{status}:{id}     set    thread ids in that status whose metadata holds that
                                       leaf (lua/lib/leaf_sets.lua); a thread hash's
                                       ``leaves`` field lists its leaf ids
    {p}scratch                  zset   temporary result of a search script, deleted before
                                       the script returns
    {p}run:{run_id}:stream      stream the chunks of a streamed run (app/store/run_streams.py;
                                       expires)
    {p}thread:{id}:stream       stream the thread's events while a client watches it (GET
                                       /threads/{id}/stream; lua/lib/thread_stream.lua;
                                       expires)
    {p}run:{run_id}:cancel      string the cancel action asked of a running run (expires)
    {p}run:{run_id}:output      string a finished run's output for /wait and /join (expires)
    {p}thread:{id}:transitions  list   the thread's last status changes, newest first: JSON
                                       {at, from, to, run_id} (capped, see transition.lua)
    {p}runs:pending             zset   run ids pending, scored by when they became so (µs)
    {p}runs:running             zset   run ids running, scored by when they started (µs)
    {p}runs:trim                set    threads holding more runs than they keep: the sweep
                                       deletes their older ended runs (trim_runs.lua)
    {p}runs:expiring            zset   ended run ids scored by when they expire (µs), when
                                       ended runs have a TTL (settings.ended_run_ttl_seconds):
                                       the sweep deletes them (expire_runs.lua)
    {p}leases                   zset   run ids holding a lease, scored by its expiry (µs)
    {p}ttl                      zset   thread ids with a TTL, scored by a lower bound of their
                                       expiry (µs): the sweeper re-scores those not yet due
    {p}metrics                  hash   Prometheus counters and histogram buckets shared by
                                       every process (fields: see app/store/counters.py)
    {p}alert:{rule}             hash   thread ids a stuck-thread rule fired for -> alert state
    {p}alert:{rule}:outbox      hash   the rule's alerts claimed, not yet queued (lua/alerts.lua)
    {p}sweeper                  hash   the last sweep: when it ran, what it did
    {p}assistant:{id}           hash   one assistant as its latest version says (see
                                       app/store/assistants.py for its fields)
    {p}assistant:{id}:versions  hash   <n> -> JSON of version n, <n>:at -> when it was made
    {p}assistants:{graph_id}    zset   ids of the graph's assistants, scored by created_at
                                       (µs): search and count read these, never SCAN
    {p}cron:{cron_id}           hash   one cron (fields: see app/store/crons.py)
    {p}crons                    zset   every cron id, scored by created_at (µs)
    {p}crons:due                zset   enabled crons, scored by their next firing (µs):
                                       what the scheduler reads (lua/claim_cron.lua)
    {p}crons:assistant:{id}     set    cron ids of an assistant
    {p}crons:thread:{id}        set    cron ids of a thread (per-thread crons)
    {p}crons:checks             hash   the cron scheduler's last check: when, what it fired

LangGraph checkpoints (checkpoints/; T = thread id and C = checkpoint id with ``%`` and
``:`` percent-escaped, N = checkpoint namespace and R = run id as they are, always last, so
that every key names one (T, N, C) only):

    {p}ckpt:T                   set    every other ``ckpt:T:*`` key of the thread (its registry)
    {p}ckpt:T:ns                set    checkpoint namespaces of the thread
    {p}ckpt:T:ids:N             zset   checkpoint ids of (T, N), score 0: rank order is id
                                       order, which is creation order for uuid6 ids
    {p}ckpt:T:data:N            hash   <id>:checkpoint (channel_values removed), <id>:metadata
                                       and <id>:parent of every checkpoint of (T, N)
    {p}ckpt:T:blobs:N           hash   channel values of (T, N) by JSON [channel, version]
    {p}ckpt:T:writes:C:N        hash   pending writes of one checkpoint by JSON [task_id, idx]
    {p}ckpt:T:runs              set    run ids that made checkpoints of the thread
    {p}ckpt:T:run:R             set    JSON [N, id] of the checkpoints made by run R
    {p}ckpt-run:R               set    thread ids with checkpoints made by run R
    {p}ckpt-threads             set    thread ids that have checkpoints

The long-term memory store (items.py; N = the namespace's labels joined by ``.``, which no
label holds, always last; K = an item's key):

    {p}store:namespaces         zset   every namespace holding an item, score 0: rank order
                                       is N order, so a prefix is a ZRANGEBYLEX range
    {p}store:items:N            hash   K -> "<created_at µs>:<value JSON>"
    {p}store:updated:N          zset   K scored by updated_at (µs): listing order
    {p}store:expiry:N           zset   K of the items with a TTL, scored by their expiry (µs)
    {p}store:ttl:N              hash   K -> the item's TTL in minutes (refreshed on reads)
    {p}store:vectors:N          hash   K -> the item's embeddings, float32 little-endian,
                                       ``dims`` each (semantic search; store_config.py)
    {p}store:indexed:N          hash   K -> how many vector documents of the item the
                                       vector index holds (vector_index.py; absent: none)
    {p}store:vdoc:J:L:K:N       hash   the item's J-th vector for the server's vector index
                                       (L = K's length, so that K may hold ":"): ``ns`` N,
                                       ``key`` K, ``under`` tags of N and its ancestors,
                                       ``vec`` the unit vector (float32)
    {p}store:vindex             string the dims of the server's vector index, set once it
                                       exists: the store scripts write vector documents
                                       only then
    {p}store:expiring           zset   N of the namespaces holding items with a TTL, scored
                                       by a lower bound of their first expiry (µs): the
                                       sweeper re-scores those not yet due
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from threadwatch.domain import ThreadStatus

SORT_FIELDS = ("created_at", "updated_at", "state_updated_at", "thread_id")


@dataclass(frozen=True)
class Keys:
    """Key builder bound to one prefix."""

    prefix: str = "tw:"

    def thread(self, thread_id: str) -> str:
        return f"{self.prefix}thread:{thread_id}"

    def thread_runs(self, thread_id: str) -> str:
        return f"{self.prefix}thread:{thread_id}:runs"

    def thread_waiting(self, thread_id: str) -> str:
        """Runs waiting for the thread's turn to execute (lua/run_turn.lua)."""
        return f"{self.prefix}thread:{thread_id}:waiting"

    def run(self, run_id: str) -> str:
        return f"{self.prefix}run:{run_id}"

    def status(self, status: ThreadStatus | str) -> str:
        return f"{self.prefix}status:{ThreadStatus(status).value}"

    @cached_property
    def statuses(self) -> tuple[str, ...]:
        """The four status sets, in ThreadStatus order."""
        return tuple(self.status(s) for s in ThreadStatus)

    def order(self, field: str) -> str:
        if field not in SORT_FIELDS:
            raise ValueError(f"no sort index for {field!r}")
        return f"{self.prefix}order:{field}"

    @cached_property
    def orders(self) -> tuple[str, ...]:
        """The sort indexes, in SORT_FIELDS order."""
        return tuple(self.order(f) for f in SORT_FIELDS)

    def metadata_leaf(self, encoded_leaf: str) -> str:
        """Name of one metadata leaf, already encoded by metadata_index: its field in the
        leaf ids hash (not a key)."""
        return f"{self.prefix}mi:{encoded_leaf}"

    def leaf_ids(self) -> str:
        return f"{self.prefix}leaf-ids"

    def leaf_set(self, status: ThreadStatus | str, leaf_id: str) -> str:
        """Threads in ``status`` holding the leaf of id ``leaf_id`` ("0": no such leaf)."""
        return f"{self.leaf_set_prefix}{ThreadStatus(status).value}:{leaf_id}"

    @cached_property
    def leaf_set_prefix(self) -> str:
        return f"{self.prefix}leaves:"

    @cached_property
    def leaf_index(self) -> tuple[str, str]:
        """The leaf ids hash and the leaf sets' prefix, in that order (lua/lib/leaf_sets.lua)."""
        return self.leaf_ids(), self.leaf_set_prefix

    def legacy_leaf_counts(self) -> str:
        """Hash of per-status leaf counts kept by versions before the per-status leaf sets
        (``threadwatch doctor --fix`` deletes it, with their ``mi:*`` leaf sets)."""
        return f"{self.prefix}leaf-counts"

    def scratch(self) -> str:
        return f"{self.prefix}scratch"

    def run_output(self, run_id: str) -> str:
        """String: the final output of a run (JSON), kept a while for /wait and /join."""
        return f"{self.prefix}run:{run_id}:output"

    def thread_transitions(self, thread_id: str) -> str:
        return f"{self.prefix}thread:{thread_id}:transitions"

    def runs_to_trim(self) -> str:
        """Set: threads holding more runs than they keep (transition.lua adds, the sweep
        trims them)."""
        return f"{self.prefix}runs:trim"

    def runs_expiring(self) -> str:
        """Zset: ended runs with a TTL, scored by their expiry (transition.lua adds, the sweep
        deletes them)."""
        return f"{self.prefix}runs:expiring"

    def runs_in(self, status: str) -> str:
        """In-flight runs in one status: ``pending`` or ``running``."""
        if status not in ("pending", "running"):
            raise ValueError(f"no run index for {status!r}")
        return f"{self.prefix}runs:{status}"

    def leases(self) -> str:
        return f"{self.prefix}leases"

    def ttl(self) -> str:
        return f"{self.prefix}ttl"

    def metrics(self) -> str:
        return f"{self.prefix}metrics"

    def alert_state(self, rule: str) -> str:
        """Alert state of one rule (rule names are validated: [A-Za-z0-9_.-], 1-64 chars)."""
        return f"{self.prefix}alert:{rule}"

    def alert_outbox(self, rule: str) -> str:
        """Alerts of one rule claimed but not yet queued: JSON {claimed_at, decision}."""
        return f"{self.prefix}alert:{rule}:outbox"

    def sweeper(self) -> str:
        """Hash: the last sweep's report (app/store/sweeps.py)."""
        return f"{self.prefix}sweeper"

    def watchdog_slot(self, slot: int) -> str:
        """String, expiring: the API process that sweeps this time slot for lack of workers."""
        return f"{self.prefix}watchdog:{slot}"

    def cron(self, cron_id: str) -> str:
        return f"{self.prefix}cron:{cron_id}"

    def crons(self) -> str:
        """Every cron id, scored by created_at (µs)."""
        return f"{self.prefix}crons"

    def crons_due(self) -> str:
        """Enabled crons, scored by their next firing (µs)."""
        return f"{self.prefix}crons:due"

    def crons_of_assistant(self, assistant_id: str) -> str:
        return f"{self.prefix}crons:assistant:{assistant_id}"

    def crons_of_thread(self, thread_id: str) -> str:
        return f"{self.prefix}crons:thread:{thread_id}"

    def cron_checks(self) -> str:
        """Hash: the cron scheduler's last check (when it ran, what it fired)."""
        return f"{self.prefix}crons:checks"

    def run_stream(self, run_id: str) -> str:
        """Stream: the chunks of a streamed run, for /runs/stream and join_stream."""
        return f"{self.prefix}run:{run_id}:stream"

    def thread_stream(self, thread_id: str) -> str:
        """Stream: the thread's events (runs' starts, chunks and ends, state updates),
        written while a client watches the thread (GET /threads/{id}/stream)."""
        return f"{self.prefix}thread:{thread_id}:stream"

    def run_cancel(self, run_id: str) -> str:
        """String: the cancel action ("interrupt" or "rollback") asked of a running run."""
        return f"{self.prefix}run:{run_id}:cancel"

    def assistant(self, assistant_id: str) -> str:
        return f"{self.prefix}assistant:{assistant_id}"

    def assistant_versions(self, assistant_id: str) -> str:
        return f"{self.prefix}assistant:{assistant_id}:versions"

    def graph_assistants(self, graph_id: str) -> str:
        """Zset: the ids of a graph's assistants by created_at (the search index)."""
        return f"{self.prefix}assistants:{graph_id}"

    @staticmethod
    def _ckpt_part(value: str) -> str:
        """A thread or checkpoint id escaped so that it holds no ``:`` (injective)."""
        return value.replace("%", "%25").replace(":", "%3A")

    def checkpoint_registry(self, thread_id: str) -> str:
        return f"{self.prefix}ckpt:{self._ckpt_part(thread_id)}"

    def checkpoint_namespaces(self, thread_id: str) -> str:
        return f"{self.checkpoint_registry(thread_id)}:ns"

    def checkpoint_ids(self, thread_id: str, checkpoint_ns: str) -> str:
        return f"{self.checkpoint_registry(thread_id)}:ids:{checkpoint_ns}"

    def checkpoint_data(self, thread_id: str, checkpoint_ns: str) -> str:
        return f"{self.checkpoint_registry(thread_id)}:data:{checkpoint_ns}"

    def checkpoint_blobs(self, thread_id: str, checkpoint_ns: str) -> str:
        return f"{self.checkpoint_registry(thread_id)}:blobs:{checkpoint_ns}"

    def checkpoint_writes(self, thread_id: str, checkpoint_ns: str, checkpoint_id: str) -> str:
        thread = self.checkpoint_registry(thread_id)
        return f"{thread}:writes:{self._ckpt_part(checkpoint_id)}:{checkpoint_ns}"

    def checkpoint_thread_runs(self, thread_id: str) -> str:
        return f"{self.checkpoint_registry(thread_id)}:runs"

    def checkpoint_run_refs(self, thread_id: str, run_id: str) -> str:
        return f"{self.checkpoint_registry(thread_id)}:run:{run_id}"

    def checkpoint_run(self, run_id: str) -> str:
        return f"{self.prefix}ckpt-run:{run_id}"

    def checkpoint_threads(self) -> str:
        return f"{self.prefix}ckpt-threads"

    # -- the long-term memory store (items.py) ----------------------------------------------

    def store_namespaces(self) -> str:
        return f"{self.prefix}store:namespaces"

    def store_expiring(self) -> str:
        return f"{self.prefix}store:expiring"

    def store_items(self, namespace: str) -> str:
        """``namespace``: the labels joined by ``.`` (items.namespace_text)."""
        return f"{self.prefix}store:items:{namespace}"

    def store_updated(self, namespace: str) -> str:
        return f"{self.prefix}store:updated:{namespace}"

    def store_expiry(self, namespace: str) -> str:
        return f"{self.prefix}store:expiry:{namespace}"

    def store_ttl(self, namespace: str) -> str:
        return f"{self.prefix}store:ttl:{namespace}"

    def store_vectors(self, namespace: str) -> str:
        return f"{self.prefix}store:vectors:{namespace}"

    def store_indexed(self, namespace: str) -> str:
        return f"{self.prefix}store:indexed:{namespace}"

    def store_vector_doc(self, namespace: str, key: str, number: int) -> str:
        """The ``number``-th vector document of an item (vector_index.py)."""
        return f"{self.store_vector_docs()}{number}:{len(key)}:{key}:{namespace}"

    def store_vector_docs(self) -> str:
        """The prefix of every vector document: what the vector index covers."""
        return f"{self.prefix}store:vdoc:"

    def store_vector_marker(self) -> str:
        return f"{self.prefix}store:vindex"

    def store_vector_index(self) -> str:
        """The name of the server's vector index (FT.CREATE), not a key."""
        return f"{self.prefix}store:vdocs"

    def store_namespace(self, namespace: str) -> tuple[str, str, str, str, str]:
        """The five keys of one namespace, in the order the store scripts take them: items,
        updated, expiry, ttl, vectors."""
        return (
            self.store_items(namespace),
            self.store_updated(namespace),
            self.store_expiry(namespace),
            self.store_ttl(namespace),
            self.store_vectors(namespace),
        )
