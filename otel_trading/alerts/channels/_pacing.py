"""How long a channel's worker waits: exponential backoff with full jitter, and a token bucket."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

from otel_trading.alerts.channels._base import RateLimit


class Backoff:
    """Delay before retry ``n`` (1-based): uniform in [0, min(max_s, base_s·2ⁿ⁻¹)] ("full jitter").

    A service's ``Retry-After`` is a floor on top: the delay is at least that long.
    """

    def __init__(self, *, base_s: float = 1.0, max_s: float = 60.0, rng: random.Random | None = None) -> None:
        if base_s <= 0 or max_s < base_s:
            raise ValueError("backoff needs 0 < base_s ≤ max_s")
        self.base_s = base_s
        self.max_s = max_s
        self._rng = rng or random.Random()  # noqa: S311 - jitter spreads retries; it guards no secret

    def delay(self, retry: int, retry_after_s: float | None = None) -> float:
        ceiling = min(self.max_s, self.base_s * 2 ** max(0, retry - 1))
        jittered = self._rng.uniform(0.0, ceiling)
        return max(jittered, retry_after_s or 0.0)


class TokenBucket:
    """``rate.count`` tokens per ``rate.period_s``, bursts up to ``rate.count``; one token per request."""

    def __init__(self, rate: RateLimit, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._per_second = rate.count / rate.period_s
        self._capacity = float(rate.count)
        self._tokens = float(rate.count)
        self._clock = clock
        self._updated = clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        """Takes a token and returns 0, or returns how long to wait until one is there (taking none)."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self._per_second)
            self._updated = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0
            return (1.0 - self._tokens) / self._per_second
