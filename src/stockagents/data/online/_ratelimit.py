"""The rate limiter the online clients share: calls spaced on a monotonic clock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

Clock = Callable[[], float]
Sleep = Callable[[float], None]


class RateLimiter:
    """Spaces calls so that at most ``per_minute`` start in any minute (thread-safe).

    ``clock`` must be monotonic (the default); a wall clock can jump."""

    def __init__(self, per_minute: float, clock: Clock = time.monotonic, sleep: Sleep = time.sleep):
        self.interval = 60.0 / per_minute if per_minute > 0 else 0.0
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def slow_to(self, per_minute: float) -> None:
        """Never exceed ``per_minute`` either (a shared limiter keeps the stricter rate)."""
        if per_minute > 0:
            self.interval = max(self.interval, 60.0 / per_minute)

    def wait(self) -> None:
        """Sleep until the next call may start."""
        with self._lock:
            now = self._clock()
            delay = self._next - now
            if delay > 0:
                self._sleep(delay)
                now += delay
            self._next = now + self.interval
