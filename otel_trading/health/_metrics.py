"""The health metrics: one place that knows each instrument's unit, description and attributes.

The registry records a run's duration and failures as they happen, and the status gauge is
read from the registry at collection time; keeping the instrument definitions here means
the registry speaks in checks and outcomes, and a metric's shape (see ``_names`` and
docs/health.md) is changed in one spot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from otel_trading._state import STATE
from otel_trading.health._names import HEALTH_CHECK_DURATION, HEALTH_CHECK_FAILURES, HEALTH_STATUS
from otel_trading.metrics._local import observe_process_gauge
from otel_trading.metrics._names import DURATION_BUCKETS_SECONDS


def record_check_duration(check: str, duration_s: float) -> None:
    # Looked up at each run, not cached: configure() replaces STATE.local_metrics.
    STATE.local_metrics.histogram(
        HEALTH_CHECK_DURATION, DURATION_BUCKETS_SECONDS, "s", "Duration of each health check run",
    ).record(duration_s, {"check": check})


def count_check_failure(check: str, reason: str) -> None:
    STATE.local_metrics.counter(
        HEALTH_CHECK_FAILURES, "{failure}", "Health check runs that failed, by reason",
    ).add(1, {"check": check, "reason": reason})


def observe_check_status(points: Callable[[], Iterable[tuple[dict[str, str], float]]]) -> None:
    """Publishes ``points`` as the per-check status gauge (1 passing, 0 failing).

    Registered once for the process: every LocalMetrics, including those of later
    configure() calls, reads it at each collection.
    """
    observe_process_gauge(HEALTH_STATUS, points, "1", "1 while the health check passes, 0 while it fails")
