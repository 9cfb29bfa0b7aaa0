"""Each structure that grows per run or per event is bounded (docs/operations/reliability.md,
"Bounded memory"): streams are capped and expire, outputs expire, a run's RQ job expires.
Run records and status histories: tests/unit/ops/test_run_retention.py, test_liveness.py."""

from __future__ import annotations

import pytest
from fakeredis import FakeRedis
from rq import Queue

from tests.unit.helpers import KEYS, at, event
from threadwatch.runs.jobs import FAILED_JOB_TTL, FINISHED_JOB_TTL, RunJobs
from threadwatch.store import run_streams, runs
from threadwatch.store.run_records import OUTPUT_TTL_SECONDS
from threadwatch.store.run_streams import RunStreamWriter
from threadwatch.store.runs import Turn
from threadwatch.store.stores import Stores

THREAD = "00000000-0000-4000-8000-0000000000b1"
RUN = "00000000-0000-4000-9000-0000000000b1"
CAP = 5
# XADD MAXLEN ~ trims whole stream nodes (stream-node-max-entries: 100), so a stream capped
# at CAP holds at most this many entries; fakeredis trims as Redis does.
CAPPED = CAP + 100


def test_a_runs_stream_and_its_threads_are_capped_and_expire(
    fake_redis: FakeRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_streams, "STREAM_MAXLEN", CAP)
    monkeypatch.setattr(run_streams, "THREAD_STREAM_MAXLEN", CAP)
    writer = RunStreamWriter(fake_redis, KEYS, THREAD, RUN, ["updates"], True, True)
    for step in range(3 * CAPPED):
        writer.publish("updates", {"step": step})
    for key in (KEYS.run_stream(RUN), KEYS.thread_stream(THREAD)):
        assert fake_redis.xlen(key) <= CAPPED
        assert fake_redis.ttl(key) > 0


def test_the_thread_stream_the_events_write_is_capped(
    stores: Stores, fake_redis: FakeRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runs, "THREAD_STREAM_MAXLEN", CAP)
    stores.threads.create(THREAD)
    fake_redis.hset(KEYS.thread(THREAD), "watch", "99999999999999999")  # watched for ever
    events = []
    for i in range(2 * CAPPED):  # a start and an end each: at least two entries a run
        run_id = f"00000000-0000-4000-9000-{i:012x}"
        events += [
            event(THREAD, run_id, "run.started", at=at(2 * i)),
            event(THREAD, run_id, "run.succeeded", at=at(2 * i + 1)),
        ]
    stores.runs.apply(events)
    assert 0 < fake_redis.xlen(KEYS.thread_stream(THREAD)) <= CAPPED
    assert fake_redis.ttl(KEYS.thread_stream(THREAD)) > 0


def test_an_ended_runs_output_expires(stores: Stores, fake_redis: FakeRedis) -> None:
    stores.runs.records.keep_output(RUN, b"{}")(fake_redis)
    assert 0 < fake_redis.ttl(KEYS.run_output(RUN)) <= OUTPUT_TTL_SECONDS


def test_a_runs_job_is_kept_a_while_once_done(fake_redis: FakeRedis) -> None:
    job = RunJobs(Queue("runs", connection=fake_redis), run_timeout=60).enqueue(Turn(THREAD, RUN))
    assert (job.result_ttl, job.failure_ttl) == (FINISHED_JOB_TTL, FAILED_JOB_TTL)
    assert FINISHED_JOB_TTL <= 3600 and FAILED_JOB_TTL <= 86_400


def test_a_run_leaves_the_in_flight_indexes_when_it_ends(
    stores: Stores, fake_redis: FakeRedis
) -> None:
    stores.runs.apply([event(THREAD, RUN, "run.pending", at=at(1))])
    stores.runs.apply([event(THREAD, RUN, "run.started", at=at(2))])
    assert fake_redis.zscore(KEYS.leases(), RUN) is not None
    stores.runs.apply([event(THREAD, RUN, "run.failed", at=at(3))])
    for index in (KEYS.runs_in("pending"), KEYS.runs_in("running"), KEYS.leases()):
        assert fake_redis.zscore(index, RUN) is None
