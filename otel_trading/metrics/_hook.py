"""Adds the local instruments' points to every collection of an OTel MetricReader.

The SDK gives each reader its collect callback through ``MetricReader._set_collect_callback``;
we wrap that callback once the MeterProvider is built, so what the reader exports is the
SDK's own metrics plus ours under the ``otel_trading`` instrumentation scope.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.metrics.export import MetricReader, MetricsData, ResourceMetrics, ScopeMetrics
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from otel_trading._version import __version__
from otel_trading.metrics._local import LocalMetrics

SCOPE = InstrumentationScope("otel_trading", __version__)


def hook_reader(reader: MetricReader, local: LocalMetrics, resource: Resource) -> None:
    """Makes ``reader`` export ``local``'s metrics with each collection."""
    original = reader._collect
    if original is None:
        raise RuntimeError("hook_reader() needs a reader already registered on a MeterProvider")

    def collect(reader_: MetricReader, *args: Any, **kwargs: Any) -> Any:
        # The SDK types the callback as returning MetricsData; it returns None before any instrument exists.
        data: MetricsData | None = original(reader_, *args, **kwargs)  # type: ignore[assignment]
        extra = local.collect()
        if not extra:
            return data
        ours = ScopeMetrics(scope=SCOPE, metrics=extra, schema_url="")
        if data is None or not data.resource_metrics:
            return MetricsData(resource_metrics=[ResourceMetrics(resource, [ours], "")])
        first, *rest = data.resource_metrics
        merged = ResourceMetrics(first.resource, [*first.scope_metrics, ours], first.schema_url)
        return MetricsData(resource_metrics=[merged, *rest])

    reader._set_collect_callback(collect)
