"""The known, intended differences between `langgraph dev` and `threadwatch dev`, each with
its reason. A difference matches an entry when its flow matches `flows` (fnmatch) and its
path matches `path` (a regular expression over the whole path, /step/key/index...).
Everything else counts as unexplained."""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatch
from typing import Any

from tests.compat.normalise import Difference

ANY = object()  # an Explained that matches whatever threadwatch answered


@dataclass(frozen=True)
class Explained:
    flows: str
    path: str
    reason: str
    threadwatch: Any = ANY  # the answer threadwatch must give for the entry to apply

    def matches(self, flow: str, difference: Difference) -> bool:
        if self.threadwatch is not ANY and difference.threadwatch != self.threadwatch:
            return False
        return fnmatch(flow, self.flows) and re.fullmatch(self.path, difference.path) is not None


# Keys LangGraph's server puts in every run's metadata (and so in checkpoints' metadata and
# the messages stream's metadata) to describe its own deployment.
DEPLOYMENT_KEYS = (
    "langgraph_api_version|langgraph_plan|langgraph_host|langgraph_api_url|langgraph_request_id"
)

EXPLAINED: list[Explained] = [
    Explained(
        "join/*",
        r"/wait/(messages|__interrupt__/[^/]+/response_schema)",
        "runs.join of an interrupted run after its end: LangGraph's server no longer has its "
        "stream, falls back to the thread's record and answers the interrupts alone "
        "(langgraph_api/api/runs.py _thread_values_fallback); threadwatch keeps each run's "
        "output for an hour and answers it: the values with __interrupt__, which is what "
        "LangGraph answers to a join made while the run is running",
    ),
    Explained(
        "*",
        r".*/metadata/langgraph_auth_user_id",
        "checkpoint metadata: LangGraph's production checkpointer adapter leaves this "
        "request-scoped key out (langgraph_api/_checkpointer/_adapter.py, "
        "_TRANSIENT_CONFIGURABLE_KEYS), as threadwatch does; the dev server's in-memory "
        "saver keeps it",
    ),
    Explained(
        "*",
        r"(/[^/]+)?/info/flags/langsmith_tracing_(replicas|session_on_runs)",
        "GET /info: langgraph dev says true for LangSmith tracing features without any "
        "LangSmith; threadwatch has none, and says so (docs/api.md#server-info)",
        threadwatch=False,
    ),
    Explained(
        "*",
        r"(/[^/]+)?/info/flags/(store|event_streaming)",
        "GET /info: threadwatch's own flags, so that a UI can tell whether /store and the "
        "thread-centric protocol are here (docs/api.md#server-info)",
    ),
    Explained(
        "cors",
        r"/agent_chat_ui/headers/access-control-allow-private-network",
        "Private Network Access: threadwatch dev answers the header when a preflight asks "
        "for it (Access-Control-Request-Private-Network), as the spec has it; langgraph dev "
        "adds it to every preflight",
    ),
    Explained(
        "cors",
        r"/simple_get/headers/access-control-expose-headers",
        "threadwatch also exposes Location (the run routes answer it), so that a browser "
        "client can read it",
    ),
    Explained(
        "store/*",
        r"/search_page/items/.*",
        "store search lists items most recently updated first, as LangGraph's Postgres store "
        "does; the dev server's in-memory store lists them in insertion order "
        "(docs/guides/store.md)",
    ),
    Explained(
        "*",
        r".*/(create|thread)/interrupts",
        "POST /threads: threadwatch's new thread carries `interrupts: {}` as its every read "
        "does, and as LangGraph's production (Postgres) server returns every column of the "
        "row it inserts; the dev server's in-memory thread leaves the key out until a run",
        threadwatch={},
    ),
    Explained(
        "*",
        r"(/[^/]+)?/info/(version|host)|.*/info/graphs",
        "GET /info: each server gives its own version and host; threadwatch adds `graphs`, "
        "the graphs it loaded and the errors of those it could not",
    ),
    Explained(
        "*",
        rf".*/({DEPLOYMENT_KEYS})",
        "run metadata that describes LangGraph's deployment (API version, plan, host, URL, "
        "request id); threadwatch is not that deployment",
    ),
    Explained(
        "cors",
        r"/studio_pna/status",
        "langgraph dev answers Studio's Private Network Access preflight 400 (\"Disallowed "
        "CORS private-network\": Starlette's CORSMiddleware, built without "
        "allow_private_network, refuses it before LangGraph's PrivateNetworkMiddleware adds "
        "its header); a browser needs a 2xx, which threadwatch gives",
        threadwatch=200,
    ),
    Explained(
        "join/*",
        r"/run/kwargs/.*|/run/langsmith_session_name",
        "a run's `kwargs` are each server's own record of how it runs the run (LangGraph's "
        "holds its whole internal config); `langsmith_session_name` is LangSmith's",
    ),
    Explained(
        "*",
        r"/(create|thread\d*|search(_after)?/\d+)/(status_since|error)",
        "threadwatch's thread-status fields on threads (`status_since`, `error`: docs/api.md)",
    ),
    Explained(
        "crons/*",
        r"/(create|create_for_thread|update|search(_thread)?/\d+)/user_id",
        "a cron's `user_id` is the identity of the user who made it: langgraph dev's built-in "
        'auth has a user of identity ""; threadwatch has API keys, no users, so `null`, as '
        "a LangGraph deployment without custom auth (docs/guides/crons.md)",
        threadwatch=None,
    ),
]


def explain(flow: str, difference: Difference) -> Explained | None:
    return next((e for e in EXPLAINED if e.matches(flow, difference)), None)
