"""Request and event models, validated with pydantic. Unknown keys are ignored, as on the
LangGraph server (its schemas never forbid additional properties)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from threadwatch.domain import RESERVED_METADATA_KEYS, EventType, ThreadStatus

# A UUID already in its canonical form, the form nearly every client sends: kept as is.
CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def canonical_uuid(value: str) -> str:
    """Lowercase hyphenated form; anything else is the LangGraph 422 text."""
    return _canonical(value, "Invalid thread ID: must be a UUID")


def canonical_run_uuid(value: str) -> str:
    return _canonical(value, "Invalid run ID: must be a UUID")


def _canonical(value: str, invalid: str) -> str:
    if CANONICAL_UUID.fullmatch(value):
        return value
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise ValueError(invalid) from None


ThreadId = Annotated[str, AfterValidator(canonical_uuid)]
RunId = Annotated[str, AfterValidator(canonical_run_uuid)]
# Metadata is indexed leaf by leaf (store/metadata_index.py: one set per leaf), so a
# thread's metadata, and a filter, hold at most this many keys and list items in all.
MAX_METADATA_ENTRIES = 1000


def bounded_metadata(value: dict[str, Any]) -> dict[str, Any]:
    """``value`` if it holds at most MAX_METADATA_ENTRIES keys and items, at any depth."""
    entries = 0
    pending: list[Any] = [value]
    while pending:
        node = pending.pop()
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            entries += 1
            if entries > MAX_METADATA_ENTRIES:
                raise ValueError(f"more than {MAX_METADATA_ENTRIES} keys and list items in all")
            if isinstance(child, dict | list):
                pending.append(child)
    return value


Metadata = Annotated[dict[str, Any], AfterValidator(bounded_metadata)]

THREAD_SELECT_FIELDS = (
    "thread_id",
    "created_at",
    "updated_at",
    "state_updated_at",
    "metadata",
    "config",
    "status",
    "values",
    "interrupts",
)
ThreadSelectField = Literal[
    "thread_id",
    "created_at",
    "updated_at",
    "state_updated_at",
    "metadata",
    "config",
    "status",
    "values",
    "interrupts",
]
SortBy = Literal["thread_id", "status", "created_at", "updated_at", "state_updated_at"]
EXTRACT_ALIAS = re.compile(r"^[a-zA-Z_]\w*$")
EXTRACT_ROOTS = ("values", "metadata", "config", "interrupts")
MAX_EXTRACT = 10
MAX_STATUS_AGE_SECONDS = 10**10  # about 317 years


def strip_reserved(metadata: Metadata | None) -> Metadata:
    """User metadata without the keys the server owns."""
    return {k: v for k, v in (metadata or {}).items() if k not in RESERVED_METADATA_KEYS}


class Request(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TTL(Request):
    # At most a million years' worth of minutes, so that expires_at stays a valid date.
    ttl: float = Field(
        gt=0, le=1_000_000_000, description="Minutes of inactivity before the thread expires."
    )
    strategy: Literal["delete", "keep_latest"] = "delete"


def _ttl(value: Any) -> Any:
    """The SDKs turn a number ttl into {ttl, strategy}; accept the bare number too."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {"ttl": value, "strategy": "delete"}
    return value


class ThreadCreate(Request):
    thread_id: ThreadId | None = None
    metadata: Metadata | None = None
    if_exists: Literal["raise", "do_nothing"] | None = None
    ttl: TTL | None = None

    _ttl = field_validator("ttl", mode="before")(_ttl)


class ThreadPatch(Request):
    metadata: Metadata | None = None
    ttl: TTL | None = None

    _ttl = field_validator("ttl", mode="before")(_ttl)


class ThreadFilter(Request):
    metadata: Metadata | None = None
    values: Metadata | None = None
    status: ThreadStatus | None = None
    # Extension: only threads in their current status for at least this many seconds.
    min_status_age_seconds: float | None = Field(
        default=None, ge=0, le=MAX_STATUS_AGE_SECONDS, allow_inf_nan=False, strict=True
    )


