"""The registry of loaded graphs, fixed once loaded, and the errors naming graphs and
system assistants (``{"detail": ...}`` texts of the LangGraph server where it has one)."""

from __future__ import annotations

import traceback
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from threadwatch.domain import system_assistant_id
from threadwatch.errors import InvalidAssistant, InvalidInputError, NotFoundError, ThreadwatchError
from threadwatch.store.codec import now_us

GraphKind = Literal["langgraph", "callable"]


class GraphConfigError(ValueError):
    """The config file as a whole is unusable: missing, not JSON, or without a graphs object."""


class AssistantNotFound(NotFoundError):
    def __init__(self, assistant_id: str) -> None:
        super().__init__(f"Assistant with ID {assistant_id} not found")


class GraphNotFound(NotFoundError):
    def __init__(self, graph_id: str, known: Iterable[str]) -> None:
        super().__init__(f"Graph '{graph_id}' not found. Expected one of: {sorted(known)}")


class GraphLoadFailed(InvalidInputError):
    """The graph is in langgraph.json but failed to load; the detail says why."""

    def __init__(self, error: GraphLoadError) -> None:
        super().__init__(error.summary)


class GraphInvalid(ThreadwatchError):
    """A graph factory returned something other than a LangGraph graph (LangGraph's 424)."""

    status_code = 424

    def __init__(self, graph_id: str, value: Any) -> None:
        super().__init__(
            f"Graph '{graph_id}' is not valid. Review graph registration. Its factory returned "
            f"{type(value).__name__}; a plain callable graph takes (input, config)."
        )


@dataclass(frozen=True)
class GraphSpec:
    """One parsed ``graphs`` entry: a file path or a module, and the attribute to take."""

    graph_id: str
    source: str
    attr: str
    path: Path | None = None
    module: str | None = None
    description: str | None = None

    @property
    def location(self) -> str:
        return str(self.path) if self.path else str(self.module)


@dataclass(frozen=True)
class FactoryCall:
    """How to call a graph factory: the keyword names of its config and runtime arguments."""

    config: str | None = None
    runtime: str | None = None


@dataclass(frozen=True)
class LoadedGraph:
    graph_id: str
    kind: GraphKind
    source: str
    target: Any  # a compiled graph, a graph factory, or a plain callable
    name: str  # its system assistant's name
    description: str | None = None
    factory: FactoryCall | None = None  # set when target is a graph factory

    @property
    def assistant_id(self) -> str:
        return system_assistant_id(self.graph_id)


@dataclass(frozen=True)
class GraphLoadError:
    graph_id: str
    source: str
    location: str
    error_type: str
    message: str
    traceback: str = ""

    @property
    def summary(self) -> str:
        """Safe to show to clients: names the entry and the exception, not the server's paths."""
        return f"Failed to load graph '{self.graph_id}' from {self.source}: {self.describe()}"

    def describe(self) -> str:
        return f"{self.error_type}: {self.message}" if self.message else self.error_type

    @classmethod
    def of(cls, graph_id: str, source: str, location: str, exc: BaseException) -> GraphLoadError:
        text = "".join(traceback.format_exception(exc))
        return cls(graph_id, source, location, type(exc).__name__, str(exc), text)


@dataclass(frozen=True, eq=False)
class GraphRegistry:
    """The graphs of one langgraph.json (in its order) and the entries that failed to load."""

    graphs: Mapping[str, LoadedGraph] = field(default_factory=dict)
    errors: Mapping[str, GraphLoadError] = field(default_factory=dict)
    config_path: Path | None = None
    loaded_at_us: int = field(default_factory=now_us)
    _by_assistant: Mapping[str, str] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "graphs", MappingProxyType(dict(self.graphs)))
        object.__setattr__(self, "errors", MappingProxyType(dict(self.errors)))
        by_assistant = {system_assistant_id(name): name for name in [*self.graphs, *self.errors]}
        object.__setattr__(self, "_by_assistant", MappingProxyType(by_assistant))

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self.graphs)

    def __contains__(self, graph_id: object) -> bool:
        return graph_id in self.graphs

    def __len__(self) -> int:
        return len(self.graphs)

    def get(self, graph_id: str) -> LoadedGraph | None:
        return self.graphs.get(graph_id)

    def kind(self, graph_id: str) -> GraphKind:
        return self.graphs[graph_id].kind

    def source(self, graph_id: str) -> str:
        return self.graphs[graph_id].source

    def require(self, graph_id: str) -> LoadedGraph:
        """The loaded graph; 422 with its load error, or 404 with the LangGraph text."""
        if graph_id in self.errors:
            raise GraphLoadFailed(self.errors[graph_id])
        if graph_id not in self.graphs:
            raise GraphNotFound(graph_id, self.graphs)
        return self.graphs[graph_id]

    def resolve_assistant(self, assistant_id: str) -> str:
        """Graph id of a graph name or of a system assistant id (any UUID spelling)."""
        assistant_id = str(assistant_id)
        if assistant_id in self.graphs or assistant_id in self.errors:
            return self.require(assistant_id).graph_id
        try:
            canonical = str(uuid.UUID(assistant_id))
        except ValueError:
            raise InvalidAssistant(assistant_id, self.graphs) from None
        graph_id = self._by_assistant.get(canonical)
        if graph_id is None:
            raise AssistantNotFound(canonical)
        return self.require(graph_id).graph_id

    def system_assistant_graph(self, assistant_id: str) -> str | None:
        """The graph whose system assistant this is (a canonical UUID), loaded or not."""
        return self._by_assistant.get(assistant_id)

    def graph_of(self, assistant_id: str) -> LoadedGraph:
        """The loaded graph of an assistant UUID or graph name."""
        return self.graphs[self.resolve_assistant(assistant_id)]


EMPTY_REGISTRY = GraphRegistry()
