"""RunStore.apply when Redis refuses one of a batch's script calls whole (full, or a
read-only replica): the events of the other calls are applied, and the error says which."""

from __future__ import annotations

from typing import Any

import hiredis
import pytest

import threadwatch.store.runs as runs_module
from tests.unit.helpers import event
from threadwatch.errors import BatchIncomplete
from threadwatch.store.runs import EVENTS_PER_CALL
from threadwatch.store.stores import Stores

REFUSALS = {
    "OOM": "OOM command not allowed when used memory > 'maxmemory'.",
    "READONLY": "READONLY You can't write against a read only replica.",
}


def refuse_call(monkeypatch: pytest.MonkeyPatch, number: int, reply: str) -> None:
    """Redis answers the transition call ``number`` (from 0) of each batch with ``reply``."""
    real, sent = runs_module._pack_evalsha, [0]

    def pack(sha: str, keys: list[Any], args: list[Any]) -> list[bytes]:
        sent[0] += 1
        if sent[0] - 1 == number:
            script = f"return redis.error_reply({reply!r})"
            return [hiredis.pack_command(("EVAL", script, 0))]
        return real(sha, keys, args)

    monkeypatch.setattr(runs_module, "_pack_evalsha", pack)


@pytest.mark.parametrize("refusal", sorted(REFUSALS))
def test_a_call_refused_part_way_says_which_events_were_applied(
    stores: Stores, monkeypatch: pytest.MonkeyPatch, refusal: str
) -> None:
    events = [
        event(
            f"00000000-0000-4000-8000-{i:012x}", f"00000000-0000-4000-9000-{i:012x}", "run.started"
        )
        for i in range(2 * EVENTS_PER_CALL)
    ]
    refuse_call(monkeypatch, 1, REFUSALS[refusal])
    with pytest.raises(BatchIncomplete) as refused:
        stores.runs.apply(events)
    applied = refused.value.applied
    assert [a.run_id for a in applied] == [e.run_id for e in events[:EVENTS_PER_CALL]]
    assert f"{EVENTS_PER_CALL} of {2 * EVENTS_PER_CALL} events" in refused.value.detail
    for e in events[EVENTS_PER_CALL:]:
        assert not stores.threads.exists(e.thread_id)
    monkeypatch.undo()
    again = stores.runs.apply(events)  # the whole batch again: safe
    assert [a.result for a in again] == ["duplicate"] * EVENTS_PER_CALL + [
        "applied"
    ] * EVENTS_PER_CALL
