"""Adds the local instruments' points to every collection of an OTel MetricReader.

What a ``MetricProducer`` registered on each reader would do; the Python SDK has none yet, so
``extend_collection`` (in the OTel compatibility module) passes each collection through us.
What the reader exports is the SDK's own metrics plus ours under the ``otel_trading``
instrumentation scope.
"""

from __future__ import annotations

from opentelemetry.sdk.metrics.export import MetricReader, MetricsData, ResourceMetrics, ScopeMetrics
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from otel_trading._otel_compat import extend_collection
from otel_trading._version import __version__
from otel_trading.metrics._local import LocalMetrics

SCOPE = InstrumentationScope("otel_trading", __version__)


def hook_reader(reader: MetricReader, local: LocalMetrics, resource: Resource) -> None:
    """Makes ``reader`` export ``local``'s metrics with each collection."""

    def add_local(data: MetricsData | None) -> MetricsData | None:
        extra = local.collect()
        if not extra:
            return data
        ours = ScopeMetrics(scope=SCOPE, metrics=extra, schema_url="")
        if data is None or not data.resource_metrics:
            return MetricsData(resource_metrics=[ResourceMetrics(resource, [ours], "")])
        first, *rest = data.resource_metrics
        merged = ResourceMetrics(first.resource, [*first.scope_metrics, ours], first.schema_url)
        return MetricsData(resource_metrics=[merged, *rest])

    extend_collection(reader, add_local)
