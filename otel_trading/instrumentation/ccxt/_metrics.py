"""Request, latency and error metrics of exchange calls, and ccxt's rate-limiter state.

Two implementations of the same metrics (names, units, attributes, buckets):

- ``ExchangeMetrics`` (``METRICS``), the fast path while otel-trading is configured: same
  pattern as the function metrics of ``@traced``, locally aggregated instruments behind bound
  handles, cached per (exchange, method) and re-bound when ``configure()`` builds a new
  ``LocalMetrics`` (``STATE.generation`` changes).
- ``ProviderMetrics``, OpenTelemetry API instruments of any ``MeterProvider`` (one passed to
  ``instrument(meter_provider=...)``, or the global one when otel-trading is not configured).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable
from typing import Any, Final

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from otel_trading._state import STATE, Slot
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
_MAX_SERIES: Final = 1024  # cached attribute mappings of ProviderMetrics
_DURATION_DESCRIPTION: Final = "Duration of instrumented exchange API calls"
_REQUESTS_DESCRIPTION: Final = "Instrumented exchange API calls"
_ERRORS_DESCRIPTION: Final = "Exchange API calls that raised"
_INTERVAL_DESCRIPTION: Final = "Minimum spacing of requests enforced by ccxt's rate limiter"
_QUEUED_DESCRIPTION: Final = "Requests waiting in ccxt's async rate limiter"
_STREAK_DESCRIPTION: Final = "Calls that raised since the exchange's last successful call"


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


class ErrorStreaks:
    """Calls that raised since each exchange's last success: "3 errors in a row" alerts read it."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def update(self, exchange: str, error_type: str | None) -> None:
        counts = self.counts
        if error_type is None:
            if counts.get(exchange):
                counts[exchange] = 0
        else:
            counts[exchange] = counts.get(exchange, 0) + 1

    def observe(self) -> Iterable[tuple[Attributes, float]]:
        return [({EXCHANGE: exchange}, count) for exchange, count in list(self.counts.items())]


STREAKS: Final = Slot("exchange error streaks", ErrorStreaks)


def _streaks() -> Iterable[tuple[Attributes, float]]:
    return STREAKS.get().observe()  # the streaks in force when collected


class ExchangeMetrics:
    """Bound handles per (exchange, method) and per (exchange, method, error.type)."""

    def __init__(self) -> None:
        self._generation = -1
        self._durations: dict[tuple[str, str], BoundHistogram] = {}
        self._errors: dict[tuple[str, str, str], BoundCounter] = {}
        self._duration: LocalHistogram | None = None
        self._error_counter: LocalCounter | None = None

    def bind(self) -> None:
        """Registers the instruments on the ``LocalMetrics`` of the configuration in force."""
        local = STATE.local_metrics
        duration = local.histogram(
            EXCHANGE_REQUEST_DURATION, EXCHANGE_LATENCY_BUCKETS_SECONDS, "s", _DURATION_DESCRIPTION,
        )
        # The request count is the histogram's count: one update per call instead of two.
        local.count_of(duration, EXCHANGE_REQUESTS, "{request}", _REQUESTS_DESCRIPTION)
        self._error_counter = local.counter(EXCHANGE_ERRORS, "{error}", _ERRORS_DESCRIPTION)
        local.observe_gauge(EXCHANGE_RATE_LIMIT_INTERVAL, rate_limit_intervals, "s", _INTERVAL_DESCRIPTION)
        local.observe_gauge(EXCHANGE_RATE_LIMIT_QUEUED, rate_limit_queued, "{request}", _QUEUED_DESCRIPTION)
        local.observe_gauge(EXCHANGE_ERRORS_CONSECUTIVE, _streaks, "{error}", _STREAK_DESCRIPTION)
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
        STREAKS.get().update(exchange, error_type)
        if error_type is not None:
            errors = self._errors
            counter = errors.get((exchange, method, error_type))
            if counter is None:
                assert self._error_counter is not None
                counter = errors[(exchange, method, error_type)] = self._error_counter.bind(
                    {EXCHANGE: exchange, METHOD: method, ERROR_TYPE: error_type}
                )
            counter.add(1)


METRICS = ExchangeMetrics()


Readings = Callable[[], Iterable[tuple[Attributes, float]]]


def _observing(read: Readings) -> Callable[[CallbackOptions], list[Observation]]:
    def callback(_options: CallbackOptions) -> list[Observation]:
        return [Observation(value, {key: clean_label(v) for key, v in attributes.items()})
                for attributes, value in read()]

    return callback


def clean_label(value: Any) -> Any:
    """A metric attribute value scrubbed by the redactor in force (a provider of someone else's
    does not redact; otel-trading's own pipeline scrubs labels at collection)."""
    if not isinstance(value, str):
        return value
    redactor = STATE.redactor
    return value if redactor.is_clean_text(value) else redactor.scrub_text(value)


class ProviderMetrics:
    """The exchange metrics as OpenTelemetry API instruments of ``meter``."""

    def __init__(self, meter: Meter) -> None:
        self._duration = meter.create_histogram(
            EXCHANGE_REQUEST_DURATION, unit="s", description=_DURATION_DESCRIPTION,
            explicit_bucket_boundaries_advisory=list(EXCHANGE_LATENCY_BUCKETS_SECONDS),
        )
        self._requests = meter.create_counter(EXCHANGE_REQUESTS, unit="{request}", description=_REQUESTS_DESCRIPTION)
        self._errors = meter.create_counter(EXCHANGE_ERRORS, unit="{error}", description=_ERRORS_DESCRIPTION)
        meter.create_observable_gauge(EXCHANGE_RATE_LIMIT_INTERVAL, [_observing(rate_limit_intervals)], unit="s",
                                      description=_INTERVAL_DESCRIPTION)
        meter.create_observable_gauge(EXCHANGE_RATE_LIMIT_QUEUED, [_observing(rate_limit_queued)],
                                      unit="{request}", description=_QUEUED_DESCRIPTION)
        meter.create_observable_gauge(EXCHANGE_ERRORS_CONSECUTIVE, [_observing(_streaks)], unit="{error}",
                                      description=_STREAK_DESCRIPTION)
        # Attribute mappings made once per (exchange, method): a call allocates none.
        self._attributes: dict[tuple[str, str], dict[str, str]] = {}

    def record(self, exchange: str, method: str, seconds: float, error_type: str | None) -> None:
        attributes = self._attributes.get((exchange, method))
        if attributes is None:
            if len(self._attributes) >= _MAX_SERIES:  # exchange ids of instrument_class() users are open-ended
                self._attributes.clear()
            attributes = self._attributes[(exchange, method)] = {EXCHANGE: clean_label(exchange), METHOD: method}
        self._duration.record(seconds, attributes)
        self._requests.add(1, attributes)
        STREAKS.get().update(exchange, error_type)
        if error_type is not None:
            self._errors.add(1, {**attributes, ERROR_TYPE: error_type})
