"""The reference for threads driven by run events: the same events applied once each, in
time order, to an empty store. lua/transition.lua promises that every delivery order of the
same events, duplicates and batching included, leaves what this replay leaves.

`thread_state` is the part of a thread that promise covers. The transition properties
(tests/unit/store/test_transition_properties.py, on fakeredis) and the crash-under-load test
(tests/load/, on a real deployment whose processes are killed) both compare it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from threadwatch.models import RunEvent
from threadwatch.store.codec import materialize
from threadwatch.store.stores import Stores

# Metadata is merged in delivery order, and updated_at is the server's clock: neither is
# covered. Event config is order-dependent (a known bug, pinned in test_transitions.py).
THREAD_FIELDS = ("status", "values", "interrupts", "error", "status_since")
RUN_FIELDS = ("thread_id", "status", "created_at", "kwargs", "multitask_strategy")
# Calls of the transition per replay batch (the HTTP endpoint's bound).
BATCH = 1000


def thread_state(stores: Stores, thread_id: str, runs: int = 10) -> dict[str, Any]:
    """What delivery order must not change of one thread: its state, and the records of its
    newest ``runs`` runs, by id."""
    thread = materialize(stores.threads.get(thread_id))
    state: dict[str, Any] = {thread_id: {f: thread[f] for f in THREAD_FIELDS}}
    for run in materialize(stores.runs.list(thread_id, limit=runs)):
        state[run["run_id"]] = {f: run[f] for f in RUN_FIELDS}
    return state


def replay(stores: Stores, events: Iterable[RunEvent]) -> None:
    """Apply ``events`` (distinct, each with its ``at``) to ``stores`` in time order."""
    in_order = sorted(events, key=lambda e: e.at)
    for start in range(0, len(in_order), BATCH):
        stores.runs.apply(in_order[start : start + BATCH])
