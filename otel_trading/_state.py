"""Process-wide runtime state read by the hot paths (decorators, spans, log processors).

``configure()`` replaces the fields; hot paths read them through the single ``STATE`` object
so a reconfiguration is seen everywhere without re-decorating anything.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentelemetry import trace

from otel_trading.metrics._local import LocalMetrics
from otel_trading.redaction import Redactor


class RuntimeState:
    def __init__(self) -> None:
        self.enabled = False
        self.generation = 0
        self.tracer: trace.Tracer = trace.NoOpTracer()
        self.local_metrics = LocalMetrics()
        self.redactor = Redactor()
        # Longest string span attribute (None: no limit), read when each attribute is recorded.
        self.max_attribute_length: int | None = 4096
        # Receives each finished log event (a PendingLog) for export; None when logs are off.
        self.log_sink: Callable[[Any], None] | None = None

    def reset(self, *, enabled: bool, tracer: trace.Tracer, redactor: Redactor,
              max_attribute_length: int | None, local_metrics: LocalMetrics) -> None:
        local_metrics.reports_process_gauges = True
        self.local_metrics = local_metrics
        self.redactor = redactor
        self.max_attribute_length = max_attribute_length
        self.tracer = tracer
        self.generation += 1
        self.enabled = enabled


STATE = RuntimeState()
