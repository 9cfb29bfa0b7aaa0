"""Leases, heartbeats, lost runs, status history and the counters the scripts keep."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fakeredis import FakeRedis
from rq import Queue
from rq.utils import utcformat

from tests.unit.helpers import KEYS, at, event, thread_hash, us
from threadwatch.domain import RunStatus, ThreadStatus
from threadwatch.models import RunEvent
from threadwatch.queues import RUNS_QUEUE
from threadwatch.runs.jobs import RunJobs
from threadwatch.runs.liveness import LostRuns
from threadwatch.store.codec import materialize
from threadwatch.store.search import ThreadQuery
from threadwatch.store.stores import Stores


def new_id() -> str:
    return str(uuid.uuid4())


def lease(redis: FakeRedis, run_id: str) -> float | None:
    return redis.zscore(KEYS.leases(), run_id)


def expire_lease(redis: FakeRedis, run_id: str) -> None:
    redis.zadd(KEYS.leases(), {run_id: 1}, xx=True)


def lost_runs(stores: Stores, retries: int = 0) -> LostRuns:
    return LostRuns(stores.runs, Queue(RUNS_QUEUE, connection=stores.redis), retries)


def counter(redis: FakeRedis, field: str) -> int:
    return int(redis.hget(KEYS.metrics(), field) or 0)


# -- leases ----------------------------------------------------------------------------------


def test_a_started_run_holds_a_lease_that_its_end_drops(
    stores: Stores, fake_redis: FakeRedis
) -> None:
    thread_id, run_id = new_id(), new_id()
    stores.runs.apply([event(thread_id, run_id, "run.started", at=at(1))])
    seconds, micros = fake_redis.time()
    now = seconds * 1_000_000 + micros
    assert now + 29_000_000 < lease(fake_redis, run_id) <= now + 30_000_000
    assert fake_redis.zscore(KEYS.runs_in("running"), run_id) is not None
    stores.runs.apply([event(thread_id, run_id, "run.succeeded", at=at(2))])
    assert lease(fake_redis, run_id) is None
    assert fake_redis.zcard(KEYS.runs_in("running")) == 0


def test_heartbeat_renews_the_lease_with_the_duration_the_run_asked_for(
    stores: Stores, fake_redis: FakeRedis
) -> None:
    thread_id, run_id = new_id(), new_id()
    stores.runs.apply([event(thread_id, run_id, "run.started", lease_seconds=600)])
    first = lease(fake_redis, run_id)
    before = fake_redis.dump(KEYS.thread(thread_id))
    assert [a.result for a in stores.runs.apply([event(thread_id, run_id, "run.heartbeat")])] == [
        "applied"
    ]
    renewed = lease(fake_redis, run_id)
    assert renewed >= first and renewed > first - 1 and renewed - first < 1_000_000
    seconds, _ = fake_redis.time()
    assert renewed > (seconds + 590) * 1_000_000  # the run's own 600 s, not the default 30
    assert fake_redis.dump(KEYS.thread(thread_id)) == before  # nothing else changed


def test_heartbeat_of_an_unknown_or_ended_run_is_stale_and_creates_nothing(
    stores: Stores, fake_redis: FakeRedis
) -> None:
    thread_id, run_id = new_id(), new_id()
    assert stores.runs.apply([event(thread_id, run_id, "run.heartbeat")])[0].result == "stale"
    assert not fake_redis.exists(KEYS.thread(thread_id))
    stores.runs.apply([event(thread_id, run_id, "run.failed")])
    assert stores.runs.apply([event(thread_id, run_id, "run.heartbeat")])[0].result == "stale"
    assert lease(fake_redis, run_id) is None


def test_pending_runs_reported_from_elsewhere_hold_a_lease_ours_do_not(
    stores: Stores, fake_redis: FakeRedis
) -> None:
    external, ours = new_id(), new_id()
    stores.runs.apply([event(new_id(), external, "run.pending")])
    stores.runs.admit(event(new_id(), ours, "run.pending"), reject_if_busy=False)
    assert lease(fake_redis, external) is not None
    assert lease(fake_redis, ours) is None
    assert fake_redis.zcard(KEYS.runs_in("pending")) == 2


# -- lost runs -------------------------------------------------------------------------------


def test_a_run_whose_lease_ran_out_ends_as_worker_lost(
    stores: Stores, fake_redis: FakeRedis
) -> None:
    thread_id, run_id = new_id(), new_id()
    stores.runs.apply([event(thread_id, run_id, "run.started", at=at(1))])
    assert lost_runs(stores).reclaim(min_pending_age=30).failed == 0  # still alive
    expire_lease(fake_redis, run_id)
    assert lost_runs(stores).reclaim(min_pending_age=30).failed == 1
    run = stores.runs.get(thread_id, run_id)
    assert run["status"] == RunStatus.ERROR
    thread = materialize(stores.threads.get(thread_id))
    assert thread["status"] == "error"
    assert thread["error"]["error"] == "WorkerLost"
    assert lease(fake_redis, run_id) is None
    assert counter(fake_redis, "reclaimed|failed") == 1
    # Idempotent: a second sweep (or a second machine) finds nothing more.
    assert lost_runs(stores).reclaim(min_pending_age=30).failed == 0


def test_the_thread_stays_busy_while_another_run_is_in_flight(
    stores: Stores, fake_redis: FakeRedis
) -> None:
    thread_id, lost, other = new_id(), new_id(), new_id()
    stores.runs.apply(
        [
            event(thread_id, lost, "run.started", at=at(1)),
            event(thread_id, other, "run.started", at=at(2)),
        ]
    )
    expire_lease(fake_redis, lost)
    lost_runs(stores).reclaim(min_pending_age=30)
    assert thread_hash(fake_redis, thread_id)["status"] == "busy"
    stores.runs.apply([event(thread_id, other, "run.succeeded")])  # ends after the loss
    assert thread_hash(fake_redis, thread_id)["status"] == "idle"


def test_a_heartbeat_that_comes_first_keeps_the_run(stores: Stores, fake_redis: FakeRedis) -> None:
    thread_id, run_id = new_id(), new_id()
    stores.runs.apply([event(thread_id, run_id, "run.started")])
    expire_lease(fake_redis, run_id)
    stores.runs.apply([event(thread_id, run_id, "run.heartbeat")])
    failed = RunEvent(thread_id=thread_id, run_id=run_id, type="run.failed")
    assert stores.runs.reclaim(failed) is None  # the lease is live again: nothing written
    assert stores.runs.get(thread_id, run_id)["status"] == RunStatus.RUNNING


def queued_jobs(redis: FakeRedis) -> list[str]:
    return Queue(RUNS_QUEUE, connection=redis).get_job_ids()


def admit(stores: Stores, thread_id: str, take: bool = True) -> str:
    """A run created here (pending), in its thread's line when ``take``."""
    run_id = new_id()
    stores.runs.admit(event(thread_id, run_id, "run.pending"), reject_if_busy=False)
    if take:
        stores.runs.take_turn(thread_id, run_id)
    return run_id


