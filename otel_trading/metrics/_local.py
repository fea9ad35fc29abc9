"""Locally aggregated instruments behind bound handles, reported through OTel readers.

An OTel SDK ``Counter.add`` costs ~10 µs here (attribute cleaning and hashing on every
call), twenty times a prometheus_client bound child. Hot paths (every traced call, every
order or tick) instead update a bound handle - a lock and an addition - and the aggregate
is turned into ordinary OTel metric points when a reader collects (see ``hook_reader``), so
OTLP, Prometheus and in-memory readers export it unchanged.

Every label set is scrubbed by the redactor when its series is first bound, so label sets
that scrub alike share a series, and again at each collection (a set lookup per value the
redactor has seen clean), which catches a secret registered after the series was bound and
observed gauges' labels: a secret passed as a strategy name or a reject reason becomes
``[REDACTED]`` on ``/metrics`` as it does on spans.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, Generic, TypeVar

from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    Histogram,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    Sum,
)
from opentelemetry.util.types import AttributeValue

from otel_trading.redaction import Redactor

_LOG = logging.getLogger("otel_trading.metrics")
Attributes = Mapping[str, AttributeValue]
SeriesKey = tuple[tuple[str, AttributeValue], ...]
OVERFLOW_ATTRIBUTES: Final[Attributes] = {"otel.metric.overflow": True}
DEFAULT_MAX_SERIES: Final = 2000
_CUMULATIVE: Final = AggregationTemporality.CUMULATIVE


class BoundCounter:
    """A monotonic (or up-down) sum for one attribute set."""

    __slots__ = ("_lock", "value")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value: float = 0

    def add(self, amount: float = 1) -> None:
        with self._lock:
            self.value += amount


class BoundGauge:
    """The last value set, for one attribute set."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value: float = math.nan

    def set(self, value: float) -> None:
        self.value = value


