"""Executes one run: its graph, from start to a terminal event, reported through the same
transition script as external run events.

LangGraph graphs run with ``astream`` on an event loop, checkpointing to Redis, so that a
cancel (a flag in Redis, checked every CANCEL_POLL seconds) stops the run at once: the task
is cancelled, whatever node is running; a sync node finishes in its executor thread but its
result is dropped. Plain callables run as they are (sync ones in a thread).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from rq import Queue

from threadwatch import faults
from threadwatch.domain import EventType
from threadwatch.errors import ThreadNotFound
from threadwatch.graphs import GraphRegistry, LoadedGraph, open_graph
from threadwatch.graphs.custom_store import CustomStore, custom_store
from threadwatch.graphs.project import project_at
from threadwatch.graphs.serde import jsonable
from threadwatch.graphs.state import interrupt_json
from threadwatch.graphs.store_config import graph_store, memory_store
from threadwatch.models import RunError, RunEvent
from threadwatch.queues import RUNS_QUEUE
from threadwatch.runs.jobs import RunJobs
from threadwatch.runs.options import PROTOCOL_WATCH_SECONDS, RunOptions, latest_config
from threadwatch.store.availability import wait_out
from threadwatch.store.checkpoints.write_batch import WriteBatch
from threadwatch.store.codec import materialize
from threadwatch.store.run_streams import RunStreamWriter, stream_modes
from threadwatch.store.runs import StartedRun
from threadwatch.store.stores import Stores
from threadwatch.webhooks.delivery import enqueue_webhook, webhook_queue
from threadwatch.webhooks.policy import run_webhook_payload

log = logging.getLogger(__name__)
CANCEL_POLL = 0.1
# The webhook payload's status for each way a run ends (LangGraph's names).
WEBHOOK_STATUS = {
    EventType.SUCCEEDED: "success",
    EventType.INTERRUPTED: "success",
    EventType.FAILED: "error",
    EventType.TIMEOUT: "timeout",
    EventType.CANCELLED: "interrupted",
}
# What execute() returns for a run rolled back (deleted) rather than ended.
ROLLBACK = "rollback"
# Seconds a cancelled run's graph gets to unwind before the worker moves on.
CANCEL_GRACE = 5.0
# Seconds a checkpoint write may wait to be written with the run's next ones (one round trip
# for a short run's five; see RedisSaver.group_commit).
GROUP_COMMIT = 0.01
# Seconds (at least) a run's end waits out a Redis outage.
REPORT_PATIENCE = 60.0
# A protocol run renews its thread's watch this often (PROTOCOL_WATCH_SECONDS).
PROTOCOL_WATCH_RENEW = 10.0


@dataclass
class Outcome:
    """How a run ended: the terminal event's type and what it carries. A run rolled back
    (``rolled_back``) is deleted instead of ended."""

    type: EventType
    values: Any = None
    interrupts: dict[str, Any] | None = None
    next: list[str] | None = None
    error: dict[str, str] | None = None
    rolled_back: bool = False


class RunCancelled(Exception):
    """The run was asked to stop (``action`` is interrupt or rollback)."""

    def __init__(self, action: str) -> None:
        super().__init__(action)
        self.action = action


@dataclass
class Runner:
    """Everything a worker process needs to execute runs, built once per process."""

    stores: Stores  # built with inline checkpoints (Stores.on)
    graphs: GraphRegistry
    run_timeout: float
    webhook_secret: str | None = None
    webhook_allow_private: bool = False

    def __post_init__(self) -> None:
        self.redis, self.keys = self.stores.redis, self.stores.keys
        self.threads, self.runs = self.stores.threads, self.stores.runs
        # The checkpoint saver: None without langgraph, an optional extra.
        self.saver: Any = self.stores.saver
        self.lease_seconds = self.runs.lease_us / 1_000_000
        self.jobs = RunJobs(Queue(RUNS_QUEUE, connection=self.redis), self.run_timeout)
        # LangGraph's store for every run (node argument and get_store()), on the memory
        # store the /store API serves; None without langgraph.
        self.store: Any = _graph_store(self.stores, self.graphs)
        project = project_at(self.graphs.config_path)
        # langgraph.json's http.disable_webhooks: runs end without calling their webhook.
        self.webhooks_disabled = project.http.disable_webhooks
        # Its store.path: the user's store instead, entered on each worker thread's loop.
        self.custom_store: CustomStore | None = None
        try:
            self.custom_store = custom_store(project)
        except Exception:
            log.exception("the store.path of langgraph.json failed to load: runs get no store")
            self.store = None
        # Runs executing in this process (run id -> thread id), whose leases it renews.
        self.executing: dict[str, str] = {}
        self._executing_lock = threading.Lock()

    async def graph_store(self) -> Any:
        """The store a run's graph gets: the user's (store.path), entered on this thread's
        loop on its first run, else the Redis one."""
        if self.custom_store is None:
            return self.store
        return await self.custom_store.get()

    @property
    def report_patience(self) -> float:
        """Seconds a run's end waits out a Redis outage before it is left to the sweeper."""
        return max(REPORT_PATIENCE, 2 * self.lease_seconds)

    def renew_leases(self) -> int:
        """One `run.heartbeat` per run executing here, in one call; how many were sent."""
        with self._executing_lock:
            running = list(self.executing.items())
        events = [
            RunEvent(thread_id=thread_id, run_id=run_id, type=EventType.HEARTBEAT)
            for run_id, thread_id in running
        ]
        self.runs.apply(events)
        return len(events)

    def execute(self, run_id: str, thread_id: str | None = None) -> str | None:
        """Run ``run_id`` unless it already ended or was cancelled; the terminal event type."""
        taken = self._start(run_id, thread_id)
        if taken is None:
            log.info("run %s is not pending any more; nothing to do", run_id)
            self._pass_turn_if_ended(thread_id, run_id)
            return None
        fields = taken.fields
        thread_id = fields["thread_id"].decode()
        options = RunOptions.from_json(fields.get("kwargs"))
        started_at = datetime.now(UTC)
        stream = RunStreamWriter(
            self.redis,
            self.keys,
            thread_id,
            run_id,
            stream_modes(options.stream_mode),
            streamed=options.streamed,
            watched=taken.watched or options.protocol,
            encode=jsonable,
        )
        with self._executing_lock:
            self.executing[run_id] = thread_id
        try:
            started = time.perf_counter()
            ended = run_to_end(
                self._execute(thread_id, run_id, fields, options, started_at, stream)
            )
            took = (time.perf_counter() - started) * 1000
            log.info("run %s on thread %s: %s in %.0f ms", run_id, thread_id, ended, took)
            return ended
        finally:
            with self._executing_lock:
                self.executing.pop(run_id, None)

    def _pass_turn_if_ended(self, thread_id: str | None, run_id: str) -> None:
        """A job whose run ended before it started (cancelled while queued) or is gone
        (rolled back) passes the thread's turn on, if the run held it; a run executing
        elsewhere (its job queued twice) keeps it."""
        run = self.runs.records.summary(run_id)
        if run.status == "running":
            return
        thread_id = thread_id or run.thread_id
        if thread_id is not None:
            self.jobs.pass_turn(self.runs, thread_id, run_id)

    def _start(self, run_id: str, thread_id: str | None) -> StartedRun | None:
        """Mark the run started and read it (one round trip when the job names its thread);
        None when it is not pending any more."""
        if thread_id is None:  # a job queued by a version whose jobs named the run only
            thread_id = self.runs.records.summary(run_id).thread_id
            if thread_id is None:
                return None
        return self.runs.start(thread_id, run_id)

    async def _execute(
        self,
        thread_id: str,
        run_id: str,
        fields: dict[str, bytes],
        options: RunOptions,
        started_at: datetime,
        stream: RunStreamWriter,
    ) -> str:
        writes = self.saver.group_commit(GROUP_COMMIT) if self.saver else nullcontext()
        with writes as buffer:
            outcome = await self._outcome(thread_id, run_id, fields, options, stream)
            if not outcome.rolled_back:
                # The last checkpoint writes, the output, the end of the run's stream and
                # the terminal event go in one MULTI/EXEC: whoever sees the run end finds
                # its state, its output and all its chunks.
                final = buffer.take() if buffer is not None else WriteBatch()
                output = orjson.dumps(output_of(outcome))
                closing = [
                    self.runs.records.keep_output(run_id, output),
                    *stream.closing(_stream_error(outcome)),
                ]
                event = _terminal_event(thread_id, run_id, outcome)
                # A Redis outage or a full Redis is waited out (the lease is renewed
                # meanwhile), so that the run's end is kept; past that, the sweeper ends it.
                _, turn = wait_out(
                    lambda: self.runs.end_run([*final, *closing], event),
                    self.report_patience,
                    f"run {run_id}: its end",
                )
                faults.pause(faults.Point.RUN_ENDED)
                if turn is not None:  # the thread's next run: it starts now
                    wait_out(
                        lambda: self.jobs.enqueue(turn),
                        self.report_patience,
                        f"run {run_id}: the next run's job",
                    )
        self._finish(thread_id, run_id, options, started_at, outcome)
        return ROLLBACK if outcome.rolled_back else outcome.type.value

    def _finish(
        self,
        thread_id: str,
        run_id: str,
        options: RunOptions,
        started_at: datetime,
        outcome: Outcome,
    ) -> None:
        """What follows a run's end (before any wait for an abandoned node): its webhook,
        and the rollback or the deletion of its temporary thread."""
        self._send_webhook(thread_id, run_id, options.webhook, started_at, outcome)
        if outcome.rolled_back:
            self._roll_back(thread_id, run_id)
            return
        if options.deletes_its_thread:
            if self.saver is not None:
                self.saver.delete_thread(thread_id)
            self.threads.delete(thread_id)

    def _send_webhook(
        self,
        thread_id: str,
        run_id: str,
        url: str | None,
        started_at: datetime,
        outcome: Outcome,
    ) -> None:
        """Queue the run's webhook (an RQ job with retries); never fails the run."""
        if not url:
            return
        if self.webhooks_disabled:
            log.info("run %s: webhooks are disabled (http.disable_webhooks); not sent", run_id)
            return
        try:
            run = self.runs.get(thread_id, run_id)
            payload = run_webhook_payload(
                materialize(run),
                "rollback" if outcome.rolled_back else WEBHOOK_STATUS[outcome.type],
                started_at,
                datetime.now(UTC),
                outcome.values,
                outcome.error,
            )
            enqueue_webhook(
                webhook_queue(self.redis),
                url,
                payload,
                secret=self.webhook_secret,
                allow_private=self.webhook_allow_private,
                msg_id=f"msg_{run_id}",
            )
        except Exception:
            log.exception("run %s: could not queue its webhook", run_id)

    async def _outcome(
        self,
        thread_id: str,
        run_id: str,
        fields: dict[str, bytes],
        options: RunOptions,
        stream: RunStreamWriter,
    ) -> Outcome:
        assistant = (fields.get("assistant_id") or b"").decode()
        attempt = int(fields.get("attempts") or 0) + 1
        config = _run_config(options, thread_id, run_id, assistant, attempt)
        graph = self.graphs.get(options.graph_id)
        work = asyncio.ensure_future(self._run_graph(graph, options, config, stream))
        watcher = asyncio.ensure_future(
            self._watch_cancel(thread_id, run_id, stream, options.protocol)
        )
        try:
            done, _ = await asyncio.wait(
                {work, watcher}, timeout=self.run_timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if work in done:
                return work.result()
            work.cancel()
            if watcher in done:
                action = watcher.result()
                if action == "rollback":
                    return Outcome(EventType.CANCELLED, rolled_back=True)
                return await self._stopped_outcome(EventType.CANCELLED, graph, config)
            error = {
                "error": "TimeoutError",
                "message": f"Run exceeded its timeout of {self.run_timeout:g} s",
            }
            return await self._stopped_outcome(EventType.TIMEOUT, graph, config, error)
        except Exception as exc:  # the graph raised: the run failed, the worker goes on
            log.exception("run %s failed", run_id)
            error = {"error": type(exc).__name__, "message": str(exc)}
            return await self._stopped_outcome(EventType.FAILED, graph, config, error)
        finally:
            watcher.cancel()
            work.cancel()

    async def _run_graph(
        self,
        graph: LoadedGraph | None,
        run: RunOptions,
        config: dict[str, Any],
        stream: RunStreamWriter | None = None,
    ) -> Outcome:
        """Run the graph to its end or its interrupt; each chunk of the modes the run asked
        for goes to its stream and its thread's, where read (RunStreamWriter), as it
        comes."""
        if graph is None:
            raise LookupError("the run's graph is not loaded in this worker")
        async with open_graph(
            graph,
            config,
            access_context="threads.create_run",
            context=run.context,
            checkpointer=self.saver,
            store=await self.graph_store(),
        ) as runnable:
            if graph.kind == "callable":
                values = jsonable(await _call(runnable, run.input, config))
                if stream:
                    stream.publish("values", values)
                return Outcome(EventType.SUCCEEDED, values=values)
            if run.protocol and stream is not None:
                return await _protocol_outcome(runnable, run, config, stream)
            values, stopped = None, False
            # Every run reads values and updates; a run streamed, or whose thread is watched
            # as it starts, adds the modes it asked for, and its subgraphs' chunks if asked.
            asked = stream.graph_modes if stream and stream.read else []
            modes = [mode for mode in ("values", "updates", *asked) if mode != "events"]
            subgraphs = bool(asked and run.subgraphs)
            options = {
                "stream_mode": list(dict.fromkeys(modes)),
                "interrupt_before": run.interrupt_before,
                "interrupt_after": run.interrupt_after,
                "durability": run.durability,  # None: LangGraph's default, "async"
                "subgraphs": subgraphs,
            }
            graph_input = _graph_input(run)
            if "events" in asked and stream is not None:
                chunks = _with_events(runnable, graph_input, config, options, stream)
            else:
                chunks = runnable.astream(graph_input, config, **options)
            async for item in chunks:
                namespace, mode, chunk = item if subgraphs else ((), *item)
                if stream:
                    stream.publish(mode, chunk, namespace)
                if namespace:  # a subgraph's: the run's own values and interrupts are the root's
                    continue
                if mode == "values":
                    values = chunk
                elif isinstance(chunk, dict) and "__interrupt__" in chunk:
                    stopped = True  # an interrupt() or a breakpoint: nodes are left to run
            if stopped:  # the state the run left, not the checkpoint it forked from
                return _from_state(await runnable.aget_state(latest_config(config)))
            # Finished: the last values are the final checkpoint's, no need to read it back.
            return Outcome(EventType.SUCCEEDED, jsonable(values), {}, [])

    async def _stopped_outcome(
        self,
        type: EventType,
        graph: LoadedGraph | None,
        config: dict[str, Any],
        error: dict[str, str] | None = None,
    ) -> Outcome:
        """A run that stopped early (cancelled, timed out, failed) keeps its last
        checkpoint: report the values, interrupts and nodes left that it holds."""
        outcome = Outcome(type, error=error)
        if graph is None or graph.kind == "callable":
            return outcome
        try:
            store = await self.graph_store()
            opened = open_graph(graph, config, checkpointer=self.saver, store=store)
            async with opened as runnable:
                state = _from_state(await runnable.aget_state(latest_config(config)))
        except Exception:
            log.exception("could not read the last checkpoint of thread %s", config)
            return outcome
        outcome.values, outcome.interrupts, outcome.next = (
            state.values,
            state.interrupts,
            state.next or None,
        )
        return outcome

    async def _watch_cancel(
        self, thread_id: str, run_id: str, stream: RunStreamWriter, protocol: bool = False
    ) -> str:
        """Return the cancel action once one is asked of this run; meanwhile keep
        ``stream`` told whether a client watches the thread. A run of the thread-centric
        protocol keeps its thread watched itself, so that its end reaches the thread's
        stream whoever listens then (its clients read it back from the start)."""
        watched_at = time.monotonic() - PROTOCOL_WATCH_RENEW  # renewed at once
        while True:
            if protocol and time.monotonic() - watched_at >= PROTOCOL_WATCH_RENEW:
                watched_at = time.monotonic()
                with suppress(ThreadNotFound):
                    self.threads.watch(thread_id, PROTOCOL_WATCH_SECONDS)
            # The run was pending a moment ago, so the first look waits a poll. The reads
            # block this loop for a round trip: cheaper than a hop to another thread.
            await asyncio.sleep(CANCEL_POLL)
            action, watched = self.runs.records.cancel_and_watch(thread_id, run_id)
            stream.watched = protocol or watched
            if action:
                return action

    def _roll_back(self, thread_id: str, run_id: str) -> None:
        """rollback: the run and the checkpoints it wrote are deleted."""
        if self.saver is not None:
            self.saver.delete_for_runs([run_id])
        self.runs.delete(thread_id, run_id)
        self.jobs.pass_turn(self.runs, thread_id, run_id)


# One event loop per worker thread, kept between runs, and one executor for the process:
# a loop per run would create (and tear down) its own executor threads every run. Sync
# nodes run in the executor, so it must hold one per run in flight (and the I/O hops of
# the others); threads are only started when needed, so a high cap costs nothing idle.
EXECUTOR_THREADS = 256
_loops = threading.local()
_executor = ThreadPoolExecutor(EXECUTOR_THREADS, thread_name_prefix="threadwatch-run")


def _thread_loop() -> asyncio.AbstractEventLoop:
    loop = getattr(_loops, "loop", None)
    if loop is None or loop.is_closed():
        loop = asyncio.new_event_loop()
        loop.set_default_executor(_executor)
        _loops.loop = loop
    return loop


def run_to_end(coro: Coroutine[Any, Any, str]) -> str:
    """Run ``coro`` on this thread's loop. A cancelled run's leftovers get CANCEL_GRACE
    seconds, not forever: a sync node may still be running in the executor, and finishes
    alone (its result dropped). The run was reported before this wait."""
    loop = _thread_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        leftovers = asyncio.all_tasks(loop)
        for task in leftovers:
            task.cancel()
        if leftovers:
            loop.run_until_complete(asyncio.wait(leftovers, timeout=CANCEL_GRACE))


def _graph_store(stores: Stores, graphs: GraphRegistry) -> Any:
    """LangGraph's store on Redis, configured by langgraph.json's ``store``; its async
    methods run inline (a worker thread's loop serves one run). None without langgraph, or
    when the store config fails to load (logged; the API refuses to start on it too), so
    that runs still end: a graph that uses the store fails with its own error."""
    try:
        return graph_store(memory_store(stores.items, graphs.config_path), inline=True)
    except Exception:
        log.exception("the store of langgraph.json failed to load: runs get no store")
        return None


def _terminal_event(thread_id: str, run_id: str, outcome: Outcome) -> RunEvent:
    """The run's end; the thread's interrupts as LangGraph's server keeps them (no null
    ``response_schema``, which the run's own output and stream do carry)."""
    interrupts = outcome.interrupts
    if interrupts:
        interrupts = {t: [interrupt_json(i) for i in items] for t, items in interrupts.items()}
    return RunEvent(
        thread_id=thread_id,
        run_id=run_id,
        type=outcome.type,
        values=outcome.values,
        interrupts=interrupts,
        next=outcome.next,
        error=RunError.model_validate(outcome.error) if outcome.error else None,
    )


def output_of(outcome: Outcome) -> Any:
    """What /wait and /join answer, as LangGraph: the final values, with ``__interrupt__``
    when the run stopped at interrupts, or ``{"__error__": ...}`` when it failed."""
    if outcome.error is not None:
        return {"__error__": outcome.error}
    values = outcome.values
    interrupts = [i for items in (outcome.interrupts or {}).values() for i in items]
    if interrupts:
        return {**(values if isinstance(values, dict) else {}), "__interrupt__": interrupts}
    return values


async def _protocol_outcome(
    runnable: Any, run: RunOptions, config: dict[str, Any], stream: RunStreamWriter
) -> Outcome:
    """A run of the thread-centric protocol, driven as LangGraph's server drives one: by
    ``astream_events`` (v3), whose protocol events go to the thread's stream as they come;
    its outcome is its last checkpoint's."""
    events = await runnable.astream_events(
        _graph_input(run),
        config,
        version="v3",
        interrupt_before=run.interrupt_before,
        interrupt_after=run.interrupt_after,
        durability=run.durability,
    )
    async with events:
        async for event in events:
            stream.publish_protocol(event)
    # the state the run left, not the checkpoint it forked from
    return _from_state(await runnable.aget_state(latest_config(config)))


async def _with_events(
    runnable: Any,
    graph_input: Any,
    config: dict[str, Any],
    options: dict[str, Any],
    stream: RunStreamWriter,
) -> AsyncIterator[Any]:
    """``astream``'s chunks, read through ``astream_events`` (v2) as LangGraph's server does
    for the `events` mode: the root graph's stream events give the chunks, every other
    event goes to ``stream`` as an `events` chunk (those LangChain hides excepted)."""
    async for event in runnable.astream_events(graph_input, config, version="v2", **options):
        if event["event"] == "on_chain_stream" and not event.get("parent_ids"):
            yield event["data"]["chunk"]
        elif "langsmith:hidden" not in (event.get("tags") or ()):
            stream.publish("events", event)


def _run_config(
    options: RunOptions, thread_id: str, run_id: str, assistant_id: str, attempt: int
) -> dict[str, Any]:
    """The config the graph runs with, keyed as LangGraph's server keys it (its
    checkpoints' metadata is made of it): the run's ids and graph in ``configurable``, the
    attempt and the langgraph version in ``metadata``. No user is signed in here: the
    user ids are empty, as on LangGraph's server without custom auth."""
    config = dict(options.config or {})
    configurable = {
        "user_id": "",
        "langgraph_auth_user_id": "",
        **(config.get("configurable") or {}),
    }
    configurable.update(
        thread_id=thread_id, run_id=run_id, assistant_id=assistant_id, graph_id=options.graph_id
    )
    metadata = dict(config.get("metadata") or {})
    metadata.update(run_attempt=attempt, langgraph_version=_langgraph_version())
    return {**config, "configurable": configurable, "metadata": metadata}


def _langgraph_version() -> str | None:
    try:
        from langgraph.version import __version__
    except ImportError:  # langgraph is optional
        return None
    return str(__version__)


def _graph_input(run: RunOptions) -> Any:
    """The run's input, or a Command (resume, update, goto) when it carries one."""
    command = run.command
    if not command:
        return run.input
    from langgraph.types import Command

    return Command(
        resume=command.get("resume"), update=command.get("update"), goto=command.get("goto") or ()
    )


def _from_state(state: Any) -> Outcome:
    """The terminal event a LangGraph StateSnapshot implies: interrupted while nodes are
    left to run (an interrupt() or a breakpoint), else succeeded."""
    interrupts = {
        task.id: [jsonable(i) for i in task.interrupts] for task in state.tasks if task.interrupts
    }
    values = jsonable(state.values)
    if state.next:
        return Outcome(EventType.INTERRUPTED, values, interrupts, list(state.next))
    return Outcome(EventType.SUCCEEDED, values, {}, [])


async def _call(fn: Callable[..., Any], payload: Any, config: dict[str, Any]) -> Any:
    if inspect.iscoroutinefunction(fn):
        return await fn(payload, config)
    result = await asyncio.to_thread(fn, payload, config)
    if inspect.isawaitable(result):
        return await result
    return result


def _stream_error(outcome: Outcome) -> dict[str, str] | None:
    """The `error` event that ends the stream of a failed or timed-out run."""
    return outcome.error if outcome.type in (EventType.FAILED, EventType.TIMEOUT) else None
