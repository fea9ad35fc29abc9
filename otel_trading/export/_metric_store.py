"""The ``local`` metrics exporter: OTLP/JSON metric lines in the store, beside traces and logs.

Each export (one per ``metric_export_interval``, by the SDK's periodic reader) appends one
``ExportMetricsServiceRequest`` line to ``<store>/metrics.jsonl``, the line the Collector's file
exporter writes and its ``otlp_json_file`` receiver reads, so a store replays all three signals.
Files rotate and are bounded like the other signals' (``LocalStoreWriter``). Points are
cumulative, so a reader takes the last point of a series as its value and differences two for a
rate. Labels were scrubbed when they were recorded (``LocalMetrics``, ``configure()``'s redactor);
what is lost (a full disk) is counted in ``otel_trading.telemetry.dropped{signal="metrics"}``.

Encoding goes through opentelemetry-proto's encoder and ``json_format``: one line per export
interval of a few hundred points costs a few milliseconds every 15 s (well under 1 % of a core),
so the direct encoder the spans and logs need is not worth its upkeep here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Final

from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExporter,
    MetricExportResult,
    MetricsData,
)

from otel_trading._state import STATE
from otel_trading.export._local_store import LocalStoreWriter
from otel_trading.export._otlp_json import message_to_json_line
from otel_trading.metrics._names import TELEMETRY_DROPPED, TELEMETRY_EXPORTED

__all__ = ["METRICS_SIGNAL", "LocalMetricExporter", "metrics_to_json_line"]

METRICS_SIGNAL: Final = "metrics"
_LOG = logging.getLogger("otel_trading.export")
# Every instrument kind cumulative (also the SDK's Gauge, where there is one), whatever
# OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE asks of the OTLP exporter.
_CUMULATIVE: Final[dict[type, AggregationTemporality]] = {
    kind: AggregationTemporality.CUMULATIVE
    for kind in (Counter, UpDownCounter, Histogram, ObservableCounter, ObservableUpDownCounter, ObservableGauge)
}


def metrics_to_json_line(batch: Sequence[MetricsData]) -> str:
    """The collections in ``batch`` as one OTLP/JSON ``ExportMetricsServiceRequest`` line."""
    merged = MetricsData(resource_metrics=[rm for data in batch for rm in data.resource_metrics])
    return message_to_json_line(encode_metrics(merged))


def _points(data: MetricsData) -> int:
    return sum(len(metric.data.data_points) for rm in data.resource_metrics for sm in rm.scope_metrics
               for metric in sm.metrics)


class LocalMetricExporter(MetricExporter):
    """Writes each collection as one line of the store's ``metrics`` files; never raises."""

    def __init__(self, writer: LocalStoreWriter[MetricsData]) -> None:
        super().__init__(preferred_temporality=_CUMULATIVE)
        self.writer = writer

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000,  # noqa: ARG002 - SDK interface
               **kwargs: Any) -> MetricExportResult:  # noqa: ARG002 - SDK interface
        points = _points(metrics_data)
        if not points:
            return MetricExportResult.SUCCESS
        try:
            self.writer.export([metrics_data])
        except Exception as exc:  # noqa: BLE001 - a full disk or an unencodable point: counted, not raised
            self._count(TELEMETRY_DROPPED, points, reason="export_failed")
            _LOG.warning("metrics exporter local: %d points not written to %s: %s: %s",
                         points, self.writer.path, type(exc).__name__, exc)
            return MetricExportResult.FAILURE
        self._count(TELEMETRY_EXPORTED, points)
        return MetricExportResult.SUCCESS

    @staticmethod
    def _count(name: str, points: int, **reason: str) -> None:
        # The configuration's own counters (the batch exporters of spans and logs count into the
        # same series), read at export time: an export happens long after configure() set them.
        description = ("Telemetry items lost before export" if name == TELEMETRY_DROPPED
                       else "Telemetry items handed to an exporter successfully")
        counter = STATE.local_metrics.counter(name, "{item}", description)
        counter.add(points, {"signal": METRICS_SIGNAL, "exporter": "local", **reason})

    def force_flush(self, timeout_millis: float = 10_000) -> bool:  # noqa: ARG002 - SDK interface
        return True  # every export() is written through

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:  # noqa: ARG002 - SDK interface
        self.writer.shutdown()
