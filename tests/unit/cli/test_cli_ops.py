"""The operator commands of app/cli/operator.py (sweep, threads search/get, stats, doctor) through
typer's CliRunner, on fakeredis: `_connect`, the factory every one of them uses, is
replaced by the unit-test stores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakeredis import FakeRedis
from typer.testing import CliRunner

from tests.unit.helpers import KEYS, event, make_stores
from threadwatch.cli import cli, human_duration, parse_metadata_filters
from threadwatch.cli import operator as cli_module
from threadwatch.cli.dev_record import DevRecord, write_record
from threadwatch.store.codec import now_us, thread_member, us_to_iso
from threadwatch.store.stores import Stores

T1, T2, T3 = (f"00000000-0000-4000-8000-0000000000a{i}" for i in (1, 2, 3))
R1, R2 = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"


@pytest.fixture
def runner(fake_redis: FakeRedis, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    """A runner whose commands see REDIS_URL set and talk to `fake_redis`."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.delenv("THREADWATCH_REDIS_URL", raising=False)
    monkeypatch.setenv("REDIS_URL", "redis://unused:6379/0")
    monkeypatch.delenv("COLUMNS", raising=False)  # output is not a terminal: 80 columns
    monkeypatch.setattr(cli_module, "_connect", lambda settings: make_stores(fake_redis))
    return CliRunner()


@pytest.fixture
def populated(stores: Stores) -> Stores:
    """T1 interrupted for an hour (team a, n 1), T2 busy (team b), T3 idle (team a)."""
    hour_ago = now_us() - 3600 * 1_000_000
    stores.threads.create(T1, {"team": "a", "n": 1})
    stores.threads.create(T2, {"team": "b"})
    stores.threads.create(T3, {"team": "a"})
    stores.runs.apply(
        [
            event(T1, R1, "run.started", at=us_to_iso(hour_ago)),
            event(T1, R1, "run.interrupted", at=us_to_iso(hour_ago + 1000)),
            event(T2, R2, "run.pending"),
        ]
    )
    return stores


def invoke(runner: CliRunner, *args: str) -> tuple[int, str]:
    result = runner.invoke(cli, list(args))
    return result.exit_code, result.output