class ThreadSearchRequest(ThreadFilter):
    ids: list[ThreadId] | None = None
    limit: int = Field(default=10, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)
    sort_by: SortBy | None = None
    sort_order: Literal["asc", "desc"] | None = None
    select: list[ThreadSelectField] | None = None
    extract: dict[str, str] | None = None

    @field_validator("extract")
    @classmethod
    def _check_extract(cls, extract: dict[str, str] | None) -> dict[str, str] | None:
        if not extract:
            return extract
        if len(extract) > MAX_EXTRACT:
            raise ValueError(f"at most {MAX_EXTRACT} extract paths are allowed")
        for alias, path in extract.items():
            if not EXTRACT_ALIAS.match(alias) or alias in THREAD_SELECT_FIELDS:
                raise ValueError(f"invalid extract alias {alias!r}")
            root = re.split(r"[.\[]", path, maxsplit=1)[0]
            if root not in EXTRACT_ROOTS:
                raise ValueError(f"extract path {path!r} must start with one of {EXTRACT_ROOTS}")
        return extract


class ThreadCount(ThreadFilter):
    pass


class ThreadPrune(Request):
    thread_ids: list[ThreadId]
    strategy: Literal["delete", "keep_latest"] = "delete"


# Clock skew tolerated between a runtime and this server. A later `at` would outrank
# every real event of the thread for as long as the skew lasts, so it is refused.
MAX_FUTURE = timedelta(minutes=15)
MIN_EVENT_TIME = datetime(2000, 1, 1, tzinfo=UTC)


def _event_time(at: datetime | None) -> datetime | None:
    """Naive times are UTC; times beyond the tolerated skew or before 2000 are refused."""
    if at is None:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    if at > datetime.now(UTC) + MAX_FUTURE:
        raise ValueError("is in the future (more than 15 minutes ahead of the server clock)")
    if at < MIN_EVENT_TIME:
        raise ValueError("is before 2000-01-01")
    return at


class RunError(Request):
    error: str
    message: str = ""


class RunEvent(Request):
    """One thing a run did, reported by a worker or an external agent runtime."""

    thread_id: ThreadId
    run_id: RunId
    type: EventType
    at: datetime | None = None
    values: Any = None
    interrupts: dict[str, Any] | None = None
    error: RunError | None = None
    metadata: Metadata | None = None
    # Nodes still to run when the run stopped (LangGraph's checkpoint `next`); a cancelled
    # run with none left leaves the thread idle instead of interrupted.
    next: list[str] | None = None
    assistant_id: str | None = None
    # The run record's own metadata, when it differs from what is merged into the thread.
    run_metadata: dict[str, Any] | None = None
    # The run's config; it becomes the thread's config, as a run does on LangGraph.
    config: dict[str, Any] | None = None
    kwargs: dict[str, Any] | None = None
    multitask_strategy: Literal["reject", "interrupt", "rollback", "enqueue"] | None = None
    # How long the run stays alive without another event (run.started, run.heartbeat or
    # any later one renews it); the server's lease_seconds setting when absent.
    lease_seconds: float | None = Field(default=None, ge=1, le=86_400)

    _at = field_validator("at")(_event_time)


class RunEventBatch(Request):
    events: list[RunEvent] = Field(max_length=1000)


MultitaskStrategy = Literal["reject", "interrupt", "rollback", "enqueue"]
# LangGraph's stream modes, then `tools` and `lifecycle`: its event streaming's own, which
# the JS SDK's useStream asks of runs/stream too (`tools` once a page reads toolProgress or
# sets onToolEvent). They are taken and send nothing here, where LangGraph's server answers
# a 422 that breaks such a page.
StreamMode = Literal[
    "values",
    "messages",
    "messages-tuple",
    "tasks",
    "checkpoints",
    "updates",
    "events",
    "debug",
    "custom",
    "tools",
    "lifecycle",
]


