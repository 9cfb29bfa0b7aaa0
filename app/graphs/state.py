"""Thread state from LangGraph checkpoints, in the LangGraph server's ThreadState shape: the
current state, a checkpoint's state, history, and updates (``POST /threads/{id}/state``).

Shapes, defaults and error texts are those of langgraph-api 0.16.7 (``state.py``:
``state_snapshot_to_thread_state``; ``ops.Threads.State`` get / post / list of the in-memory
and gRPC runtimes). The graph is the one named by the thread's ``metadata.graph_id``:

* no ``graph_id``: reads give the empty state (history ``[]``), an update is a 400;
* a plain callable graph keeps no checkpoints: the state is the thread's own values and
  interrupts (from run events) with no checkpoint, history is ``[]``, an update is a 400;
* a LangGraph graph is opened with the ``RedisSaver`` attached and asked, as LangGraph does.

After an update the thread record follows the thread's latest checkpoint (values, interrupts,
and ``interrupted`` while nodes are left to run, else ``idle``) through ``ThreadStore.set_state``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from threadwatch.errors import ThreadBusy, ThreadwatchError
from threadwatch.graphs import AccessContext, GraphRegistry, LoadedGraph, open_graph
from threadwatch.graphs.serde import jsonable
from threadwatch.store.codec import materialize
from threadwatch.store.threads import ThreadStore


class NoGraphId(ThreadwatchError):
    """The thread names no graph (langgraph-api's exact 400 text)."""

    status_code = 400

    def __init__(self, thread_id: str) -> None:
        super().__init__(
            f"Thread '{thread_id}' has no assigned graph ID. This usually occurs when no runs "
            "have been made on this particular thread. This operation requires a graph ID. "
            "Please ensure a run has been made for the thread or manually update the thread "
            "metadata (by setting the 'graph_id' field) before running this operation."
        )


class StatelessGraph(ThreadwatchError):
    """The thread's graph is a plain callable: it keeps no checkpoints to update."""

    status_code = 400

    def __init__(self, thread_id: str, graph_id: str) -> None:
        super().__init__(
            f"Graph '{graph_id}' of thread '{thread_id}' is a plain callable and keeps no "
            "checkpoints, so its state cannot be updated. Only LangGraph graphs have state."
        )


class InvalidStateUpdate(ThreadwatchError):
    """LangGraph refused the update (InvalidUpdateError, EmptyInputError, ValueError): 400
    with its message, as langgraph-api's value_error_handler answers."""

    status_code = 400


# -- ThreadState shape (langgraph_api/state.py) --------------------------------------------


def empty_state(values: Any = None, interrupts: list[Any] | None = None) -> dict[str, Any]:
    """The state of a thread without checkpoints (langgraph-api's empty StateSnapshot)."""
    return {
        "values": {} if values is None else values,
        "next": [],
        "tasks": [],
        "metadata": None,
        "created_at": None,
        "checkpoint": None,
        "parent_checkpoint": None,
        "interrupts": interrupts or [],
        "checkpoint_id": None,
        "parent_checkpoint_id": None,
    }


def checkpoint_of(config: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``runnable_config_to_checkpoint``: the checkpoint a config names, or None."""
    configurable = (config or {}).get("configurable") or {}
    if not configurable.get("thread_id") or not configurable.get("checkpoint_id"):
        return None
    checkpoint = {
        "checkpoint_id": configurable["checkpoint_id"],
        "thread_id": configurable["thread_id"],
    }
    if "checkpoint_ns" in configurable:
        checkpoint["checkpoint_ns"] = configurable["checkpoint_ns"] or ""
    if "checkpoint_map" in configurable:
        checkpoint["checkpoint_map"] = configurable["checkpoint_map"]
    return checkpoint


def interrupt_json(interrupt: Any) -> dict[str, Any]:
    """``patch_interrupt`` (LangGraph >= 0.6): ``{id, value}``, ``response_schema`` if set."""
    if isinstance(interrupt, Mapping):
        patched = {"id": interrupt.get("id"), "value": interrupt.get("value")}
        schema = interrupt.get("response_schema")
    else:
        patched = {"id": getattr(interrupt, "id", None), "value": interrupt.value}
        schema = getattr(interrupt, "response_schema", None)
    if schema is not None:
        patched["response_schema"] = schema
    return patched


def thread_state(snapshot: Any) -> dict[str, Any]:
    """``state_snapshot_to_thread_state``: a StateSnapshot as the API returns it."""
    config, parent = snapshot.config, snapshot.parent_config
    return {
        "values": snapshot.values,
        "next": list(snapshot.next),
        "tasks": [_task(task) for task in snapshot.tasks],
        "metadata": snapshot.metadata,
        "created_at": snapshot.created_at,
        "checkpoint": checkpoint_of(config),
        "parent_checkpoint": checkpoint_of(parent),
        "interrupts": [interrupt_json(i) for i in getattr(snapshot, "interrupts", ())],
        # deprecated, still sent
        "checkpoint_id": config["configurable"].get("checkpoint_id") if config else None,
        "parent_checkpoint_id": parent["configurable"]["checkpoint_id"] if parent else None,
    }


def _task(task: Any) -> dict[str, Any]:
    nested = _is_snapshot(task.state)
    return {
        "id": task.id,
        "name": task.name,
        "path": task.path,
        "error": task.error,
        "interrupts": [interrupt_json(i) for i in task.interrupts],
        "checkpoint": task.state["configurable"] if task.state is not None and not nested else None,
        "state": thread_state(task.state) if nested else None,
        "result": getattr(task, "result", None),
    }


def _is_snapshot(value: Any) -> bool:
    from langgraph.types import StateSnapshot

    return isinstance(value, StateSnapshot)


def task_interrupts(snapshot: Any) -> dict[str, list[dict[str, Any]]]:
    """The thread's ``interrupts``: task id -> its interrupts, for tasks that have some."""
    return {
        task.id: [interrupt_json(i) for i in task.interrupts]
        for task in snapshot.tasks
        if task.interrupts
    }


# -- reads and updates ---------------------------------------------------------------------


@dataclass(frozen=True)
class ThreadStates:
    """State of the threads of one store, through the graphs of one registry."""

    threads: ThreadStore
    saver: Any  # RedisSaver, or None without langgraph (then every graph is a plain callable)
    graphs: GraphRegistry
    store: Any = None  # LangGraph's store (graphs/store.py), as langgraph-api gives it too

    async def get(
        self,
        thread_id: str,
        checkpoint: Mapping[str, Any] | None = None,
        subgraphs: bool = False,
    ) -> dict[str, Any]:
        """The thread's latest state, or that of ``checkpoint`` (``checkpoint_id``,
        ``checkpoint_ns``...); 404 for an unknown thread."""
        thread = await self._thread(thread_id)
        graph = self._graph(thread)
        if graph is None:
            return empty_state()
        if graph.kind == "callable":
            return self._callable_state(thread, checkpoint)
        config = {"configurable": {**(checkpoint or {}), "thread_id": thread_id}}
        async with self._open(thread, graph, config, "threads.read") as compiled:
            snapshot = await compiled.aget_state(config, subgraphs=subgraphs)
        return jsonable(thread_state(snapshot))

    async def history(
        self,
        thread_id: str,
        *,
        limit: int = 1,
        before: str | Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        checkpoint: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """States of past checkpoints, newest first; ``[]`` without a LangGraph graph."""
        thread = await self._thread(thread_id)
        graph = self._graph(thread)
        if graph is None or graph.kind == "callable":
            return []
        configurable = {"checkpoint_ns": "", **(checkpoint or {}), "thread_id": thread_id}
        config = {"configurable": configurable}
        async with self._open(thread, graph, config, "threads.read") as compiled:
            snapshots = compiled.aget_state_history(
                config, limit=limit, filter=dict(metadata or {}) or None, before=_before(before)
            )
            return [jsonable(thread_state(s)) async for s in snapshots]

    async def update(
        self,
        thread_id: str,
        values: Any,
        *,
        as_node: str | None = None,
        checkpoint: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Write a checkpoint with ``values`` applied (as ``as_node``, from ``checkpoint``),
        then make the thread follow its latest checkpoint. 409 while runs are in flight."""
        thread = await self._thread(thread_id)
        graph_id = (thread["metadata"] or {}).get("graph_id")
        if not graph_id:
            raise NoGraphId(thread_id)
        if thread["status"] == "busy":  # checked again, atomically, by set_state
            raise ThreadBusy(thread_id)
        graph = self.graphs.require(graph_id)
        if graph.kind == "callable":
            raise StatelessGraph(thread_id, graph_id)
        configurable = {**(checkpoint or {}), "thread_id": thread_id}
        configurable.setdefault("graph_id", graph_id)
        configurable.setdefault("checkpoint_ns", "")
        config = {"configurable": configurable}
        async with self._open(thread, graph, config, "threads.update") as compiled:
            next_config = await _update(compiled, config, values, as_node)
            latest = await compiled.aget_state({"configurable": {"thread_id": thread_id}})
        await self._follow(thread_id, latest)
        next_config = jsonable(next_config)
        configurable = next_config["configurable"]
        return {
            "checkpoint": configurable,
            **next_config,
            "checkpoint_id": configurable["checkpoint_id"],
        }

    async def _follow(self, thread_id: str, snapshot: Any) -> None:
        """The thread record takes the values, interrupts and status of ``snapshot``; a
        client watching the thread's stream gets its state as `state_update`."""
        values, interrupts = jsonable(snapshot.values), jsonable(task_interrupts(snapshot))
        state = jsonable(thread_state(snapshot))
        await asyncio.to_thread(
            self.threads.set_state, thread_id, values, interrupts, bool(snapshot.next), state
        )

    async def _thread(self, thread_id: str) -> dict[str, Any]:
        return materialize(await asyncio.to_thread(self.threads.get, thread_id))

    def _graph(self, thread: Mapping[str, Any]) -> LoadedGraph | None:
        graph_id = (thread["metadata"] or {}).get("graph_id")
        return self.graphs.require(graph_id) if graph_id else None

    @staticmethod
    def _callable_state(
        thread: Mapping[str, Any], checkpoint: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """No checkpoints: the thread's values and interrupts, or the empty state of a
        checkpoint that cannot exist."""
        if checkpoint and checkpoint.get("checkpoint_id"):
            return empty_state()
        interrupts = [i for group in (thread["interrupts"] or {}).values() for i in group]
        return empty_state(thread["values"], interrupts)

    @asynccontextmanager
    async def _open(
        self,
        thread: Mapping[str, Any],
        graph: LoadedGraph,
        config: Mapping[str, Any],
        access: AccessContext,
    ) -> AsyncIterator[Any]:
        """The compiled graph with the saver attached, built for the thread's config merged
        with this request's configurable (as langgraph-api builds it)."""
        assert self.saver is not None, "LangGraph graphs are only loaded with langgraph"
        base = thread.get("config") or {}
        merged = {
            **base,
            "configurable": {**(base.get("configurable") or {}), **config["configurable"]},
        }
        opened = open_graph(
            graph, merged, access_context=access, checkpointer=self.saver, store=self.store
        )
        async with opened as g:
            yield g


def _before(before: str | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A checkpoint id or a checkpoint object, as the config LangGraph lists before."""
    if not before:
        return None
    if isinstance(before, str):
        return {"configurable": {"checkpoint_id": before}}
    return dict(before) if "configurable" in before else {"configurable": dict(before)}


async def _update(
    compiled: Any, config: Mapping[str, Any], values: Any, as_node: str | None
) -> Any:
    from langgraph.errors import EmptyInputError, InvalidUpdateError

    try:
        return await compiled.aupdate_state(config, values, as_node=as_node)
    except (InvalidUpdateError, EmptyInputError, ValueError) as exc:
        raise InvalidStateUpdate(str(exc)) from exc
