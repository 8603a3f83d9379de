"""Rate limits: failed-token attempts per client address, kept in memory per process."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque

from starlette.requests import Request

from server.errors import RateLimited


class AuthThrottle:
    """After `max_failures` bad tokens from one address within `window_s`, refuse that address until it cools."""

    def __init__(self, max_failures: int = 20, window_s: float = 60.0) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _prune(self, client: str, now: float) -> deque[float]:
        failures = self._failures[client]
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        return failures

    def check(self, client: str) -> None:
        with self._lock:
            now = time.monotonic()
            failures = self._prune(client, now)
            if len(failures) >= self.max_failures:
                retry = int(failures[0] + self.window_s - now) + 1
                raise RateLimited(f"too many invalid tokens from this address; try again in {retry} s", retry)
            if not failures:
                self._failures.pop(client, None)

    def record_failure(self, client: str) -> None:
        with self._lock:
            self._failures[client].append(time.monotonic())

    def wrong_token(self, request: Request) -> None:
        """A wrong token came from this request's address: refuse it (429) past the limit, otherwise count it.

        Only wrong tokens are throttled: behind a proxy every client shares one address, and a valid token (32 random
        bytes) must still work while someone else's guesses from that address are being refused."""
        client = request.client.host if request.client else "unknown"
        self.check(client)
        self.record_failure(client)
