"""lua/claim_cron.lua: a due firing is claimed by exactly one caller, and only while the
cron's due entry and hash still hold the firing the caller read."""

from __future__ import annotations

import threading

from fakeredis import FakeRedis

from threadwatch.store.crons import Cron
from threadwatch.store.scripts import CronClaim
from threadwatch.store.stores import Stores

FIRING, FOLLOWING, NOW = 1_000_000_000, 1_060_000_000, 1_000_500_000


def put(stores: Stores, enabled: bool = True, end_time: int | None = None) -> Cron:
    cron = Cron(
        cron_id="c1",
        assistant_id="a1",
        thread_id=None,
        schedule="* * * * *",
        timezone=None,
        payload={},
        metadata={},
        on_run_completed="delete",
        enabled=enabled,
        end_time=end_time,
        next_run_date=FIRING,
        created_at=1,
        updated_at=1,
    )
    stores.crons.put(cron)
    return cron


def due(stores: Stores) -> list[tuple[str, int]]:
    return stores.crons.due(10**18, 10)


def test_the_first_claim_moves_the_firing_on(stores: Stores) -> None:
    put(stores)
    assert stores.crons.claim("c1", FIRING, FOLLOWING, NOW) is CronClaim.CLAIMED
    assert due(stores) == [("c1", FOLLOWING)]
    cron = stores.crons.read("c1")
    assert cron is not None and cron.next_run_date == FOLLOWING


def test_a_second_claim_of_the_same_firing_gets_nothing(stores: Stores) -> None:
    put(stores)
    stores.crons.claim("c1", FIRING, FOLLOWING, NOW)
    assert stores.crons.claim("c1", FIRING, FOLLOWING + 1, NOW) is CronClaim.NOT_OURS
    assert due(stores) == [("c1", FOLLOWING)]


def test_concurrent_claimers_get_one_claim(fake_redis: FakeRedis, stores: Stores) -> None:
    put(stores)
    barrier, results = threading.Barrier(8), []

    def claim() -> None:
        barrier.wait()
        results.append(stores.crons.claim("c1", FIRING, FOLLOWING, NOW))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [CronClaim.NOT_OURS] * 7 + [CronClaim.CLAIMED]


def test_a_disabled_cron_leaves_the_due_set(stores: Stores) -> None:
    put(stores)
    stores.redis.hset(stores.crons.keys.cron("c1"), "enabled", "0")
    assert stores.crons.claim("c1", FIRING, FOLLOWING, NOW) is CronClaim.NOT_OURS
    assert due(stores) == []


def test_a_deleted_cron_leaves_the_due_set(stores: Stores) -> None:
    put(stores)
    stores.redis.delete(stores.crons.keys.cron("c1"))
    assert stores.crons.claim("c1", FIRING, FOLLOWING, NOW) is CronClaim.NOT_OURS
    assert due(stores) == []


def test_an_ended_cron_leaves_the_due_set_and_stays(stores: Stores) -> None:
    put(stores, end_time=NOW - 1)
    assert stores.crons.claim("c1", FIRING, FOLLOWING, NOW) is CronClaim.ENDED
    assert due(stores) == []
    assert stores.crons.read("c1") is not None


def test_an_end_time_still_ahead_fires(stores: Stores) -> None:
    put(stores, end_time=NOW)
    assert stores.crons.claim("c1", FIRING, FOLLOWING, NOW) is CronClaim.CLAIMED


def test_a_stale_due_entry_follows_the_hash(stores: Stores) -> None:
    """A PATCH wrote the entry from an older reading: the hash says when it fires."""
    put(stores)
    stores.redis.hset(stores.crons.keys.cron("c1"), "next_run_date", FOLLOWING)
    assert stores.crons.claim("c1", FIRING, FOLLOWING + 5, NOW) is CronClaim.NOT_OURS
    assert due(stores) == [("c1", FOLLOWING)]


def test_a_last_firing_leaves_the_due_set(stores: Stores) -> None:
    put(stores)
    assert stores.crons.claim("c1", FIRING, None, NOW) is CronClaim.CLAIMED
    assert due(stores) == []
    cron = stores.crons.read("c1")
    assert cron is not None and cron.next_run_date is None
    assert stores.crons.claim("c1", FIRING, None, NOW) is CronClaim.NOT_OURS
