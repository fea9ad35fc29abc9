"""Adds the local instruments' points to every collection of an OTel MetricReader.

What a ``MetricProducer`` registered on each reader would do; the Python SDK has none yet, so
``extend_collection`` (in the OTel compatibility module) passes each collection through us.
What the reader exports is the SDK's own metrics plus ours under the ``otel_trading``
instrumentation scope, in the temporality the reader uses for the SDK's instruments of the
same kind: one export never mixes delta SDK sums with cumulative ones of ours.
"""

from __future__ import annotations

import logging
import weakref

from opentelemetry.sdk.metrics import Counter, Histogram, UpDownCounter
from opentelemetry.sdk.metrics.export import MetricReader, MetricsData, ResourceMetrics, ScopeMetrics
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from otel_trading._otel_compat import extend_collection, reader_preferences
from otel_trading._version import __version__
from otel_trading.metrics._local import LocalMetrics, Temporality

SCOPE = InstrumentationScope("otel_trading", __version__)
_LOG = logging.getLogger("otel_trading.metrics")
# The configurations (by their registry) already warned that our histograms stay explicit.
_EXPONENTIAL_WARNED: weakref.WeakSet[LocalMetrics] = weakref.WeakSet()


def hook_reader(reader: MetricReader, local: LocalMetrics, resource: Resource) -> None:
    """Makes ``reader`` export ``local``'s metrics with each collection, in the reader's temporality."""
    temporality, aggregation = reader_preferences(reader)
    view = local.view(Temporality(
        counter=temporality[Counter],
        up_down_counter=temporality[UpDownCounter],
        histogram=temporality[Histogram],
    ))
    if isinstance(aggregation[Histogram], ExponentialBucketHistogramAggregation) and local not in _EXPONENTIAL_WARNED:
        _EXPONENTIAL_WARNED.add(local)
        # Our histograms are bucketed when recorded (a bisect on the hot path), with bounds
        # chosen for their quantity; the values an exponential histogram needs are not kept.
        _LOG.warning(
            "a metric reader asks for base2 exponential histograms "
            "(OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION): the SDK's histograms are "
            "exported so, the otel_trading.* and trading.* histograms keep their explicit buckets"
        )

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
