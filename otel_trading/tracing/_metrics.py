"""Per-function RED metrics (rate, errors, duration) on locally aggregated handles."""

from __future__ import annotations

from otel_trading._state import STATE
from otel_trading.metrics._local import BoundHistogram, LocalCounter
from otel_trading.metrics._names import (
    DURATION_BUCKETS_SECONDS,
    FUNCTION_CALLS,
    FUNCTION_DURATION,
    FUNCTION_ERRORS,
)


class FunctionMetrics:
    """Bound handles of one decorated function, re-bound when configure() is called again."""

    __slots__ = ("_duration", "_errors", "_function", "_generation")

    def __init__(self, function_name: str) -> None:
        self._function = function_name
        self._generation = -1

    def _bind(self) -> None:
        local = STATE.local_metrics
        attrs = {"code.function.name": self._function}
        self._errors: LocalCounter = local.counter(
            FUNCTION_ERRORS, "{error}", "Traced function calls that raised"
        )
        duration = local.histogram(
            FUNCTION_DURATION, DURATION_BUCKETS_SECONDS, "s", "Duration of traced function calls"
        )
        # The call count is the histogram's count: one update per call instead of two.
        local.count_of(duration, FUNCTION_CALLS, "{call}", "Calls of traced functions")
        self._duration: BoundHistogram = duration.bind(attrs)
        self._generation = STATE.generation

    def record(self, seconds: float, error_type: str | None) -> None:
        if self._generation != STATE.generation:
            self._bind()
        self._duration.record(seconds)
        if error_type is not None:
            self._errors.add(1, {"code.function.name": self._function, "error.type": error_type})
