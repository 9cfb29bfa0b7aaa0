"""The compatibility script's normaliser and diff (tests/compat/): it runs outside the suite,
so its pure parts are checked here, where a change that blinds it would show."""

from __future__ import annotations

from tests.compat.explained import explain
from tests.compat.normalise import ABSENT, Difference, Normaliser, differences

THREAD = "6a2d8c1e-0000-4000-8000-000000000001"
CHECKPOINT = "1f1f27f4-23bd-674a-8001-987100b54040"
OTHER = "1f1f27f4-2322-60d3-bfff-c784edfd0e7c"


def test_ids_become_named_or_path_tokens_and_timestamps_go() -> None:
    normalise = Normaliser({"thread": THREAD})
    answer = {
        "step": {
            "thread_id": THREAD,
            "checkpoint": {"checkpoint_id": CHECKPOINT},
            "checkpoint_id": CHECKPOINT,
            "ns": f"agent:{OTHER}",
            "interrupt": "57ed16ab3075d1d77af08796e6dd8818",
            "created_at": "2026-12-07T20:47:23.123456+00:00",
            "timestamp": 1796676176828,
            "step": 3,
        }
    }
    assert normalise(answer) == {
        "step": {
            "thread_id": "<thread>",
            "checkpoint": {"checkpoint_id": "<id@/step/checkpoint/checkpoint_id>"},
            "checkpoint_id": "<id@/step/checkpoint/checkpoint_id>",
            "ns": "agent:<id@/step/ns>",
            "interrupt": "<id@/step/interrupt>",
            "created_at": "<ts>",
            "timestamp": "<epoch-ms>",
            "step": 3,
        }
    }


def test_an_extra_id_on_one_side_does_not_rename_the_others() -> None:
    left = Normaliser()({"a": {"extra": OTHER, "id": CHECKPOINT}})
    right = Normaliser()({"a": {"id": THREAD}})
    assert differences(left, right) == [Difference("/a/extra", "<id@/a/extra>", ABSENT)]


def test_differences_list_each_leaf_and_a_failed_step_once() -> None:
    lg = {"s": {"a": 1, "b": [1, 2]}, "t": {"x": 1, "y": 2}}
    tw = {"s": {"a": 2, "b": [1], "c": 0}, "t": {"failed": {"http_error": 404}}}
    assert differences(lg, tw) == [
        Difference("/s/a", 1, 2),
        Difference("/s/b/1", 2, ABSENT),
        Difference("/s/c", ABSENT, 0),
        Difference("/t", {"x": 1, "y": 2}, {"failed": {"http_error": 404}}),
    ]


def test_explained_entries_match_flow_path_and_threadwatch_answer() -> None:
    assert explain("chat_ui/js", Difference("/info/version", "0.16.7", "0.1.0")) is not None
    assert explain("chat_ui/js", Difference("/info/flags/crons", True, False)) is None
    assert explain("cors", Difference("/studio_pna/status", 400, 200)) is not None
    assert explain("cors", Difference("/studio_pna/status", 400, 405)) is None


def test_ids_under_a_key_that_is_an_id_are_named_alike_on_both_sides() -> None:
    """An interrupts map is keyed by task id, which differs between the servers: the ids it
    holds are named after the key's token, so that they compare equal."""
    lg = Normaliser()({"search": {"interrupts": {CHECKPOINT: [{"id": "a" * 32}]}}})
    tw = Normaliser()({"search": {"interrupts": {OTHER: [{"id": "b" * 32}]}}})
    assert lg == tw
    assert lg["search"]["interrupts"] == {
        "<id@/search/interrupts>": [{"id": "<id@/search/interrupts/<id@/search/interrupts>/0/id>"}]
    }
