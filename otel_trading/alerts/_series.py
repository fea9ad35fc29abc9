"""Metric samples in Prometheus form, kept for the longest window a rule looks back over.

The engine turns each collection of the SDK's metrics into the series Prometheus would
scrape from our endpoint (same names, ``_total`` / unit suffixes, ``_bucket{le}`` /
``_sum`` / ``_count``, label names sanitised) and stores them here with the evaluation
time. Rules are then evaluated on these series with Prometheus' own semantics, so a rule
behaves the same in-process and exported to Prometheus.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from typing import Final

from opentelemetry.sdk.metrics.export import HistogramDataPoint, MetricsData, NumberDataPoint, Sum

from otel_trading.metrics._prometheus_names import label_name as sanitize_attribute
from otel_trading.metrics._prometheus_names import series_name

LabelSet = tuple[tuple[str, str], ...]
Sample = tuple[float, float]  # (Unix seconds, value)
STALE: Final = float("nan")  # Prometheus' staleness marker: the series ended at that time
LOOKBACK_S: Final = 300.0  # an instant selector sees samples up to 5 minutes old, as in Prometheus


def label_set(labels: Mapping[str, str]) -> LabelSet:
    return tuple(sorted(labels.items()))


def _label_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _le(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(float(bound))


def samples_from_metrics(data: MetricsData | None) -> Iterator[tuple[str, LabelSet, float]]:
    """Every series value in ``data``, as (Prometheus name, labels, value)."""
    if data is None:
        return
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                points = metric.data
                counter = isinstance(points, Sum) and points.is_monotonic
                name = series_name(metric.name, metric.unit or "", counter=counter)
                for point in points.data_points:
                    labels = {sanitize_attribute(k): _label_value(v) for k, v in (point.attributes or {}).items()}
                    if isinstance(point, NumberDataPoint):
                        yield name, label_set(labels), float(point.value)
                    elif isinstance(point, HistogramDataPoint):
                        cumulative = 0
                        bounds = [*point.explicit_bounds, math.inf]
                        for bound, count in zip(bounds, point.bucket_counts, strict=False):
                            cumulative += count
                            yield f"{name}_bucket", label_set({**labels, "le": _le(bound)}), float(cumulative)
                        yield f"{name}_sum", label_set(labels), float(point.sum)
                        yield f"{name}_count", label_set(labels), float(point.count)


class SeriesStore:
    """Samples per (name, labels), oldest first, trimmed to ``retention_s`` behind the newest time."""

    def __init__(self, retention_s: float) -> None:
        self.retention_s = max(retention_s, LOOKBACK_S)
        self._series: dict[str, dict[LabelSet, deque[Sample]]] = {}
        self.latest_time = -math.inf

    def append(self, time_s: float, samples: Iterable[tuple[str, LabelSet, float]]) -> None:
        """Adds one collection. A series missing from it gets a staleness marker, as on a scrape."""
        seen: set[tuple[str, LabelSet]] = set()
        for name, labels, value in samples:
            self._series.setdefault(name, {}).setdefault(labels, deque()).append((time_s, value))
            seen.add((name, labels))
        horizon = time_s - self.retention_s
        for name, by_labels in list(self._series.items()):
            for labels, samples_ in list(by_labels.items()):
                if (name, labels) not in seen and samples_ and not math.isnan(samples_[-1][1]):
                    samples_.append((time_s, STALE))
                while samples_ and samples_[0][0] < horizon:
                    samples_.popleft()
                if not samples_:
                    del by_labels[labels]
            if not by_labels:
                del self._series[name]
        self.latest_time = time_s

    def select(self, name: str, matchers: Mapping[str, str]) -> Iterator[tuple[LabelSet, deque[Sample]]]:
        wanted = tuple(matchers.items())
        for labels, samples in self._series.get(name, {}).items():
            as_dict = dict(labels)
            if all(as_dict.get(k, "") == v for k, v in wanted):
                yield labels, samples

    def instant(self, name: str, matchers: Mapping[str, str], t: float) -> list[tuple[LabelSet, float]]:
        """Latest value at ``t`` of each matching series (none if older than the lookback, or stale)."""
        result = []
        for labels, samples in self.select(name, matchers):
            value = None
            for sample_t, sample_v in reversed(samples):
                if sample_t <= t:
                    value = sample_v if sample_t > t - LOOKBACK_S else None
                    break
            if value is not None and not math.isnan(value):
                result.append((labels, value))
        return result

    def window(self, name: str, matchers: Mapping[str, str], t: float,
               range_s: float) -> list[tuple[LabelSet, list[Sample]]]:
        """Samples of each matching series in [t - range_s, t] (both ends inclusive, as Prometheus 2.x)."""
        result = []
        for labels, samples in self.select(name, matchers):
            inside = [(st, sv) for st, sv in samples if t - range_s <= st <= t and not math.isnan(sv)]
            if inside:
                result.append((labels, inside))
        return result