def test_our_pending_run_without_a_job_is_resumed_only_past_the_minimum_age(
    stores: Stores, fake_redis: FakeRedis
) -> None:
    """An API process killed between recording the run and queueing its job."""
    thread_id = new_id()
    run_id = admit(stores, thread_id, take=False)
    assert lost_runs(stores).reclaim(min_pending_age=60).resumed == 0  # may be queued yet
    assert queued_jobs(fake_redis) == []
    assert lost_runs(stores).reclaim(min_pending_age=0).resumed == 1
    assert queued_jobs(fake_redis) == [run_id]
    assert stores.runs.turn_of(thread_id)[0] == run_id
    assert stores.runs.get(thread_id, run_id)["status"] == RunStatus.PENDING
    assert counter(fake_redis, "reclaimed|resumed") == 1


def test_our_pending_run_with_a_queued_job_is_left_alone(stores: Stores) -> None:
    thread_id = new_id()
    run_id = admit(stores, thread_id)
    Queue(RUNS_QUEUE, connection=stores.redis).enqueue(
        "threadwatch_workers.jobs.execute_run", run_id, job_id=run_id
    )
    done = lost_runs(stores).reclaim(min_pending_age=0)
    assert (done.failed, done.resumed) == (0, 0)
    assert stores.runs.get(thread_id, run_id)["status"] == RunStatus.PENDING


