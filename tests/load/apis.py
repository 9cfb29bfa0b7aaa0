"""The API processes a load's clients send to, as a client-side balancer would: each try
picks one at random among those that did not just fail (a killed one, or one restarting),
so that a kill costs a client one failed try, not one per request."""

from __future__ import annotations

import random
import threading
import time

# Seconds an API process that failed a request is passed over.
PASS_OVER = 2.0


class Apis:
    def __init__(self, urls: list[str]) -> None:
        self.urls = sorted(urls)
        self.failed_at: dict[str, float] = {}
        self.lock = threading.Lock()

    def pick(self, rng: random.Random) -> str:
        now = time.monotonic()
        with self.lock:
            fine = [u for u in self.urls if now - self.failed_at.get(u, -PASS_OVER) >= PASS_OVER]
        return rng.choice(fine or self.urls)

    def failed(self, url: str) -> None:
        with self.lock:
            self.failed_at[url] = time.monotonic()
