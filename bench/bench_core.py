"""threadwatch core benchmark: search/count latency, event ingestion, memory per thread.

    cd /work/main && PYTHONPATH=. /work/venv/bin/python bench/bench_core.py --quick
    cd /work/main && PYTHONPATH=. /work/venv/bin/python bench/bench_core.py   # 1M threads

It starts its own server (embedded Valkey; `--redis-server` for a redis-server binary)
unless `--redis-url` is given, loads N threads through the store (pipelined scripts, several
processes), and prints tables. See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import random
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `app` and `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
import orjson  # noqa: E402
from redis import Redis  # noqa: E402

from bench import servers  # noqa: E402
from bench import workload as wl  # noqa: E402
from bench.cpu import CpuWatch  # noqa: E402
from threadwatch.domain import ThreadStatus  # noqa: E402
from threadwatch.store.codec import materialize  # noqa: E402
from threadwatch.store.keys import Keys  # noqa: E402
from threadwatch.store.leaf_sets import leaf_ids  # noqa: E402
from threadwatch.store.metadata_index import metadata_leaves  # noqa: E402
from threadwatch.store.search import ThreadQuery, ThreadSearch  # noqa: E402
from threadwatch.store.threads import ThreadStore  # noqa: E402

MS = 1000.0
KEY_VALUES: dict[str, tuple[int, Callable[[int], str]]] = {
    "tenant": (wl.TENANTS, wl.tenant_value),
    "graph_id": (wl.GRAPHS, wl.graph_value),
    "user": (wl.USERS, wl.user_value),
}


# -- output ------------------------------------------------------------------------------


def table(headers: list[str], rows: Iterable[list[Any]], title: str | None = None) -> None:
    """Print a plain-text table; numbers right-aligned, text left-aligned."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    numeric = [all(_is_number(r[i]) for r in cells) and cells for i in range(len(headers))]

    def line(values: list[str]) -> str:
        parts = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    if title:
        print(f"\n== {title}")
    print(line(headers))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print(line(row))
    sys.stdout.flush()


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value >= 100:
            return f"{value:,.0f}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _is_number(text: str) -> bool:
    return text == "-" or text.replace(",", "").replace(".", "", 1).lstrip("-").isdigit()


def note(text: str) -> None:
    print(text)
    sys.stdout.flush()


# -- statistics --------------------------------------------------------------------------


@dataclass
class Latency:
    samples: list[float]  # seconds
    redis_ms: float | None = None  # mean Redis-side time per call (INFO commandstats)

    def pct(self, q: float) -> float:
        ordered = sorted(self.samples)
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)] * MS

    @property
    def p50(self) -> float:
        return self.pct(0.50)

    @property
    def p90(self) -> float:
        return self.pct(0.90)

    @property
    def p99(self) -> float:
        return self.pct(0.99)

    @property
    def max(self) -> float:
        return max(self.samples) * MS

    @property
    def mean(self) -> float:
        return sum(self.samples) / len(self.samples) * MS


def time_calls(
    call: Callable[[Any], Any],
    make_arg: Callable[[int], Any],
    iterations: int,
    warmup: int,
    on_result: Callable[[Any], None] | None = None,
    budget_s: float | None = None,
    redis: Redis | None = None,
) -> Latency:
    """Latency of `call(make_arg(i))` over `iterations` after `warmup` untimed calls; the
    argument is built outside the clock. With `budget_s`, stop early (after >= 3 calls).
    With `redis`, also the mean server-side time per call, from INFO commandstats."""
    for i in range(warmup):
        call(make_arg(i))
    stats0 = command_stats(redis) if redis is not None else {}
    samples: list[float] = []
    spent = 0.0
    for i in range(warmup, warmup + iterations):
        arg = make_arg(i)
        started = time.perf_counter()
        result = call(arg)
        elapsed = time.perf_counter() - started
        samples.append(elapsed)
        spent += elapsed
        if on_result is not None:
            on_result(result)
        if budget_s is not None and spent > budget_s and len(samples) >= 3:
            break
    latency = Latency(samples)
    if redis is not None:
        latency.redis_ms = server_usec(stats0, command_stats(redis)) / 1000 / len(samples)
    return latency


def command_stats(redis: Redis) -> dict[str, float]:
    """Microseconds spent so far per command (INFO commandstats)."""
    return {k: float(v["usec"]) for k, v in redis.info("commandstats").items()}


