"""Runs created through the API: admission (multitask strategies), RQ jobs, cancel, wait.

A run is recorded `pending` (the thread turns `busy`) by the same transition script as any
run event, which also checks `reject`; it then takes its thread's turn, or waits for it
(lua/run_turn.lua), so that a thread's runs execute one at a time, in order. A run's RQ job
(app/runs/jobs.py) is queued when it takes the turn: here, or when the run before it ends.
`interrupt` and `rollback` cancel the runs in flight before the new one starts.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import uuid_utils
from rq import Queue

from threadwatch import faults
from threadwatch.domain import EventType, RunStatus
from threadwatch.errors import NotFoundError, ThreadNotFound
from threadwatch.graphs import GraphRegistry
from threadwatch.graphs.assistants import Assistants
from threadwatch.graphs.run_settings import run_settings
from threadwatch.models import RunCreate, RunEvent
from threadwatch.queues import RUNS_QUEUE
from threadwatch.runs.jobs import RunJobs
from threadwatch.runs.options import (
    PROTOCOL_MARKER,
    PROTOCOL_WATCH_SECONDS,
    RunOptions,
    forked_config,
    latest_config,
)
from threadwatch.store.assistants import StoredAssistant
from threadwatch.store.codec import decode_hash, run_from_hash
from threadwatch.store.runs import Turn
from threadwatch.store.stores import Stores
from threadwatch.webhooks.policy import check_webhook_url

IN_FLIGHT = (RunStatus.PENDING.value, RunStatus.RUNNING.value)
NO_MATCHING_RUN = (
    "No matching runs to cancel. Please verify the thread ID and run IDs are correct, and the "
    "runs haven't been deleted or completed."
)


class RunService:
    """Creates, cancels and waits for runs executed by threadwatch workers."""

    def __init__(
        self,
        stores: Stores,
        graphs: GraphRegistry,
        run_timeout: float,
        webhook_allow_private: bool = False,
    ) -> None:
        self.stores, self.threads, self.runs = stores, stores.threads, stores.runs
        self.graphs = graphs
        self.assistants = Assistants(stores.assistants, graphs)
        self.run_timeout = run_timeout
        self.webhook_allow_private = webhook_allow_private
        self.jobs = RunJobs(Queue(RUNS_QUEUE, connection=stores.redis), run_timeout)

    # -- create --------------------------------------------------------------------------

    def create(
        self,
        thread_id: str | None,
        body: RunCreate,
        streamed: bool = False,
        protocol: bool = False,
    ) -> dict[str, Any]:
        """Record the run pending and enqueue it; stateless when ``thread_id`` is None.
        A ``streamed`` run (or one created with ``stream_resumable``) sends its chunks to
        its stream (app/store/run_streams.py); a ``protocol`` run (the thread-centric
        protocol's run.start) its protocol events to its thread's."""
        named = self.assistants.run_assistant_id(body.assistant_id)
        temporary = thread_id is None
        # The run's metadata merges an existing thread's, as LangGraph's does: read with
        # the assistant, in one round trip.
        if thread_id is None:
            stored, read = self.stores.assistants.get(named), None
        else:
            assistant_read = self.stores.assistants.read(named)
            stored, read = self.stores.read_both(
                assistant_read, self.threads.metadata_read(thread_id)
            )
        assistant, graph = self.assistants.run_assistant(named, stored)
        graph_id, assistant_id = graph.graph_id, assistant.assistant["assistant_id"]
        if body.webhook:  # refused before anything is recorded (LangGraph's 422 texts)
            body.webhook = check_webhook_url(body.webhook, self.webhook_allow_private)
        checkpoint = body.checkpoint.model_dump(exclude_none=True) if body.checkpoint else None
        # Where the run starts from (its configurable's checkpoint keys); 422 first.
        fork = forked_config(None, body.checkpoint_id, checkpoint).get("configurable", {})
        thread_id = thread_id or str(uuid_utils.uuid4())
        create_thread = temporary or body.if_not_exists == "create"
        thread_metadata = {**read[0], "graph_id": graph_id} if read and read[2] else {}
        if create_thread:
            self._create_thread(thread_id, graph_id, assistant_id, body)
        if protocol:  # before the run can start: its start must reach the thread's stream
            self.threads.watch(thread_id, PROTOCOL_WATCH_SECONDS)
            # LangGraph's mark of a protocol run, in its configurable as the fork's keys
            fork = {**fork, PROTOCOL_MARKER: True}
        run_id = str(uuid_utils.uuid7())
        strategy = body.multitask_strategy or "enqueue"
        event = self._pending_event(
            thread_id,
            run_id,
            assistant,
            thread_metadata,
            body,
            fork,
            temporary,
            streamed or bool(body.stream_resumable),
        )
        reject, delay = strategy == "reject", body.after_seconds or 0.0
        # Read before a thread this request creates: only trusted when it made none.
        metadata_read = None if create_thread else read
        try:
            if strategy in ("interrupt", "rollback"):
                self.runs.admit(event, reject, not create_thread, metadata_read)
            else:  # the common case: admitted and its turn taken in one round trip
                turn = self.runs.admit_and_take_turn(
                    event, reject, not create_thread, metadata_read, delay
                )
        except ThreadNotFound:
            raise NotFoundError("Thread or assistant not found.") from None
        if strategy in ("interrupt", "rollback"):
            faults.pause(faults.Point.RUN_RECORDED)
            # The runs in flight end first, so that this one takes the turn they held.
            for other in self._in_flight(thread_id, exclude=run_id):
                self.cancel(thread_id, other, strategy)
            turn = self.runs.take_turn(thread_id, run_id, delay)
        faults.pause(faults.Point.TURN_TAKEN)
        return self._queue(thread_id, run_id, turn)

    def _create_thread(
        self, thread_id: str, graph_id: str, assistant_id: str, body: RunCreate
    ) -> None:
        config_metadata = (body.config or {}).get("metadata") or {}
        metadata = {
            "graph_id": graph_id,
            "assistant_id": assistant_id,
            **config_metadata,
            **(body.metadata or {}),
        }
        self.threads.create(thread_id, metadata, if_exists="do_nothing")

    def _pending_event(
        self,
        thread_id: str,
        run_id: str,
        assistant: StoredAssistant,
        thread_metadata: dict[str, Any],
        body: RunCreate,
        fork: dict[str, Any],
        temporary: bool,
        streamed: bool,
    ) -> RunEvent:
        """The run's record: the assistant's config, context and metadata merged under the
        run's own (run values win), with the assistant's id and version; ``fork`` (the
        checkpoint it starts from) goes into its configurable last."""
        graph_id, assistant_id = assistant.graph_id, assistant.assistant["assistant_id"]
        settings = run_settings(
            assistant, body.config, body.context, body.metadata, thread_metadata
        )
        config = {**settings.config, "configurable": {**settings.config["configurable"], **fork}}
        options = RunOptions(
            graph_id=graph_id,
            assistant_version=assistant.version,
            input=body.input,
            command=body.command.model_dump() if body.command else None,
            # The graph runs with the run's metadata in its config, as LangGraph's: its
            # checkpoints carry it.
            config={**config, "metadata": settings.metadata},
            context=settings.context,
            stream_mode=body.stream_mode or ["values"],
            streamed=streamed,
            subgraphs=bool(body.stream_subgraphs),
            interrupt_before=body.interrupt_before,
            interrupt_after=body.interrupt_after,
            webhook=body.webhook,
            temporary=temporary,
            on_completion=body.on_completion or ("delete" if temporary else "keep"),
            durability=body.durability or "async",  # LangGraph's default
        )
        return RunEvent(
            thread_id=thread_id,
            run_id=run_id,
            type=EventType.PENDING,
            metadata={"graph_id": graph_id, "assistant_id": assistant_id},
            run_metadata=settings.metadata,
            assistant_id=assistant_id,
            kwargs=options.to_json(),
            multitask_strategy=body.multitask_strategy or "enqueue",
            # The thread keeps the run's config, without where this run started from and
            # without the server's private keys (a protocol run's marker, say).
            config=latest_config(config, drop=("thread_id",), drop_private=True),
        )

    def _queue(self, thread_id: str, run_id: str, turn: Turn | None) -> dict[str, Any]:
        """The run as recorded, its job queued if it holds the thread's ``turn``: a run to
        start at once has both done in one round trip."""
        if turn is None or turn.delay > 0:
            if turn is not None:
                self.jobs.enqueue(turn)
            return self.runs.get(thread_id, run_id)
        queue_job = [lambda pipe: self.jobs.enqueue(turn, pipeline=pipe)]
        raw = self.runs.records.read_after(run_id, queue_job)
        return run_from_hash(run_id, decode_hash(raw))

    def _in_flight(self, thread_id: str, exclude: str) -> list[str]:
        runs = self.runs.list(thread_id, limit=10_000)
        return [r["run_id"] for r in runs if r["status"] in IN_FLIGHT and r["run_id"] != exclude]

    # -- cancel --------------------------------------------------------------------------

    def cancel(self, thread_id: str, run_id: str, action: str = "interrupt") -> None:
        """Stop a pending or running run: ``interrupt`` keeps it (status interrupted) with
        its checkpoints; ``rollback`` deletes it and the checkpoints it wrote."""
        run = self.runs.get(thread_id, run_id)
        if run["status"] not in IN_FLIGHT:
            raise NotFoundError(NO_MATCHING_RUN)
        # The worker watches this flag while the run executes, and checks it at start.
        self.runs.records.request_cancel(run_id, action, int(self.run_timeout) + 3600)
        if run["status"] == RunStatus.PENDING.value:
            self._cancel_pending(thread_id, run_id, action)

    def _cancel_pending(self, thread_id: str, run_id: str, action: str) -> None:
        """A run that has not started ends here and gives up its thread's turn (a job of it
        already queued does nothing when a worker takes it)."""
        if action == "rollback":
            self.runs.delete(thread_id, run_id)
        else:
            event = RunEvent(thread_id=thread_id, run_id=run_id, type=EventType.CANCELLED, next=[])
            self.runs.apply([event])
        self.jobs.pass_turn(self.runs, thread_id, run_id)

    def delete(self, thread_id: str, run_id: str) -> None:
        """Delete an ended run with the checkpoints it wrote."""
        self.runs.get(thread_id, run_id)
        if self.threads.checkpoints is not None:
            self.threads.checkpoints.delete_for_runs([run_id])
        self.runs.delete(thread_id, run_id)

    def runs_in_status(self, statuses: tuple[str | None, ...]) -> list[tuple[str, str]]:
        """(thread_id, run_id) of every run in these statuses (for POST /runs/cancel), from
        the in-flight run indexes (only pending and running runs can be cancelled)."""
        records = self.runs.records
        run_ids = [r for s in IN_FLIGHT if s in statuses for r in records.in_status(s)]
        return [
            (run.thread_id, run_id)
            for run_id, run in zip(run_ids, records.summaries(run_ids), strict=True)
            if run.thread_id is not None and run.status in statuses
        ]

    # -- wait ----------------------------------------------------------------------------

    async def wait(self, thread_id: str, run_id: str, timeout: float | None = None) -> Any:
        """The run's output once it has ended (polling, 20 ms growing to 250 ms)."""
        delay, deadline = 0.02, (time.monotonic() + timeout) if timeout else None
        while True:
            status = await asyncio.to_thread(self._status, thread_id, run_id)
            if status not in IN_FLIGHT:
                return await asyncio.to_thread(self.output, thread_id, run_id)
            if deadline and time.monotonic() > deadline:
                raise TimeoutError(run_id)
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 0.25)

    def _status(self, thread_id: str, run_id: str) -> str | None:
        """None once the run is deleted (rollback, or its temporary thread is gone)."""
        return self.runs.records.summary(run_id).status

    def output(self, thread_id: str, run_id: str) -> Any:
        """What /wait and /join answer for an ended run."""
        raw = self.runs.records.output(run_id)
        if raw is not None:
            return orjson.loads(raw)
        try:
            return self.threads.get(thread_id)["values"]
        except ThreadNotFound:
            return None
