"""Names, units and buckets of the metrics the core SDK emits (see docs/semantic-conventions.md)."""

from __future__ import annotations

from typing import Final

FUNCTION_CALLS: Final = "otel_trading.function.calls"
FUNCTION_ERRORS: Final = "otel_trading.function.errors"
FUNCTION_DURATION: Final = "otel_trading.function.duration"
TELEMETRY_DROPPED: Final = "otel_trading.telemetry.dropped"
TELEMETRY_EXPORTED: Final = "otel_trading.telemetry.exported"
TELEMETRY_QUEUE_SIZE: Final = "otel_trading.telemetry.queue.size"
METRIC_OVERFLOW: Final = "otel_trading.metric.overflow"
INSTRUMENTATION_FAILURES: Final = "otel_trading.instrumentation.failures"
HEARTBEAT: Final = "otel_trading.heartbeat.timestamp"
HEARTBEATS: Final = "otel_trading.heartbeats"
PROCESS_UPTIME: Final = "process.uptime"

# 100 µs ... 30 s: trade functions span tick handlers to slow exchange round trips.
DURATION_BUCKETS_SECONDS: Final = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)
