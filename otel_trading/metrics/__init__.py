"""Metrics: locally aggregated instruments exported through the OTel readers."""

from otel_trading.metrics._local import (
    BoundCounter,
    BoundGauge,
    BoundHistogram,
    LocalCounter,
    LocalGauge,
    LocalHistogram,
    LocalMetrics,
    LocalUpDownCounter,
    LocalView,
    Temporality,
)
from otel_trading.metrics._names import DURATION_BUCKETS_SECONDS

__all__ = [
    "DURATION_BUCKETS_SECONDS",
    "BoundCounter",
    "BoundGauge",
    "BoundHistogram",
    "LocalCounter",
    "LocalGauge",
    "LocalHistogram",
    "LocalMetrics",
    "LocalUpDownCounter",
    "LocalView",
    "Temporality",
]