def test_a_run_waiting_behind_one_in_flight_is_left_alone(
    stores: Stores, fake_redis: FakeRedis
) -> None:
    thread_id = new_id()
    first, second = admit(stores, thread_id), admit(stores, thread_id)
    stores.runs.start(thread_id, first)
    assert lost_runs(stores).reclaim(min_pending_age=0).resumed == 0
    assert queued_jobs(fake_redis) == []
    assert stores.runs.turn_of(thread_id)[0] == first
    assert stores.runs.is_waiting(thread_id, second)


def test_a_hand_off_cut_short_is_resumed(stores: Stores, fake_redis: FakeRedis) -> None:
    """A worker killed between its run's end and queueing the next run's job (or RQ
    conceding a ready job): the next run is queued by the sweep, not left pending."""
    thread_id = new_id()
    first, second, third = (admit(stores, thread_id) for _ in range(3))
    stores.runs.start(thread_id, first)
    stores.runs.apply([event(thread_id, first, "run.succeeded")])  # no hand-off
    assert lost_runs(stores).reclaim(min_pending_age=0).resumed == 1
    assert queued_jobs(fake_redis) == [second]
    assert stores.runs.turn_of(thread_id)[0] == second
    assert lost_runs(stores).reclaim(min_pending_age=0).resumed == 0  # second's job queued
    assert queued_jobs(fake_redis) == [second]


def test_a_run_whose_job_is_deferred_by_rq_is_resumed(
    stores: Stores, fake_redis: FakeRedis
) -> None:
    """A run queued by an earlier version, behind its predecessor's job with RQ's
    dependencies, whose hand-off RQ conceded (its job stays deferred)."""
    thread_id = new_id()
    run_id = admit(stores, thread_id, take=False)
    queue = Queue(RUNS_QUEUE, connection=fake_redis)
    done_job = queue.enqueue("threadwatch_workers.jobs.execute_run", "x", job_id=new_id())
    queue.enqueue(
        "threadwatch_workers.jobs.execute_run", run_id, job_id=run_id, depends_on=done_job
    )
    queue.remove(done_job.id)
    assert queue.fetch_job(run_id).get_status() == "deferred"
    assert lost_runs(stores).reclaim(min_pending_age=0).resumed == 1
    assert queued_jobs(fake_redis) == [run_id]


def test_our_pending_run_whose_job_failed_is_ended_and_passes_its_turn(
    stores: Stores, fake_redis: FakeRedis
) -> None:
    thread_id = new_id()
    first, second = admit(stores, thread_id), admit(stores, thread_id)
    job = Queue(RUNS_QUEUE, connection=fake_redis).enqueue(
        "threadwatch_workers.jobs.execute_run", first, job_id=first
    )
    job.set_status("failed")
    Queue(RUNS_QUEUE, connection=fake_redis).remove(first)
    assert lost_runs(stores).reclaim(min_pending_age=0).failed == 1
    assert stores.runs.get(thread_id, first)["status"] == RunStatus.ERROR
    assert queued_jobs(fake_redis) == [second]
    assert stores.runs.turn_of(thread_id)[0] == second


def test_a_lost_run_passes_its_turn_on(stores: Stores, fake_redis: FakeRedis) -> None:
    thread_id = new_id()
    first, second = admit(stores, thread_id), admit(stores, thread_id)
    stores.runs.start(thread_id, first)
    expire_lease(fake_redis, first)
    assert lost_runs(stores).reclaim(min_pending_age=30).failed == 1
    assert queued_jobs(fake_redis) == [second]
    assert stores.runs.turn_of(thread_id)[0] == second


def test_requeue_script_puts_a_lost_run_back_to_pending(
    stores: Stores, fake_redis: FakeRedis
) -> None:
    thread_id, run_id = new_id(), new_id()
    stores.runs.apply([event(thread_id, run_id, "run.started")])
    keys = [
        KEYS.run(run_id),
        KEYS.leases(),
        KEYS.runs_in("pending"),
        KEYS.runs_in("running"),
    ]
    assert stores.runs.scripts.requeue_run(keys=keys, args=[run_id]) == -4  # alive
    expire_lease(fake_redis, run_id)
    assert stores.runs.scripts.requeue_run(keys=keys, args=[run_id]) == 1
    assert stores.runs.get(thread_id, run_id)["status"] == RunStatus.PENDING
    assert thread_hash(fake_redis, thread_id)["status"] == "busy"
    assert lease(fake_redis, run_id) is None
    # Started again by a worker, it ends as any run.
    stores.runs.apply([event(thread_id, run_id, "run.started")])
    stores.runs.apply([event(thread_id, run_id, "run.succeeded")])
    assert thread_hash(fake_redis, thread_id)["status"] == "idle"