class RunCommand(Request):
    update: Any = None
    resume: Any = None
    goto: Any = None


class CheckpointConfig(BaseModel):
    """A run's starting checkpoint (LangGraph's CheckpointConfig): its keys go to the run's
    configurable, so the run forks from it. Its thread_id is the run's own whatever is sent."""

    model_config = ConfigDict(extra="allow")
    thread_id: str | None = None
    checkpoint_ns: str | None = None
    checkpoint_id: str | None = None
    checkpoint_map: dict[str, Any] | None = None


class RunCreate(Request):
    """The body of POST /threads/{id}/runs (and /runs for stateless runs), as LangGraph's."""

    assistant_id: str
    input: Any = None
    command: RunCommand | None = None
    metadata: Metadata | None = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    # Fork from this checkpoint of the thread (edit and regenerate in agent-chat-ui, fork
    # in Studio) instead of its latest; an id the thread lacks starts from an empty state.
    checkpoint_id: str | None = None
    checkpoint: CheckpointConfig | None = None
    stream_mode: StreamMode | list[StreamMode] | None = None
    stream_subgraphs: bool | None = None
    stream_resumable: bool | None = None
    interrupt_before: Literal["*"] | list[str] | None = None
    interrupt_after: Literal["*"] | list[str] | None = None
    webhook: str | None = None
    multitask_strategy: MultitaskStrategy | None = None
    if_not_exists: Literal["create", "reject"] | None = None
    after_seconds: float | None = Field(default=None, ge=0)
    on_completion: Literal["delete", "keep"] | None = None
    on_disconnect: Literal["cancel", "continue"] | None = None
    durability: Literal["sync", "async", "exit"] | None = None
    feedback_keys: list[str] | None = None


# -- crons ---------------------------------------------------------------------------------

CronSortBy = Literal[
    "cron_id", "assistant_id", "thread_id", "next_run_date", "end_time", "created_at", "updated_at"
]
CronSelectField = Literal[
    "cron_id",
    "assistant_id",
    "thread_id",
    "on_run_completed",
    "end_time",
    "schedule",
    "timezone",
    "created_at",
    "updated_at",
    "user_id",
    "payload",
    "next_run_date",
    "metadata",
    "enabled",
]


class CronRunFields(Request):
    """What each run of a cron is created with (LangGraph's CronCreate run fields)."""

    input: Any = None
    metadata: Metadata | None = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    webhook: str | None = Field(default=None, min_length=1, max_length=65536)
    interrupt_before: Literal["*"] | list[str] | None = None
    interrupt_after: Literal["*"] | list[str] | None = None
    multitask_strategy: MultitaskStrategy | None = None
    stream_mode: StreamMode | list[StreamMode] | None = None
    stream_subgraphs: bool | None = None
    stream_resumable: bool | None = None
    durability: Literal["sync", "async", "exit"] | None = None
    checkpoint_during: bool | None = None  # deprecated by durability; kept in the payload
    on_run_completed: Literal["delete", "keep"] | None = None
    enabled: bool | None = None
    timezone: str | None = None


class CronCreate(CronRunFields):
    """The body of POST /runs/crons and POST /threads/{id}/runs/crons."""

    assistant_id: str
    schedule: str
    end_time: datetime | None = None


class CronPatch(CronRunFields):
    """The body of PATCH /runs/crons/{id}: the fields to change; ``end_time: null`` clears
    the end time, an absent one keeps it."""

    schedule: str | None = None
    end_time: datetime | None = None


class CronCount(Request):
    # Checked by the route, for LangGraph's texts ("Invalid assistant ID: must be a UUID").
    assistant_id: str | None = None
    thread_id: str | None = None
    metadata: Metadata | None = None


class CronSearch(CronCount):
    enabled: bool | None = None
    limit: int = Field(default=10, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)
    sort_by: CronSortBy | None = None
    sort_order: Literal["asc", "desc"] | None = None
    select: list[CronSelectField] | None = None
