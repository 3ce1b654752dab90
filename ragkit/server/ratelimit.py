"""Per-key request rate limiting, in its own module so the process state can own a limiter
without importing the routes' auth dependencies."""

from __future__ import annotations

import threading
import time


class RateLimiter:
    """A token bucket per key: ``limit`` requests per minute, bursts up to ``limit``.

    It lives in the worker process's memory, so with ``--workers N`` each worker allows the
    rate on its own (the effective limit is up to N times higher)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str, limit: int) -> float:
        """0 when the request may go ahead, else the seconds until it may."""
        if limit <= 0:
            return 0.0
        rate = limit / 60.0
        now = time.monotonic()
        with self._lock:
            tokens, stamp = self._buckets.get(key, (float(limit), now))
            tokens = min(float(limit), tokens + (now - stamp) * rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / rate
