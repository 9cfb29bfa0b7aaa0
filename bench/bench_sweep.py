"""One sweep's Redis time with 1,000,000 threads (the issue's target: <= 50 ms).

    cd /work/main && PYTHONPATH=. /work/venv/bin/python bench/bench_sweep.py
    cd /work/main && PYTHONPATH=. /work/venv/bin/python bench/bench_sweep.py --threads 100000

The data set: N threads over the status sets (99% idle, 10,000 interrupted of which 100
entered `interrupted` more than an hour ago), a `team` metadata leaf set per thread (4
teams; the 100 old ones are all team=support), thread hashes for the interrupted threads,
5,000 running runs with live leases and 100,000 thread TTLs due in a day. The sweep runs
`threadwatch.ops.sweeper.run_sweep` with one alert rule ("interrupted for more than 15
minutes with team=support", webhook queued, not delivered): the first sweep fires 100
alerts, the next ones find nothing new. Redis time is the server's main-thread CPU time
(INFO cpu) per sweep, which counts script and direct commands alike. It starts its own
embedded Valkey.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `app` and `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson  # noqa: E402
from redis import Redis  # noqa: E402

from bench import servers  # noqa: E402
from bench.bench_core import load_note, note, table  # noqa: E402
from threadwatch.ops.sweeper import run_sweep  # noqa: E402
from threadwatch.settings import Settings  # noqa: E402
from threadwatch.store.codec import thread_member  # noqa: E402
from threadwatch.store.keys import Keys  # noqa: E402
from threadwatch.store.metadata_index import metadata_leaves  # noqa: E402

PREFIX = "tw:"
TEAMS = ("support", "sales", "eng", "ops")
CHUNK = 10_000
US = 1_000_000
RULE = {
    "name": "support-waiting",
    "status": "interrupted",
    "older_than": "15m",
    "metadata": {"team": "support"},
    "webhook": "http://127.0.0.1:9/hooks/stuck",
}


def seed(redis: Redis, keys: Keys, n: int, interrupted: int, old: int) -> None:
    """Status sets, team leaf sets, interrupted thread hashes, leases and TTLs."""
    now = int(time.time() * US)
    rng = random.Random(7)
    pipe = redis.pipeline(transaction=False)
    # Leaf ids 1.. for the teams (lua/lib/leaf_sets.lua); the index holds 16-byte members.
    team_id = {t: str(i) for i, t in enumerate(TEAMS, 1)}
    for team, leaf_id in team_id.items():
        (leaf,) = metadata_leaves({"team": team})
        pipe.hset(keys.leaf_ids(), keys.metadata_leaf(leaf), leaf_id)
    pipe.hset(keys.leaf_ids(), mapping={"#next": len(TEAMS), "#sets": "1"})
    for start in range(0, n, CHUNK):
        idle: dict[str, int] = {}
        stuck: dict[str, int] = {}
        teams: dict[tuple[str, str], list[bytes]] = {}
        for i in range(start, min(n, start + CHUNK)):
            thread_id = f"{i:08x}-0000-4000-8000-000000000000"
            team = "support" if i < old else TEAMS[i % len(TEAMS)]
            status = "interrupted" if i < interrupted else "idle"
            teams.setdefault((status, team), []).append(thread_member(thread_id))
            if i < interrupted:
                since = now - (2 * 3600 * US if i < old else rng.randrange(60, 600) * US)
                stuck[thread_member(thread_id)] = since
                pipe.hset(
                    keys.thread(thread_id),
                    mapping={
                        "status": "interrupted",
                        "status_since": since,
                        "created_at": since,
                        "updated_at": since,
                        "metadata": orjson.dumps({"team": team}),
                        "interrupts": b'{"t":[{"value":"approve?"}]}',
                        "mver": "1",
                    },
                )
            else:
                idle[thread_member(thread_id)] = now - rng.randrange(86_400) * US
        if idle:
            pipe.zadd(keys.status("idle"), idle)
        if stuck:
            pipe.zadd(keys.status("interrupted"), stuck)
        for (status, team), ids in teams.items():
            pipe.sadd(keys.leaf_set(status, team_id[team]), *ids)
        pipe.execute()
    pipe.zadd(keys.leases(), {f"run-{i}": now + 3600 * US for i in range(5_000)})
    pipe.zadd(keys.runs_in("running"), {f"run-{i}": now for i in range(5_000)})
    for start in range(0, 100_000, CHUNK):
        ttl = {
            thread_member(f"{i:08x}-0000-4000-8000-000000000000"): now + 86_400 * US
            for i in range(start, start + CHUNK)
        }
        pipe.zadd(keys.ttl(), ttl)
        pipe.execute()


def redis_cpu(redis: Redis) -> float:
    """Seconds of CPU the server's main thread has used so far."""
    cpu = redis.info("cpu")
    if "used_cpu_user_main_thread" in cpu:
        return cpu["used_cpu_user_main_thread"] + cpu["used_cpu_sys_main_thread"]
    return cpu["used_cpu_user"] + cpu["used_cpu_sys"]


def timed_sweep(redis: Redis, settings: Settings) -> tuple[float, float, int]:
    """(wall ms, Redis CPU ms, alerts queued) of one sweep."""
    cpu0, wall0 = redis_cpu(redis), time.perf_counter()
    report = run_sweep(redis, settings)
    wall = (time.perf_counter() - wall0) * 1000
    return wall, (redis_cpu(redis) - cpu0) * 1000, report.alerts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1_000_000)
    parser.add_argument("--interrupted", type=int, default=10_000)
    parser.add_argument("--old", type=int, default=100)
    parser.add_argument("--sweeps", type=int, default=30)
    args = parser.parse_args(argv)

    load_note("start")
    server = servers.start_embedded()
    try:
        redis = Redis.from_url(server.url)
        keys = Keys(PREFIX)
        started = time.perf_counter()
        seed(redis, keys, args.threads, args.interrupted, args.old)
        note(
            f"seeded {args.threads:,} threads ({args.interrupted:,} interrupted, {args.old} "
            f"for more than an hour) in {time.perf_counter() - started:.1f} s"
        )
        settings = Settings(
            redis_url=server.url,
            key_prefix=PREFIX,
            alert_rules=[RULE],
            webhook_allow_private=True,
        )
        first = timed_sweep(redis, settings)
        steady = [timed_sweep(redis, settings) for _ in range(args.sweeps)]
        rows = [
            ["first sweep (fires the alerts)", first[0], first[1], first[2]],
            [
                f"next {args.sweeps} sweeps, median",
                statistics.median(s[0] for s in steady),
                statistics.median(s[1] for s in steady),
                sum(s[2] for s in steady),
            ],
            [
                f"next {args.sweeps} sweeps, max",
                max(s[0] for s in steady),
                max(s[1] for s in steady),
                "",
            ],
        ]
        table(
            ["sweep", "wall ms", "Redis CPU ms", "alerts"],
            rows,
            title=f"one sweep with {args.threads:,} threads, target <= 50 ms of Redis time",
        )
        load_note("end")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
