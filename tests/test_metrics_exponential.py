"""otel-trading's base-2 exponential histogram buckets values exactly as the SDK's own aggregation does.

Each case records the same values into ours and into an SDK histogram whose reader asks for
``ExponentialBucketHistogramAggregation``, and compares scale, zero count, bucket indexes and
counts: including ranges that force downscaling, powers of two (bucket bounds), subnormals and
values near the float limits.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

import pytest
from opentelemetry.sdk.metrics import Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation

from otel_trading.metrics._exponential import MAX_SCALE, ExponentialHistogram

_RANDOM = random.Random(13)  # noqa: S311 - reproducible test values, not secrets
CASES: list[Sequence[float]] = [
    (0.2, 0.4, 0.05),
    (1.0, 2.0, 4.0, 1024.0),  # powers of two sit on bucket bounds
    (0.0, 0.0),
    (0.0, 3.0),
    (1e-9, 1e9),  # one downscale of many steps
    (5.0, 1e-300, 5e-324, 1e300, 1.7e308),  # subnormal and near-max values
    (2.0**-1022, 2.0**-1023),
    tuple(_RANDOM.uniform(0.001, 0.002) for _ in range(300)),  # stays at a fine scale
    *(tuple(_RANDOM.lognormvariate(0, 3) * _RANDOM.choice((1, 0)) for _ in range(500)) for _ in range(5)),
]


def sdk_buckets(values: Sequence[float]) -> tuple[Any, ...]:
    reader = InMemoryMetricReader(preferred_aggregation={Histogram: ExponentialBucketHistogramAggregation()})
    provider = MeterProvider(metric_readers=[reader])
    histogram = provider.get_meter("exponential-test").create_histogram("h")
    for value in values:
        histogram.record(value)
    data = reader.get_metrics_data()
    provider.shutdown()
    assert data is not None
    (point,) = data.resource_metrics[0].scope_metrics[0].metrics[0].data.data_points
    nonzero = {point.positive.offset + i: n for i, n in enumerate(point.positive.bucket_counts) if n}
    return point.count, point.scale, point.zero_count, nonzero, point.min, point.max


def our_buckets(values: Sequence[float], sign: float = 1) -> tuple[Any, ...]:
    histogram = ExponentialHistogram()
    for value in values:
        histogram.record(sign * value)
    snap = histogram.snapshot()
    offset, counts = ((snap.positive_offset, snap.positive_counts) if sign > 0
                      else (snap.negative_offset, snap.negative_counts))
    extremes = (snap.min, snap.max) if sign > 0 else (-snap.max, -snap.min)
    return snap.count, snap.scale, snap.zero_count, {offset + i: n for i, n in enumerate(counts) if n}, *extremes


@pytest.mark.parametrize("values", CASES, ids=range(len(CASES)))
def test_buckets_match_the_sdks_own_aggregation(values: Sequence[float]) -> None:
    ours = our_buckets(values)
    assert ours == sdk_buckets(values)
    assert len(ours[3]) <= 160 and (ours[1] <= MAX_SCALE)


@pytest.mark.parametrize("values", CASES[:6], ids=range(6))
def test_negative_values_are_bucketed_by_magnitude(values: Sequence[float]) -> None:
    # The SDK's histograms refuse negative values; ours (slippage) take them, mirrored.
    assert our_buckets(values, sign=-1) == our_buckets(values)


def test_non_finite_values_are_left_out_rather_than_raising() -> None:
    histogram = ExponentialHistogram()
    for value in (1.0, math.inf, -math.inf, math.nan):
        histogram.record(value)
    snap = histogram.snapshot()
    assert (snap.count, snap.sum, snap.positive_counts) == (1, 1.0, (1,))
