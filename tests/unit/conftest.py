"""Unit tests run on fakeredis with its Lua engine (fakeredis[lua]); no server needed."""

from __future__ import annotations

from collections.abc import Iterator

import fakeredis
import pytest


@pytest.fixture
def fake_redis() -> Iterator[fakeredis.FakeRedis]:
    """A fresh in-memory Redis (bytes replies) per test; register_script() works on it."""
    client = fakeredis.FakeRedis()
    yield client
    client.close()
