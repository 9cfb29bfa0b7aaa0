"""What the assistants API draws and describes of a graph: its nodes and edges, and the JSON
schemas of its input, output, state, config and context, as langgraph-api builds them."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import Any

from threadwatch.errors import InvalidInputError
from threadwatch.graphs.factories import open_graph
from threadwatch.graphs.registry import LoadedGraph

log = logging.getLogger(__name__)

# Keys of the graph config that are the server's business, not the user's (langgraph-api).
EXCLUDED_CONFIG_SCHEMA = (
    "__pregel_checkpointer",
    "__pregel_store",
    "checkpoint_id",
    "checkpoint_ns",
    "thread_id",
)
NO_VISUALIZATION = "The graph does not support visualization"


def parse_xray(value: str | None) -> bool | int:
    """``true``/``false`` or a positive depth, as langgraph-api reads the query parameter."""
    if not value or value in ("false", "False"):
        return False
    if value in ("true", "True"):
        return True
    try:
        depth = int(value)
    except ValueError:
        depth = 0
    if depth <= 0:
        raise InvalidInputError("Invalid xray value")
    return depth


async def drawable_graph(
    graph: LoadedGraph, xray: bool | int = False, config: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Nodes and edges as ``get_graph().to_json()`` gives them, without node class paths; a
    plain callable is drawn as one node between start and end. ``config``: the assistant's,
    for a graph factory."""
    if graph.kind == "callable":
        return _one_node_drawing(graph.graph_id)
    async with open_graph(graph, config) as compiled:
        try:
            drawing = (await compiled.aget_graph(xray=xray)).to_json()
        except NotImplementedError:
            raise InvalidInputError(NO_VISUALIZATION) from None
    for node in drawing.get("nodes", []):
        if isinstance(node.get("data"), dict):
            node["data"].pop("id", None)
    return drawing


def _one_node_drawing(name: str) -> dict[str, Any]:
    nodes = [
        {"id": "__start__", "type": "runnable", "data": {"name": "__start__"}},
        {"id": name, "type": "runnable", "data": {"name": name}},
        {"id": "__end__"},
    ]
    edges = [{"source": "__start__", "target": name}, {"source": name, "target": "__end__"}]
    return {"nodes": nodes, "edges": edges}


async def graph_schemas(graph: LoadedGraph, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Input, output, state, config and context JSON schemas; a plain callable accepts any."""
    if graph.kind == "callable":
        return {"graph_id": graph.graph_id, **dict.fromkeys(_SCHEMA_KEYS, {})}
    async with open_graph(graph, config) as compiled:
        return {"graph_id": graph.graph_id, **langgraph_schemas(compiled)}


async def subgraph_schemas(
    graph: LoadedGraph,
    namespace: str | None = None,
    recurse: bool = False,
    config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Schemas of each subgraph by namespace (none for a plain callable)."""
    if graph.kind == "callable":
        return {}
    async with open_graph(graph, config) as compiled:
        try:
            return {
                ns: langgraph_schemas(sub)
                async for ns, sub in compiled.aget_subgraphs(namespace=namespace, recurse=recurse)
            }
        except NotImplementedError:
            raise InvalidInputError(NO_VISUALIZATION) from None


_SCHEMA_KEYS = ("input_schema", "output_schema", "state_schema", "config_schema", "context_schema")


def langgraph_schemas(compiled: Any) -> dict[str, Any]:
    """Each schema as langgraph-api builds it; one that cannot be built is None (logged)."""
    builders: dict[str, Callable[[Any], Any]] = {
        "input_schema": lambda g: g.get_input_jsonschema(),
        "output_schema": lambda g: g.get_output_jsonschema(),
        "state_schema": _state_schema,
        "config_schema": _configurable_schema,
        "context_schema": lambda g: g.get_context_jsonschema(),
    }
    return {key: _built(key, build, compiled) for key, build in builders.items()}


def _built(key: str, build: Callable[[Any], Any], compiled: Any) -> Any:
    try:
        return build(compiled)
    except Exception as exc:
        log.warning("cannot build the %s of graph %s: %s", key, compiled.name, exc)
        return None


def _state_schema(compiled: Any) -> dict[str, Any]:
    """The stream channels and their update types (Any where a type has no schema)."""
    from langchain_core.runnables.utils import create_model

    fields: dict[str, Any] = {}
    for name in compiled.stream_channels_list:
        update_type = compiled.channels[name].UpdateType
        try:
            create_model(name, __root__=(update_type, None)).model_json_schema()
            fields[name] = (update_type, None)
        except Exception:
            fields[name] = (Any, None)
    return create_model(compiled.get_name("State"), **fields).model_json_schema()


def _configurable_schema(compiled: Any) -> dict[str, Any]:
    """The ``configurable`` part of the config schema only, without the server's keys."""
    from pydantic import TypeAdapter

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # langgraph-api reads it the same
        config_model = compiled.config_schema()
    fields = getattr(config_model, "model_fields", None) or {}
    if "configurable" not in fields:
        return {}
    annotation: Any = fields["configurable"].annotation
    schema = TypeAdapter(annotation).json_schema()
    for key in EXCLUDED_CONFIG_SCHEMA:
        schema.get("properties", {}).pop(key, None)
    return schema