# -- status history and counters ------------------------------------------------------------


def test_status_history_lists_changes_newest_first(stores: Stores) -> None:
    thread_id, run_a, run_b = new_id(), new_id(), new_id()
    stores.runs.apply(
        [
            event(thread_id, run_a, "run.started", at=at(1)),
            event(thread_id, run_a, "run.interrupted", at=at(2)),
            event(thread_id, run_b, "run.started", at=at(3)),
        ]
    )
    history = stores.threads.transitions(thread_id)
    assert [(h["from"], h["to"], h["run_id"]) for h in history] == [
        ("interrupted", "busy", run_b),
        ("busy", "interrupted", run_a),
        (None, "busy", run_a),
    ]
    assert history[0]["at"].startswith("20")  # an API timestamp


def test_status_history_is_capped(fake_redis: FakeRedis) -> None:
    from tests.unit.helpers import make_stores

    stores = make_stores(fake_redis)
    stores.runs.history_limit = 3
    thread_id = new_id()
    for i in range(5):
        run_id = new_id()
        stores.runs.apply(
            [
                event(thread_id, run_id, "run.started", at=at(2 * i + 1)),
                event(thread_id, run_id, "run.succeeded", at=at(2 * i + 2)),
            ]
        )
    assert fake_redis.llen(KEYS.thread_transitions(thread_id)) == 3


def test_scripts_count_transitions_events_and_run_durations(
    stores: Stores, fake_redis: FakeRedis
) -> None:
    thread_id, run_id = new_id(), new_id()
    stores.runs.apply(
        [
            event(thread_id, run_id, "run.started", at=at(1)),
            event(thread_id, run_id, "run.succeeded", at=at(4)),
            event(thread_id, run_id, "run.succeeded", at=at(4)),
        ]
    )
    assert counter(fake_redis, "transitions|busy|idle") == 1
    assert counter(fake_redis, "events|applied") == 2
    assert counter(fake_redis, "events|duplicate") == 1
    # at(1) -> at(4) is 3 s: the 5 s bucket.
    assert counter(fake_redis, "run_duration|le|5") == 1
    assert counter(fake_redis, "run_duration|count") == 1
    assert float(fake_redis.hget(KEYS.metrics(), "run_duration|sum")) == pytest.approx(3.0)


def test_history_entries_are_compact(stores: Stores, fake_redis: FakeRedis) -> None:
    thread_id, run_id = new_id(), new_id()
    stores.runs.apply([event(thread_id, run_id, "run.started", at=at(1))])
    raw = fake_redis.lindex(KEYS.thread_transitions(thread_id), 0)
    assert raw == f"{us(at(1))}||busy|{run_id}".encode()


def test_a_run_whose_job_started_but_never_started_it_is_resumed(
    stores: Stores, fake_redis: FakeRedis
) -> None:
    """The job's worker died (or lost Redis) between taking the job and starting the run."""
    thread_id = new_id()
    run_id = admit(stores, thread_id)
    job = Queue(RUNS_QUEUE, connection=fake_redis).enqueue(
        "threadwatch_workers.jobs.execute_run", run_id, job_id=run_id
    )
    Queue(RUNS_QUEUE, connection=fake_redis).remove(run_id)
    job.set_status("started")
    assert lost_runs(stores).reclaim(min_pending_age=0).resumed == 1
    assert queued_jobs(fake_redis) == [run_id]


