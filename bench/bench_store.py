"""The long-term memory store: get, listing, filtered and semantic search latency, by how many
items lie under the searched prefix. Semantic search on plain Redis scores every item under
the prefix in the process (docs/guides/store.md), so its time grows with them; this puts a
figure on it.

    .venv/bin/python bench/bench_store.py                  # 1,000 and 10,000 items, 1,536 dims
    .venv/bin/python bench/bench_store.py --items 2000 --dims 768

Items are put with their vectors already computed (a seeded random unit vector each), so the
figures are the store's own: Redis round trips, decoding and scoring, without an embedding
model. It starts its own embedded Valkey.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `app` and `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from redis import Redis  # noqa: E402

from bench import servers  # noqa: E402
from bench.bench_core import load_note, note, table  # noqa: E402
from threadwatch.graphs.memory import MemoryStore, StoreIndex  # noqa: E402
from threadwatch.store.item_filter import item_matcher  # noqa: E402
from threadwatch.store.items import ItemStore  # noqa: E402
from threadwatch.store.keys import Keys  # noqa: E402

ITERATIONS = 20


def timed(call: Callable[[], object], iterations: int = ITERATIONS) -> float:
    """The median of ``iterations`` calls, in ms."""
    samples = []
    for _ in range(iterations):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def fill(memory: MemoryStore, namespace: tuple[str, ...], items: int, dims: int) -> None:
    rng = random.Random(11)
    for i in range(items):
        vector = [rng.gauss(0, 1) for _ in range(dims)]
        packed = memory._pack([vector])
        memory.put(namespace, f"item-{i}", {"text": f"memory {i}", "n": i % 10}, None, packed)


def measure(redis: Redis, items: int, dims: int) -> list[object]:
    redis.flushdb()
    memory = MemoryStore(ItemStore(redis, Keys()), StoreIndex(None, dims, ("text",)))
    namespace = ("bench", f"n{items}")
    fill(memory, namespace, items, dims)
    query = [random.Random(3).gauss(0, 1) for _ in range(dims)]
    rare = item_matcher({"n": 3})
    return [
        items,
        dims,
        timed(lambda: memory.get(namespace, "item-7", refresh=False)),
        timed(lambda: memory.items.search(namespace, limit=10)),
        timed(lambda: memory.items.search(namespace, rare, limit=10)),
        timed(lambda: memory.search(namespace, None, 10, 0, False, query), iterations=5),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, action="append", help="items under the prefix")
    parser.add_argument("--dims", type=int, default=1536)
    args = parser.parse_args()
    load_note("bench_store")
    server = servers.start_embedded()
    try:
        redis = Redis.from_url(server.url)
        note(f"server: {server.kind} {server.version}")
        rows = [measure(redis, n, args.dims) for n in args.items or [1000, 10_000]]
        table(
            ["items", "dims", "get ms", "list 10 ms", "filter 10 ms", "semantic 10 ms"],
            rows,
            title="median latency of one call (the API's or a graph's), in this process",
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
