"""threadwatch soak: sustained run events and searches; latency per window, memory flat.

    .venv/bin/python bench/bench_soak.py --quick   # 2 minutes, 5,000 threads
    .venv/bin/python bench/bench_soak.py           # 10 minutes, 20,000 threads

It starts its own Redis (embedded Valkey), the API (uvicorn, 1 worker) and a `threadwatch
worker`, which runs no runs but sweeps (`--no-worker`: the API's watchdog sweeps), creates a
fixed working set of threads (bench/workload.py's data set), then for `--minutes` posts run
lifecycles to `POST /runs/events` at `--rate` events/s and searches `POST /threads/search`
at `--search-rate`/s from client processes, all paced (open loop). Every `--sample` seconds
it reads Redis's used_memory and the API's RSS. It prints one row per 30 s window, a verdict
per criterion, the sweeps seen and what grew in Redis; see
bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import re
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `app` and `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
import orjson  # noqa: E402
from redis import Redis  # noqa: E402

from bench import servers  # noqa: E402
from bench import workload as wl  # noqa: E402
from bench.bench_core import SEARCH_SHAPES, Latency, load_note, note, table  # noqa: E402
from bench.bench_runs import process_tree  # noqa: E402
from bench.cpu import CpuWatch  # noqa: E402

MB = 1024 * 1024
WINDOW_SECONDS = 30.0
# The search shapes of bench_core whose targets the issue names: selective, medium, unselective.
SOAK_SHAPES = [s for s in SEARCH_SHAPES if s.targeted]
# Run-id rounds of the soak's cycles start here (bench/workload.py uses 0-2).
ROUND_SOAK = 100
P99_LIMIT_MS = 20.0
# A search client this late on its schedule skips the missed searches instead of sending
# them back to back (the searches/s column shows the shortfall).
MAX_LAG_SECONDS = 0.5
# Memory is flat when, over the last third of the run, its least-squares slope extrapolated
# to 10 minutes is under this share of its level (or FLAT_FLOOR_MB, whichever is larger).
FLAT_SHARE = 0.05
FLAT_FLOOR_MB = 2.0


@dataclass(frozen=True)
class Config:
    threads: int
    minutes: float
    rate: float
    search_rate: float
    batch: int
    runs_kept: int
    history_kept: int
    worker: bool
    api_workers: int
    search_clients: int
    sample_seconds: float
    seed: int
    quick: bool


# -- the client processes ----------------------------------------------------------------


def cycle_events(ds: wl.Dataset, cycle: int, lo: int, hi: int) -> list[dict[str, str]]:
    """The events of threads lo..hi-1 in one cycle: each gets a new run that starts and
    ends with the thread's status (bench/workload.py's distribution). A busy thread ends the
    previous cycle's run and starts this one, so it stays busy with one run in flight."""
    events = []
    for i in range(lo, hi):
        thread_id, run_id = ds.thread_id(i), ds.run_id(i, ROUND_SOAK + cycle)
        terminal = wl.LOAD_EVENT[ds.status(i)]
        if terminal == "run.started":
            previous = ds.run_id(i, ROUND_SOAK + cycle - 1) if cycle else ds.run_id(i, 0)
            events.append({"thread_id": thread_id, "run_id": previous, "type": "run.succeeded"})
            events.append({"thread_id": thread_id, "run_id": run_id, "type": "run.started"})
            continue
        events.append({"thread_id": thread_id, "run_id": run_id, "type": "run.started"})
        events.append({"thread_id": thread_id, "run_id": run_id, "type": terminal})
    return events


