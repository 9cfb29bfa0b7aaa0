"""Crons through the API: create (stateless or for a thread), patch, with LangGraph's checks,
texts and defaults. Each cron stores the run it makes as ``payload``: the request as sent,
its assistant resolved to an id and ``config.configurable.cron_id`` set, as LangGraph
stores it; the scheduler (cron_firing.py) creates a run from it at every firing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import uuid_utils

from threadwatch.errors import InvalidInputError, NotFoundError, ThreadwatchError
from threadwatch.graphs import GraphRegistry
from threadwatch.graphs.assistants import Assistants
from threadwatch.models import CronCreate, CronPatch
from threadwatch.runs.cron_schedule import check_schedule, check_timezone, next_firing
from threadwatch.store.codec import datetime_to_us
from threadwatch.store.crons import Cron
from threadwatch.store.stores import Stores
from threadwatch.webhooks.policy import check_webhook_url

# The fields of a PATCH that LangGraph counts as changes to make.
PATCHED_FIELDS = ("schedule", "end_time", "enabled", "on_run_completed", "metadata", "timezone")


def thread_missing(thread_id: str) -> NotFoundError:
    return NotFoundError(
        f"Thread with ID '{thread_id}' not found. Please verify the ID is correct and the "
        "thread hasn't been deleted or expired."
    )


def assistant_missing(assistant_id: str) -> NotFoundError:
    return NotFoundError(f"Assistant '{assistant_id}' not found")


def utc_now() -> datetime:
    return datetime.now(UTC)


class CronService:
    """Creates and patches crons; reads and deletes go to the store directly."""

    def __init__(
        self,
        stores: Stores,
        graphs: GraphRegistry,
        webhook_allow_private: bool = False,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.crons, self.threads, self.graphs = stores.crons, stores.threads, graphs
        self.assistants = Assistants(stores.assistants, graphs)
        self.webhook_allow_private = webhook_allow_private
        self.clock = clock

    # -- create --------------------------------------------------------------------------

    def create(self, thread_id: str | None, body: CronCreate) -> dict[str, Any]:
        """A new cron: stateless (each firing runs on a new thread) when ``thread_id`` is
        None, else on that thread."""
        assistant_id = self._check_new(thread_id, body)
        cron = self._new_cron(str(uuid_utils.uuid7()), assistant_id, thread_id, body)
        self.crons.put(cron)
        return self._answer(cron.cron_id)

    def _check_new(self, thread_id: str | None, body: CronCreate) -> str:
        """The cron's assistant id, once every check passed, in LangGraph's order: webhook,
        assistant id, time zone, schedule, assistant, thread."""
        if body.webhook:
            check_webhook_url(body.webhook, self.webhook_allow_private)
        if body.assistant_id not in self.graphs and not _is_uuid(body.assistant_id):
            raise assistant_missing(body.assistant_id)
        check_timezone(body.timezone)
        check_schedule(body.schedule)
        assistant_id = self.resolve_assistant(body.assistant_id)
        if thread_id is not None and not self.threads.exists(thread_id):
            raise thread_missing(thread_id)
        return assistant_id

    def _new_cron(
        self, cron_id: str, assistant_id: str, thread_id: str | None, body: CronCreate
    ) -> Cron:
        """The cron as stored: its payload is the request, as LangGraph keeps it."""
        payload = body.model_dump(mode="json", exclude_unset=True)
        payload["assistant_id"] = assistant_id
        _set_cron_id(payload, cron_id)
        now = self.clock()
        now_us = datetime_to_us(now)
        return Cron(
            cron_id=cron_id,
            assistant_id=assistant_id,
            thread_id=thread_id,
            schedule=body.schedule,
            timezone=body.timezone,
            payload=payload,
            metadata=body.metadata or {},
            on_run_completed=None if thread_id else (body.on_run_completed or "delete"),
            enabled=True if body.enabled is None else body.enabled,
            end_time=_us(body.end_time),
            next_run_date=datetime_to_us(next_firing(body.schedule, now, body.timezone)),
            created_at=now_us,
            updated_at=now_us,
        )

    def resolve_assistant(self, assistant_id: str) -> str:
        """The id of an assistant given by id or graph name; LangGraph's 404 otherwise."""
        try:
            stored, _ = self.assistants.for_run(assistant_id)
        except ThreadwatchError:
            raise assistant_missing(assistant_id) from None
        return str(stored.assistant["assistant_id"])

    # -- patch ---------------------------------------------------------------------------

    def update(self, cron_id: str, body: CronPatch) -> dict[str, Any]:
        """Change the given fields, as LangGraph does: metadata merges into the cron's, the
        request merges into its payload, and a new schedule or time zone sets the next
        firing from now."""
        changes = body.model_dump(mode="json", exclude_unset=True)
        if not changes:
            raise EmptyPatch("Request body cannot be empty")
        check_timezone(body.timezone)
        if body.webhook:
            check_webhook_url(body.webhook, self.webhook_allow_private)
        cron = self.crons.read(cron_id)
        if cron is None:
            raise NotFoundError(f"Cron '{cron_id}' not found")
        now = self.clock()
        fields = self._apply(cron, body, changes, now)
        self.crons.save(cron, fields)
        return self._answer(cron_id)

    @staticmethod
    def _apply(cron: Cron, body: CronPatch, changes: dict[str, Any], now: datetime) -> set[str]:
        """Change ``cron`` as the PATCH says; the hash fields that changed."""
        fields = {"payload", "updated_at"}
        if body.schedule is not None:
            cron.schedule = check_schedule(body.schedule)
            fields.add("schedule")
        if body.timezone is not None:
            cron.timezone = body.timezone
            fields.add("timezone")
        if body.schedule is not None or body.timezone is not None:
            cron.next_run_date = datetime_to_us(next_firing(cron.schedule, now, cron.timezone))
            fields.add("next_run_date")
        if "end_time" in changes:
            cron.end_time = _us(body.end_time)
            fields.add("end_time")
        if body.enabled is not None:
            cron.enabled = body.enabled
            fields.add("enabled")
        if body.on_run_completed is not None:
            cron.on_run_completed = body.on_run_completed
            fields.add("on_run_completed")
        if body.metadata is not None:
            cron.metadata = {**cron.metadata, **body.metadata}
            fields.add("metadata")
        cron.payload = {**cron.payload, **changes, "assistant_id": cron.payload["assistant_id"]}
        _set_cron_id(cron.payload, cron.cron_id)
        cron.updated_at = datetime_to_us(now)
        return fields

    def _answer(self, cron_id: str) -> dict[str, Any]:
        cron = self.crons.get(cron_id)
        if cron is None:  # deleted by another request meanwhile
            raise NotFoundError(f"Cron '{cron_id}' not found")
        return cron


class EmptyPatch(InvalidInputError):
    """A PATCH with nothing in it: 400, as LangGraph answers it (not 422)."""

    status_code = 400


def _set_cron_id(payload: dict[str, Any], cron_id: str) -> None:
    """``config.configurable.cron_id``: every run of the cron carries it, as on LangGraph."""
    config = payload.get("config")
    if not isinstance(config, dict):
        config = payload["config"] = {}
    configurable = config.get("configurable")
    if not isinstance(configurable, dict):
        configurable = config["configurable"] = {}
    configurable["cron_id"] = cron_id


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _us(at: datetime | None) -> int | None:
    return None if at is None else datetime_to_us(at)
