"""lua/alerts.lua's contract for its simplest mode (lease). Its claim and undo modes are
tested through the rules that use them in tests/unit/test_alerts.py (and on a real server in
tests/integration/test_alerts.py)."""

from __future__ import annotations

from fakeredis import FakeRedis

from threadwatch.store.stores import Stores


def test_lease_takes_over_only_entries_as_read(stores: Stores, fake_redis: FakeRedis) -> None:
    fake_redis.hset("outbox", mapping={"a": "read", "b": "changed"})
    leased = stores.threads.scripts.alerts(
        ["outbox"], ["lease", "a", "read", "mine", "b", "read", "mine", "c", "read", "mine"]
    )
    assert leased == [b"a"]
    assert fake_redis.hgetall("outbox") == {b"a": b"mine", b"b": b"changed"}
