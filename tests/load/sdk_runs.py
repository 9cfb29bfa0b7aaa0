"""The SDK runs of the crash-under-load test: threads created through the Python SDK, each
given a few runs at once (`enqueue`d behind each other) of the fixture project's `agent`
graph, which succeed, stop at an interrupt or fail. A request cut off by a kill is sent
again to any API process: creating the thread again changes nothing (`if_exists`), and a
run created twice is one more run that must end like the others.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from langgraph_sdk import get_sync_client

from tests.load.apis import Apis
from tests.load.events import RETRY_PAUSE, new_id


@dataclass(frozen=True)
class RunKind:
    """A run's input, its status at the end, and its thread's status after it. Every input
    names each key, so that no value stays in the thread's state from the run before."""

    input: dict[str, Any]
    status: str
    thread_status: str


RUN_KINDS = (
    RunKind({"sleep": 0.1, "ask": False, "fail": False}, "success", "idle"),
    RunKind({"sleep": 0.0, "ask": True, "fail": False}, "success", "interrupted"),
    RunKind({"sleep": 0.0, "ask": False, "fail": True}, "error", "error"),
)
KIND_WEIGHTS = (8, 1, 1)
GRAPH = "agent"


@dataclass
class SdkThread:
    thread_id: str
    kinds: list[RunKind]  # the runs to create, in order
    run_ids: list[str] = field(default_factory=list)  # those created, as acknowledged


def sdk_threads(rng: random.Random, n_threads: int, runs_each: int) -> list[SdkThread]:
    return [
        SdkThread(new_id(rng), rng.choices(RUN_KINDS, KIND_WEIGHTS, k=runs_each))
        for _ in range(n_threads)
    ]


@dataclass
class SdkTally:
    runs: int = 0  # runs acknowledged
    retries: int = 0  # requests sent again after an error
    violations: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def retryable(exc: Exception) -> bool:
    """A transport error (the API process died or restarts) or a 5xx."""
    if isinstance(exc, httpx.TransportError):
        return True
    response = getattr(exc, "response", None)
    return response is None or response.status_code >= 500


class SdkDriver:
    """Creates each thread and its runs on any API process (each try picks one). The SDK
    tries a refused connection again itself for 7.5 s before it gives up."""

    def __init__(self, apis: Apis, tally: SdkTally, patience: float) -> None:
        self.clients = {url: get_sync_client(url=url, timeout=30.0) for url in apis.urls}
        self.apis = apis
        self.tally = tally
        self.patience = patience

    def close(self) -> None:
        for client in self.clients.values():
            client.close()

    def drive(self, thread: SdkThread, seed: float) -> None:
        rng = random.Random(seed)
        created = self._call(
            rng,
            lambda sdk: sdk.threads.create(thread_id=thread.thread_id, if_exists="do_nothing"),
        )
        if created is None:
            return
        for kind in thread.kinds:
            run = self._call(
                rng,
                lambda sdk, kind=kind: sdk.runs.create(
                    thread.thread_id, GRAPH, input=kind.input, multitask_strategy="enqueue"
                ),
            )
            if run is None:
                return
            thread.run_ids.append(run["run_id"])
            with self.tally.lock:
                self.tally.runs += 1

    def _call(self, rng: random.Random, request: Any) -> Any:
        """``request(client)`` until it answers; None (a violation) past the patience."""
        deadline = time.monotonic() + self.patience
        while True:
            url = self.apis.pick(rng)
            try:
                return request(self.clients[url])
            except httpx.HTTPError as exc:
                self.apis.failed(url)
                refused = not retryable(exc)
                if refused or time.monotonic() > deadline:
                    with self.tally.lock:
                        self.tally.violations.append(f"SDK request failed: {exc!r}")
                    return None
                with self.tally.lock:
                    self.tally.retries += 1
                time.sleep(RETRY_PAUSE)