class BoundHistogram:
    """Explicit-bucket histogram for one attribute set (OTel bucket semantics: upper bound inclusive)."""

    __slots__ = ("_bounds", "_lock", "count", "counts", "max", "min", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self._lock = threading.Lock()
        self._bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.count = 0
        self.sum: float = 0.0
        self.min = math.inf
        self.max = -math.inf

    def record(self, value: float) -> None:
        index = bisect_left(self._bounds, value)
        with self._lock:
            self.counts[index] += 1
            self.count += 1
            self.sum += value
            self.min = min(self.min, value)
            self.max = max(self.max, value)


H = TypeVar("H", BoundCounter, BoundGauge, BoundHistogram)


def series_key(attributes: Attributes) -> SeriesKey:
    return tuple(sorted(attributes.items()))


class LocalInstrument(Generic[H]):
    """One named instrument; ``bind()`` returns the handle for an attribute set."""

    def __init__(
        self,
        *,
        name: str,
        unit: str,
        description: str,
        factory: Callable[[], H],
        max_series: int,
        on_overflow: Callable[[str], None] | None,
        redactor: Redactor | None = None,
    ) -> None:
        self.name = name
        self.unit = unit
        self.description = description
        self._factory: Callable[[], H] = factory
        self._max_series = max_series
        self._on_overflow = on_overflow
        self._redactor = redactor
        self._series: dict[SeriesKey, H] = {}
        # Label sets that needed scrubbing -> the handle of their scrubbed series, so the
        # redactor runs once per distinct label set, not on every update.
        self._scrubbed: dict[SeriesKey, H] = {}
        self._lock = threading.Lock()

    def bind(self, attributes: Attributes | None = None) -> H:
        key = series_key(attributes) if attributes else ()
        handle = self._series.get(key)
        if handle is None:
            handle = self._scrubbed.get(key)
            if handle is None:
                handle = self._bind_new(key, attributes)
        return handle

    def _bind_new(self, key: SeriesKey, attributes: Attributes | None) -> H:
        scrubbed = self._redactor.scrub_if_needed(attributes) if attributes and self._redactor else None
        exported = series_key(scrubbed) if scrubbed is not None else key
        with self._lock:
            handle = self._series.get(exported)
            if handle is None:
                if len(self._series) >= self._max_series:
                    # Not remembered: every update of an overflowing label set is counted.
                    if self._on_overflow is not None:
                        self._on_overflow(self.name)
                    overflow = series_key(OVERFLOW_ATTRIBUTES)
                    handle = self._series.get(overflow)
                    if handle is None:
                        handle = self._series[overflow] = self._factory()
                    return handle
                handle = self._series[exported] = self._factory()
            if exported != key and len(self._scrubbed) < self._max_series:
                self._scrubbed[key] = handle
        return handle

    def series(self) -> list[tuple[SeriesKey, H]]:
        with self._lock:
            return list(self._series.items())


class LocalCounter(LocalInstrument[BoundCounter]):
    monotonic = True

    def add(self, amount: float = 1, attributes: Attributes | None = None) -> None:
        self.bind(attributes).add(amount)


class LocalUpDownCounter(LocalCounter):
    monotonic = False


class LocalGauge(LocalInstrument[BoundGauge]):
    def set(self, value: float, attributes: Attributes | None = None) -> None:
        self.bind(attributes).set(value)


class LocalHistogram(LocalInstrument[BoundHistogram]):
    def __init__(self, *, bounds: Sequence[float], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bounds = tuple(bounds)

    def record(self, value: float, attributes: Attributes | None = None) -> None:
        self.bind(attributes).record(value)


ObservationCallback = Callable[[], Iterable[tuple[Attributes, float]]]
_PROCESS_GAUGES: dict[str, tuple[str, str, ObservationCallback]] = {}
_PROCESS_GAUGES_LOCK = threading.Lock()


def observe_process_gauge(name: str, callback: ObservationCallback, unit: str = "", description: str = "") -> None:
    """Registers a gauge read at every collection by every ``LocalMetrics``, now and after reconfiguration.

    For state that outlives one ``configure()`` (portfolios, open trades, trading state):
    registering it once keeps it exported whatever the configuration becomes.
    """
    with _PROCESS_GAUGES_LOCK:
        _PROCESS_GAUGES[name] = (unit, description, callback)


class LocalMetrics:
    """The registry of local instruments; ``collect()`` turns them into OTel metric points."""

    def __init__(self, redactor: Redactor | None = None) -> None:
        self.redactor = redactor if redactor is not None else Redactor()
        self.start_time_ns = time.time_ns()
        self._instruments: dict[str, LocalInstrument[Any]] = {}
        self._observed: dict[str, tuple[str, str, ObservationCallback]] = {}
        self._counts: dict[str, tuple[LocalHistogram, str, str]] = {}
        self._lock = threading.Lock()
        self.overflow_counter: LocalCounter | None = None
        # Only the registry of the configuration in force reports the process-wide gauges.
        self.reports_process_gauges = False

    def _get_or_create(self, kind: type[Any], name: str, **kwargs: Any) -> Any:
        with self._lock:
            existing = self._instruments.get(name)
            if existing is not None:
                if type(existing) is not kind:
                    raise ValueError(
                        f"metric {name!r} is already registered as {type(existing).__name__}, "
                        f"not {kind.__name__}"
                    )
                return existing
            instrument = kind(name=name, on_overflow=self._count_overflow, redactor=self.redactor, **kwargs)
            self._instruments[name] = instrument
            return instrument

    def _count_overflow(self, name: str) -> None:
        if self.overflow_counter is not None:
            self.overflow_counter.add(1, {"metric": name})

    def counter(self, name: str, unit: str = "", description: str = "",
                max_series: int = DEFAULT_MAX_SERIES) -> LocalCounter:
        return self._get_or_create(  # type: ignore[no-any-return]  # kind checked in _get_or_create
            LocalCounter, name, unit=unit, description=description, factory=BoundCounter,
            max_series=max_series,
        )

    def up_down_counter(self, name: str, unit: str = "", description: str = "",
                        max_series: int = DEFAULT_MAX_SERIES) -> LocalUpDownCounter:
        return self._get_or_create(  # type: ignore[no-any-return]  # kind checked in _get_or_create
            LocalUpDownCounter, name, unit=unit, description=description, factory=BoundCounter,
            max_series=max_series,
        )

    def gauge(self, name: str, unit: str = "", description: str = "",
              max_series: int = DEFAULT_MAX_SERIES) -> LocalGauge:
        return self._get_or_create(  # type: ignore[no-any-return]  # kind checked in _get_or_create
            LocalGauge, name, unit=unit, description=description, factory=BoundGauge,
            max_series=max_series,
        )

    def histogram(self, name: str, bounds: Sequence[float], unit: str = "", description: str = "",
                  max_series: int = DEFAULT_MAX_SERIES) -> LocalHistogram:
        frozen = tuple(bounds)
        return self._get_or_create(  # type: ignore[no-any-return]  # kind checked in _get_or_create
            LocalHistogram, name, unit=unit, description=description,
            factory=lambda: BoundHistogram(frozen), bounds=frozen, max_series=max_series,
        )

    def count_of(self, histogram: LocalHistogram, name: str, unit: str = "", description: str = "") -> None:
        """Exports ``name`` as a monotonic counter equal to ``histogram``'s count per series."""
        with self._lock:
            self._counts[name] = (histogram, unit, description)

    def observe_gauge(self, name: str, callback: ObservationCallback, unit: str = "",
                      description: str = "") -> None:
        """Registers a gauge whose values are read from ``callback`` at each collection."""
        with self._lock:
            self._observed[name] = (unit, description, callback)

    def collect(self) -> list[Metric]:
        now = time.time_ns()
        start = self.start_time_ns
        with self._lock:
            instruments = list(self._instruments.values())
            observed = list(self._observed.items())
            counts = list(self._counts.items())
        if self.reports_process_gauges:
            with _PROCESS_GAUGES_LOCK:
                observed += [item for item in _PROCESS_GAUGES.items() if item[0] not in self._observed]
        metrics: list[Metric] = []
        scrub = self.redactor.scrub_if_needed

        def labels(attributes: Attributes | SeriesKey) -> dict[str, AttributeValue]:
            plain = dict(attributes)
            return scrub(plain) or plain

        for name, (histogram, unit, description) in counts:
            series = histogram.series()
            if series:
                points = [NumberDataPoint(labels(key), start, now, handle.count) for key, handle in series]
                metrics.append(Metric(name, description, unit, Sum(points, _CUMULATIVE, is_monotonic=True)))
        for instrument in instruments:
            metric = _to_metric(instrument, start, now, labels)
            if metric is not None:
                metrics.append(metric)
        for name, (unit, description, callback) in observed:
            try:
                observations = list(callback())
            except Exception:  # noqa: BLE001 - a failing gauge callback must not break collection
                _LOG.exception("callback of gauge %s failed", name)
                continue
            points = [NumberDataPoint(labels(attrs), start, now, value) for attrs, value in observations]
            if points:
                metrics.append(Metric(name, description, unit, Gauge(points)))
        return metrics


Labels = Callable[[SeriesKey], Attributes]


def _to_metric(instrument: LocalInstrument[Any], start: int, now: int, labels: Labels) -> Metric | None:
    series = instrument.series()
    if not series:
        return None
    data: Sum | Gauge | Histogram
    if isinstance(instrument, LocalCounter):
        points = [NumberDataPoint(labels(key), start, now, handle.value) for key, handle in series]
        data = Sum(points, _CUMULATIVE, is_monotonic=instrument.monotonic)
    elif isinstance(instrument, LocalGauge):
        gauge_points = [
            NumberDataPoint(labels(key), start, now, handle.value)
            for key, handle in series
            if not math.isnan(handle.value)
        ]
        if not gauge_points:
            return None
        data = Gauge(gauge_points)
    else:
        assert isinstance(instrument, LocalHistogram)
        data = Histogram([_histogram_point(labels(key), h, instrument.bounds, start, now) for key, h in series],
                         _CUMULATIVE)
    return Metric(instrument.name, instrument.description, instrument.unit, data)


def _histogram_point(
    attributes: Attributes, handle: BoundHistogram, bounds: tuple[float, ...], start: int, now: int
) -> HistogramDataPoint:
    with handle._lock:
        counts = list(handle.counts)
        count, total, low, high = handle.count, handle.sum, handle.min, handle.max
    if not count:
        low = high = 0.0
    return HistogramDataPoint(attributes, start, now, count, total, counts, bounds, low, high)
