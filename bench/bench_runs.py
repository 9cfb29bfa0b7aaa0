"""threadwatch run benchmark: run throughput, status visibility, concurrency, start latency,
worker memory, plain RQ job rates, and the same figures from the LangGraph dev server.

    cd /work/main && PYTHONPATH=. /work/venv/bin/python bench/bench_runs.py --quick
    cd /work/main && PYTHONPATH=. /work/venv/bin/python bench/bench_runs.py

It starts its own Redis (embedded Valkey; `--redis-server` for a redis-server binary), the
API (uvicorn) and `threadwatch worker` processes with the graphs of bench/graphs/, and, when
/tmp/lgvenv/bin/langgraph exists (`--langgraph-cli`), `langgraph dev` on the same graphs.
See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `app` and `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
from redis import Redis  # noqa: E402

from bench import servers  # noqa: E402
from bench.bench_core import Latency, Target, load_note, note, table  # noqa: E402
from bench.cpu import CpuWatch, tree_cpu  # noqa: E402
from threadwatch.cli.processes import child_popen_kwargs, stop_process  # noqa: E402

GRAPHS = Path(__file__).resolve().parent / "graphs"
GRAPHS_CONFIG = GRAPHS / "langgraph.json"
PREFIX = "tw:"
RUNS_QUEUE = "threadwatch-runs"  # workers.RUNS_QUEUE
NOOP_QUEUE = "bench-noop"
NOOP_JOB = "bench.rqjobs.noop"
LANGGRAPH_CLI = "/tmp/lgvenv/bin/langgraph"
LG_INSTALL = "python3.11 -m venv /tmp/lgvenv && /tmp/lgvenv/bin/pip install 'langgraph-cli[inmem]'"
Job = tuple[str | None, str, dict[str, Any], dict[str, Any]]  # thread, graph, input, options


# -- small helpers -----------------------------------------------------------------------


def ts(text: str | None) -> float | None:
    """Seconds since the epoch of an RFC 3339 / ISO timestamp (API or RQ), or None."""
    return datetime.fromisoformat(text).timestamp() if text else None


def lat(values: Iterable[float | None]) -> Latency | None:
    known = [v for v in values if v is not None]
    return Latency(known) if known else None


def pcts(latency: Latency | None) -> list[float | None]:
    return [None] * 3 if latency is None else [latency.p50, latency.p99, latency.max]


def pair(latency: Latency | None) -> str | None:
    return None if latency is None else f"{latency.p50:.1f} / {latency.p99:.1f}"


def faster(a: float, b: float) -> str:
    """Which of two rates is faster, or that they are within 5% of each other."""
    if abs(a - b) <= 0.05 * max(a, b):
        return f"about equal ({a:.0f} vs {b:.0f}/s, within 5%)"
    return f"{'existing threads' if a > b else 'stateless'} faster ({a:.0f} vs {b:.0f}/s)"


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISS"


def wait_for(probe: Callable[[], Any], timeout: float, what: str, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


# -- processes: memory and CPU (Linux /proc) ---------------------------------------------


def process_tree(root: int) -> list[int]:
    """``root`` and its living descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, ()))
    return found


@dataclass
class Mem:
    rss_mb: float
    pss_mb: float
    threads: int


def memory(roots: Iterable[int]) -> Mem:
    """RSS and PSS (MB) and OS threads of these processes and their descendants."""
    rss = pss = 0.0
    threads = 0
    for root in roots:
        for pid in process_tree(root):
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
            except OSError:
                continue
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            rss += int(fields["VmRSS"].split()[0]) / 1024
            threads += int(fields["Threads"])
            pss += (
                sum(int(x.split()[1]) for x in rollup.splitlines() if x.startswith("Pss:")) / 1024
            )
    return Mem(rss, pss, threads)


def peak_memory(roots: list[int], seconds: float) -> Mem:
    """The sample with the largest PSS, sampling every 100 ms for ``seconds``."""
    best = memory(roots)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = memory(roots)
        if now.pss_mb > best.pss_mb:
            best = now
    return best


