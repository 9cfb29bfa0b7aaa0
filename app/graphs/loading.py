"""Loading ``langgraph.json``: its env, its import paths, and each graph entry, classified.

A file entry is executed once per load under a module name fixed by its path, so the API and
the workers give its classes the same name; a module entry is imported normally. A failed
entry is logged with its traceback and kept as a ``GraphLoadError``; the others still load.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from threadwatch.graphs.factories import factory_call, langgraph_types
from threadwatch.graphs.project import JS_SUFFIXES, find_config, read_config
from threadwatch.graphs.registry import (
    GraphConfigError,
    GraphKind,
    GraphLoadError,
    GraphRegistry,
    GraphSpec,
    LoadedGraph,
)
from threadwatch.graphs.user_code import MissingFile, import_file

log = logging.getLogger(__name__)

Modules = dict[Path, ModuleType | BaseException]  # files executed in one load, or their error


def load_registry(graphs_config: str | None, cwd: Path | None = None) -> GraphRegistry:
    """Graphs of the configured langgraph.json, else of ./langgraph.json, else none."""
    path = find_config(graphs_config, cwd)
    return GraphRegistry() if path is None else load_graphs(path)


def load_graphs(config: str | os.PathLike[str]) -> GraphRegistry:
    """Apply the config's env, then import every graph; failures are kept, not raised."""
    path = find_config(config)
    assert path is not None  # a given config exists, or find_config raised
    data = read_config(path)
    base = path.parent
    prepare_imports(data, base)
    graphs: dict[str, LoadedGraph] = {}
    errors: dict[str, GraphLoadError] = {}
    modules: Modules = {}
    for graph_id, entry in data["graphs"].items():
        try:
            spec = parse_spec(graph_id, entry, base)
        except ValueError as exc:
            errors[graph_id] = _failed(graph_id, str(entry), str(path), exc)
            continue
        try:
            graphs[graph_id] = load_graph(spec, modules)
        except (Exception, SystemExit) as exc:
            errors[graph_id] = _failed(graph_id, spec.source, spec.location, exc)
    log.info("graphs from %s: loaded %s; failed %s", path, list(graphs) or "none", list(errors))
    return GraphRegistry(graphs, errors, config_path=path)


def _failed(graph_id: str, source: str, location: str, exc: BaseException) -> GraphLoadError:
    error = GraphLoadError.of(graph_id, source, location, exc)
    log.error(
        "Failed to load graph '%s' from %s: %s\n%s",
        graph_id,
        location,
        error.describe(),
        error.traceback.rstrip(),
    )
    return error


def prepare_imports(data: Mapping[str, Any], base: Path) -> None:
    """What the project's code needs before it is imported (its graphs, its http.app): the
    config's env, and its folder and local dependencies on sys.path."""
    apply_env(data.get("env"), base)
    _extend_sys_path(base, data.get("dependencies"))


def apply_env(env: Any, base: Path) -> None:
    """Set the config's ``env`` (a .env file or an object) in os.environ, overriding what is
    there, as ``langgraph dev`` does; a variable without a value is removed."""
    if env is None:
        return
    if isinstance(env, str):
        from dotenv import dotenv_values  # a dependency of pydantic-settings

        env_file = base / env
        if not env_file.is_file():
            log.warning("env file %s does not exist; no variables set from it", env_file)
            return
        env = dotenv_values(env_file)
    if not isinstance(env, dict):
        raise GraphConfigError('"env" must be the path of a .env file or an object')
    for key, value in env.items():
        if value is None:
            os.environ.pop(str(key), None)
        else:
            os.environ[str(key)] = str(value)


def _extend_sys_path(base: Path, dependencies: Any) -> None:
    """The config's folder and its local dependency folders become importable."""
    local = [d for d in dependencies or [] if isinstance(d, str)]
    for entry in (".", *local):
        folder = (base / entry).resolve()
        if folder.is_dir() and str(folder) not in sys.path:
            sys.path.append(str(folder))


def parse_spec(graph_id: str, entry: Any, base: Path) -> GraphSpec:
    """``"./agent.py:graph"``, ``"pkg.mod:graph"`` or ``{"path": ..., "description": ...}``."""
    description = None
    if isinstance(entry, dict) and isinstance(entry.get("path"), str):
        source, description = entry["path"], entry.get("description")
    elif isinstance(entry, str):
        source = entry
    else:
        raise ValueError(
            f'expected "./file.py:variable", "package.module:variable" or an '
            f'object with a "path", got {entry!r}'
        )
    target, _, attr = source.rpartition(":")
    if not target or not attr.isidentifier():
        raise ValueError(
            f"'{source}' needs the form './file.py:variable' or 'package.module:variable'"
        )
    if target.endswith(JS_SUFFIXES):
        raise ValueError(f"'{source}' is a JavaScript graph; threadwatch runs Python graphs")
    text = description if isinstance(description, str) else None
    if "/" in target or "\\" in target or target.endswith(".py"):
        return GraphSpec(graph_id, source, attr, path=(base / target).resolve(), description=text)
    return GraphSpec(graph_id, source, attr, module=target, description=text)


def load_graph(spec: GraphSpec, modules: Modules) -> LoadedGraph:
    """Import the entry's module and classify its attribute."""
    module = _import(spec, modules)
    if not hasattr(module, spec.attr):
        found = ", ".join(k for k in vars(module) if not k.startswith("_")) or "nothing"
        raise AttributeError(f"the module has no '{spec.attr}' (it defines: {found})")
    return classify(spec, getattr(module, spec.attr))


def _import(spec: GraphSpec, modules: Modules) -> ModuleType:
    """A file is executed once per load, under a name fixed by its path (the same in every
    process, so pickled and serialized classes resolve); a module is imported normally."""
    if spec.module is not None:
        return importlib.import_module(spec.module)
    assert spec.path is not None
    if spec.path not in modules:
        modules[spec.path] = _exec_file(spec.path)
    found = modules[spec.path]
    if isinstance(found, BaseException):
        raise found
    return found


def _exec_file(path: Path) -> ModuleType | BaseException:
    """The graph file as a module (afresh: a registry loaded again reads it again), or why
    it could not be loaded, raised for each graph it holds."""
    try:
        return import_file(path, "graph", once=False)
    except MissingFile:
        return FileNotFoundError(f"no such file: {path.name}")
    except (Exception, SystemExit) as exc:
        return exc


def classify(spec: GraphSpec, value: Any) -> LoadedGraph:
    """A compiled graph, a StateGraph (compiled now), a graph factory or a plain callable."""
    lg = langgraph_types()
    if lg is not None and isinstance(value, lg.StateGraph):
        value = value.compile()
    if lg is not None and isinstance(value, lg.Pregel):
        name = value.name if value.name and value.name != "LangGraph" else spec.graph_id
        return LoadedGraph(spec.graph_id, "langgraph", spec.source, value, name, spec.description)
    if not callable(value):
        raise TypeError(
            f"'{spec.attr}' is a {type(value).__name__}: expected a compiled "
            "LangGraph graph, a graph factory or a callable (input, config)"
        )
    factory = factory_call(value)
    if factory is not None and lg is None:
        raise ImportError(
            f"'{spec.attr}' is a graph factory, which needs langgraph (pip install "
            "'threadwatch[langgraph]'); a plain callable graph takes (input, config)"
        )
    kind: GraphKind = "callable" if factory is None else "langgraph"
    return LoadedGraph(
        spec.graph_id, kind, spec.source, value, spec.graph_id, spec.description, factory
    )
