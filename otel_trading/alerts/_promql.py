"""The few PromQL functions rules use, computed exactly as Prometheus 2.x computes them.

``extrapolated_rate`` follows promql/functions.go (extrapolation to the window edges, at
most half a sample interval beyond the data, never below zero for counters);
``histogram_quantile`` follows promql/quantile.go (linear interpolation inside the bucket,
the lowest bucket starting at 0). Both return None where Prometheus returns no sample.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Final

from otel_trading.alerts._series import LabelSet, Sample

Vector = list[tuple[LabelSet, float]]


def extrapolated_rate(samples: Sequence[Sample], range_start: float, range_end: float, *,
                      is_rate: bool) -> float | None:
    """``rate()`` (per second) or ``increase()`` of a counter over [range_start, range_end]."""
    if len(samples) < 2:
        return None
    first_t, first_v = samples[0]
    last_t, last_v = samples[-1]
    result = last_v - first_v
    previous = first_v
    for _, value in samples[1:]:
        if value < previous:  # a counter reset: the counter restarted from zero
            result += previous
        previous = value
    sampled = last_t - first_t
    if sampled <= 0:
        return None
    to_start = first_t - range_start
    to_end = range_end - last_t
    average_interval = sampled / (len(samples) - 1)
    if result > 0 and first_v >= 0:
        # A counter cannot have been below zero: extrapolate no further back than where it would be 0.
        to_zero = sampled * (first_v / result)
        to_start = min(to_start, to_zero)
    threshold = average_interval * 1.1
    extrapolate_to = sampled
    extrapolate_to += to_start if to_start < threshold else average_interval / 2
    extrapolate_to += to_end if to_end < threshold else average_interval / 2
    result *= extrapolate_to / sampled
    if is_rate:
        result /= range_end - range_start
    return result


def histogram_quantile(q: float, buckets: Iterable[tuple[float, float]]) -> float | None:
    """The q-quantile from cumulative (upper bound, count) buckets; None without a +Inf bucket."""
    ordered = sorted(buckets)
    if not ordered or not math.isinf(ordered[-1][0]):
        return None
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    # Counts must not decrease with the bound (they can, from scrapes racing observations).
    monotonic: list[tuple[float, float]] = []
    for bound, count in ordered:
        monotonic.append((bound, max(count, monotonic[-1][1]) if monotonic else count))
    total = monotonic[-1][1]
    if len(monotonic) < 2 or total == 0:
        return math.nan
    rank = q * total
    index = next(i for i, (_, count) in enumerate(monotonic) if count >= rank)
    if index == len(monotonic) - 1:
        return monotonic[-2][0]
    if index == 0 and monotonic[0][0] <= 0:
        return monotonic[0][0]
    bucket_start = 0.0
    bucket_end, bucket_count = monotonic[index]
    count_before = 0.0
    if index > 0:
        bucket_start, count_before = monotonic[index - 1]
        bucket_count -= count_before
        rank -= count_before
    return bucket_start + (bucket_end - bucket_start) * (rank / bucket_count)


def _avg(values: list[float]) -> float:
    return sum(values) / len(values)


AGGREGATIONS: Final[dict[str, Callable[[list[float]], float]]] = {
    "sum": math.fsum, "min": min, "max": max, "avg": _avg, "count": lambda values: float(len(values)),
}


def aggregate(operator: str, vector: Vector, by: Sequence[str]) -> Vector:
    """``operator by (by) (vector)``; groups in first-seen order."""
    groups: dict[LabelSet, list[float]] = {}
    for labels, value in vector:
        key = tuple((k, v) for k, v in labels if k in by)
        groups.setdefault(key, []).append(value)
    return [(key, AGGREGATIONS[operator](values)) for key, values in groups.items()]


def stddev(values: Sequence[float]) -> float:
    """Population standard deviation, as ``stddev_over_time``."""
    mean = _avg(list(values))
    return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


def divide(a: float, b: float) -> float:
    """IEEE division as PromQL does it: x/0 is ±Inf, 0/0 is NaN."""
    if b == 0:
        return math.nan if a == 0 or math.isnan(a) else math.copysign(math.inf, a)
    return a / b


COMPARISONS: Final[dict[str, Callable[[float, float], bool]]] = {
    ">": lambda a, b: a > b, ">=": lambda a, b: a >= b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
}