def test_a_run_whose_queued_job_a_dead_worker_took_is_resumed(
    stores: Stores, fake_redis: FakeRedis
) -> None:
    """A worker killed just after it took the job off the queue: a run thread serves two
    queues, so RQ pops with BLPOP, and the job, still `queued`, is in no queue any more.
    Found by tests/integration/runs/test_crash_load.py."""
    thread_id = new_id()
    run_id = admit(stores, thread_id)
    fake_redis.zadd(KEYS.runs_in("pending"), {run_id: 1})  # pending for ages
    fake_redis.hset(KEYS.thread(thread_id), "turn_at", 1)  # its turn came long ago
    queue = Queue(RUNS_QUEUE, connection=fake_redis)
    queue.enqueue("threadwatch_workers.jobs.execute_run", run_id, job_id=run_id)
    assert lost_runs(stores).reclaim(min_pending_age=60).resumed == 0  # in the queue
    assert fake_redis.lpop(queue.key) == run_id.encode()  # taken; its taker died
    assert queue.fetch_job(run_id).get_status() == "queued"
    assert lost_runs(stores).reclaim(min_pending_age=60).resumed == 0  # a worker may start it
    assert lost_runs(stores).reclaim(min_pending_age=60).resumed == 0  # missing for < 60 s
    first_seen = queue.intermediate_queue.get_first_seen_key(run_id)
    fake_redis.set(first_seen, 1)  # missing since long ago
    assert lost_runs(stores).reclaim(min_pending_age=60).resumed == 1
    assert queued_jobs(fake_redis) == [run_id]
    assert lost_runs(stores).reclaim(min_pending_age=60).resumed == 0  # queued again


def test_a_run_whose_job_waits_in_a_workers_intermediate_list_is_left_alone(
    stores: Stores, fake_redis: FakeRedis
) -> None:
    """A worker of one queue moves the job it takes to the queue's intermediate list
    (LMOVE): RQ's maintenance recovers it from there."""
    thread_id = new_id()
    run_id = admit(stores, thread_id)
    queue = Queue(RUNS_QUEUE, connection=fake_redis)
    queue.enqueue("threadwatch_workers.jobs.execute_run", run_id, job_id=run_id)
    fake_redis.lmove(queue.key, queue.intermediate_queue_key)
    assert lost_runs(stores).reclaim(min_pending_age=0).resumed == 0


def test_a_run_whose_job_a_worker_just_started_is_left_to_it(
    stores: Stores, fake_redis: FakeRedis
) -> None:
    """The worker emits run.started a moment after RQ marks the job started: a sweep in
    that moment leaves it be (found by the crash-under-load test without kills)."""
    thread_id = new_id()
    run_id = admit(stores, thread_id)
    fake_redis.zadd(KEYS.runs_in("pending"), {run_id: 1})  # pending for ages
    fake_redis.hset(KEYS.thread(thread_id), "turn_at", 1)  # its turn came long ago
    queue = Queue(RUNS_QUEUE, connection=fake_redis)
    job = queue.enqueue("threadwatch_workers.jobs.execute_run", run_id, job_id=run_id)
    queue.remove(run_id)
    job.set_status("started")
    fake_redis.hset(job.key, "started_at", utcformat(datetime.now(UTC)))
    assert lost_runs(stores).reclaim(min_pending_age=60).resumed == 0
    fake_redis.hset(job.key, "started_at", utcformat(datetime.now(UTC) - timedelta(minutes=2)))
    assert lost_runs(stores).reclaim(min_pending_age=60).resumed == 1
    assert queued_jobs(fake_redis) == [run_id]


def test_a_run_whose_job_is_scheduled_is_left_alone(stores: Stores, fake_redis: FakeRedis) -> None:
    thread_id = new_id()
    run_id = new_id()
    stores.runs.admit(event(thread_id, run_id, "run.pending"), reject_if_busy=False)
    turn = stores.runs.take_turn(thread_id, run_id, delay=60)
    assert turn is not None
    queue = Queue(RUNS_QUEUE, connection=fake_redis)
    RunJobs(queue, 60).enqueue(turn)
    assert queue.fetch_job(run_id).get_status() == "scheduled"
    fake_redis.hset(KEYS.thread(thread_id), "turn_at", 1)  # even were its turn long taken
    assert lost_runs(stores).reclaim(min_pending_age=0).resumed == 0
    fake_redis.zrem(queue.scheduled_job_registry.key, run_id)  # RQ lost it
    assert lost_runs(stores).reclaim(min_pending_age=0).resumed == 1
    assert queued_jobs(fake_redis) == [run_id]


