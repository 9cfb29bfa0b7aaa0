"""GET /metrics scrape time with 1,000,000 threads (the issue's target: <= 50 ms).

    cd /work/main && PYTHONPATH=. /work/venv/bin/python bench/bench_metrics.py
    cd /work/main && PYTHONPATH=. /work/venv/bin/python bench/bench_metrics.py --threads 100000

A scrape reads only indexes (status sets, run indexes, leases, RQ queues, alert state, the
sweeper and metrics hashes), never a thread hash, so the data set is those indexes at full
size, written directly: N thread ids over the status sets (70% idle, 15% interrupted, 10%
error, 5% busy, as in bench_core), a run and a lease per busy thread (a tenth of the leases
expired), a full metrics hash, alert state for a few rules and jobs in the queues. Timed:
the collector in-process (with Redis server time from INFO commandstats) and GET /metrics
through the real API (uvicorn subprocess). It starts its own embedded Valkey.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `app` and `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
from prometheus_client import CollectorRegistry, generate_latest  # noqa: E402
from redis import Redis  # noqa: E402

from bench import servers  # noqa: E402
from bench.bench_core import load_note, note, table, time_calls  # noqa: E402
from threadwatch.api.routes.metrics import QUEUES  # noqa: E402
from threadwatch.ops.metrics import MetricsCollector  # noqa: E402
from threadwatch.store.counters import HISTOGRAMS, OUTCOMES, STATUSES, field  # noqa: E402
from threadwatch.store.keys import Keys  # noqa: E402

PREFIX = "tw:"
RULES = tuple(f"rule-{i}" for i in range(5))
SHARES = {"idle": 0.70, "interrupted": 0.15, "error": 0.10, "busy": 0.05}
CHUNK = 10_000
US = 1_000_000


def seed(redis: Redis, keys: Keys, n: int, rng: random.Random) -> dict[str, int]:
    """The indexes a scrape reads, for n threads; returns the status set sizes."""
    now_us = int(time.time() * US)
    sizes = dict.fromkeys(STATUSES, 0)
    statuses = list(SHARES)
    weights = list(SHARES.values())
    busy: list[str] = []
    pipe = redis.pipeline(transaction=False)
    for start in range(0, n, CHUNK):
        members: dict[str, dict[str, int]] = {s: {} for s in STATUSES}
        for i in range(start, min(n, start + CHUNK)):
            status = rng.choices(statuses, weights)[0]
            members[status][f"{i:032x}"] = now_us - rng.randrange(86_400 * US)
        for status, batch in members.items():
            if batch:
                pipe.zadd(keys.status(status), batch)
                sizes[status] += len(batch)
        busy.extend(members["busy"])
        pipe.execute()
    for start in range(0, len(busy), CHUNK):
        runs = {f"run-{t}": now_us for t in busy[start : start + CHUNK]}
        pipe.zadd(keys.runs_in("running"), runs)
        leases = {r: now_us + (-US if rng.random() < 0.1 else 30 * US) for r in runs}
        pipe.zadd(keys.leases(), leases)
        pipe.execute()
    counters: dict[str, int | float] = {}
    for a in STATUSES:
        for b in STATUSES:
            counters[field("transitions", a, b)] = rng.randrange(10**6)
    for name, buckets in HISTOGRAMS.items():
        for bound in buckets:
            counters[field(name, "le", bound)] = rng.randrange(10**5)
        counters[field(name, "sum")] = rng.random() * 10**6
        counters[field(name, "count")] = rng.randrange(10**6)
    for kind in ("run", "alert"):
        for outcome in OUTCOMES:
            counters[field("webhooks", kind, outcome)] = rng.randrange(10**4)
    for rule in RULES:
        for outcome in OUTCOMES:
            counters[field("alerts", rule, outcome)] = rng.randrange(10**3)
        for kind in ("firing", "renotify", "resolved"):
            counters[field("alerts_fired", rule, kind)] = rng.randrange(10**3)
        pipe.hset(keys.alert_state(rule), mapping={f"t{j}": "{}" for j in range(100)})
    pipe.hset(keys.metrics(), mapping=counters)
    pipe.hset(keys.sweeper(), mapping={"last_finished_at": now_us, "last_duration_ms": 3})
    for queue in QUEUES:
        pipe.rpush(f"rq:queue:{queue}", *(f"job-{j}" for j in range(50)))
    pipe.execute()
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1_000_000)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    load_note("start")
    server = servers.start_embedded()
    api = None
    try:
        redis = Redis.from_url(server.url)
        keys = Keys(PREFIX)
        started = time.perf_counter()
        sizes = seed(redis, keys, args.threads, random.Random(args.seed))
        note(f"seeded {args.threads:,} thread ids in {time.perf_counter() - started:.1f} s")
        note("status sets: " + ", ".join(f"{s} {c:,}" for s, c in sizes.items()))

        collector = MetricsCollector(redis, keys, queues=QUEUES, rules=RULES)
        registry = CollectorRegistry()
        registry.register(collector)
        body = generate_latest(registry)
        lines = sum(1 for line in body.splitlines() if not line.startswith(b"#"))

        local = time_calls(
            lambda _: generate_latest(registry), lambda i: i, args.iterations, 20, redis=redis
        )
        api = servers.start_api(server.url, PREFIX)
        with httpx.Client(base_url=api.url, timeout=10.0) as http:
            assert http.get("/metrics").status_code == 200

            def scrape(_: int) -> None:
                response = http.get("/metrics")
                assert response.status_code == 200

            remote = time_calls(scrape, lambda i: i, args.iterations, 20, redis=redis)
        rows = [
            ["collector + generate_latest", local.p50, local.p99, local.max, local.redis_ms],
            ["GET /metrics (uvicorn)", remote.p50, remote.p99, remote.max, remote.redis_ms],
        ]
        table(
            ["scrape", "p50 ms", "p99 ms", "max ms", "Redis ms"],
            rows,
            title=f"/metrics with {args.threads:,} threads ({lines} samples, "
            f"{len(body):,} bytes), target <= 50 ms",
        )
        verdict = "PASS" if remote.p99 <= 50 else "FAIL"
        note(f"{verdict}: GET /metrics p99 {remote.p99:.1f} ms (target <= 50 ms)")
        load_note("end")
    finally:
        if api is not None:
            api.stop()
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
