"""The operator commands as an operator runs them: `python -m threadwatch.cli ...` subprocesses on
the integration Redis (real SCAN TYPE, ZMSCORE and Lua, unlike fakeredis)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import redis

from tests.support import server_env
from tests.unit.helpers import event, make_stores
from threadwatch.cli.dev_record import DevRecord, write_record
from threadwatch.store.codec import now_us, thread_member, us_to_iso
from threadwatch.store.integrity import Doctor
from threadwatch.store.keys import Keys

T1, T2 = "00000000-0000-4000-8000-0000000000c1", "00000000-0000-4000-8000-0000000000c2"
GHOST = "00000000-0000-4000-8000-00000000dead"
R1 = "00000000-0000-4000-8000-0000000000d1"
KEYS = Keys()


def threadwatch(redis_url: str | None, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`threadwatch *args` in `cwd`, on `redis_url` (None: without any Redis URL set)."""
    return subprocess.run(
        [sys.executable, "-m", "threadwatch.cli", *args],
        cwd=cwd,
        env=server_env(redis_url),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def populate(client: redis.Redis) -> None:
    stores = make_stores(client)
    stores.threads.create(T1, {"team": "a", "n": 1})
    stores.threads.create(T2, {"team": "a"})
    long_ago = now_us() - 20 * 60 * 1_000_000
    stores.runs.apply(
        [
            event(T1, R1, "run.started", at=us_to_iso(long_ago)),
            event(T1, R1, "run.interrupted", at=us_to_iso(long_ago + 1000)),
        ]
    )


def test_threads_search_and_get(redis_client: redis.Redis, redis_url: str, tmp_path: Path) -> None:
    populate(redis_client)
    args = ["threads", "search", "--status", "interrupted", "--metadata", "team=a"]
    result = threadwatch(redis_url, tmp_path, *args, "--metadata", "n=1", "--older-than", "15m")
    assert result.returncode == 0, result.stderr
    assert T1 in result.stdout and T2 not in result.stdout
    assert "interrupted" in result.stdout and "20m" in result.stdout
    assert "1 thread" in result.stdout

    result = threadwatch(redis_url, tmp_path, *args, "--older-than", "1h", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []

    result = threadwatch(redis_url, tmp_path, "threads", "get", T1, "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["thread"]["metadata"] == {"team": "a", "n": 1}
    assert [r["run_id"] for r in doc["runs"]] == [R1]


def test_stats_sweep_and_doctor(redis_client: redis.Redis, redis_url: str, tmp_path: Path) -> None:
    populate(redis_client)
    result = threadwatch(redis_url, tmp_path, "stats", "--json")
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)
    assert stats["threads"]["interrupted"]["count"] == 1
    assert stats["threads"]["idle"]["count"] == 1

    result = threadwatch(redis_url, tmp_path, "sweep")
    assert result.returncode == 0, result.stderr
    assert "Sweep done in" in result.stdout

    result = threadwatch(redis_url, tmp_path, "doctor")
    assert result.returncode == 0, result.stderr
    assert "Checked 2 threads, 1 runs" in result.stdout

    redis_client.zrem(KEYS.status("idle"), thread_member(T2))
    redis_client.zadd(KEYS.status("error"), {thread_member(T2): 1})
    n_1 = redis_client.hget(KEYS.leaf_ids(), KEYS.metadata_leaf('["n",1]')).decode()
    redis_client.sadd(KEYS.leaf_set("interrupted", n_1), thread_member(T2))
    redis_client.zadd(KEYS.order("created_at"), {thread_member(GHOST): 1})
    redis_client.hset(KEYS.thread(T1), "inflight", 4)
    result = threadwatch(redis_url, tmp_path, "doctor")
    assert result.returncode == 1
    for name in ("status_missing", "status_extra", "leaf_stale", "order_dangling", "inflight"):
        assert name in result.stdout

    result = threadwatch(redis_url, tmp_path, "doctor", "--fix")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Fixed 5 of 5 problems." in result.stdout
    assert Doctor(redis_client, KEYS).check().clean


def test_without_redis_url_the_dev_record_of_the_folder_is_used(
    redis_client: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    """The record `threadwatch dev` writes in .threadwatch/ is used while the server it names
    answers with the run id recorded, and only then."""
    populate(redis_client)
    run_id = redis_client.info("server")["run_id"]
    write_record(tmp_path / ".threadwatch", DevRecord(1, redis_url, run_id, "http://x"))
    result = threadwatch(None, tmp_path, "threads", "get", T1, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["thread"]["metadata"] == {"team": "a", "n": 1}

    # The port now belongs to another server (or to one restarted since): not ours.
    write_record(tmp_path / ".threadwatch", DevRecord(1, redis_url, "0" * 40, "http://x"))
    result = threadwatch(None, tmp_path, "threads", "get", T1, "--json")
    assert result.returncode == 2
    assert "(pid 1) is no longer running" in result.stderr
    assert result.stdout == ""


def test_doctor_on_many_threads(redis_client: redis.Redis) -> None:
    """Batches over a few thousand threads on a real server, two of them broken."""
    stores = make_stores(redis_client)
    pipe_ids = [f"00000000-0000-4000-8000-{i:012d}" for i in range(3000)]
    for thread_id in pipe_ids:
        stores.threads.create(thread_id, {"shard": int(thread_id[-1])})
    redis_client.zrem(KEYS.status("idle"), thread_member(pipe_ids[10]))
    shard_7 = redis_client.hget(KEYS.leaf_ids(), KEYS.metadata_leaf('["shard",7]')).decode()
    redis_client.srem(KEYS.leaf_set("idle", shard_7), thread_member(pipe_ids[2007]))
    report = Doctor(redis_client, KEYS, batch=500).fix()
    assert report.threads == 3000
    assert {p.name: p.found for p in report.found_problems()} == {
        "status_missing": 1,
        "leaf_missing": 1,
    }
    assert report.clean
