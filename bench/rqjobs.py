"""RQ pieces for bench_runs.py that worker processes import by name: a no-op job (plain RQ
job rates) and a forking Worker that loads the run graphs before it forks (memory row)."""

from __future__ import annotations

from typing import Any

from rq import Worker


def noop() -> None:
    return None


class PreloadedWorker(Worker):
    """RQ's forking Worker with the threadwatch Runner (graphs, Redis pool) built in the
    worker process, so each run's forked horse inherits it instead of importing LangGraph."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from threadwatch_workers.jobs import runner

        runner()
