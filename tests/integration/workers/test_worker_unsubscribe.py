"""A worker thread leaves RQ's command channel at once, even while other threads hold the GIL
(as in a worker process running graphs): with redis-py 8.2, RQ's own unsubscribe could make
the worker's exit wait for the listener's 60 s poll."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import redis
from rq import Queue

from threadwatch_workers.worker import ThreadWorker

ROUNDS = 20
BUSY_THREADS = 3
# A stuck listener waits RQ's 60 s poll; one woken by the reply ends at once, within a few
# seconds however contended the GIL and the machine are.
PROMPT = 10.0


@pytest.fixture
def busy_interpreter() -> Iterator[None]:
    """Threads that keep the GIL contended, so that the listener thread and the one stopping
    it interleave as they do in a worker."""
    done = threading.Event()

    def spin() -> None:
        while not done.is_set():
            sum(range(1000))

    spinners = [threading.Thread(target=spin, daemon=True) for _ in range(BUSY_THREADS)]
    for spinner in spinners:
        spinner.start()
    yield
    done.set()
    for spinner in spinners:
        spinner.join()


@pytest.mark.usefixtures("busy_interpreter")
def test_unsubscribe_returns_at_once_and_the_listener_ends(redis_client: redis.Redis) -> None:
    queue = Queue("q", connection=redis_client)
    for round_ in range(ROUNDS):
        worker = ThreadWorker([queue], connection=redis_client, name=f"w{round_}")
        worker.subscribe()
        listener = worker.pubsub_thread
        time.sleep(0.02)
        unsubscribing = threading.Thread(target=worker.unsubscribe, daemon=True)
        started = time.monotonic()
        unsubscribing.start()
        unsubscribing.join(PROMPT)
        took = time.monotonic() - started
        assert not unsubscribing.is_alive(), f"round {round_}: unsubscribe still waits"
        assert took < PROMPT and not listener.is_alive(), (round_, took)
    assert redis_client.pubsub_numsub(worker.pubsub_channel_name) == [
        (worker.pubsub_channel_name.encode(), 0)
    ]
