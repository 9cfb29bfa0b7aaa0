"""The benchmark's data set and the work its child processes do.

Everything here is a pure function of (thread index, seed), so every process (loaders,
ingestion clients, the parent choosing query values) derives the same ids, metadata and
statuses without sharing state. Functions run in child processes take plain arguments
(picklable) and connect to Redis themselves.
"""

from __future__ import annotations

import copy
import os
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from redis import Redis

from threadwatch.domain import ThreadStatus
from threadwatch.runs.emitter import Emitter
from threadwatch.store.keys import Keys
from threadwatch.store.scripts import Scripts
from threadwatch.store.threads import ThreadStore

M64 = (1 << 64) - 1
PIPELINE_DEPTH = 1000

# Metadata: three keys of low, medium and high cardinality, uniform and independent.
TENANTS = 4
GRAPHS = 100
USERS = 10_000
# Status shares in percent; a thread's status comes from the one event it gets at load.
STATUS_SHARES = (
    (ThreadStatus.IDLE, 70),
    (ThreadStatus.INTERRUPTED, 15),
    (ThreadStatus.ERROR, 10),
    (ThreadStatus.BUSY, 5),
)
# The load event that leaves a fresh thread in each status (each creates one run record).
LOAD_EVENT = {
    ThreadStatus.IDLE: "run.succeeded",
    ThreadStatus.INTERRUPTED: "run.interrupted",
    ThreadStatus.ERROR: "run.failed",
    ThreadStatus.BUSY: "run.started",
}
# Run-id namespaces: the load's runs, and one per ingestion benchmark.
ROUND_LOAD, ROUND_EMITTER, ROUND_HTTP = 0, 1, 2

_STATUS_TABLE: list[ThreadStatus] = [s for s, share in STATUS_SHARES for _ in range(share)]


def mix64(x: int) -> int:
    """splitmix64 finalizer: a cheap, well-spread hash of an integer."""
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def tenant_value(k: int) -> str:
    return f"tenant-{k}"


def graph_value(k: int) -> str:
    return f"graph-{k:03d}"


def user_value(k: int) -> str:
    return f"user-{k:05d}"


@dataclass(frozen=True)
class Dataset:
    """N threads; thread i has a fixed id, metadata and status."""

    n: int
    seed: int = 1

    def _uuid(self, a: int, b: int) -> str:
        return str(uuid.UUID(int=(mix64(a) << 64) | mix64(b), version=4))

    def thread_id(self, i: int) -> str:
        return self._uuid(self.seed * 0x1000003 + 2 * i, self.seed * 0x1000003 + 2 * i + 1)

    def run_id(self, i: int, round_: int) -> str:
        base = (self.seed * 0x7F4A7C15 + round_ * 0x9E3779B9) << 24
        return self._uuid(base + 2 * i, base + 2 * i + 1)

    def metadata(self, i: int) -> dict[str, Any]:
        h = mix64(i ^ (self.seed << 48) ^ 0x5DEECE66D)
        return {
            "tenant": tenant_value(h % TENANTS),
            "graph_id": graph_value((h >> 8) % GRAPHS),
            "user": user_value((h >> 20) % USERS),
        }

    def status(self, i: int) -> ThreadStatus:
        return _STATUS_TABLE[mix64(i ^ (self.seed << 40) ^ 0xB5AD4ECEDA1CE2A9) % 100]


def chunks(start: int, stop: int, parts: int) -> list[tuple[int, int]]:
    """[start, stop) split into `parts` contiguous ranges of nearly equal size."""
    size, extra = divmod(stop - start, parts)
    out, lo = [], start
    for p in range(parts):
        hi = lo + size + (1 if p < extra else 0)
        out.append((lo, hi))
        lo = hi
    return out


# -- loading (run in child processes) -----------------------------------------------------


class _Captured(Exception):
    """Raised by _Recorder to stop ThreadStore.create once its script call is built."""


