"""What deleting an assistant does to its runs and threads, as on LangGraph's server: its
runs in flight are cancelled (``interrupt``), and with ``delete_threads`` the threads whose
metadata names it are deleted."""

from __future__ import annotations

import logging

from threadwatch.errors import ThreadwatchError
from threadwatch.runs.service import IN_FLIGHT, RunService
from threadwatch.store.search import ThreadQuery, ThreadSearch

log = logging.getLogger(__name__)
PAGE = 1000


def cancel_assistant_runs(service: RunService, assistant_id: str) -> int:
    """Interrupt every pending or running run of the assistant; how many were."""
    cancelled = 0
    in_flight = service.runs_in_status(IN_FLIGHT)
    owners = service.runs.records.assistants([run_id for _, run_id in in_flight])
    for (thread_id, run_id), owner in zip(in_flight, owners, strict=True):
        if owner != assistant_id:
            continue
        try:
            service.cancel(thread_id, run_id, "interrupt")
            cancelled += 1
        except ThreadwatchError:  # it ended meanwhile
            continue
    return cancelled


def delete_assistant_threads(service: RunService, search: ThreadSearch, assistant_id: str) -> int:
    """Delete the threads whose metadata's ``assistant_id`` is the assistant; how many."""
    query = ThreadQuery(metadata={"assistant_id": assistant_id}, limit=PAGE)
    thread_ids: list[str] = []
    while True:
        page = search.search(query)
        thread_ids += [t["thread_id"] for t in page.threads]
        if not page.has_more:
            break
        query = ThreadQuery(metadata=query.metadata, limit=PAGE, offset=len(thread_ids))
    deleted = 0
    for thread_id in thread_ids:
        try:
            service.threads.delete(thread_id)
            deleted += 1
        except ThreadwatchError as exc:  # gone meanwhile
            log.info("thread %s of assistant %s not deleted: %s", thread_id, assistant_id, exc)
    return deleted
