"""What this server has, for the `flags` of GET /info, read from the routes it mounts.

A feature is there when the route that makes it is mounted: a module that adds one (the
assistants' create, crons, the store, the thread-centric protocol) turns its flag on by
being included in create_app(), with nothing to flip here. Studio and agent-chat-ui read
these flags to show or hide what a server cannot do.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from starlette.routing import BaseRoute, Match
from starlette.types import Scope

# LangGraph's flags and ours: the request that reaches each feature (any id in the path).
# `assistants` means assistants that users create and edit (LangGraph's meaning), not the
# read-only system assistants every graph has.
ANY_ID = "00000000-0000-4000-8000-000000000000"
FEATURE_ROUTES: Mapping[str, tuple[str, str]] = {
    "assistants": ("POST", "/assistants"),
    "crons": ("POST", "/runs/crons"),
    "store": ("PUT", "/store/items"),
    "event_streaming": ("POST", f"/threads/{ANY_ID}/commands"),
}


@dataclass(frozen=True)
class Capabilities:
    """The features an app's routes serve; LangSmith's are never here."""

    features: frozenset[str]

    @classmethod
    def of_routes(cls, routes: Iterable[BaseRoute]) -> Capabilities:
        routes = list(routes)
        return cls(
            frozenset(
                feature
                for feature, (method, path) in FEATURE_ROUTES.items()
                if _served(routes, method, path)
            )
        )

    def has(self, feature: str) -> bool:
        return feature in self.features

    def flags(self) -> dict[str, bool]:
        """GET /info's `flags`: LangGraph's keys first, then this server's own."""
        return {
            "assistants": self.has("assistants"),
            "crons": self.has("crons"),
            # No LangSmith control plane, tracing replicas or tracing sessions here.
            "langsmith": False,
            "langsmith_tracing_replicas": False,
            "langsmith_tracing_session_on_runs": False,
            "store": self.has("store"),
            "event_streaming": self.has("event_streaming"),
        }


def _served(routes: Iterable[BaseRoute], method: str, path: str) -> bool:
    """Whether a route would take ``method path``: asked of each route as the router asks
    it when it dispatches (routers included in others answer for their own routes)."""
    scope: Scope = {"type": "http", "method": method, "path": path, "root_path": ""}
    return any(route.matches(scope)[0] == Match.FULL for route in routes)
