"""The bot's way of calling the exchange: retries of transient failures, counted and logged."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

from otel_trading import get_logger
from otel_trading.demo import _errors as errors
from otel_trading.demo._stats import DemoStats

_T = TypeVar("_T")
_BACKOFF_S: Final = 0.02  # doubled at each retry; real time, as a venue's rate-limit window is
_LOG = get_logger("demo.exchange")


class ExchangeCalls:
    """Runs exchange calls for the bot. A ``NetworkError`` (rate limit, timeout, reset connection)
    is retried ``retries`` times; an ``ExchangeError`` (the venue refused) is final. Each
    failure is counted by its class and logged as a warning, on the trade when one is active."""

    def __init__(self, stats: DemoStats, latency_scale: float) -> None:
        self._stats = stats
        self._backoff_s = _BACKOFF_S * latency_scale

    async def __call__(self, method: str, call: Callable[[], Awaitable[_T]], *, retries: int = 1) -> _T:
        for attempt in range(retries + 1):
            started = time.perf_counter()
            self._stats.exchange_calls += 1
            try:
                result = await call()
            except errors.BaseError as exc:
                self._failed(method, exc, attempt)
                if not isinstance(exc, errors.NetworkError) or attempt == retries:
                    raise
                await asyncio.sleep(self._backoff_s * 2**attempt)
                continue
            if method == "create_order":
                self._stats.order_latencies_s.append(time.perf_counter() - started)
            return result
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _failed(self, method: str, exc: errors.BaseError, attempt: int) -> None:
        kind = type(exc).__name__
        self._stats.exchange_errors[kind] += 1
        _LOG.warning("exchange call failed", method=method, error_type=kind, attempt=attempt + 1, error=str(exc))
