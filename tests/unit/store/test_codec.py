"""Index members: a thread id's 16 bytes, ordered as the text is."""

from __future__ import annotations

import uuid

import pytest
import uuid_utils

from threadwatch.store.codec import thread_id_of, thread_member


def test_member_round_trip_and_size() -> None:
    for _ in range(100):
        thread_id = str(uuid.uuid4())
        member = thread_member(thread_id)
        assert member == uuid.UUID(thread_id).bytes
        assert thread_id_of(member) == thread_id


def test_members_sort_as_the_ids_do() -> None:
    ids = [str(uuid.uuid4()) for _ in range(500)] + [str(uuid_utils.uuid7()) for _ in range(500)]
    assert sorted(ids, key=thread_member) == sorted(ids)


def test_the_text_form_of_older_stores_reads_as_the_id() -> None:
    thread_id = str(uuid.uuid4())
    assert thread_id_of(thread_id.encode()) == thread_id


@pytest.mark.parametrize("bad", ["t-0001", "", "00000000-0000-4000-8000-0000000000", "zz" * 16])
def test_a_non_uuid_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        thread_member(bad)
