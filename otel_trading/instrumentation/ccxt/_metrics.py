"""Request, latency and error metrics of exchange calls, and ccxt's rate-limiter state.

Same pattern as the function metrics of ``@traced``: locally aggregated instruments behind
bound handles, cached per (exchange, method) and re-bound when ``configure()`` builds a new
``LocalMetrics`` (``STATE.generation`` changes).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from typing import Any, Final

from otel_trading._state import STATE
from otel_trading.instrumentation._names import (
    ERROR_TYPE,
    EXCHANGE,
    EXCHANGE_ERRORS,
    EXCHANGE_ERRORS_CONSECUTIVE,
    EXCHANGE_LATENCY_BUCKETS_SECONDS,
    EXCHANGE_RATE_LIMIT_INTERVAL,
    EXCHANGE_RATE_LIMIT_QUEUED,
    EXCHANGE_REQUEST_DURATION,
    EXCHANGE_REQUESTS,
    METHOD,
)
from otel_trading.metrics._local import Attributes, BoundCounter, BoundHistogram, LocalCounter, LocalHistogram
from otel_trading.tracing._operation import report_instrumentation_failure

_PRUNE_AT: Final = 64  # tracked exchanges; dead ones are dropped beyond this many


class ExchangeTracker:
    """The exchange instances seen in instrumented calls, held weakly, for the rate-limit gauges."""

    def __init__(self) -> None:
        self._refs: dict[int, weakref.ref[Any]] = {}
        self._lock = threading.Lock()

    def track(self, exchange: Any) -> None:
        # The hot path: a dict lookup and a weakref call, no allocation, for an exchange already seen.
        ref = self._refs.get(id(exchange))
        if ref is not None and ref() is exchange:
            return
        with self._lock:
            if len(self._refs) >= _PRUNE_AT:
                self._refs = {key: r for key, r in self._refs.items() if r() is not None}
            self._refs[id(exchange)] = weakref.ref(exchange)

    def alive(self) -> list[Any]:
        with self._lock:
            refs = list(self._refs.values())
        return [exchange for exchange in (r() for r in refs) if exchange is not None]


TRACKER = ExchangeTracker()


def exchange_id(exchange: Any) -> str:
    value = getattr(exchange, "id", None)
    return value if isinstance(value, str) else type(exchange).__name__


def rate_limit_intervals() -> Iterable[tuple[Attributes, float]]:
    """Seconds ccxt's limiter spaces requests by (``rateLimit`` ms), 0 when ``enableRateLimit`` is off."""
    try:
        intervals: dict[str, float] = {}
        for exchange in TRACKER.alive():
            rate = getattr(exchange, "rateLimit", None)
            if not isinstance(rate, (int, float)) or isinstance(rate, bool):
                continue
            value = rate / 1000 if getattr(exchange, "enableRateLimit", False) else 0.0
            key = exchange_id(exchange)
            intervals[key] = max(intervals.get(key, 0.0), value)
        return [({EXCHANGE: key}, value) for key, value in intervals.items()]
    except Exception:  # noqa: BLE001 - a gauge must not fail the whole collection
        report_instrumentation_failure("ccxt rate-limit interval gauge")
        return []


def rate_limit_queued() -> Iterable[tuple[Attributes, float]]:
    """Requests waiting in the throttler queue of async exchanges (sync ccxt sleeps in the caller)."""
    try:
        queued: dict[str, float] = {}
        for exchange in TRACKER.alive():
            queue = getattr(getattr(exchange, "throttler", None), "queue", None)
            if queue is None:
                continue
            key = exchange_id(exchange)
            queued[key] = queued.get(key, 0.0) + len(queue)
        return [({EXCHANGE: key}, value) for key, value in queued.items()]
    except Exception:  # noqa: BLE001 - a gauge must not fail the whole collection
        report_instrumentation_failure("ccxt rate-limit queue gauge")
        return []


class ExchangeMetrics:
    """Bound handles per (exchange, method) and per (exchange, method, error.type)."""

    def __init__(self) -> None:
        self._generation = -1
        self._durations: dict[tuple[str, str], BoundHistogram] = {}
        self._errors: dict[tuple[str, str, str], BoundCounter] = {}
        self._duration: LocalHistogram | None = None
        self._error_counter: LocalCounter | None = None
        # Calls that raised since the exchange's last success: "3 errors in a row" alerts read it.
        self.consecutive_errors: dict[str, int] = {}

    def _streaks(self) -> Iterable[tuple[Attributes, float]]:
        return [({EXCHANGE: exchange}, count) for exchange, count in list(self.consecutive_errors.items())]

    def bind(self) -> None:
        """Registers the instruments on the ``LocalMetrics`` of the configuration in force."""
        local = STATE.local_metrics
        duration = local.histogram(
            EXCHANGE_REQUEST_DURATION, EXCHANGE_LATENCY_BUCKETS_SECONDS, "s",
            "Duration of instrumented exchange API calls",
        )
        # The request count is the histogram's count: one update per call instead of two.
        local.count_of(duration, EXCHANGE_REQUESTS, "{request}", "Instrumented exchange API calls")
        self._error_counter = local.counter(EXCHANGE_ERRORS, "{error}", "Exchange API calls that raised")
        local.observe_gauge(EXCHANGE_RATE_LIMIT_INTERVAL, rate_limit_intervals, "s",
                            "Minimum spacing of requests enforced by ccxt's rate limiter")
        local.observe_gauge(EXCHANGE_RATE_LIMIT_QUEUED, rate_limit_queued, "{request}",
                            "Requests waiting in ccxt's async rate limiter")
        local.observe_gauge(EXCHANGE_ERRORS_CONSECUTIVE, self._streaks, "{error}",
                            "Calls that raised since the exchange's last successful call")
        self._duration = duration
        self._durations = {}
        self._errors = {}
        self._generation = STATE.generation

    def record(self, exchange: str, method: str, seconds: float, error_type: str | None) -> None:
        if self._generation != STATE.generation:
            self.bind()
        durations = self._durations
        handle = durations.get((exchange, method))
        if handle is None:
            assert self._duration is not None
            handle = durations[(exchange, method)] = self._duration.bind({EXCHANGE: exchange, METHOD: method})
        handle.record(seconds)
        streaks = self.consecutive_errors
        if error_type is None:
            if streaks.get(exchange):
                streaks[exchange] = 0
        else:
            streaks[exchange] = streaks.get(exchange, 0) + 1
            errors = self._errors
            counter = errors.get((exchange, method, error_type))
            if counter is None:
                assert self._error_counter is not None
                counter = errors[(exchange, method, error_type)] = self._error_counter.bind(
                    {EXCHANGE: exchange, METHOD: method, ERROR_TYPE: error_type}
                )
            counter.add(1)


METRICS = ExchangeMetrics()