class _Recorder:
    """Stands in for Scripts.create_thread: records the keys and args ThreadStore.create
    passes, so that the loader sends exactly what create() would, but pipelined."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[Any], list[Any]]] = []

    def __call__(self, keys: list[Any], args: list[Any], client: Any = None) -> Any:
        self.calls.append((keys, args))
        raise _Captured


def create_threads(url: str, prefix: str, n: int, seed: int, lo: int, hi: int) -> float:
    """Create threads lo..hi-1 as ThreadStore.create does (same script, keys and args,
    captured from create() itself), PIPELINE_DEPTH calls per round trip; returns seconds."""
    redis = Redis.from_url(url)
    keys, scripts, ds = Keys(prefix), Scripts(redis), Dataset(n, seed)
    recorder = _Recorder()
    capturing = copy.copy(scripts)
    capturing.create_thread = recorder  # type: ignore[assignment]
    store = ThreadStore(redis, keys, capturing)
    started = time.perf_counter()
    for base in range(lo, hi, PIPELINE_DEPTH):
        recorder.calls.clear()
        for i in range(base, min(base + PIPELINE_DEPTH, hi)):
            try:
                store.create(ds.thread_id(i), ds.metadata(i))
            except _Captured:
                pass
        pipe = redis.pipeline(transaction=False)
        for call_keys, call_args in recorder.calls:
            scripts.create_thread(keys=call_keys, args=call_args, client=pipe)
        for created, _ in pipe.execute():
            if created != 1:
                raise RuntimeError("a benchmark thread already existed: is the database empty?")
    elapsed = time.perf_counter() - started
    redis.close()
    return elapsed


def load_events(n: int, seed: int, lo: int, hi: int) -> list[dict[str, str]]:
    """One event per thread that gives it its status (and one run record)."""
    ds = Dataset(n, seed)
    return [
        {
            "thread_id": ds.thread_id(i),
            "run_id": ds.run_id(i, ROUND_LOAD),
            "type": LOAD_EVENT[ds.status(i)],
        }
        for i in range(lo, hi)
    ]


def emit_load_events(url: str, prefix: str, n: int, seed: int, lo: int, hi: int) -> float:
    """Give threads lo..hi-1 their status through Emitter.emit_many; returns seconds."""
    emitter = Emitter(Redis.from_url(url), prefix)
    started = time.perf_counter()
    for base in range(lo, hi, PIPELINE_DEPTH):
        emitter.emit_many(load_events(n, seed, base, min(base + PIPELINE_DEPTH, hi)))
    return time.perf_counter() - started


def delete_run_data(url: str, prefix: str, n: int, seed: int, lo: int, hi: int) -> int:
    """Delete the load's run records (run hash and thread runs zset) of threads lo..hi-1."""
    redis = Redis.from_url(url)
    keys, ds = Keys(prefix), Dataset(n, seed)
    deleted = 0
    for base in range(lo, hi, PIPELINE_DEPTH):
        names = []
        for i in range(base, min(base + PIPELINE_DEPTH, hi)):
            names += [keys.run(ds.run_id(i, ROUND_LOAD)), keys.thread_runs(ds.thread_id(i))]
        deleted += redis.delete(*names)
    redis.close()
    return deleted


# -- ingestion ---------------------------------------------------------------------------


def lifecycle_events(n: int, seed: int, round_: int, lo: int, hi: int) -> list[dict[str, str]]:
    """Two transitions per thread: a new run starts, then ends with the thread's status
    (so the data set keeps its distribution): run.started then the terminal event."""
    ds = Dataset(n, seed)
    events = []
    for i in range(lo, hi):
        thread_id, run_id = ds.thread_id(i), ds.run_id(i, round_)
        terminal = LOAD_EVENT[ds.status(i)]
        if terminal == "run.started":  # busy threads stay busy through their load run
            terminal = "run.succeeded"
        events.append({"thread_id": thread_id, "run_id": run_id, "type": "run.started"})
        events.append({"thread_id": thread_id, "run_id": run_id, "type": terminal})
    return events