def server_usec(before: dict[str, float], after: dict[str, float]) -> float:
    """Server time between two command_stats snapshots. Commands run by a script are
    counted both on their own and in EVALSHA, so when scripts ran, only EVALSHA and the
    commands the stores send directly (HGETALL) count."""
    delta = {k: v - before.get(k, 0.0) for k, v in after.items() if k != "cmdstat_info"}
    if delta.get("cmdstat_evalsha"):
        return delta["cmdstat_evalsha"] + delta.get("cmdstat_hgetall", 0.0)
    return sum(delta.values())


# -- query shapes ------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """A search/count filter: an optional status and an optional metadata key whose value
    is drawn at random (uniformly over its values) for each iteration."""

    name: str
    status: ThreadStatus | None = None
    meta_key: str | None = None
    targeted: str = ""  # "selective" / "unselective": the targets apply

    def value(self, rng: random.Random) -> str:
        size, render = KEY_VALUES[self.meta_key or ""]
        return render(rng.randrange(size))

    def query(self, rng: random.Random, limit: int = 10) -> ThreadQuery:
        metadata = {self.meta_key: self.value(rng)} if self.meta_key else {}
        return ThreadQuery(metadata=metadata, status=self.status, limit=limit)

    def body(self, rng: random.Random, limit: int | None = 10) -> dict[str, Any]:
        body: dict[str, Any] = {"limit": limit} if limit else {}
        if self.status:
            body["status"] = self.status.value
        if self.meta_key:
            body["metadata"] = {self.meta_key: self.value(rng)}
        return body


S = ThreadStatus
SEARCH_SHAPES = [
    Shape("no filter (list newest)"),
    Shape("status only: idle (70%)", S.IDLE),
    Shape("status only: busy (5%)", S.BUSY),
    Shape("selective: busy (5%) + user (1/10k)", S.BUSY, "user", "selective"),
    Shape("medium: error (10%) + graph_id (1/100)", S.ERROR, "graph_id", "medium"),
    Shape("unselective: idle (70%) + tenant (1/4)", S.IDLE, "tenant", "unselective"),
    Shape("metadata only: user (1/10k)", None, "user"),
    Shape("metadata only: tenant (1/4)", None, "tenant"),
]
COUNT_SHAPES = [
    SEARCH_SHAPES[3],
    SEARCH_SHAPES[4],
    SEARCH_SHAPES[5],
    SEARCH_SHAPES[1],
    SEARCH_SHAPES[7],
]


def shape_rng(shape: Shape, salt: str) -> random.Random:
    return random.Random(f"{shape.name}/{salt}")


# -- the benchmark -----------------------------------------------------------------------


@dataclass
class Config:
    threads: int
    quick: bool
    iterations: int
    warmup: int
    procs: int
    emitter_procs: int
    http_clients: int
    api_workers: int
    ingest_events: int
    raw_calls: int
    alt_budget_s: float
    repeats: int
    seed: int
    skip_http: bool
    skip_ingest: bool


@dataclass
class Target:
    name: str
    value: float
    limit: float
    unit: str
    higher_is_better: bool = False

    @property
    def ok(self) -> bool:
        return self.value >= self.limit if self.higher_is_better else self.value <= self.limit


class Bench:
    def __init__(self, cfg: Config, server: servers.Server, prefix: str) -> None:
        self.cfg = cfg
        self.server = server
        self.prefix = prefix
        self.redis = Redis.from_url(server.url)
        self.keys = Keys(prefix)
        self.ds = wl.Dataset(cfg.threads, cfg.seed)
        self.threads = ThreadStore(self.redis, self.keys)
        self.search = ThreadSearch(self.redis, self.keys, self.threads)
        self.targets: list[Target] = []
        self.api: servers.Server | None = None
        workers = max(cfg.procs, cfg.emitter_procs, cfg.http_clients, 1)
        self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        self.pool_size = workers
        self.mem: dict[str, float] = {}
        self.ingested_threads = 0

    def close(self) -> None:
        self.pool.shutdown(cancel_futures=True)
        if self.api is not None:
            self.api.stop()
        self.redis.close()

    # -- helpers -------------------------------------------------------------------------

    def in_pool(self, fn: Callable[..., Any], argsets: list[tuple[Any, ...]]) -> list[Any]:
        futures = [self.pool.submit(fn, *args) for args in argsets]
        return [f.result() for f in futures]

    def warm_pool(self) -> None:
        self.in_pool(wl.warm, [(0.5,)] * self.pool_size)

    def used_memory(self) -> int:
        """INFO used_memory once it is stable (incremental rehashing done)."""
        last = int(self.redis.info("memory")["used_memory"])
        for _ in range(20):
            time.sleep(0.5)
            now = int(self.redis.info("memory")["used_memory"])
            if abs(now - last) <= max(64 * 1024, last // 2000):
                return now
            last = now
        return last

    def redis_cpu(self) -> float:
        info = self.redis.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    # -- phases --------------------------------------------------------------------------

    def load_phase(self, rows: list[list[Any]], label: str, work: Any, args: list[Any]) -> float:
        """Run one loading step in the pool; add its row (threads, s, per s, Redis CPU %)."""
        n = self.cfg.threads
        cpu0, started = self.redis_cpu(), time.perf_counter()
        self.in_pool(work, args)
        seconds = time.perf_counter() - started
        rows.append([label, n, seconds, n / seconds, (self.redis_cpu() - cpu0) / seconds * 100])
        return seconds

    def load(self) -> None:
        cfg, n = self.cfg, self.cfg.threads
        self.warm_pool()
        self.mem["base"] = self.used_memory()
        parts = wl.chunks(0, n, cfg.procs)
        rows = []

        args = [(self.server.url, self.prefix, n, cfg.seed, lo, hi) for lo, hi in parts]
        create_s = self.load_phase(
            rows, "create threads (create_thread.lua, pipelined 1000)", wl.create_threads, args
        )
        self.mem["created"] = self.used_memory()
        self.breakdown_created = self.memory_breakdown(with_runs=False)
        events_s = self.load_phase(
            rows, "status events (Emitter.emit_many, 1 run each)", wl.emit_load_events, args
        )
        self.mem["events"] = self.used_memory()
        self.breakdown_events = self.memory_breakdown(with_runs=True)
        rows.append(["total", n, create_s + events_s, None, None])
        table(
            ["load phase", "threads", "seconds", "per s", "Redis CPU %"],
            rows,
            f"Load: {n:,} threads, {cfg.procs} loader processes",
        )

    def print_distribution(self) -> None:
        n = self.cfg.threads
        pipe = self.redis.pipeline(transaction=False)
        for status in ThreadStatus:
            pipe.zcard(self.keys.status(status))
        cards = pipe.execute()
        shares = dict(wl.STATUS_SHARES)
        rows = [
            [status.value, f"{shares[status]}%", wl.LOAD_EVENT[status], card, card / n * 100]
            for status, card in zip(ThreadStatus, cards, strict=True)
        ]
        table(
            ["status", "intended", "load event", "threads", "% actual"],
            rows,
            "Data set: statuses (ZCARD of each status index)",
        )
        rows = []
        for key, (size, render) in KEY_VALUES.items():
            pipe = self.redis.pipeline(transaction=False)
            for of_value in self.leaf_sets(key, size, render):
                for leaf_set in of_value:
                    pipe.scard(leaf_set)
            per_status = pipe.execute()
            sizes = [sum(per_status[i : i + 4]) for i in range(0, len(per_status), 4)]
            rows.append(
                [
                    key,
                    size,
                    f"{render(0)} .. {render(size - 1)}",
                    min(sizes),
                    sum(sizes) / size,
                    max(sizes),
                ]
            )
        table(
            ["metadata key", "values", "example", "min set", "mean set", "max set"],
            rows,
            "Data set: metadata (uniform, independent; threads per value = SCARD of its leaf "
            "sets, one per status)",
        )
        example = self.threads.get(self.ds.thread_id(0))
        metadata = orjson.dumps(materialize(example["metadata"])).decode()
        note(f"example thread metadata: {metadata}")

    def leaf_sets(self, key: str, size: int, render: Callable[[int], str]) -> list[list[str]]:
        """The per-status sets (lua/lib/leaf_sets.lua) of each of a metadata key's values,
        their ids read in one round trip."""
        leaves = [next(iter(metadata_leaves({key: render(k)}))) for k in range(size)]
        return [
            [self.keys.leaf_set(status, leaf_id) for status in ThreadStatus]
            for leaf_id in leaf_ids(self.redis, self.keys, leaves)
        ]

    def memory_breakdown(self, with_runs: bool, sample: int = 2000) -> dict[str, float]:
        """Bytes per thread of each structure (MEMORY USAGE; sampled for per-thread keys)."""
        n = self.cfg.threads
        rng = random.Random(7)
        picks = rng.sample(range(n), min(sample, n))
        pipe = self.redis.pipeline(transaction=False)
        for i in picks:
            pipe.memory_usage(self.keys.thread(self.ds.thread_id(i)))
            if with_runs:
                pipe.memory_usage(self.keys.run(self.ds.run_id(i, wl.ROUND_LOAD)))
                pipe.memory_usage(self.keys.thread_runs(self.ds.thread_id(i)))
        usage = [u or 0 for u in pipe.execute()]
        step = 3 if with_runs else 1
        out = {"thread hash (key + fields)": sum(usage[0::step]) / len(picks)}
        if with_runs:
            out["run hash"] = sum(usage[1::step]) / len(picks)
            out["thread runs zset"] = sum(usage[2::step]) / len(picks)
        for status in ThreadStatus:
            key = self.keys.status(status)
            out[f"index {key.removeprefix(self.prefix)}"] = (
                self.redis.memory_usage(key, samples=0) or 0
            ) / n
        for field in ("created_at", "updated_at", "state_updated_at", "thread_id"):
            key = self.keys.order(field)
            out[f"index {key.removeprefix(self.prefix)}"] = (
                self.redis.memory_usage(key, samples=0) or 0
            ) / n
        for meta_key, (size, render) in KEY_VALUES.items():
            pipe = self.redis.pipeline(transaction=False)
            for of_value in self.leaf_sets(meta_key, size, render):
                for leaf_set in of_value:
                    pipe.memory_usage(leaf_set, samples=0)
            sets = f"{size} x 4 sets"
            out[f"index leaves: {meta_key} ({sets})"] = sum(u or 0 for u in pipe.execute()) / n
        return out

    def print_memory(self) -> None:
        n, mem = self.cfg.threads, self.mem
        created = (mem["created"] - mem["base"]) / n
        events = (mem["events"] - mem["base"]) / n
        rows = [
            [
                "threads created only (all idle, no runs)",
                created,
                "<= 1024",
                _verdict(created <= 1024),
            ],
            [
                "after status events, incl. 1 run record each",
                events,
                "<= 1024",
                _verdict(events <= 1024),
            ],
        ]
        if "run_record" in mem:
            runs = mem["run_record"]
            rows.append(
                [
                    "after status events, excl. run data",
                    events - runs,
                    "<= 1024",
                    _verdict(events - runs <= 1024),
                ]
            )
            rows.append(["  of which: run record (run hash + thread runs zset)", runs, None, ""])
        table(
            ["Redis memory per thread (INFO used_memory delta / N)", "bytes", "target", ""],
            rows,
            f"Memory: {n:,} threads, 3 metadata keys, indexes included",
        )
        self.targets.append(Target("memory/thread, created only", created, 1024, "B"))
        self.targets.append(Target("memory/thread, after events incl. run", events, 1024, "B"))
        if "run_record" in mem:
            self.targets.append(
                Target(
                    "memory/thread, after events excl. run data",
                    events - mem["run_record"],
                    1024,
                    "B",
                )
            )
        names = list(self.breakdown_events)
        rows = []
        for name in names:
            rows.append([name, self.breakdown_created.get(name), self.breakdown_events[name]])
        known_c = sum(self.breakdown_created.values())
        known_e = sum(self.breakdown_events.values())
        rows.append(["sum of the above", known_c, known_e])
        rows.append(["rest (keyspace table, allocator, ...)", created - known_c, events - known_e])
        table(
            ["structure (MEMORY USAGE, bytes per thread)", "created only", "after events"],
            rows,
            "Memory breakdown",
        )

    def measure_run_data(self) -> None:
        """Free the load's run records and read how much memory that returns. Runs last,
        on the threads the ingestion phase left alone (each has exactly its load run), so
        that the mass delete does not disturb the other phases."""
        n, cfg = self.cfg.threads, self.cfg
        lo = self.ingested_threads
        if lo >= n:
            note("\nrun data: every thread took part in ingestion; not measured")
            return
        before = self.used_memory()
        parts = wl.chunks(lo, n, cfg.procs)
        deleted = sum(
            self.in_pool(
                wl.delete_run_data,
                [(self.server.url, self.prefix, n, cfg.seed, a, b) for a, b in parts],
            )
        )
        after = self.used_memory()
        self.mem["run_record"] = (before - after) / (n - lo)
        note(
            f"\nrun data: deleted the load's run records of {n - lo:,} threads ({deleted:,} "
            f"keys: run hashes + thread runs zsets); used_memory fell by "
            f"{(before - after) / 2**20:,.1f} MiB = {self.mem['run_record']:,.0f} B per run"
        )

    # -- queries -------------------------------------------------------------------------

    def store_search(self) -> None:
        cfg = self.cfg
        rows = []
        for shape in SEARCH_SHAPES:
            plans: Counter[str] = Counter()
            returned: list[int] = []

            def record(page: Any, plans: Counter[str] = plans, returned: list[int] = returned):
                plans[page.plan] += 1
                returned.append(len(page.threads))

            rng = shape_rng(shape, "store")
            lat = time_calls(
                self.search.search,
                lambda _i, rng=rng, s=shape: s.query(rng),
                cfg.iterations,
                cfg.warmup,
                record,
                redis=self.redis,
            )
            plan = ", ".join(
                f"{p}" if len(plans) == 1 else f"{p} {c}" for p, c in plans.most_common()
            )
            alt_plan, alt_p50 = None, None
            if shape.status or shape.meta_key:
                alt_plan = "intersect" if plans.most_common(1)[0][0] == "walk" else "walk"
                arng = shape_rng(shape, "alt")
                alt = time_calls(
                    lambda q, p=alt_plan: self.search.search(q, plan=p),
                    lambda _i, rng=arng, s=shape: s.query(rng),
                    min(cfg.iterations, 50),
                    1,
                    budget_s=cfg.alt_budget_s,
                )
                alt_p50 = alt.p50
            ok = lat.p50 <= 2 and lat.p99 <= 10
            rows.append(
                [
                    shape.name,
                    plan,
                    sum(returned) / len(returned),
                    lat.p50,
                    lat.p90,
                    lat.p99,
                    lat.max,
                    lat.redis_ms,
                    _verdict(ok),
                    alt_plan,
                    alt_p50,
                ]
            )
            if shape.targeted:
                self.targets.append(
                    Target(f"search {shape.targeted} p50 (store)", lat.p50, 2, "ms")
                )
                self.targets.append(
                    Target(f"search {shape.targeted} p99 (store)", lat.p99, 10, "ms")
                )
        table(
            [
                "search(limit=10), newest first",
                "plan (auto)",
                "rows",
                "p50 ms",
                "p90 ms",
                "p99 ms",
                "max ms",
                "Redis ms",
                "p50<=2,p99<=10",
                "other plan",
                "its p50 ms",
            ],
            rows,
            f"Search at the store layer (ThreadSearch.search), {cfg.iterations} iterations "
            f"per shape after {cfg.warmup} warm-up, value drawn per iteration",
        )
        note(
            "rows = mean threads returned; Redis ms = mean server time per call (search "
            "script + HGETALLs, INFO commandstats); 'other plan' = the plan the planner did "
            f"not pick, forced (plan=...), timed over <= 50 calls or {cfg.alt_budget_s:g} s"
        )

    def planner_matrix(self) -> None:
        """Every status x metadata key: the plan picked, its p50, and both forced plans."""
        cfg = self.cfg
        rows = []
        statuses: list[ThreadStatus | None] = [*ThreadStatus, None]
        for status in statuses:
            for key in [*KEY_VALUES, None]:
                if status is None and key is None:
                    continue
                shape = Shape(f"{status.value if status else '-'} + {key or '-'}", status, key)
                plans: Counter[str] = Counter()
                rng = shape_rng(shape, "matrix")
                auto = time_calls(
                    self.search.search,
                    lambda _i, r=rng, s=shape: s.query(r),
                    30,
                    3,
                    lambda page, c=plans: c.update([page.plan]),
                )
                forced = {}
                for plan in ("walk", "intersect"):
                    frng = shape_rng(shape, f"matrix-{plan}")
                    forced[plan] = time_calls(
                        lambda q, p=plan: self.search.search(q, plan=p),
                        lambda _i, r=frng, s=shape: s.query(r),
                        30,
                        1,
                        budget_s=cfg.alt_budget_s,
                    ).p50
                best = min(forced, key=forced.__getitem__)
                picked = plans.most_common(1)[0][0]
                verdict = (
                    ""
                    if picked not in forced or picked == best
                    else (
                        f"better: {best} ({auto.p50 / forced[best]:.1f}x)"
                        if auto.p50 > 1.5 * forced[best]
                        else ""
                    )
                )
                rows.append(
                    [
                        shape.name,
                        "/".join(sorted(plans)),
                        auto.p50,
                        forced["walk"],
                        forced["intersect"],
                        verdict,
                    ]
                )
        table(
            [
                "status + metadata key",
                "auto plan",
                "auto p50 ms",
                "walk p50 ms",
                "intersect p50 ms",
                "planner",
            ],
            rows,
            "Planner check (--planner-matrix): every status x key, 30 calls per cell",
        )

    def store_count(self) -> None:
        cfg = self.cfg
        rows = []
        for shape in COUNT_SHAPES:
            counts: list[int] = []
            rng = shape_rng(shape, "count")
            lat = time_calls(
                self.search.count,
                lambda _i, rng=rng, s=shape: replace(s.query(rng), limit=10),
                cfg.iterations,
                cfg.warmup,
                counts.append,
                redis=self.redis,
            )
            rows.append(
                [
                    shape.name,
                    sum(counts) / len(counts),
                    lat.p50,
                    lat.p90,
                    lat.p99,
                    lat.max,
                    lat.redis_ms,
                    _verdict(lat.p50 <= 20),
                ]
            )
            if shape.targeted:
                self.targets.append(
                    Target(f"count {shape.targeted} p50 (store)", lat.p50, 20, "ms")
                )
        table(
            ["count", "mean count", "p50 ms", "p90 ms", "p99 ms", "max ms", "Redis ms", "p50<=20"],
            rows,
            f"Count at the store layer (ThreadSearch.count), {cfg.iterations} iterations",
        )

    def start_api(self) -> None:
        self.api = servers.start_api(self.server.url, self.prefix, self.cfg.api_workers)

    def http_queries(self) -> None:
        cfg = self.cfg
        assert self.api is not None
        rows = []
        headers = {"content-type": "application/json"}
        with httpx.Client(base_url=self.api.url, timeout=60.0, headers=headers) as client:

            def post(path: str) -> Callable[[bytes], Any]:
                def call(body: bytes) -> Any:
                    response = client.post(path, content=body)
                    if response.status_code != 200:
                        raise RuntimeError(f"{path}: {response.status_code} {response.text}")
                    return response

                return call

            for shape in SEARCH_SHAPES:
                rng = shape_rng(shape, "http")
                lat = time_calls(
                    post("/threads/search"),
                    lambda _i, rng=rng, s=shape: orjson.dumps(s.body(rng)),
                    cfg.iterations,
                    cfg.warmup,
                )
                rows.append(_latency_row(f"POST /threads/search  {shape.name}", lat, 5))
                if shape.targeted:
                    self.targets.append(
                        Target(f"search {shape.targeted} p50 (HTTP)", lat.p50, 5, "ms")
                    )
            for shape in COUNT_SHAPES[:3]:
                rng = shape_rng(shape, "http-count")
                lat = time_calls(
                    post("/threads/count"),
                    lambda _i, rng=rng, s=shape: orjson.dumps(s.body(rng, None)),
                    cfg.iterations,
                    cfg.warmup,
                )
                rows.append(_latency_row(f"POST /threads/count   {shape.name}", lat, 20))

        from langgraph_sdk import get_sync_client

        sdk = get_sync_client(url=self.api.url, api_key=None)
        for shape in SEARCH_SHAPES:
            if not shape.targeted:
                continue
            rng = shape_rng(shape, "sdk")
            lat = time_calls(
                lambda body: sdk.threads.search(**body),
                lambda _i, rng=rng, s=shape: s.body(rng),
                cfg.iterations,
                cfg.warmup,
            )
            rows.append(_latency_row(f"SDK threads.search    {shape.name}", lat, 5))
        table(
            ["request (limit=10)", "p50 ms", "p90 ms", "p99 ms", "max ms", "", "target p50"],
            rows,
            f"Over HTTP: uvicorn ({cfg.api_workers} worker) on the same Redis, one keep-alive "
            f"client (httpx; langgraph_sdk sync client), {cfg.iterations} iterations",
        )

    # -- ingestion -----------------------------------------------------------------------

    def ingestion(self) -> None:
        cfg = self.cfg
        rows = []
        threads = min(cfg.ingest_events // 2, cfg.threads)
        events = 2 * threads
        self.ingested_threads = threads

        def run(label: str, clients: int, job: Callable[[int, float], list[tuple]]) -> float:
            """`job(repeat, start_at)` gives one argument tuple per client process; the
            clients return (count, [applied,] wall start, wall end). Median of the repeats."""
            rates, cpus, others, each, applied = [], [], [], [], None
            for repeat in range(cfg.repeats):
                start_at = self._start_at(events / clients)
                futures = [self.pool.submit(fn, *args) for fn, *args in job(repeat, start_at)]
                time.sleep(max(0.0, start_at - time.time()))
                cpu0, watch = self.redis_cpu(), CpuWatch()
                results = [f.result() for f in futures]
                others.append(watch.others_percent())
                wall = max(r[-1] for r in results) - min(r[-2] for r in results)
                cpu = self.redis_cpu() - cpu0
                cpus.append(cpu / wall * 100)
                total = sum(r[0] for r in results)
                each.append(cpu / total * 1e6)
                rates.append(total / wall)
                if len(results[0]) == 4:
                    applied = sum(r[1] for r in results)
            median = sorted(rates)[len(rates) // 2]
            rows.append(
                [
                    label,
                    clients,
                    total,
                    applied,
                    median,
                    max(rates),
                    _median(cpus),
                    _median(each),
                    _median(others),
                ]
            )
            return median

        url, prefix, n, seed = self.server.url, self.prefix, cfg.threads, cfg.seed
        raw1 = run(
            "raw EVALSHA, 5-command script, pipelined 500",
            1,
            lambda _r, at: [(wl.raw_evalsha_client, url, prefix, cfg.raw_calls, 0, at)],
        )
        run(
            "raw EVALSHA, 5-command script, pipelined 500",
            cfg.emitter_procs,
            lambda _r, at: [
                (wl.raw_evalsha_client, url, prefix, cfg.raw_calls, c, at)
                for c in range(cfg.emitter_procs)
            ],
        )
        parts = wl.chunks(0, threads, cfg.emitter_procs)
        emitter = run(
            "Emitter.emit_many (1000 per call)",
            cfg.emitter_procs,
            lambda r, at: [
                (wl.emitter_client, url, prefix, n, seed, lo, hi, at, wl.ROUND_EMITTER + 10 * r)
                for lo, hi in parts
            ],
        )
        self.targets.append(Target("ingestion via Emitter", emitter, 30_000, "/s", True))
        http = None
        if self.api is not None:
            api = self.api.url
            parts = wl.chunks(0, threads, cfg.http_clients)
            http = run(
                f"POST /runs/events (1000 per request; {cfg.api_workers} uvicorn worker)",
                cfg.http_clients,
                lambda r, at: [
                    (wl.http_client, api, n, seed, lo, hi, at, wl.ROUND_HTTP + 10 * r)
                    for lo, hi in parts
                ],
            )
            self.targets.append(Target("ingestion via POST /runs/events", http, 20_000, "/s", True))
        table(
            [
                "path",
                "clients",
                "transitions",
                "applied",
                "per s",
                "best per s",
                "Redis CPU %",
                "Redis CPU us each",
                "others CPU %",
            ],
            rows,
            f"Event ingestion: {threads:,} existing threads x (run.started + terminal "
            f"event), median of {cfg.repeats} runs; each client is a process, all start "
            "together",
        )
        note(
            f"ceiling (raw EVALSHA, 1 client): {raw1:,.0f}/s; Emitter reaches "
            f"{emitter / raw1 * 100:.0f}% of it"
            + (f", HTTP {http / raw1 * 100:.0f}%" if http else "")
            + f". The {os.cpu_count()} cores are shared by Redis, the clients and the API."
        )

    def _start_at(self, events_per_client: float = 0) -> float:
        """A common wall-clock start, after the clients have built their events."""
        return time.time() + 1.0 + events_per_client / 100_000

    # -- summary -------------------------------------------------------------------------

    def summary(self) -> None:
        rows = []
        for t in self.targets:
            sign = ">=" if t.higher_is_better else "<="
            rows.append([t.name, t.value, f"{sign} {t.limit:,g} {t.unit}", _verdict(t.ok)])
        table(["target", "measured", "target", ""], rows, "Summary against the issue's targets")


def _median(values: list[float | None]) -> float | None:
    known = sorted(v for v in values if v is not None)
    return known[len(known) // 2] if known else None


def _latency_row(label: str, lat: Any, limit: float) -> list[Any]:
    """A table row: label, p50, p90, p99, max, verdict of p50 against ``limit``, the target."""
    return [label, lat.p50, lat.p90, lat.p99, lat.max, _verdict(lat.p50 <= limit), f"<= {limit:g}"]


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISS"


# -- entry point -------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, Config]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--threads", type=int, help="threads to load (default 1,000,000; 20,000 with --quick)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: 20,000 threads, fewer iterations and events",
    )
    parser.add_argument(
        "--iterations", type=int, help="timed calls per query shape (default 200; 50 with --quick)"
    )
    parser.add_argument("--warmup", type=int, default=20, help="untimed calls first")
    parser.add_argument("--procs", type=int, default=2, help="loader processes (default 2)")
    parser.add_argument(
        "--emitter-procs",
        type=int,
        default=2,
        help="Emitter ingestion client processes (default 2)",
    )
    parser.add_argument(
        "--http-clients", type=int, default=3, help="POST /runs/events client processes (default 3)"
    )
    parser.add_argument("--api-workers", type=int, default=1, help="uvicorn workers (default 1)")
    parser.add_argument(
        "--ingest-events",
        type=int,
        help="transitions per ingestion run (default 200,000; 20,000 --quick)",
    )
    parser.add_argument(
        "--raw-calls",
        type=int,
        help="raw EVALSHA calls per client (default 200,000; 50,000 --quick)",
    )
    parser.add_argument(
        "--alt-budget",
        type=float,
        default=3.0,
        help="seconds spent timing each forced other plan (default 3)",
    )
    parser.add_argument(
        "--repeats", type=int, help="ingestion runs per path, median printed (default 3; 1 --quick)"
    )
    parser.add_argument("--seed", type=int, default=1)
    server = parser.add_mutually_exclusive_group()
    server.add_argument(
        "--redis-url",
        help="use this server instead of starting one; the "
        "benchmark writes under its own key prefix and deletes only those keys",
    )
    server.add_argument(
        "--redis-server",
        nargs="?",
        const="redis-server",
        metavar="BINARY",
        help="start a redis-server binary (default: embedded Valkey)",
    )
    parser.add_argument(
        "--yes-flush",
        action="store_true",
        help="with --redis-url: FLUSHDB that database before and after the run",
    )
    parser.add_argument("--skip-http", action="store_true", help="no API server, no HTTP rows")
    parser.add_argument("--skip-ingest", action="store_true", help="no ingestion rows")
    parser.add_argument(
        "--planner-matrix",
        action="store_true",
        help="also time every status x metadata key with each plan forced",
    )
    args = parser.parse_args(argv)
    quick = args.quick
    cfg = Config(
        threads=args.threads or (20_000 if quick else 1_000_000),
        quick=quick,
        iterations=args.iterations or (50 if quick else 200),
        warmup=args.warmup if not quick else min(args.warmup, 10),
        procs=max(1, args.procs),
        emitter_procs=max(1, args.emitter_procs),
        http_clients=max(1, args.http_clients),
        api_workers=max(1, args.api_workers),
        ingest_events=args.ingest_events or (20_000 if quick else 200_000),
        raw_calls=args.raw_calls or (50_000 if quick else 200_000),
        alt_budget_s=args.alt_budget if not quick else min(args.alt_budget, 1.0),
        repeats=max(1, args.repeats or (1 if quick else 3)),
        seed=args.seed,
        skip_http=args.skip_http,
        skip_ingest=args.skip_ingest,
    )
    return args, cfg


def main(argv: list[str] | None = None) -> int:
    args, cfg = parse_args(argv)
    if args.yes_flush and not args.redis_url:
        raise SystemExit("--yes-flush only applies to --redis-url (own servers start empty)")
    if args.redis_url:
        server = servers.external(args.redis_url)
        prefix = f"twbench-{uuid.uuid4().hex[:8]}:"
        if args.yes_flush:
            Redis.from_url(args.redis_url).flushdb()
    elif args.redis_server:
        server = servers.start_redis_server(args.redis_server)
        prefix = "tw:"
    else:
        server = servers.start_embedded()
        prefix = "tw:"
    started = time.perf_counter()
    note(f"threadwatch core benchmark - {time.strftime('%Y-%m-%d %H:%M:%S')}")
    note(f"server: {server.kind}, version {server.version}, {server.url}, key prefix {prefix!r}")
    note(
        f"machine: {os.cpu_count()} CPUs; python {sys.version.split()[0]}; "
        f"threads {cfg.threads:,}{' (quick)' if cfg.quick else ''}"
    )
    load_note("machine load at start")
    watch = CpuWatch()
    bench = Bench(cfg, server, prefix)
    try:
        bench.load()
        bench.print_distribution()
        bench.store_search()
        if args.planner_matrix:
            bench.planner_matrix()
        bench.store_count()
        if not cfg.skip_http:
            bench.start_api()
            bench.http_queries()
        if not cfg.skip_ingest:
            bench.ingestion()
        bench.measure_run_data()
        bench.print_memory()
        bench.summary()
        others = watch.others_line()
        if others is not None:
            note(f"\n{others}")
    finally:
        bench.close()
        if server.owned:
            server.stop()
        else:
            cleanup(server.url, prefix, args.yes_flush)
    note(f"\ntotal time {time.perf_counter() - started:,.0f} s")
    return 0


def load_note(label: str) -> None:
    """Other processes on the machine skew every figure here; say how busy it was."""
    one, five, _ = os.getloadavg()
    warn = " (others are using the CPUs: figures are pessimistic)" if one > 0.7 else ""
    note(f"{label}: load average {one:.2f} (1 min), {five:.2f} (5 min){warn}")


def cleanup(url: str, prefix: str, flush: bool) -> None:
    """Remove what the benchmark wrote on a server it did not start."""
    client = Redis.from_url(url)
    if flush:
        client.flushdb()
        return
    batch: list[bytes] = []
    for key in client.scan_iter(match=f"{prefix}*", count=10_000):
        batch.append(key)
        if len(batch) >= 10_000:
            client.unlink(*batch)
            batch = []
    if batch:
        client.unlink(*batch)


if __name__ == "__main__":
    sys.exit(main())