class CpuSplit:
    """CPU used by groups of processes (each a list of root pids) between start and stop."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups
        self.before = self._now()

    def _now(self) -> dict[str, float]:
        return {name: sum(tree_cpu(pid) for pid in pids) for name, pids in self.groups.items()}

    def ms_each(self, count: int) -> dict[str, float]:
        after = self._now()
        return {k: (after[k] - self.before[k]) / count * 1000 for k in self.groups}


# -- clients (these run in the client processes; spawn imports this module) --------------


@dataclass
class Created:
    thread_id: str
    run_id: str
    created_at: float  # the run's created_at (server clock; same machine)
    sent: float  # client clock, before the request
    answered: float


def sdk_client(url: str) -> Any:
    from langgraph_sdk import get_sync_client

    return get_sync_client(url=url, api_key=None, timeout=60.0)


def create_runs(
    url: str, jobs: list[Job], threads: int, start_at: float, rate: float | None = None
) -> list[Created]:
    """Create the runs with the SDK on ``threads`` threads from wall-clock ``start_at``: as
    fast as the server answers, or ``rate`` runs/s at fixed times (an open loop)."""
    clients = [sdk_client(url) for _ in range(threads)]
    for client in clients:  # connect outside the clock
        client.http.get("/ok")
    out: list[Created | None] = [None] * len(jobs)
    lock = threading.Lock()
    cursor = iter(range(len(jobs)))

    def loop(client: Any) -> None:
        while True:
            with lock:
                i = next(cursor, None)
            if i is None:
                return
            if rate:
                time.sleep(max(0.0, start_at + i / rate - time.time()))
            thread_id, graph, payload, options = jobs[i]
            sent = time.time()
            run = client.runs.create(thread_id, graph, input=payload, **options)
            answered = time.time()
            created_at = ts(run["created_at"])
            out[i] = Created(run["thread_id"], run["run_id"], created_at, sent, answered)

    time.sleep(max(0.0, start_at - time.time()))
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(loop, clients))
    return [c for c in out if c is not None]


def create_threads(url: str, count: int, threads: int) -> list[str]:
    clients = [sdk_client(url) for _ in range(threads)]
    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(clients[i % threads].threads.create) for i in range(count)]
        return [f.result()["thread_id"] for f in futures]


def get_threads(url: str, ids: list[str], threads: int) -> list[dict[str, Any]]:
    clients = [sdk_client(url) for _ in range(threads)]
    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(clients[i % threads].threads.get, t) for i, t in enumerate(ids)]
        return [f.result() for f in futures]


def warm(seconds: float) -> int:
    sdk_client("http://127.0.0.1:1")
    time.sleep(seconds)
    return os.getpid()


# -- the servers -------------------------------------------------------------------------


@dataclass
class Api:
    """A server under test: threadwatch (API + workers) or langgraph dev."""

    name: str
    url: str
    status_field: str  # the thread field that tells when its status last changed
    cpu: Callable[[], dict[str, list[int]]]  # its processes, grouped, for CPU per run


class Stack:
    """Redis, the threadwatch API, and worker processes, all started (and stopped) here."""

    def __init__(self, redis_server: servers.Server) -> None:
        self.server = redis_server
        self.redis = Redis.from_url(redis_server.url)
        self.env = {"THREADWATCH_GRAPHS_CONFIG": str(GRAPHS_CONFIG)}
        self.api = servers.start_api(redis_server.url, PREFIX, env=self.env)
        self.workers: list[servers.Server] = []

    def cpu_groups(self) -> dict[str, list[int]]:
        assert self.api.process is not None and self.server.process is not None
        return {
            "API": [self.api.process.pid],
            "workers": [w.process.pid for w in self.workers if w.process is not None],
            "Redis": [self.server.process.pid],
        }

    # -- workers -------------------------------------------------------------------------

    def start_workers(self, count: int, concurrency: int | None = None) -> list[servers.Server]:
        """`threadwatch worker` processes, once every thread of each listens on the queue."""
        argv = [sys.executable, "-m", "threadwatch.cli", "worker"]
        if concurrency:
            argv += ["--concurrency", str(concurrency)]
        env = servers.app_env(self.server.url, PREFIX, self.env)
        started = [servers.start_process(argv, env, "worker") for _ in range(count)]
        self.workers += started
        self.wait_registered(started, concurrency or 10)
        return started

    def start_rq(self, argv_tail: list[str], count: int, per_process: int = 1) -> list[Any]:
        """Plain `rq` CLI processes (`rq worker ...`, `rq worker-pool ...`) on this Redis."""
        argv = [sys.executable, "-m", "rq.cli", *argv_tail, "--url", self.server.url]
        env = servers.app_env(self.server.url, PREFIX, self.env)
        started = [servers.start_process(argv, env, "rq") for _ in range(count)]
        self.workers += started
        self.wait_registered(started, per_process)
        return started

    def registered(self, procs: list[servers.Server]) -> int:
        """RQ workers registered by these processes or their children."""
        pids = {pid for p in procs if p.process for pid in process_tree(p.process.pid)}
        names = self.redis.smembers("rq:workers")
        pipe = self.redis.pipeline(transaction=False)
        for name in names:
            pipe.hget(name, "pid")
        return sum(1 for pid in pipe.execute() if pid and int(pid) in pids)

    def wait_registered(self, procs: list[servers.Server], per_process: int) -> None:
        def ready() -> bool:
            for proc in procs:
                assert proc.process is not None
                if proc.process.poll() is not None:
                    raise SystemExit(
                        f"worker exited ({proc.process.returncode}):\n{proc.log_tail()}"
                    )
            return self.registered(procs) >= per_process * len(procs)

        wait_for(ready, 60.0, "the workers to register", 0.05)

    def stop_workers(self) -> None:
        """Stop every worker: SIGTERM, then (no run in flight) a second SIGTERM, which exits a
        `threadwatch worker` at once instead of after its 5 s queue poll."""
        wait_for(lambda: self.in_flight() == 0, 60.0, "runs in flight to end", 0.05)
        for _ in range(2):
            for worker in self.workers:
                if worker.process is not None and worker.process.poll() is None:
                    worker.process.send_signal(signal.SIGTERM)
            time.sleep(0.3)
        for worker in self.workers:
            worker.stop()
        self.workers = []
        # The second signal skips RQ's teardown: drop the registrations none of ours owns.
        self.redis.delete("rq:workers")

    def pause_workers(self, paused: bool) -> None:
        for worker in self.workers:
            assert worker.process is not None
            for pid in process_tree(worker.process.pid):
                os.kill(pid, signal.SIGSTOP if paused else signal.SIGCONT)

    def in_flight(self) -> int:
        return int(self.redis.zcard(f"{PREFIX}status:busy"))

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.api.stop()
        self.redis.close()

    # -- plain RQ ------------------------------------------------------------------------

    def enqueue_noops(self, queue: str, count: int) -> list[str]:
        from rq import Queue

        q = Queue(queue, connection=self.redis)
        ids = []
        for lo in range(0, count, 1000):
            jobs = [
                Queue.prepare_data(NOOP_JOB, result_ttl=600, job_id=uuid.uuid4().hex)
                for _ in range(lo, min(count, lo + 1000))
            ]
            ids += [job.id for job in q.enqueue_many(jobs)]
        return ids

    def job_window(self, ids: list[str], timeout: float = 120.0) -> tuple[float, float, int]:
        """(first started_at, last ended_at, finished count) of these RQ jobs, once done."""

        def done() -> list[list[bytes | None]] | None:
            pipe = self.redis.pipeline(transaction=False)
            for job_id in ids:
                pipe.hmget(f"rq:job:{job_id}", "started_at", "ended_at", "status")
            rows = pipe.execute()
            return None if any(r[2] not in (b"finished", b"failed") for r in rows) else rows

        rows = wait_for(done, timeout, "the RQ jobs to finish", 0.05)
        started = [ts(r[0].decode()) for r in rows if r[0]]
        ended = [ts(r[1].decode()) for r in rows if r[1]]
        return min(started), max(ended), sum(1 for r in rows if r[2] == b"finished")

    def command_calls(self) -> dict[str, int]:
        stats = self.redis.info("commandstats")
        return {k: int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info"}


class LangGraphDev:
    """`langgraph dev` (in-memory runtime) on a copy of bench/graphs, on loopback."""

    def __init__(self, cli: str, jobs_per_worker: int | None) -> None:
        self.temp_dir = Path(tempfile.mkdtemp(prefix="threadwatch-bench-lgdev-"))
        for name in ("langgraph.json", "graphs.py"):  # it resolves paths against its cwd
            shutil.copy(GRAPHS / name, self.temp_dir / name)
        self.url = f"http://{servers.HOST}:{servers.free_port()}"
        argv = [cli, "dev", "--no-browser", "--no-reload", "--host", servers.HOST]
        argv += ["--port", self.url.rsplit(":", 1)[1]]
        argv += ["--config", str(self.temp_dir / "langgraph.json")]
        if jobs_per_worker:
            argv += ["--n-jobs-per-worker", str(jobs_per_worker)]
        env = {k: v for k, v in os.environ.items() if k.upper() != "REDIS_URL"}
        env.update(LANGSMITH_TRACING="false", LANGCHAIN_TRACING_V2="false")
        self.log_path = self.temp_dir / "langgraph-dev.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.temp_dir,
                env=env,
                **child_popen_kwargs(),
            )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log_path.read_text(errors="replace").splitlines()[-15:]
                self.stop()
                raise RuntimeError(f"exited ({self.process.returncode}): " + "\n".join(tail))
            try:
                if httpx.get(f"{self.url}/ok", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("not ready within 90 s")

    def stop(self) -> None:
        if self.process.poll() is None:  # its children, if any, share its process group
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        stop_process(self.process, timeout=10.0)
        shutil.rmtree(self.temp_dir, ignore_errors=True)


# -- the benchmark -----------------------------------------------------------------------


@dataclass
class Config:
    quick: bool
    runs: int  # runs per throughput measurement
    clients: int  # client processes
    client_threads: int  # threads per client process
    noop_jobs: int
    start_samples: int
    poll_samples: int
    lg_runs: int
    lg_start_samples: int
    sleep_s: float
    skip_langgraph: bool
    skip_pool: bool
    langgraph_cli: str


@dataclass
class Burst:
    """A batch of runs: when each was created, when its node ran, when its status changed."""

    created: list[Created]
    ends: list[float | None]  # status time (threadwatch status_since / LangGraph updated_at)
    node_t: list[float | None]  # the node's time.time(), from the thread's values
    cpu_ms: dict[str, float] = field(default_factory=dict)  # CPU ms per run, by group
    others: float | None = None  # CPU % of other processes meanwhile
    resumed: float | None = None  # when paused workers were resumed (the clock's start)

    @property
    def first_sent(self) -> float:
        return min(c.sent for c in self.created)

    @property
    def rate(self) -> float:
        start = self.resumed or self.first_sent
        return len(self.created) / (max(e for e in self.ends if e) - start)

    @property
    def create_rate(self) -> float:
        return len(self.created) / (max(c.answered for c in self.created) - self.first_sent)

    @property
    def visible_delay(self) -> Latency | None:
        return lat(e - t if e and t else None for e, t in zip(self.ends, self.node_t, strict=True))


class Bench:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        spawn = multiprocessing.get_context("spawn")
        self.pool = ProcessPoolExecutor(cfg.clients, mp_context=spawn)
        self.client_pids = list(set(self.pool.map(warm, [0.3] * cfg.clients)))
        self.targets: list[Target] = []
        self.side: dict[str, dict[str, Any]] = {}  # figure -> server -> value

    def close(self) -> None:
        self.pool.shutdown(cancel_futures=True)

    def put(self, server: str, figure: str, value: Any) -> None:
        self.side.setdefault(figure, {})[server] = value

    # -- measurements that work on threadwatch and langgraph dev alike --------------------

    def in_clients(self, url: str, jobs: list[Job], rate: float | None = None) -> list[Created]:
        n, per = self.cfg.clients, self.cfg.client_threads
        start_at = time.time() + 0.5
        each = rate / n if rate else None
        futures = [
            self.pool.submit(create_runs, url, jobs[i::n], per, start_at, each) for i in range(n)
        ]
        return [c for f in futures for c in f.result()]

    def new_threads(self, url: str, count: int) -> list[str]:
        n = self.cfg.clients
        parts = [count // n + (1 if i < count % n else 0) for i in range(n)]
        per = self.cfg.client_threads
        futures = [self.pool.submit(create_threads, url, p, per) for p in parts]
        return [t for f in futures for t in f.result()]

    def read_threads(self, url: str, ids: list[str]) -> list[dict[str, Any]]:
        n, per = self.cfg.clients, self.cfg.client_threads
        futures = [self.pool.submit(get_threads, url, ids[i::n], per) for i in range(n)]
        by_id = {t["thread_id"]: t for f in futures for t in f.result()}
        return [by_id[i] for i in ids]

    def settle(self, url: str, timeout: float = 300.0) -> None:
        """Until no thread is busy (POST /threads/count, on either server)."""
        with httpx.Client(base_url=url, timeout=30.0) as client:

            def idle() -> bool:
                return client.post("/threads/count", json={"status": "busy"}).json() == 0

            wait_for(idle, timeout, "every run to end", 0.05)

    def burst(
        self,
        api: Api,
        runs: int,
        rate: float | None = None,
        thread_ids: list[str] | None = None,
        paused: Callable[[bool], None] | None = None,
    ) -> Burst:
        """``runs`` noop runs on existing threads (made first, outside the clock), created
        by the client processes; then the threads are read back. With ``paused``, the runs
        are created while the workers are stopped, and the clock starts when they resume."""
        ids = thread_ids or self.new_threads(api.url, runs)
        jobs: list[Job] = [(t, "noop", {}, {}) for t in ids]
        watch, cpu = CpuWatch(), CpuSplit({**api.cpu(), "clients": self.client_pids})
        if paused:
            paused(True)
            try:
                created = self.in_clients(api.url, jobs, rate)
            finally:
                paused(False)
            resumed: float | None = time.time()
        else:
            created, resumed = self.in_clients(api.url, jobs, rate), None
        self.settle(api.url)
        cpu_ms, others = cpu.ms_each(len(created)), watch.others_percent()
        threads = self.read_threads(api.url, [c.thread_id for c in created])
        ends = [ts(t.get(api.status_field)) for t in threads]
        node_t = [(t.get("values") or {}).get("t") for t in threads]
        return Burst(created, ends, node_t, cpu_ms, others, resumed)

    def polled(self, api: Api, samples: int) -> dict[str, Latency]:
        """Noop runs one at a time on fresh threads, each watched by polling GET
        /threads/{id} every 2 ms until it is idle with the node's values."""
        client = sdk_client(api.url)
        found: dict[str, list[float]] = {"start": [], "since": [], "seen": [], "total": []}
        ids = [client.threads.create()["thread_id"] for _ in range(samples)]
        for thread_id in ids:
            sent = time.time()
            run = client.runs.create(thread_id, "noop", input={})
            while True:
                thread = client.threads.get(thread_id)
                now = time.time()
                values = thread.get("values") or {}
                if thread["status"] == "idle" and values.get("t"):
                    break
                time.sleep(0.002)
            t = values["t"]
            found["start"].append(t - ts(run["created_at"]))
            found["since"].append(ts(thread.get(api.status_field)) - t)
            found["seen"].append(now - t)
            found["total"].append(now - sent)
            time.sleep(0.02)
        client.close()
        return {k: Latency(v) for k, v in found.items()}

    def concurrency(self, api: Api, graph: str, count: int = 8) -> tuple[float, Latency | None]:
        """``count`` sleeping runs on ``count`` threads, created at once from as many client
        threads: wall time from the first create to the last status change; and each run's
        start latency (created_at -> node started)."""
        client = sdk_client(api.url)
        ids = [client.threads.create()["thread_id"] for _ in range(count)]
        barrier = threading.Barrier(count)

        def one(thread_id: str) -> tuple[float, dict[str, Any]]:
            own = sdk_client(api.url)
            own.http.get("/ok")
            barrier.wait()
            sent = time.time()
            run = own.runs.create(thread_id, graph, input={"seconds": self.cfg.sleep_s})
            return sent, run

        with ThreadPoolExecutor(count) as pool:
            sent_runs = list(pool.map(one, ids))
        self.settle(api.url, 120)
        threads = [client.threads.get(t) for t in ids]
        client.close()
        first = min(s for s, _ in sent_runs)
        last = max(ts(t.get(api.status_field)) or 0.0 for t in threads)
        starts = lat(
            (t["values"] or {}).get("t0", 0) - ts(r["created_at"])
            for (_, r), t in zip(sent_runs, threads, strict=True)
        )
        return last - first, starts

    # -- 1. throughput -------------------------------------------------------------------

    def throughput(self, stack: Stack, tw: Api) -> None:
        cfg, n = self.cfg, self.cfg.runs
        stack.start_workers(2)
        self.burst(tw, 40)  # warm-up
        rows = []

        ids = self.new_threads(tw.url, n)
        calls0 = stack.command_calls()
        main = self.burst(tw, n, thread_ids=ids)
        calls = stack.command_calls()
        commands = sum(calls.values()) - sum(calls0.values())
        evalsha = calls.get("cmdstat_evalsha", 0) - calls0.get("cmdstat_evalsha", 0)
        rows.append(self.row("runs on existing threads (POST /threads/{id}/runs)", main))

        stateless = self.stateless(stack, tw, n)
        rows.append(stateless)
        drain = self.burst(tw, n, paused=stack.pause_workers)
        rows.append(self.row("backlog drain: created while the workers were stopped", drain))

        # Steady load at about half the measured rate, with a polling client on the side.
        steady_rate = max(20.0, round(main.rate * 0.5, -1))
        seconds = 4.0 if cfg.quick else 8.0
        count = int(steady_rate * seconds)
        ids = self.new_threads(tw.url, count)
        box: list[Burst] = []
        side = threading.Thread(target=lambda: box.append(self.burst(tw, count, steady_rate, ids)))
        side.start()
        time.sleep(1.0)
        polled = self.polled(tw, cfg.poll_samples)
        side.join()
        steady = box[0]
        rows.append(
            self.row(f"steady load: {steady_rate:g} runs/s offered for {seconds:g} s", steady)
        )
        table(
            [
                "noop graph, 2 workers x 10 threads",
                "runs",
                "created/s",
                "completed/s",
                "delay p50",
                "delay p99",
                "CPU ms/run: API",
                "workers",
                "Redis",
                "clients",
                "others CPU %",
            ],
            rows,
            f"1. Throughput: {cfg.clients} client processes x {cfg.client_threads} threads "
            "(langgraph_sdk sync client). completed/s = runs / (first create .. last terminal "
            "status); delay (ms) = thread status_since - the node's time.time()",
        )
        note(
            f"Redis commands per run (runs on existing threads; incl. those inside scripts): "
            f"{commands / n:.0f}, of which EVALSHA {evalsha / n:.1f}; plain-RQ no-op job "
            f"rates are below. Existing threads vs stateless: {faster(main.rate, stateless[3])}"
        )
        table(
            ["polling client during the steady load", "samples", "p50 ms", "p99 ms", "max ms"],
            [
                ["node end -> status_since", len(polled["since"].samples), *pcts(polled["since"])],
                [
                    "node end -> GET /threads/{id} sees idle (polled every 2 ms)",
                    len(polled["seen"].samples),
                    *pcts(polled["seen"]),
                ],
                [
                    "run created_at -> node ran",
                    len(polled["start"].samples),
                    *pcts(polled["start"]),
                ],
            ],
        )
        self.targets.append(Target("runs completed/s, noop, 2 workers", main.rate, 300, "/s", True))
        if main.visible_delay:
            p99 = main.visible_delay.p99
            self.targets.append(Target("run end -> status visible p99, saturated", p99, 50, "ms"))
        if steady.visible_delay:
            self.targets.append(
                Target(
                    f"run end -> status visible p99, {steady_rate:g} runs/s",
                    steady.visible_delay.p99,
                    50,
                    "ms",
                )
            )
        self.targets.append(
            Target("run end -> status seen by polling p99, steady", polled["seen"].p99, 50, "ms")
        )
        self.put("threadwatch", "runs completed/s (noop, existing threads)", main.rate)
        self.put("threadwatch", "runs created/s (same burst)", main.create_rate)
        self.put(
            "threadwatch", "run end -> status p50 / p99 ms (saturated)", pair(main.visible_delay)
        )
        self.put(
            "threadwatch",
            "CPU ms per run, all server processes",
            sum(v for k, v in main.cpu_ms.items() if k != "clients"),
        )

    def row(self, label: str, b: Burst) -> list[Any]:
        cpu = [b.cpu_ms.get(k) for k in ("API", "workers", "Redis", "clients")]
        delay = pcts(b.visible_delay)[:2]
        return [label, len(b.created), b.create_rate, b.rate, *delay, *cpu, b.others]

    def stateless(self, stack: Stack, tw: Api, n: int) -> list[Any]:
        """Stateless runs (POST /runs: a temporary thread, deleted when the run ends): the
        end of each is its RQ job's ended_at (thread and run are gone by then)."""
        jobs: list[Job] = [(None, "noop", {}, {}) for _ in range(n)]
        watch, cpu = CpuWatch(), CpuSplit({**tw.cpu(), "clients": self.client_pids})
        created = self.in_clients(tw.url, jobs)
        self.settle(tw.url)
        _, last, _ = stack.job_window([c.run_id for c in created])
        ms, others = cpu.ms_each(n), watch.others_percent()
        first = min(c.sent for c in created)
        create_rate = n / (max(c.answered for c in created) - first)
        label = "stateless runs (POST /runs; temporary thread deleted at the end)"
        cpus = [ms[k] for k in ("API", "workers", "Redis", "clients")]
        return [label, n, create_rate, n / (last - first), None, None, *cpus, others]

    def rq_rates(self, stack: Stack) -> None:
        """No-op jobs through RQ alone, per worker class (2 processes each)."""
        rows = []

        def measure(label: str, queue: str, jobs: int, start: Callable[[], Any]) -> float:
            start()
            cpu = CpuSplit({"workers": [w.process.pid for w in stack.workers if w.process]})
            watch = CpuWatch()
            ids = stack.enqueue_noops(queue, jobs)
            first, last, finished = stack.job_window(ids)
            worker_ms, others = cpu.ms_each(jobs)["workers"], watch.others_percent()
            stack.stop_workers()
            rate = jobs / (last - first)
            rows.append([label, jobs, finished, rate, worker_ms, others])
            return rate

        jobs = self.cfg.noop_jobs
        tw_rate = measure(
            "threadwatch worker (10 ThreadWorker threads)",
            RUNS_QUEUE,
            jobs,
            lambda: stack.start_workers(2),
        )
        measure(
            "rq worker -w rq.worker.SimpleWorker",
            NOOP_QUEUE,
            jobs,
            lambda: stack.start_rq(["worker", "-w", "rq.worker.SimpleWorker", NOOP_QUEUE], 2),
        )
        measure(
            "rq worker (forking Worker: a fork per job)",
            NOOP_QUEUE,
            max(200, jobs // 5),
            lambda: stack.start_rq(["worker", NOOP_QUEUE], 2),
        )
        table(
            ["2 processes of", "jobs", "finished", "jobs/s", "worker CPU ms/job", "others CPU %"],
            rows,
            "Plain RQ, no-op job (bench.rqjobs.noop), enqueued in pipelines of 1000: "
            "jobs / (first started_at .. last ended_at)",
        )
        self.put("threadwatch", "plain RQ no-op jobs/s, same 2 worker processes", tw_rate)

    # -- 2. concurrency and start latency ------------------------------------------------

    def concurrency_phase(self, stack: Stack, tw: Api) -> None:
        cfg = self.cfg
        stack.start_workers(1)  # default concurrency (10)
        self.burst(tw, 20)  # warm-up
        rows = []
        for graph, label in (("sleep", "time.sleep, sync node"), ("asleep", "asyncio.sleep")):
            wall, starts = self.concurrency(tw, graph)
            start_p50 = starts.p50 if starts else None
            rows.append(
                [f"8 runs x {cfg.sleep_s:g} s, {label}", wall, start_p50, verdict(wall <= 6)]
            )
            self.put("threadwatch", f"8 runs x {cfg.sleep_s:g} s ({graph}), wall s", wall)
            if graph == "sleep":
                self.targets.append(Target("8 x 2 s runs, 1 worker process: wall", wall, 6, "s"))
        table(
            ["1 worker process, default concurrency (10)", "wall s", "start p50 ms", "<= 6 s"],
            rows,
            "2. Concurrency: runs created at once on 8 threads from 8 client threads; wall = "
            "first create .. last status change",
        )
        idle = self.polled(tw, cfg.start_samples)
        table(
            ["idle system, noop runs one at a time", "samples", "p50 ms", "p99 ms", "max ms"],
            [
                [
                    "run created_at -> node ran (start latency)",
                    len(idle["start"].samples),
                    *pcts(idle["start"]),
                ],
                ["node end -> status_since", len(idle["since"].samples), *pcts(idle["since"])],
                [
                    "node end -> GET /threads/{id} sees idle (polled every 2 ms)",
                    len(idle["seen"].samples),
                    *pcts(idle["seen"]),
                ],
                [
                    "client: POST .../runs sent -> sees idle",
                    len(idle["total"].samples),
                    *pcts(idle["total"]),
                ],
            ],
        )
        self.targets.append(Target("start latency p50, idle", idle["start"].p50, 100, "ms"))
        self.put("threadwatch", "start latency p50 / p99 ms (idle)", pair(idle["start"]))
        self.put(
            "threadwatch", "run end -> seen by polling p50 / p99 ms (idle)", pair(idle["seen"])
        )

    # -- 3. memory -----------------------------------------------------------------------

    def memory_phase(self, stack: Stack, tw: Api) -> None:
        """Worker process tree memory idle and with N sleeping runs (the worker of phase 2,
        then one with --concurrency 50, then an rq worker-pool)."""
        rows = []
        hold = 3.0

        def with_runs(label: str, root: int, runs: int) -> None:
            self.burst(tw, max(runs, 20))  # every worker thread has run something
            time.sleep(0.5)
            idle = memory([root])
            ids = self.new_threads(tw.url, runs)
            client = sdk_client(tw.url)
            with ThreadPoolExecutor(16) as pool:
                list(
                    pool.map(lambda t: client.runs.create(t, "sleep", input={"seconds": hold}), ids)
                )
            wait_for(lambda: stack.in_flight() == runs, 10, "the runs to be in flight")
            busy = peak_memory([root], hold * 0.6)
            self.settle(tw.url)
            after = memory([root])
            per_run = (busy.pss_mb - idle.pss_mb) / runs
            per_run_rss = (busy.rss_mb - idle.rss_mb) / runs
            rows.append(
                [
                    label,
                    runs,
                    idle.rss_mb,
                    idle.pss_mb,
                    idle.threads,
                    busy.rss_mb,
                    busy.pss_mb,
                    busy.threads,
                    per_run_rss,
                    per_run,
                    after.pss_mb,
                ]
            )
            self.put(
                "threadwatch",
                f"memory: {label}: idle / busy PSS MB (per run)",
                f"{idle.pss_mb:.0f} / {busy.pss_mb:.0f} ({per_run:.2f})",
            )

        (worker,) = stack.workers
        with_runs("threadwatch worker, default concurrency 10", worker.process.pid, 10)
        stack.stop_workers()
        (worker,) = stack.start_workers(1, 50)
        with_runs("threadwatch worker --concurrency 50", worker.process.pid, 50)
        stack.stop_workers()
        if not self.cfg.skip_pool:
            argv = ["worker-pool", "-n", "10", "-w", "bench.rqjobs.PreloadedWorker", RUNS_QUEUE]
            (pool,) = stack.start_rq(argv, 1, 10)
            with_runs("rq worker-pool -n 10 (forking Worker)", pool.process.pid, 10)
            stack.stop_workers()
        table(
            [
                "process tree",
                "runs",
                "idle RSS MB",
                "idle PSS MB",
                "threads",
                "busy RSS MB",
                "busy PSS MB",
                "threads",
                "RSS MB/run",
                "PSS MB/run",
                "PSS after MB",
            ],
            rows,
            f"3. Memory: a worker's process tree (its RQ scheduler child; forked horses) idle "
            f"and at the peak with N runs sleeping {hold:g} s in a sync node; PSS counts shared "
            "pages once",
        )

    # -- 4. langgraph dev ----------------------------------------------------------------

    def langgraph(self) -> None:
        cfg, cli, name = self.cfg, self.cfg.langgraph_cli, "langgraph dev"
        if not Path(cli).exists():
            note(f"\n4. langgraph dev: skipped, {cli} does not exist ({LG_INSTALL})")
            return
        try:
            lg = LangGraphDev(cli, 10)
        except RuntimeError as exc:
            note(f"\n4. langgraph dev could not start: {exc}")
            return
        try:
            api = Api(name, lg.url, "updated_at", lambda: {"server": [lg.process.pid]})
            self.burst(api, 20)  # warm-up
            b = self.burst(api, cfg.lg_runs)
            self.put(name, "runs completed/s (noop, existing threads)", b.rate)
            self.put(name, "runs created/s (same burst)", b.create_rate)
            self.put(name, "run end -> status p50 / p99 ms (saturated)", pair(b.visible_delay))
            self.put(name, "CPU ms per run, all server processes", b.cpu_ms["server"])
            for graph in ("sleep", "asleep"):
                wall, _ = self.concurrency(api, graph)
                self.put(name, f"8 runs x {cfg.sleep_s:g} s ({graph}), wall s", wall)
            idle = self.polled(api, cfg.lg_start_samples)
            self.put(name, "start latency p50 / p99 ms (idle)", pair(idle["start"]))
            self.put(name, "run end -> seen by polling p50 / p99 ms (idle)", pair(idle["seen"]))
            mem = memory([lg.process.pid])
            self.put(name, "memory: server process PSS MB (idle, after the runs)", mem.pss_mb)
        finally:
            lg.stop()
        if cfg.quick:
            return
        try:
            lg = LangGraphDev(cli, None)
        except RuntimeError as exc:
            note(f"langgraph dev (default jobs per worker) could not start: {exc}")
            return
        try:
            api = Api(name, lg.url, "updated_at", lambda: {"server": [lg.process.pid]})
            self.burst(api, 5)
            wall, _ = self.concurrency(api, "sleep")
            self.put(f"{name}, default", f"8 runs x {cfg.sleep_s:g} s (sleep), wall s", wall)
        finally:
            lg.stop()

    def side_by_side(self) -> None:
        order = ["threadwatch", "langgraph dev", "langgraph dev, default"]
        used = [s for s in order if any(s in v for v in self.side.values())]
        rows = [[figure, *(v.get(s) for s in used)] for figure, v in self.side.items()]
        table(
            ["figure", *used],
            rows,
            "4. Side by side. threadwatch: API + 2 worker processes (1 for the 8-run and "
            "start-latency rows); langgraph dev: one process, --n-jobs-per-worker 10 "
            "('default': its dev default, 1 job)",
        )

    def summary(self) -> None:
        rows = []
        for t in self.targets:
            sign = ">=" if t.higher_is_better else "<="
            rows.append([t.name, t.value, f"{sign} {t.limit:,g} {t.unit}", verdict(t.ok)])
        table(["target", "measured", "target", ""], rows, "Summary against the issue's targets")


# -- entry point -------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, Config]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--quick", action="store_true", help="smoke test: fewer runs, about 1 minute")
    add("--runs", type=int, help="runs per throughput burst (3000; 300 with --quick)")
    add("--clients", type=int, default=2, help="client processes (2)")
    add("--client-threads", type=int, default=8, help="threads per client process (8)")
    add("--noop-jobs", type=int, help="plain RQ jobs per worker kind (5000; 1000 --quick)")
    add("--start-samples", type=int, help="sequential runs for start latency (50; 15 --quick)")
    add("--sleep", type=float, default=2.0, help="seconds each concurrent run sleeps (2)")
    add(
        "--redis-server",
        nargs="?",
        const="redis-server",
        metavar="BINARY",
        help="start a redis-server binary (default: embedded Valkey)",
    )
    add("--langgraph-cli", default=LANGGRAPH_CLI, help=f"`langgraph` CLI ({LANGGRAPH_CLI})")
    add("--skip-langgraph", action="store_true", help="no langgraph dev comparison")
    add("--skip-pool", action="store_true", help="no rq worker-pool memory row")
    args = parser.parse_args(argv)
    quick = args.quick
    cfg = Config(
        quick=quick,
        runs=args.runs or (300 if quick else 3000),
        clients=max(1, args.clients),
        client_threads=max(1, args.client_threads),
        noop_jobs=args.noop_jobs or (1000 if quick else 5000),
        start_samples=args.start_samples or (15 if quick else 50),
        poll_samples=15 if quick else 40,
        lg_runs=100 if quick else 600,
        lg_start_samples=5 if quick else 15,
        sleep_s=args.sleep,
        skip_langgraph=args.skip_langgraph,
        skip_pool=args.skip_pool,
        langgraph_cli=args.langgraph_cli,
    )
    return args, cfg


def main(argv: list[str] | None = None) -> int:
    args, cfg = parse_args(argv)
    if args.redis_server:
        redis_server = servers.start_redis_server(args.redis_server)
    else:
        redis_server = servers.start_embedded()
    started = time.perf_counter()
    note(f"threadwatch run benchmark - {time.strftime('%Y-%m-%d %H:%M:%S')}")
    note(f"server: {redis_server.kind}, version {redis_server.version}, {redis_server.url}")
    quick = " (quick)" if cfg.quick else ""
    note(f"machine: {os.cpu_count()} CPUs; python {sys.version.split()[0]}{quick}")
    load_note("machine load at start")
    watch = CpuWatch()
    stack = bench = None
    try:
        stack = Stack(redis_server)
        bench = Bench(cfg)
        tw = Api("threadwatch", stack.api.url, "status_since", stack.cpu_groups)
        bench.throughput(stack, tw)
        stack.stop_workers()
        bench.rq_rates(stack)
        bench.concurrency_phase(stack, tw)
        bench.memory_phase(stack, tw)
        if not cfg.skip_langgraph:
            bench.langgraph()
        bench.side_by_side()
        bench.summary()
        others = watch.others_line()
        if others is not None:
            note(f"\n{others}")
    finally:
        if bench is not None:
            bench.close()
        if stack is not None:
            stack.close()
        redis_server.stop()
    note(f"\ntotal time {time.perf_counter() - started:,.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
