"""Graphs from ``langgraph.json``, the format LangGraph projects already have.

A ``graphs`` entry is ``"./file.py:attr"`` (relative to the config's folder),
``"package.module:attr"``, or ``{"path": ..., "description": ...}``. ``attr`` may be a compiled
LangGraph graph, a ``StateGraph`` (compiled at load), a graph factory (called on every use, as
langgraph-api calls it), or a plain callable ``(input, config) -> output``, sync or async.
langgraph is optional: plain callables need nothing else.

- ``registry``: ``GraphRegistry`` (immutable), ``LoadedGraph``, ``GraphLoadError``, the errors.
- ``loading``: ``load_registry`` / ``load_graphs`` (env, import paths, classification).
- ``factories``: how factories are called; ``open_graph`` gives the runnable for one use.
"""

from threadwatch.graphs.factories import AccessContext, factory_call, langgraph_types, open_graph
from threadwatch.graphs.loading import (
    apply_env,
    load_graphs,
    load_registry,
    parse_spec,
)
from threadwatch.graphs.project import CONFIG_FILE
from threadwatch.graphs.registry import (
    EMPTY_REGISTRY,
    AssistantNotFound,
    FactoryCall,
    GraphConfigError,
    GraphInvalid,
    GraphKind,
    GraphLoadError,
    GraphLoadFailed,
    GraphNotFound,
    GraphRegistry,
    GraphSpec,
    LoadedGraph,
)

__all__ = [
    "CONFIG_FILE",
    "EMPTY_REGISTRY",
    "AccessContext",
    "AssistantNotFound",
    "FactoryCall",
    "GraphConfigError",
    "GraphInvalid",
    "GraphKind",
    "GraphLoadError",
    "GraphLoadFailed",
    "GraphNotFound",
    "GraphRegistry",
    "GraphSpec",
    "LoadedGraph",
    "apply_env",
    "factory_call",
    "langgraph_types",
    "load_graphs",
    "load_registry",
    "open_graph",
    "parse_spec",
]