def event_client(
    api_url: str, cfg: Config, start_at: float, seconds: float
) -> list[tuple[float, int, int]]:
    """POST the working set's cycles to /runs/events, ``cfg.batch`` events a request, paced
    at ``cfg.rate`` (a request late on its schedule goes at once). Per request: (wall time
    answered, events, applied)."""
    ds = wl.Dataset(cfg.threads, cfg.seed)
    threads_per_batch = max(1, cfg.batch // 2)
    interval = threads_per_batch * 2 / cfg.rate
    done: list[tuple[float, int, int]] = []
    headers = {"content-type": "application/json"}
    with httpx.Client(base_url=api_url, timeout=60.0, headers=headers) as client:
        client.get("/ok").raise_for_status()
        wl._wait_until(start_at)
        end, sent, lo, cycle = start_at + seconds, 0, 0, 0
        while True:
            due = start_at + sent * interval
            if due >= end:
                return done
            if (delay := due - time.time()) > 0:
                time.sleep(delay)
            hi = min(lo + threads_per_batch, cfg.threads)
            events = cycle_events(ds, cycle, lo, hi)
            response = client.post("/runs/events", content=orjson.dumps({"events": events}))
            response.raise_for_status()
            results = orjson.loads(response.content)["results"]
            applied = sum(r["result"] == "applied" for r in results)
            done.append((time.time(), len(events), applied))
            sent += 1
            lo = hi if hi < cfg.threads else 0
            cycle += hi >= cfg.threads


def search_client(
    api_url: str, cfg: Config, start_at: float, seconds: float, client_no: int = 0
) -> list[tuple[float, float]]:
    """POST /threads/search at this client's share of ``cfg.search_rate``, the soak shapes
    in turn with random values (bench_core's); per search: (wall time sent, seconds to the
    answer)."""
    rngs = [wl_rng(f"{shape.name}/{client_no}", cfg.seed) for shape in SOAK_SHAPES]
    interval = cfg.search_clients / cfg.search_rate
    start_at += client_no * interval / cfg.search_clients  # the clients' searches interleave
    done: list[tuple[float, float]] = []
    headers = {"content-type": "application/json"}
    with httpx.Client(base_url=api_url, timeout=60.0, headers=headers) as client:
        client.get("/ok").raise_for_status()
        wl._wait_until(start_at)
        end, sent, slot = start_at + seconds, 0, 0
        while True:
            due = start_at + slot * interval
            if due >= end:
                return done
            if (delay := due - time.time()) > 0:
                time.sleep(delay)
            elif -delay > MAX_LAG_SECONDS:  # starved of CPU: skip the missed slots, no burst
                slot += int(-delay / interval)
            k = sent % len(SOAK_SHAPES)
            body = orjson.dumps(SOAK_SHAPES[k].body(rngs[k]))
            began, clock = time.time(), time.perf_counter()
            client.post("/threads/search", content=body).raise_for_status()
            done.append((began, time.perf_counter() - clock))
            sent, slot = sent + 1, slot + 1


def wl_rng(name: str, seed: int) -> random.Random:
    return random.Random(f"soak/{name}/{seed}")


def warm(seconds: float) -> int:
    """Start a pool process (and import this module in it)."""
    return wl.warm(seconds)


# -- sampling ------------------------------------------------------------------------------


def rss_bytes(pids: Sequence[int]) -> int:
    """Resident memory of these processes, summed (VmRSS from /proc)."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


@dataclass(frozen=True)
class Sample:
    at: float
    redis_used: int
    redis_keys: int
    api_rss: int
    # The last sweep's report (tw:sweeper): when it finished (µs), ms, old runs deleted.
    sweep: tuple[int, float, int] | None


def sample(redis: Redis, api_pid: int) -> Sample:
    info = redis.info("memory")
    swept = redis.hmget("tw:sweeper", ["last_finished_at", "last_duration_ms", "trimmed_runs"])
    sweep = None
    if swept[0] is not None:
        sweep = (int(swept[0]), float(swept[1] or 0), int(swept[2] or 0))
    rss = rss_bytes(process_tree(api_pid))
    return Sample(time.time(), int(info["used_memory"]), int(redis.dbsize()), rss, sweep)


def print_sweeps(samples: list[Sample], searches: list[tuple[float, float]]) -> None:
    """The sweeps seen (each sampled once at least when they are further apart than the
    samples), and search latency while one ran against the rest."""
    sweeps = sorted({s.sweep for s in samples if s.sweep is not None})
    if not sweeps:
        return
    spans = [(end / 1e6 - ms / 1000, end / 1e6) for end, ms, _ in sweeps]
    during = [lat for t, lat in searches if any(a <= t <= b for a, b in spans)]
    outside = [lat for t, lat in searches if not any(a <= t <= b for a, b in spans)]
    durations = Latency([ms / 1000 for _, ms, _ in sweeps])
    trimmed = sum(n for *_, n in sweeps) / len(sweeps)
    rows = [
        ["sweeps seen", len(sweeps)],
        ["sweep duration p50 / max, ms", f"{durations.p50:,.0f} / {durations.max:,.0f}"],
        ["old runs deleted per sweep, mean", trimmed],
    ]
    for label, latencies in (("while a sweep ran", during), ("otherwise", outside)):
        if latencies:
            lat = Latency(latencies)
            rows.append([f"search p50 / p99 {label}, ms", f"{lat.p50:.2f} / {lat.p99:.2f}"])
    table(["sweeps", ""], rows, "Sweeps")


UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
NUMBER = re.compile(rb"[0-9]{6,}")  # time slots in job ids


def key_census(redis: Redis) -> dict[str, tuple[int, int]]:
    """Keys by kind (their names with ids as ``{id}``, numbers as ``{n}``): (count, bytes
    by MEMORY USAGE)."""
    census: dict[str, list[int]] = {}
    names = list(redis.scan_iter(count=10_000))
    for start in range(0, len(names), 1000):
        chunk = names[start : start + 1000]
        pipe = redis.pipeline(transaction=False)
        for name in chunk:
            pipe.memory_usage(name, samples=0)
        for name, used in zip(chunk, pipe.execute(), strict=True):
            kind = NUMBER.sub(b"{n}", UUID.sub(b"{id}", name)).decode(errors="replace")
            entry = census.setdefault(kind, [0, 0])
            entry[0] += 1
            entry[1] += used or 0
    return {kind: (count, used) for kind, (count, used) in census.items()}


def print_census(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> None:
    """The key kinds whose count or size changed, largest growth first."""
    rows = []
    for kind in sorted(set(before) | set(after)):
        (n0, b0), (n1, b1) = before.get(kind, (0, 0)), after.get(kind, (0, 0))
        if (n0, b0) != (n1, b1):
            rows.append([kind, n0, n1, b0 / MB, b1 / MB, (b1 - b0) / MB])
    rows.sort(key=lambda row: -abs(row[-1]))
    table(
        ["key kind", "keys after load", "keys at end", "MB after load", "MB at end", "MB grown"],
        rows[:20],
        "Redis keys by kind: after the load, and at the end",
    )


def slope_per_10min(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value), times 600."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    var = sum((t - mx) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    return sum((t - mx) * (v - my) for t, v in points) / var * 600


# -- the soak ------------------------------------------------------------------------------


class Soak:
    def __init__(self, cfg: Config, server: servers.Server) -> None:
        self.cfg = cfg
        self.server = server
        self.prefix = "tw:"
        self.redis = Redis.from_url(server.url)
        self.api: servers.Server | None = None
        self.worker: servers.Server | None = None
        self.samples: list[Sample] = []

    def load(self) -> None:
        cfg = self.cfg
        began = time.perf_counter()
        wl.create_threads(self.server.url, self.prefix, cfg.threads, cfg.seed, 0, cfg.threads)
        wl.emit_load_events(self.server.url, self.prefix, cfg.threads, cfg.seed, 0, cfg.threads)
        note(f"loaded {cfg.threads:,} threads in {time.perf_counter() - began:.1f} s")

    def settings_env(self) -> dict[str, str]:
        return {
            "THREADWATCH_RUNS_KEPT_PER_THREAD": str(self.cfg.runs_kept),
            "THREADWATCH_STATUS_HISTORY_LIMIT": str(self.cfg.history_kept),
        }

    def start_api(self) -> servers.Server:
        env, workers = self.settings_env(), self.cfg.api_workers
        self.api = servers.start_api(self.server.url, self.prefix, workers, env=env)
        return self.api

    def start_worker(self) -> None:
        """A `threadwatch worker`: with one alive, it sweeps and the API's watchdog does not
        (no graphs: it runs no runs)."""
        argv = [sys.executable, "-m", "threadwatch.cli", "worker"]
        env = servers.app_env(self.server.url, self.prefix, self.settings_env())
        self.worker = servers.start_process(argv, env, "worker")
        deadline = time.monotonic() + 30
        while not self.redis.hexists("tw:sweeper", "last_finished_at"):
            if time.monotonic() > deadline:
                raise SystemExit(f"the worker did not sweep:\n{self.worker.log_tail()}")
            time.sleep(0.2)

    def run(self) -> tuple[list[tuple[float, int, int]], list[tuple[float, float]], float]:
        """Drive the load; sample memory meanwhile. Returns the clients' records and the
        start time."""
        cfg, api = self.cfg, self.start_api()
        if cfg.worker:
            self.start_worker()
        assert api.process is not None
        seconds = cfg.minutes * 60
        spawn = multiprocessing.get_context("spawn")
        clients = 1 + cfg.search_clients
        with ProcessPoolExecutor(clients, mp_context=spawn) as pool:
            list(pool.map(warm, [0.5] * clients))
            start_at = time.time() + 2.0
            events = pool.submit(event_client, api.url, cfg, start_at, seconds)
            searchers = [
                pool.submit(search_client, api.url, cfg, start_at, seconds, k)
                for k in range(cfg.search_clients)
            ]
            wl._wait_until(start_at)
            next_note = start_at + WINDOW_SECONDS
            while not all(f.done() for f in (events, *searchers)):
                self.samples.append(sample(self.redis, api.process.pid))
                if time.time() >= next_note:
                    last = self.samples[-1]
                    note(
                        f"  {last.at - start_at:5.0f} s: Redis {last.redis_used / MB:7.1f} MB, "
                        f"{last.redis_keys:,} keys; API RSS {last.api_rss / MB:6.1f} MB"
                    )
                    next_note += WINDOW_SECONDS
                time.sleep(cfg.sample_seconds)
            searches = [record for f in searchers for record in f.result()]
            return events.result(), searches, start_at

    def close(self) -> None:
        self.redis.close()
        for child in (self.worker, self.api):
            if child is not None:
                child.stop()


def report(
    cfg: Config,
    events: list[tuple[float, int, int]],
    searches: list[tuple[float, float]],
    samples: list[Sample],
    start_at: float,
) -> bool:
    """The windows table and the verdicts; whether every criterion held."""
    windows = max(1, round(cfg.minutes * 60 / WINDOW_SECONDS))
    rows, p99_ok = [], True
    for w in range(windows):
        lo, hi = start_at + w * WINDOW_SECONDS, start_at + (w + 1) * WINDOW_SECONDS
        sent = sum(n for t, n, _ in events if lo <= t < hi)
        applied = sum(a for t, _, a in events if lo <= t < hi)
        latencies = [s for t, s in searches if lo <= t < hi]
        in_window = [s for s in samples if lo <= s.at < hi] or samples[-1:]
        last = in_window[-1]
        lat = Latency(latencies) if latencies else None
        p99 = lat.p99 if lat else None
        p99_ok &= p99 is not None and p99 <= P99_LIMIT_MS
        rows.append(
            [
                f"{w * WINDOW_SECONDS:.0f}-{(w + 1) * WINDOW_SECONDS:.0f} s",
                sent / WINDOW_SECONDS,
                applied / WINDOW_SECONDS,
                len(latencies) / WINDOW_SECONDS,
                lat.p50 if lat else None,
                p99,
                last.redis_used / MB,
                last.redis_keys,
                last.api_rss / MB,
            ]
        )
    table(
        [
            "window",
            "events/s",
            "applied/s",
            "searches/s",
            "search p50 ms",
            "p99 ms",
            "Redis MB",
            "Redis keys",
            "API RSS MB",
        ],
        rows,
        f"Soak: {cfg.threads:,} threads, {cfg.rate:,.0f} events/s, "
        f"{cfg.search_rate:,.0f} searches/s, {cfg.minutes:g} min",
    )
    verdicts = [["search p99 <= 20 ms in every window", "-", _verdict(p99_ok)]]
    flat_ok = True
    for label, value in (
        ("Redis used_memory", lambda s: s.redis_used / MB),
        ("API RSS", lambda s: s.api_rss / MB),
    ):
        tail = [s for s in samples if s.at >= start_at + cfg.minutes * 60 * 2 / 3]
        points = [(s.at - start_at, value(s)) for s in tail]
        level = sum(v for _, v in points) / max(1, len(points))
        growth = slope_per_10min(points)
        ok = growth <= max(FLAT_SHARE * level, FLAT_FLOOR_MB)
        flat_ok &= ok
        verdicts.append(
            [
                f"{label} flat (last third: {level:,.1f} MB)",
                f"{growth:+.1f} MB / 10 min",
                _verdict(ok),
            ]
        )
    table(["criterion", "measured", ""], verdicts, "Verdicts")
    return p99_ok and flat_ok


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISS"


def parse_args(argv: list[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="2 minutes on 5,000 threads")
    parser.add_argument("--minutes", type=float, help="duration (default 10; 2 with --quick)")
    parser.add_argument("--threads", type=int, help="working set (20,000; 5,000 with --quick)")
    parser.add_argument("--rate", type=float, default=5000, help="events/s (default 5,000)")
    parser.add_argument("--search-rate", type=float, default=200, help="searches/s (200)")
    parser.add_argument("--batch", type=int, default=250, help="events per request (250)")
    parser.add_argument(
        "--runs-kept",
        type=int,
        default=10,
        help="THREADWATCH_RUNS_KEPT_PER_THREAD of the API (default 10: the working set is "
        "reached within the first minutes)",
    )
    parser.add_argument(
        "--history-kept",
        type=int,
        default=20,
        help="THREADWATCH_STATUS_HISTORY_LIMIT of the API (default 20: two status changes a "
        "run, so the histories are full after 10 cycles)",
    )
    parser.add_argument(
        "--no-worker",
        dest="worker",
        action="store_false",
        help="no `threadwatch worker`: the API's watchdog sweeps (default: a worker sweeps, "
        "as in production; it runs no runs)",
    )
    parser.add_argument("--api-workers", type=int, default=1, help="uvicorn workers (1)")
    parser.add_argument("--search-clients", type=int, default=2, help="search client processes (2)")
    parser.add_argument("--sample", type=float, default=2.0, help="seconds between samples")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    return Config(
        threads=args.threads or (5_000 if args.quick else 20_000),
        minutes=args.minutes or (2 if args.quick else 10),
        rate=args.rate,
        search_rate=args.search_rate,
        batch=max(2, args.batch),
        runs_kept=args.runs_kept,
        history_kept=args.history_kept,
        worker=args.worker,
        api_workers=max(1, args.api_workers),
        search_clients=max(1, args.search_clients),
        sample_seconds=args.sample,
        seed=args.seed,
        quick=args.quick,
    )


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    server = servers.start_embedded()
    note(f"threadwatch soak - {time.strftime('%Y-%m-%d %H:%M:%S')}")
    note(f"server: {server.kind}, version {server.version}, {server.url}")
    note(f"machine: {os.cpu_count()} CPUs; python {sys.version.split()[0]}")
    load_note("machine load at start")
    note(
        f"load: {cfg.threads:,} threads, {cfg.rate:,.0f} events/s in requests of {cfg.batch}, "
        f"{cfg.search_rate:,.0f} searches/s from {cfg.search_clients} clients, {cfg.minutes:g} "
        f"min; the API ({cfg.api_workers} uvicorn worker(s)) keeps "
        f"{cfg.runs_kept} runs and {cfg.history_kept} status changes per thread; "
        + ("a worker sweeps (it runs no runs)" if cfg.worker else "its watchdog sweeps")
    )
    watch = CpuWatch()
    soak = Soak(cfg, server)
    try:
        soak.load()
        census = key_census(soak.redis)
        events, searches, start_at = soak.run()
        ok = report(cfg, events, searches, soak.samples, start_at)
        print_sweeps(soak.samples, searches)
        print_census(census, key_census(soak.redis))
        others = watch.others_line()
        if others is not None:
            note(f"\n{others}")
    finally:
        soak.close()
        server.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
