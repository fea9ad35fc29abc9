"""A base-2 exponential bucket histogram, as the OpenTelemetry metrics SDK specification defines it.

Kept for a reader that asks for ``base2_exponential_bucket_histogram``
(``OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION``), next to the explicit buckets of
a local histogram handle (see ``BoundHistogram``). It starts at the highest scale (20) and
halves its resolution (downscales) whenever the values of one sign would need more than
``max_size`` (160) buckets; zeros go to ``zero_count``, negative values to their own buckets by
absolute value. The index of a value is the one the SDK's own aggregation computes (its
``ExponentMapping`` / ``LogarithmMapping``): the same values give the same scale, offsets and
counts, so our histograms and the SDK's of one export can be compared bucket for bucket.

Not thread-safe: the owning handle serializes ``record`` and ``take`` under its lock.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Final

MAX_SCALE: Final = 20
MAX_SIZE: Final = 160
_MIN_NORMAL_VALUE: Final = sys.float_info.min
_MIN_NORMAL_EXPONENT: Final = -1022  # IEEE 754 double: the exponent of the smallest normal value
_MAX_NORMAL_EXPONENT: Final = 1023
_INVERSE_LN2: Final = 1 / math.log(2)


def map_to_index(value: float, scale: int) -> int:
    """The index of the bucket ``(base**index, base**(index + 1)]`` holding ``value`` > 0, base = 2**2**-scale."""
    mantissa, exponent = math.frexp(value)  # value = mantissa * 2**exponent, 0.5 <= mantissa < 1
    power_of_two = mantissa == 0.5  # exact: the IEEE mantissa bits are all zero
    if scale > 0:
        if value <= _MIN_NORMAL_VALUE:
            return (_MIN_NORMAL_EXPONENT << scale) - 1
        if power_of_two:  # exact, where the logarithm could round across the boundary
            return ((exponent - 1) << scale) - 1
        return min(math.floor(math.log(value) * math.ldexp(_INVERSE_LN2, scale)),
                   ((_MAX_NORMAL_EXPONENT + 1) << scale) - 1)
    if value < _MIN_NORMAL_VALUE:
        index = _MIN_NORMAL_EXPONENT >> -scale
        return index - 1 if -scale < 2 else index  # scales 0 and -1: 2**-1022 is a lower bound
    # The IEEE exponent is exponent - 1; a power of two is the upper bound of the bucket below.
    return (exponent - 1 - power_of_two) >> -scale


def scale_change(low: int, high: int, max_size: int) -> int:
    """By how much the scale must drop for indexes ``low..high`` to fit in ``max_size`` buckets."""
    change = 0
    while high - low >= max_size:
        high >>= 1
        low >>= 1
        change += 1
    return change


class Buckets:
    """Contiguous bucket counts of one sign: ``counts[i]`` is the count of index ``offset + i``."""

    __slots__ = ("counts", "offset")

    def __init__(self) -> None:
        self.offset = 0
        self.counts: list[int] = []

    @property
    def end(self) -> int:
        """The highest index held (``offset - 1`` when empty)."""
        return self.offset + len(self.counts) - 1

    def add(self, index: int) -> None:
        counts = self.counts
        if not counts:
            self.offset = index
            counts.append(1)
        elif index < self.offset:
            counts[:0] = [1] + [0] * (self.offset - index - 1)
            self.offset = index
        elif index > self.end:
            counts.extend([0] * (index - self.end - 1) + [1])
        else:
            counts[index - self.offset] += 1

    def downscale(self, change: int) -> None:
        """Merges each run of ``2**change`` buckets into one: index i becomes i >> change."""
        if not self.counts or not change:
            return
        merged = [0] * ((self.end >> change) - (self.offset >> change) + 1)
        base = self.offset >> change
        for position, count in enumerate(self.counts):
            merged[((self.offset + position) >> change) - base] += count
        self.offset, self.counts = base, merged


@dataclass(frozen=True, slots=True)
class ExponentialSnapshot:
    """The state of an ``ExponentialHistogram`` at one collection."""

    scale: int
    count: int
    sum: float
    zero_count: int
    min: float
    max: float
    positive_offset: int
    positive_counts: tuple[int, ...]
    negative_offset: int
    negative_counts: tuple[int, ...]


class ExponentialHistogram:
    """Count, sum, extremes and base-2 exponential buckets of the values recorded (finite ones)."""

    __slots__ = ("_max_size", "count", "max", "min", "negative", "positive", "scale", "sum", "zero_count")

    def __init__(self, max_size: int = MAX_SIZE, max_scale: int = MAX_SCALE) -> None:
        self._max_size = max_size
        self.scale = max_scale
        self.count = 0
        self.sum = 0.0
        self.zero_count = 0
        self.min = math.inf
        self.max = -math.inf
        self.positive = Buckets()
        self.negative = Buckets()

    def record(self, value: float) -> None:
        if not math.isfinite(value):  # no bucket holds it; the SDK's aggregation would fail on it
            return
        self.count += 1
        self.sum += value
        self.min = min(self.min, value)
        self.max = max(self.max, value)
        if value == 0:
            self.zero_count += 1
            return
        magnitude, buckets = (value, self.positive) if value > 0 else (-value, self.negative)
        index = map_to_index(magnitude, self.scale)
        if buckets.counts:
            change = scale_change(min(index, buckets.offset), max(index, buckets.end), self._max_size)
            if change:
                self.positive.downscale(change)
                self.negative.downscale(change)
                self.scale -= change
                index = map_to_index(magnitude, self.scale)
        buckets.add(index)

    def snapshot(self) -> ExponentialSnapshot:
        # Only zeros so far: scale 0, as the SDK reports it (any scale is exact for zeros).
        scale = 0 if self.count == self.zero_count else self.scale
        return ExponentialSnapshot(scale, self.count, self.sum, self.zero_count, self.min, self.max,
                                   self.positive.offset, tuple(self.positive.counts),
                                   self.negative.offset, tuple(self.negative.counts))
