"""Curves cut down to what a chart can draw: a bounded number of points, the extremes kept.

The overview's equity and drawdown of a long store are ~20,000 points each (3.4 MB of JSON,
benchmarks/console_speed.py) where the chart has a few hundred pixels. Each bucket of
consecutive points keeps its lowest and its highest point (in time order), so the drawdown's
peak and the equity's extremes survive; the first and the last point are always kept (the
overview's "Equity" card is the last one).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, TypeVar

DEFAULT_MAX_POINTS: Final = 1_000
MIN_MAX_POINTS: Final = 4  # the first, the last and one bucket's low and high

Point = TypeVar("Point", bound=Sequence[float])


def downsample(points: Sequence[Point], max_points: int) -> list[Point]:
    """At most ``max_points`` of ``points`` (``(time, value)`` pairs in time order): the first,
    the last, and each bucket's lowest and highest value in between, in time order."""
    if len(points) <= max_points:
        return list(points)
    inner = points[1:-1]
    buckets = (max(MIN_MAX_POINTS, max_points) - 2) // 2
    kept: list[Point] = [points[0]]
    for number in range(buckets):
        bucket = inner[number * len(inner) // buckets:(number + 1) * len(inner) // buckets]
        if not bucket:
            continue
        low = min(range(len(bucket)), key=lambda index: bucket[index][1])
        high = max(range(len(bucket)), key=lambda index: bucket[index][1])
        kept.extend(bucket[index] for index in sorted({low, high}))
    kept.append(points[-1])
    return kept
