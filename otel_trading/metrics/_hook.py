"""Adds the local instruments' points to every collection of an OTel MetricReader.

What a ``MetricProducer`` registered on each reader would do; the Python SDK has none yet, so
``extend_collection`` (in the OTel compatibility module) passes each collection through us.
What the reader exports is the SDK's own metrics plus ours under the ``otel_trading``
instrumentation scope, in the temporality the reader uses for the SDK's instruments of the
same kind (one export never mixes delta SDK sums with cumulative ones of ours) and, for the
histograms, in its aggregation: base-2 exponential for a reader that asks for it
(``OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION``), explicit buckets otherwise.
"""

from __future__ import annotations

from opentelemetry.sdk.metrics import Counter, Histogram, UpDownCounter
from opentelemetry.sdk.metrics.export import MetricReader, MetricsData, ResourceMetrics, ScopeMetrics
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from otel_trading._otel_compat import extend_collection, reader_preferences
from otel_trading._version import __version__
from otel_trading.metrics._local import LocalMetrics, Temporality

SCOPE = InstrumentationScope("otel_trading", __version__)


def hook_reader(reader: MetricReader, local: LocalMetrics, resource: Resource) -> None:
    """Makes ``reader`` export ``local``'s metrics with each collection, in the reader's temporality and aggregation."""
    temporality, aggregation = reader_preferences(reader)
    view = local.view(Temporality(
        counter=temporality[Counter],
        up_down_counter=temporality[UpDownCounter],
        histogram=temporality[Histogram],
    ), exponential=isinstance(aggregation[Histogram], ExponentialBucketHistogramAggregation))

    def add_local(data: MetricsData | None) -> MetricsData | None:
        extra = view.collect()
        if not extra:
            return data
        ours = ScopeMetrics(scope=SCOPE, metrics=extra, schema_url="")
        if data is None or not data.resource_metrics:
            return MetricsData(resource_metrics=[ResourceMetrics(resource, [ours], "")])
        first, *rest = data.resource_metrics
        merged = ResourceMetrics(first.resource, [*first.scope_metrics, ours], first.schema_url)
        return MetricsData(resource_metrics=[merged, *rest])

    extend_collection(reader, add_local)