def test_commands_need_redis_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("THREADWATCH_REDIS_URL", raising=False)
    for args in (["sweep"], ["stats"], ["doctor"], ["threads", "search"], ["threads", "get", "x"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2, args
        assert "REDIS_URL is not set" in result.output
        assert "no `threadwatch dev` is running in this folder" in result.output
        assert "Start `threadwatch dev` in this folder, or set REDIS_URL." in result.output


def test_a_stale_dev_record_is_named_not_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A dev killed without cleaning up left its record: nothing answers at its URL."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("THREADWATCH_REDIS_URL", raising=False)
    record = DevRecord(4242, "redis://127.0.0.1:1", "f" * 40, "http://127.0.0.1:8123")
    write_record(".threadwatch", record)
    result = CliRunner().invoke(cli, ["stats"])
    assert result.exit_code == 2
    assert "the `threadwatch dev` recorded in .threadwatch/dev.json (pid 4242) is no longer " in (
        result.output
    )
    assert "Start `threadwatch dev` in this folder, or set REDIS_URL." in result.output
    assert "Cannot reach" not in result.output


def test_unreachable_redis_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("THREADWATCH_REDIS_URL", raising=False)
    monkeypatch.setenv("REDIS_URL", "redis://:secret@127.0.0.1:1/0")
    result = CliRunner().invoke(cli, ["stats"])
    assert result.exit_code == 2
    assert "Cannot reach Redis at redis://:***@127.0.0.1:1/0" in result.output
    assert "secret" not in result.output


def test_search_interrupted_by_metadata_and_age(runner: CliRunner, populated: Stores) -> None:
    code, out = invoke(
        runner,
        "threads",
        "search",
        "--status",
        "interrupted",
        "--metadata",
        "team=a",
        "--metadata",
        "n=1",
        "--older-than",
        "15m",
    )
    assert code == 0, out
    assert T1 in out and T2 not in out and T3 not in out  # whole ids, even on 80 columns
    assert "interrupted" in out
    assert "1h" in out  # in status for about an hour
    assert '{"team":"a","n":1}' in out
    assert "1 thread" in out


def test_search_filters_exclude(runner: CliRunner, populated: Stores) -> None:
    # n is the number 1, not the text "1"; nothing has been interrupted for 2h.
    for args in (["--metadata", 'n="1"'], ["--status", "interrupted", "--older-than", "2h"]):
        code, out = invoke(runner, "threads", "search", *args)
        assert code == 0, out
        assert T1 not in out
        assert "0 threads" in out


def test_search_json_and_limit(runner: CliRunner, populated: Stores) -> None:
    code, out = invoke(runner, "threads", "search", "--metadata", "team=a", "--json")
    assert code == 0, out
    threads = json.loads(out)
    assert sorted(t["thread_id"] for t in threads) == [T1, T3]
    assert all(t["metadata"]["team"] == "a" for t in threads)
    code, out = invoke(runner, "threads", "search", "--limit", "1", "--sort-by", "thread_id")
    assert code == 0, out
    assert T3 in out and T1 not in out  # desc by thread_id
    assert "more" in out


def test_search_rejects_bad_options(runner: CliRunner) -> None:
    for args, message in (
        (["--older-than", "soon"], "invalid duration"),
        (["--metadata", "novalue"], "is not KEY=VALUE"),
        (["--status", "sleeping"], "sleeping"),
        (["--sort-by", "size"], "--sort-by"),
    ):
        code, out = invoke(runner, "threads", "search", *args)
        assert code == 2, args
        assert message in out, out


def test_get_prints_thread_history_and_runs(runner: CliRunner, populated: Stores) -> None:
    code, out = invoke(runner, "threads", "get", T1)
    assert code == 0, out
    assert f'"thread_id": "{T1}"' in out
    assert "Status changes" in out and "busy" in out and "interrupted" in out
    assert "Runs" in out and R1 in out and "success" in out

    code, out = invoke(runner, "threads", "get", T1, "--json")
    assert code == 0, out
    doc = json.loads(out)
    assert doc["thread"]["status"] == "interrupted"
    assert [t["to"] for t in doc["transitions"]] == ["interrupted", "busy"]
    assert [r["run_id"] for r in doc["runs"]] == [R1]


def test_get_history_and_runs_take_counts(runner: CliRunner, populated: Stores) -> None:
    code, out = invoke(runner, "threads", "get", "--help")
    assert code == 0, out
    text = " ".join(out.replace("│", " ").split())  # the help as words, outside its boxes
    assert "--history N and --runs N set how many of each (default 20)" in text
    assert "threadwatch threads get ID --history 50 --runs 5" in text
    assert "--history N [1<=x<=1000] Show the last N status changes (a number: --history 50)" in (
        text
    )
    assert "--runs N [1<=x<=1000] Show the last N runs (a number: --runs 5)" in text

    code, out = invoke(runner, "threads", "get", T1, "--history", "1", "--runs", "1", "--json")
    assert code == 0, out
    assert [t["to"] for t in json.loads(out)["transitions"]] == ["interrupted"]


def test_get_unknown_thread(runner: CliRunner) -> None:
    code, out = invoke(runner, "threads", "get", "nope")
    assert code == 1
    assert "Thread nope not found" in out


def test_stats(runner: CliRunner, populated: Stores, fake_redis: FakeRedis) -> None:
    fake_redis.zadd(KEYS.leases(), {"expired-run": 1, "live-run": now_us() + 60_000_000})
    code, out = invoke(runner, "stats")
    assert code == 0, out
    lines = {line.split("│")[1].strip(): line for line in out.splitlines() if "│" in line}
    assert "1h" in lines["interrupted"] and " 1 " in lines["interrupted"]
    assert " 1 " in lines["busy"] and " 1 " in lines["idle"] and " 0 " in lines["error"]
    assert " 1 " in lines["pending"] and " 0 " in lines["running"]
    assert " 1 " in lines["leases expired"]
    assert "Last sweep: never" in out

    code, out = invoke(runner, "stats", "--json")
    doc = json.loads(out)
    assert doc["threads"]["interrupted"]["count"] == 1
    assert 3500 < doc["threads"]["interrupted"]["oldest_seconds"] < 3700
    assert doc["threads"]["error"] == {"count": 0, "oldest_seconds": None}
    assert doc["total_threads"] == 3
    assert doc["runs"] == {"pending": 1, "running": 0}
    assert doc["leases_expired"] == 1


def test_sweep(runner: CliRunner, populated: Stores) -> None:
    code, out = invoke(runner, "sweep")
    assert code == 0, out
    assert "Sweep done in" in out and "expired threads deleted" in out
    code, out = invoke(runner, "sweep", "--json")
    assert code == 0, out
    assert set(json.loads(out)) == {
        "reclaimed",
        "requeued",
        "resumed",
        "expired",
        "expired_items",
        "trimmed_runs",
        "expired_runs",
        "alerts",
        "duration_ms",
    }
    code, out = invoke(runner, "stats")
    assert "Last sweep:" in out and "never" not in out


def test_doctor_clean_finds_fixes(
    runner: CliRunner, populated: Stores, fake_redis: FakeRedis
) -> None:
    code, out = invoke(runner, "doctor")
    assert code == 0, out
    assert "Checked 3 threads, 2 runs" in out and "No problems found." in out

    fake_redis.zrem(KEYS.status("idle"), thread_member(T3))
    fake_redis.zadd(KEYS.status("error"), {thread_member(T1): 1})
    team_b = fake_redis.hget(KEYS.leaf_ids(), KEYS.metadata_leaf('["team","b"]')).decode()
    fake_redis.sadd(KEYS.leaf_set("idle", team_b), thread_member(T1))
    fake_redis.zadd(
        KEYS.order("updated_at"), {thread_member("00000000-0000-4000-8000-00000000dead"): 1}
    )
    fake_redis.hset(KEYS.thread(T3), "inflight", 2)
    code, out = invoke(runner, "doctor")
    assert code == 1, out
    for name in ("status_missing", "status_extra", "leaf_stale", "order_dangling", "inflight"):
        assert name in out
    assert T3 in out and "dead" in out
    assert KEYS.leaf_set("idle", team_b) in out  # key names print as they are: no emoji
    assert "doctor --fix" in out

    code, out = invoke(runner, "doctor", "--fix")
    assert code == 0, out
    assert "Fixed 5 of 5 problems." in out
    assert "The verifying check found no problems." in out
    code, out = invoke(runner, "doctor")
    assert code == 0 and "No problems found." in out


def test_doctor_exit_1_when_problems_remain(runner: CliRunner, fake_redis: FakeRedis) -> None:
    make_stores(fake_redis).threads.create(T1, {})
    fake_redis.hset(KEYS.thread(T1), "status", "weird")
    code, out = invoke(runner, "doctor", "--fix")
    assert code == 1, out
    assert "malformed_thread" in out and "Still found after the repair" in out


def test_doctor_output_copies_cleanly(
    runner: CliRunner, populated: Stores, fake_redis: FakeRedis
) -> None:
    """Each example prints whole on a line of its own, without borders or folding, even on
    a terminal narrower than it; --json prints the report."""
    fake_redis.zrem(KEYS.status("idle"), thread_member(T3))
    result = runner.invoke(cli, ["doctor"], env={"COLUMNS": "30"})
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert f"  {T3}: idle, in none" in lines
    assert not set("│┃─━") & set(result.output)

    code, out = invoke(runner, "doctor", "--json")
    assert code == 1, out
    report = json.loads(out)
    assert report["threads"] == 3 and report["clean"] is False
    assert report["problems"]["status_missing"]["examples"] == [f"{T3}: idle, in none"]
    code, out = invoke(runner, "doctor", "--fix", "--json")
    assert code == 0, out
    report = json.loads(out)
    assert report["problems"]["status_missing"]["fixed"] == 1
    assert report["remaining"]["problems"] == {} and report["clean"] is True


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (3.7, "3s"), (75, "1m 15s"), (3600, "1h"), (4000, "1h 6m"), (90061, "1d 1h")],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_metadata_values_are_json_when_valid() -> None:
    parsed = parse_metadata_filters(["team=a", "n=1", "ok=true", 's="1"', "x=", "eq=a=b"])
    assert parsed == {"team": "a", "n": 1, "ok": True, "s": "1", "x": "", "eq": "a=b"}


def test_prune_deletes_every_match_in_batches(
    runner: CliRunner, stores: Stores, fake_redis: FakeRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_module, "PRUNE_BATCH", 7)  # several pages
    doomed = [stores.threads.create(None, {"team": "old"})["thread_id"] for _ in range(20)]
    kept = stores.threads.create(None, {"team": "new"})["thread_id"]
    code, output = invoke(runner, "threads", "prune", "-m", "team=old", "--yes")
    assert code == 0, output
    assert "Pruned 20 threads (delete)." in output
    assert not any(fake_redis.exists(KEYS.thread(t)) for t in doomed)
    assert fake_redis.exists(KEYS.thread(kept))


def test_prune_needs_a_filter_and_a_confirmation(runner: CliRunner, stores: Stores) -> None:
    stores.threads.create(T1, {"team": "a"})
    code, output = invoke(runner, "threads", "prune")
    assert code == 2 and "--status" in output
    result = runner.invoke(cli, ["threads", "prune", "-m", "team=a"], input="n\n")
    assert result.exit_code == 1 and "Prune (delete) 1 threads?" in result.output
    assert stores.threads.exists(T1)


def test_prune_keep_latest_keeps_the_threads(runner: CliRunner, populated: Stores) -> None:
    code, output = invoke(
        runner, "threads", "prune", "-m", "team=a", "--strategy", "keep_latest", "--yes"
    )
    assert code == 0 and "Pruned 2 threads (keep_latest)." in output
    assert populated.threads.exists(T1) and populated.threads.exists(T3)
