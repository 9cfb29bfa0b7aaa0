"""Graph factories as langgraph-api calls them, and the runnable for one use of a graph.

A callable graph entry is a factory when langgraph-api would accept it as one: no argument,
one argument (a config, or a ``ServerRuntime`` by annotation), or a config and a
``ServerRuntime``. It is called on every use (each run, each schema read) and may return a
graph, a coroutine, or a sync or async context manager. Any other callable that takes
``(input, config)`` is a plain callable graph.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from functools import cache
from typing import Any, Literal, NamedTuple, cast

from threadwatch.graphs.registry import FactoryCall, GraphInvalid, LoadedGraph

AccessContext = Literal["threads.create_run", "threads.update", "threads.read", "assistants.read"]
_RUNTIME_TYPES = frozenset({"ServerRuntime", "_ExecutionRuntime", "_ReadRuntime"})


class _LangGraph(NamedTuple):
    Pregel: Any  # langgraph's classes (typed Any: langgraph is an optional extra)
    StateGraph: Any


@cache
def langgraph_types() -> _LangGraph | None:
    """langgraph's graph classes, or None when it is not installed (it is optional)."""
    try:
        from langgraph.graph import StateGraph
        from langgraph.pregel import Pregel
    except ImportError:
        return None
    return _LangGraph(Pregel, StateGraph)


def factory_call(fn: Callable[..., Any]) -> FactoryCall | None:
    """How langgraph-api would call ``fn`` as a graph factory (no argument; one config or
    ServerRuntime; a config and a ServerRuntime), or None for a plain ``(input, config)``."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"cannot read the signature of {fn!r}") from exc
    params = list(signature.parameters.values())
    hints = _hints(fn)
    runtime = [p.name for p in params if _is_runtime(hints.get(p.name, p.annotation))]
    others = [p.name for p in params if p.name not in runtime]
    variadic = any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params)
    if not params:
        return FactoryCall()
    if len(params) == 1 and not variadic:
        return FactoryCall(runtime=runtime[0]) if runtime else FactoryCall(config=others[0])
    if len(params) == 2 and len(runtime) == 1 and not variadic:
        return FactoryCall(config=others[0], runtime=runtime[0])
    if not runtime and _takes_two(signature):
        return None
    names = ", ".join(p.name for p in params)
    raise TypeError(
        f"{getattr(fn, '__name__', fn)!s}({names}): a graph factory takes no "
        "argument, a config and/or a ServerRuntime; a plain callable graph takes "
        "(input, config)"
    )


def _takes_two(signature: inspect.Signature) -> bool:
    try:
        signature.bind(None, None)
    except TypeError:
        return False
    return True


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    target = fn if inspect.isfunction(fn) or inspect.ismethod(fn) else type(fn).__call__
    try:
        return typing.get_type_hints(target)
    except Exception:  # unresolvable names (e.g. imported under TYPE_CHECKING) stay strings
        return {}


def _is_runtime(annotation: Any) -> bool:
    """``ServerRuntime``, ``ServerRuntime[Ctx]``, its concrete classes, or that name as text."""
    if isinstance(annotation, str):
        return annotation.split("[", 1)[0].rsplit(".", 1)[-1] == "ServerRuntime"
    if typing.get_origin(annotation) is typing.Annotated:
        return _is_runtime(typing.get_args(annotation)[0])
    target = typing.get_origin(annotation) or annotation
    if getattr(target, "__name__", None) == "ServerRuntime":
        return True
    mro = getattr(target, "__mro__", ()) if isinstance(target, type) else ()
    return any(c.__name__ in _RUNTIME_TYPES and c.__module__.startswith("langgraph") for c in mro)


@asynccontextmanager
async def open_graph(
    graph: LoadedGraph,
    config: Mapping[str, Any] | None = None,
    *,
    access_context: AccessContext = "assistants.read",
    context: Any = None,
    checkpointer: Any = None,
    store: Any = None,
) -> AsyncIterator[Any]:
    """The runnable for one use: a plain callable as is; for LangGraph, the compiled graph or
    what the factory returns (awaited, or entered when a context manager) for ``config`` (as
    langgraph-api does: the assistant's config merged with the run's), compiled if a
    StateGraph, renamed to the graph id if unnamed, with ``checkpointer`` and ``store``
    attached when given. ``access_context`` tells a ServerRuntime factory why it is called."""
    if graph.kind == "callable":
        yield graph.target
        return
    value = graph.target
    if graph.factory is not None:
        value = _call_factory(graph, config, access_context, context, store)
    async with _entered(value) as built:
        yield _finish(graph.graph_id, built, checkpointer, store)


def _call_factory(
    graph: LoadedGraph,
    config: Mapping[str, Any] | None,
    access_context: AccessContext,
    context: Any,
    store: Any,
) -> Any:
    from langchain_core.runnables import ensure_config

    assert graph.factory is not None
    kwargs: dict[str, Any] = {}
    if graph.factory.config:
        kwargs[graph.factory.config] = ensure_config(cast(Any, dict(config or {})))
    if graph.factory.runtime:
        kwargs[graph.factory.runtime] = _server_runtime(access_context, context, store)
    return graph.target(**kwargs)


def _server_runtime(access_context: AccessContext, context: Any, store: Any) -> Any:
    """The SDK's ServerRuntime: the execution variant (with context) only to run the graph."""
    from langgraph_sdk.runtime import _ExecutionRuntime, _ReadRuntime

    if access_context == "threads.create_run":
        return _ExecutionRuntime(access_context=access_context, store=store, context=context)
    return _ReadRuntime(access_context=access_context, store=store)


@asynccontextmanager
async def _entered(value: Any) -> AsyncIterator[Any]:
    """An async or sync context manager entered, a coroutine awaited, anything else as is."""
    if hasattr(value, "__aenter__") and hasattr(value, "__aexit__"):
        async with value as result:
            yield result
    elif hasattr(value, "__enter__") and hasattr(value, "__exit__"):
        with value as result:
            yield result
    elif inspect.isawaitable(value):
        yield await value
    else:
        yield value


def _finish(graph_id: str, value: Any, checkpointer: Any, store: Any) -> Any:
    lg = langgraph_types()
    assert lg is not None  # factories are only accepted with langgraph installed
    if isinstance(value, lg.StateGraph):
        value = value.compile()
    if not isinstance(value, lg.Pregel):
        raise GraphInvalid(graph_id, value)
    update: dict[str, Any] = {}
    if value.name == "LangGraph":
        update["name"] = graph_id
    if checkpointer is not None:
        update["checkpointer"] = checkpointer
    if store is not None:
        update["store"] = store
    return value.copy(update=update) if update else value