def warm(seconds: float) -> int:
    """A no-op task that keeps a pool process busy, so that a batch of them starts every
    process of the pool (and imports this module, with the app, in each)."""
    time.sleep(seconds)
    return os.getpid()


def emitter_client(
    url: str,
    prefix: str,
    n: int,
    seed: int,
    lo: int,
    hi: int,
    start_at: float,
    round_: int = ROUND_EMITTER,
) -> tuple[int, int, float, float]:
    """Ingest the lifecycle events of threads lo..hi-1 through Emitter.emit_many, 1000 per
    call; events are built before the clock starts at wall time `start_at`.
    Returns (events, applied, wall start, wall end)."""
    emitter = Emitter(Redis.from_url(url), prefix)
    events = lifecycle_events(n, seed, round_, lo, hi)
    batches = [events[b : b + PIPELINE_DEPTH] for b in range(0, len(events), PIPELINE_DEPTH)]
    emitter.store.redis.ping()
    _wait_until(start_at)
    applied = 0
    started = time.time()
    for batch in batches:
        applied += sum(a.result == "applied" for a in emitter.emit_many(batch))
    return len(events), applied, started, time.time()


def http_client(
    api_url: str,
    n: int,
    seed: int,
    lo: int,
    hi: int,
    start_at: float,
    round_: int = ROUND_HTTP,
) -> tuple[int, int, float, float]:
    """POST the lifecycle events of threads lo..hi-1 to /runs/events, 1000 per request,
    one request at a time; bodies are encoded before the clock starts."""
    events = lifecycle_events(n, seed, round_, lo, hi)
    bodies = [
        orjson.dumps({"events": events[b : b + PIPELINE_DEPTH]})
        for b in range(0, len(events), PIPELINE_DEPTH)
    ]
    headers = {"content-type": "application/json"}
    applied = 0
    with httpx.Client(base_url=api_url, timeout=300.0, headers=headers) as client:
        client.get("/ok").raise_for_status()
        _wait_until(start_at)
        started = time.time()
        for body in bodies:
            response = client.post("/runs/events", content=body)
            response.raise_for_status()
            results = orjson.loads(response.content)["results"]
            applied += sum(r["result"] == "applied" for r in results)
        ended = time.time()
    return len(events), applied, started, ended


RAW_SCRIPT = """
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'updated_at', ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[3])
return redis.call('HGET', KEYS[1], 'status')
"""
RAW_DEPTH = 500


def raw_evalsha_client(
    url: str, prefix: str, calls: int, client_no: int, start_at: float
) -> tuple[int, float, float]:
    """The ceiling: a trivial 5-command Lua script by EVALSHA, pipelined RAW_DEPTH deep."""
    redis = Redis.from_url(url)
    script = redis.register_script(RAW_SCRIPT)
    a, b, c = f"{prefix}raw:z:a", f"{prefix}raw:z:b", f"{prefix}raw:z:c"
    redis.ping()
    script(keys=[f"{prefix}raw:h:0", a, b, c], args=["x", 1, "m"])  # loads the script
    _wait_until(start_at)
    started = time.time()
    for base in range(0, calls, RAW_DEPTH):
        pipe = redis.pipeline(transaction=False)
        for i in range(base, min(base + RAW_DEPTH, calls)):
            member = f"c{client_no}:{i % 10_000}"
            script(keys=[f"{prefix}raw:h:{member}", a, b, c], args=["s", i, member], client=pipe)
        pipe.execute()
    ended = time.time()
    redis.close()
    return calls, started, ended


def _wait_until(t: float) -> None:
    """Sleep until wall-clock time t, so that concurrent clients start together."""
    delay = t - time.time()
    if delay > 0:
        time.sleep(delay)
