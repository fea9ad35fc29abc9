"""Capture helpers for your own tests: real SDK in-memory exporters and reader.

    from otel_trading.testing import capture

    def test_order_is_traced():
        with capture() as otel:
            place_order("BTC/USDT", 0.1)
        span = otel.span("place_order")
        assert span.attributes["trading.symbol"] == "BTC/USDT"

With pytest, the ``otel_capture`` fixture does the same (registered automatically).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry.sdk.metrics.export import (
    HistogramDataPoint,
    InMemoryMetricReader,
    Metric,
    NumberDataPoint,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from typing_extensions import Unpack

from otel_trading._otel_compat import InMemoryLogRecordExporter, ReadableLogRecord
from otel_trading.config._configure import Telemetry, configure_with
from otel_trading.config._settings import ConfigureOptions

_CAPTURE_DEFAULTS: ConfigureOptions = {
    "traces_exporter": "none",
    "metrics_exporter": "none",
    "logs_exporter": "none",
    "log_console": "off",
    "install_signal_handlers": False,
    "capture_stdlib_logging": True,
    "schedule_delay": 0.05,
}


class TelemetryCapture:
    """Finished spans, log records and metrics recorded while the capture was active.

    Reading ``spans``/``logs`` flushes first, so what you see is what would have been
    exported - after redaction and attribute coercion.
    """

    def __init__(self, telemetry: Telemetry, spans: InMemorySpanExporter, logs: InMemoryLogRecordExporter,
                 reader: InMemoryMetricReader) -> None:
        self.telemetry = telemetry
        self._spans = spans
        self._logs = logs
        self._reader = reader

    @property
    def spans(self) -> list[ReadableSpan]:
        self.telemetry.force_flush()
        return list(self._spans.get_finished_spans())

    @property
    def logs(self) -> list[ReadableLogRecord]:
        self.telemetry.force_flush()
        return list(self._logs.get_finished_logs())

    def span(self, name: str) -> ReadableSpan:
        """The one finished span called ``name`` (AssertionError if none or several)."""
        found = [s for s in self.spans if s.name == name]
        assert len(found) == 1, f"expected one span named {name!r}, found {[s.name for s in self.spans]}"
        return found[0]

    def metrics(self) -> dict[str, Metric]:
        """Collects now and returns every metric by name."""
        data = self._reader.get_metrics_data()
        result: dict[str, Metric] = {}
        if data is None:
            return result
        for resource_metrics in data.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    result[metric.name] = metric
        return result

    def points(self, name: str, **attributes: Any) -> list[NumberDataPoint | HistogramDataPoint]:
        """Data points of metric ``name`` whose attributes include ``attributes``."""
        metric = self.metrics().get(name)
        if metric is None:
            return []
        return [
            p for p in metric.data.data_points  # type: ignore[misc]  # every data kind has data_points
            if all((p.attributes or {}).get(k) == v for k, v in attributes.items())
        ]

    def value(self, name: str, **attributes: Any) -> float:
        """Sum of the matching counter/gauge points (count for histograms); 0 if none."""
        total: float = 0
        for point in self.points(name, **attributes):
            total += point.count if isinstance(point, HistogramDataPoint) else point.value
        return total

    def clear(self) -> None:
        self.telemetry.force_flush()
        self._spans.clear()
        self._logs.clear()


@contextmanager
def capture(**options: Unpack[ConfigureOptions]) -> Iterator[TelemetryCapture]:
    """Configures otel-trading to record into memory for the block, then shuts it down.

    Options are those of ``configure()``; by default nothing leaves the process and the
    console stays quiet. It replaces any configuration in force.
    """
    spans = InMemorySpanExporter()
    logs = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]  # untyped in the SDK
    reader = InMemoryMetricReader()
    merged: ConfigureOptions = {**_CAPTURE_DEFAULTS, **options}
    telemetry = configure_with(merged, extra_span_exporters=[spans], extra_log_exporters=[logs],
                               extra_metric_readers=[reader])
    try:
        yield TelemetryCapture(telemetry, spans, logs, reader)
    finally:
        telemetry.shutdown()


__all__ = ["TelemetryCapture", "capture"]
