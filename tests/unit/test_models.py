"""Id validation: canonical UUIDs pass as they are, other spellings are canonicalized."""

from __future__ import annotations

import pytest

from threadwatch.models import canonical_run_uuid, canonical_uuid

CANONICAL = "0f8e6c1a-4b2d-4c3e-9a1b-2c3d4e5f6a7b"


@pytest.mark.parametrize(
    "spelling",
    [
        CANONICAL,
        CANONICAL.upper(),
        CANONICAL.replace("-", ""),
        "{" + CANONICAL + "}",
        "urn:uuid:" + CANONICAL,
    ],
)
def test_every_uuid_spelling_becomes_the_canonical_form(spelling: str) -> None:
    assert canonical_uuid(spelling) == CANONICAL
    assert canonical_run_uuid(spelling) == CANONICAL


@pytest.mark.parametrize(
    "value",
    ["", "x", CANONICAL[:-1], CANONICAL + "0", CANONICAL + "\n", CANONICAL.replace("-", "_")],
)
def test_a_non_uuid_gets_the_langgraph_error_text(value: str) -> None:
    with pytest.raises(ValueError, match="^Invalid thread ID: must be a UUID$"):
        canonical_uuid(value)
    with pytest.raises(ValueError, match="^Invalid run ID: must be a UUID$"):
        canonical_run_uuid(value)
