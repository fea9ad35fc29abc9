"""Adds the local instruments' points to every collection of an OTel MetricReader.

What a ``MetricProducer`` registered on each reader would do; the Python SDK has none yet, so
``extend_collection`` (in the OTel compatibility module) passes each collection through us.
What the reader exports is the SDK's own metrics plus ours under the ``otel_trading``
instrumentation scope, in the temporality the reader uses for the SDK's instruments of the
same kind (one export never mixes delta SDK sums with cumulative ones of ours) and, for the
histograms, in its aggregation: base-2 exponential for a reader that asks for it
(``OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION``), explicit buckets otherwise.

The SDK's own points (the application's instruments, the system metrics) get their labels
scrubbed here, as ours are when bound: a secret passed as a label of any instrument never
reaches ``/metrics``, OTLP or the store.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry.sdk.metrics import Counter, Exemplar, Histogram, UpDownCounter
from opentelemetry.sdk.metrics.export import Metric, MetricReader, MetricsData, ResourceMetrics, ScopeMetrics
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

    scrub = local.redactor.scrub_if_needed

    def add_local(data: MetricsData | None) -> MetricsData | None:
        data = _scrubbed(data, scrub) if data is not None else None
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


Scrub = Callable[[Mapping[str, Any]], "dict[str, Any] | None"]


def _scrubbed(data: MetricsData, scrub: Scrub) -> MetricsData:
    """``data`` itself when no label holds a secret (the common case), else a scrubbed copy."""
    changed = False
    resource_metrics = []
    for rm in data.resource_metrics:
        scope_metrics = []
        for sm in rm.scope_metrics:
            metrics = [_scrubbed_metric(metric, scrub) for metric in sm.metrics]
            if any(new is not old for new, old in zip(metrics, sm.metrics, strict=True)):
                changed = True
                sm = ScopeMetrics(sm.scope, metrics, sm.schema_url)  # noqa: PLW2901 - the scrubbed copy
            scope_metrics.append(sm)
        resource_metrics.append(ResourceMetrics(rm.resource, scope_metrics, rm.schema_url))
    return MetricsData(resource_metrics=resource_metrics) if changed else data


def _scrubbed_metric(metric: Metric, scrub: Scrub) -> Metric:
    data: Any = metric.data  # one of the SDK's point collections, each a dataclass with data_points
    points: list[Any] = list(data.data_points)
    new_points = [_scrubbed_point(point, scrub) for point in points]
    if all(new is old for new, old in zip(new_points, points, strict=True)):
        return metric
    return dataclasses.replace(metric, data=dataclasses.replace(data, data_points=new_points))


def _scrubbed_point(point: Any, scrub: Scrub) -> Any:
    """``point`` itself when neither its labels nor its exemplars' filtered attributes hold a
    secret. The SDK keeps on an exemplar the measurement's attributes its series does not have:
    all of them for a measurement in the overflow series past the cardinality limit."""
    labels = scrub(point.attributes) if point.attributes else None
    exemplars: list[Exemplar] = list(point.exemplars)
    scrubbed = [scrub(exemplar.filtered_attributes) if exemplar.filtered_attributes else None
                for exemplar in exemplars]
    changes: dict[str, Any] = {}
    if labels is not None:
        changes["attributes"] = labels
    if any(attributes is not None for attributes in scrubbed):
        changes["exemplars"] = [exemplar if attributes is None else
                                dataclasses.replace(exemplar, filtered_attributes=attributes)
                                for exemplar, attributes in zip(exemplars, scrubbed, strict=True)]
    return dataclasses.replace(point, **changes) if changes else point
