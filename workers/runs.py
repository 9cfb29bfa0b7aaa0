"""The RQ job that executes a run: it takes the run id and re-reads everything else."""

from __future__ import annotations

import threading

from redis import Redis

from threadwatch.graphs import load_registry
from threadwatch.runner import Runner
from threadwatch.settings import get_settings
from threadwatch.store.keys import Keys

_runner: Runner | None = None
# Redis connections a run (or a worker thread) may hold at once: a blocking dequeue or a
# running script, the cancel watcher, checkpoint reads and writes.
CONNECTIONS_EACH = 4


def pool_size(threads: int) -> int:
    """Connections for a pool shared by ``threads`` threads (redis-py's default is 100,
    which 50 runs at once exceed)."""
    return max(100, CONNECTIONS_EACH * threads + 20)


_lock = threading.Lock()


def runner(concurrency: int | None = None) -> Runner:
    """This process's Runner: one Redis pool and one graph registry, built on first use;
    the pool holds enough connections for ``concurrency`` runs at once."""
    global _runner
    with _lock:
        if _runner is None:
            settings = get_settings()
            if not settings.redis_url:
                raise RuntimeError("REDIS_URL is not set")
            runs = concurrency or settings.worker_concurrency
            _runner = Runner(
                Redis.from_url(settings.redis_url, max_connections=pool_size(runs)),
                Keys(settings.key_prefix),
                load_registry(settings.graphs_config),
                settings.run_timeout_seconds,
                settings.webhook_secret,
                settings.webhook_allow_private,
                settings.lease_seconds,
                settings.status_history_limit,
            )
        return _runner


def execute_run(run_id: str, thread_id: str | None = None) -> str | None:
    """Execute the run (a no-op if it already ended or was cancelled before starting).
    Jobs name the run and its thread (jobs of earlier versions the run only)."""
    return runner().execute(run_id, thread_id)