def test_a_resumed_run_leaves_no_started_record_of_the_dead_worker(
    stores: Stores, fake_redis: FakeRedis
) -> None:
    thread_id = new_id()
    run_id = admit(stores, thread_id)
    queue = Queue(RUNS_QUEUE, connection=fake_redis)
    job = queue.enqueue("threadwatch_workers.jobs.execute_run", run_id, job_id=run_id)
    queue.remove(run_id)
    job.set_status("started")
    started = queue.started_job_registry.key
    fake_redis.zadd(started, {f"{run_id}:dead-worker": 2e9, "other:live-worker": 2e9})
    assert lost_runs(stores).reclaim(min_pending_age=0).resumed == 1
    assert fake_redis.zrange(started, 0, -1) == [b"other:live-worker"]


def test_the_job_of_a_run_whose_worker_died_after_its_end_is_failed(
    stores: Stores, fake_redis: FakeRedis
) -> None:
    """A worker killed between its run's end and RQ's record of its job: the job, left
    `started`, is failed once the run ended a lease ago."""
    thread_id = new_id()
    run_id = admit(stores, thread_id)
    queue = Queue(RUNS_QUEUE, connection=fake_redis)
    job = queue.enqueue("threadwatch_workers.jobs.execute_run", run_id, job_id=run_id)
    queue.remove(run_id)
    job.set_status("started")
    started = queue.started_job_registry.key
    fake_redis.zadd(started, {f"{run_id}:dead-worker": 2e9})
    stores.runs.start(thread_id, run_id)
    stores.runs.apply([event(thread_id, run_id, "run.succeeded")])
    lost_runs(stores).reclaim(min_pending_age=60)
    assert job.get_status() == "started"  # it ended a moment ago: its worker may be live
    fake_redis.hset(KEYS.run(run_id), "updated_at", 1)  # it ended long ago
    assert lost_runs(stores).reclaim(min_pending_age=60).failed == 0  # the run is not lost
    assert job.get_status() == "failed"
    assert fake_redis.zrange(started, 0, -1) == []
    assert stores.runs.get(thread_id, run_id)["status"] == RunStatus.SUCCESS


def test_a_turn_taken_recently_is_left_to_its_taker(stores: Stores, fake_redis: FakeRedis) -> None:
    """A run that waited long, whose turn just came: its job is being queued."""
    thread_id = new_id()
    run_id = admit(stores, thread_id)
    fake_redis.zadd(KEYS.runs_in("pending"), {run_id: 1})  # pending for ages
    assert lost_runs(stores).reclaim(min_pending_age=60).resumed == 0
    assert queued_jobs(fake_redis) == []
    fake_redis.hset(KEYS.thread(thread_id), "turn_at", 1)  # its turn came long ago
    assert lost_runs(stores).reclaim(min_pending_age=60).resumed == 1
    assert queued_jobs(fake_redis) == [run_id]


def test_one_pass_takes_back_every_lost_run_of_a_fleet_wide_outage(
    stores: Stores, fake_redis: FakeRedis
) -> None:
    """More lost runs than a page (batch): one pass pages through them all, not a page."""
    runs = [(f"00000000-0000-4000-8000-{i:012x}", new_id()) for i in range(25)]
    stores.runs.apply([event(t, r, "run.started", at=at(1)) for t, r in runs])
    fake_redis.zadd(KEYS.leases(), {r: 1 for _, r in runs})  # every lease ran out
    lost = LostRuns(stores.runs, Queue(RUNS_QUEUE, connection=stores.redis), batch=10)
    assert lost.reclaim(min_pending_age=30).failed == 25
    assert stores.search.count(ThreadQuery(status=ThreadStatus.BUSY)) == 0


def test_a_page_of_runs_that_cannot_be_taken_back_ends_the_pass(
    stores: Stores, fake_redis: FakeRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Expired leases that stay (their reclaim refused each time) do not loop the pass."""
    runs = [(new_id(), new_id()) for _ in range(10)]
    stores.runs.apply([event(t, r, "run.started", at=at(1)) for t, r in runs])
    fake_redis.zadd(KEYS.leases(), {r: 1 for _, r in runs})
    tries: list[str] = []
    monkeypatch.setattr(stores.runs, "reclaim", lambda event: tries.append(event.run_id))
    lost = LostRuns(stores.runs, Queue(RUNS_QUEUE, connection=stores.redis), batch=10)
    assert lost.reclaim(min_pending_age=30).failed == 0
    assert sorted(tries) == sorted(r for _, r in runs)  # each tried once in this pass
