"""Questions asked of the metrics kept in a local store: which metrics, and their series over time.

The ``local`` metrics exporter (``_metric_store.py``) appends one OTLP/JSON line of cumulative
points per export interval to ``<store>/metrics*.jsonl``. These functions answer from a SQLite index
of those points, ``.index.metrics.sqlite3`` beside the span/log index (its own file: the span/log
index is rebuilt whenever its schema changes, and this one has a schema of its own). Like that
index it is a cache, brought up to date on each call from what was appended since (files followed
by identity through rotation; points of files rotated away are forgotten), rebuilt when deleted,
and kept in the temporary directory or in memory for a read-only store.

``metric_series`` downsamples to ``max_points`` buckets of equal width. In each bucket:

- ``value`` of a sum or gauge: the last value of each series, summed over the series that share
  the ``by`` attributes (a gauge per portfolio: their total unless ``by`` keeps them apart);
  of a histogram: the mean of what was recorded in the bucket (increase of sum / of count);
- ``rate`` (sums only): the increase per second, counter resets (a restart) handled;
- ``p50`` / ``p99`` (histograms only): from the increase of the bucket counts, interpolated
  within a bucket as Prometheus' ``histogram_quantile`` does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final, Literal

from otel_trading.export._follow import FileIdentity, StoreFollower, _Position
from otel_trading.export._index import index_locations
from otel_trading.export._metric_store import METRICS_SIGNAL
from otel_trading.export._otlp_decode import _attributes, _resource, _Unusual
from otel_trading.export._reader import DecodedLine
from otel_trading.export._sqlite_cache import open_cache

if TYPE_CHECKING:
    from otel_trading.analytics import TradingReport

__all__ = [
    "EQUITY_METRIC",
    "MetricInfo",
    "MetricType",
    "Series",
    "Stat",
    "counter_increase",
    "metric_catalog",
    "metric_series",
    "recorded_equity",
    "report_with_recorded_equity",
]

MetricType = Literal["sum", "gauge", "histogram", "exponential_histogram"]
Stat = Literal["value", "p50", "p99", "rate"]
STATS: Final[tuple[Stat, ...]] = ("value", "p50", "p99", "rate")
SCHEMA_VERSION: Final = 1
EQUITY_METRIC: Final = "trading.equity"  # metrics/_catalog.py: the Portfolio's equity gauge
_LOG = logging.getLogger("otel_trading.export")
_DELTA: Final = 1  # AggregationTemporality.DELTA in OTLP; 2 is cumulative (what the store writes)
_KINDS: Final[dict[str, MetricType]] = {"sum": "sum", "gauge": "gauge", "histogram": "histogram",
                                        "exponentialHistogram": "exponential_histogram"}

_SCHEMA: Final = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE files (dev INTEGER NOT NULL, ino INTEGER NOT NULL, path TEXT NOT NULL, offset INTEGER NOT NULL,
                    lines INTEGER NOT NULL, PRIMARY KEY (dev, ino));
CREATE TABLE metrics (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, unit TEXT NOT NULL,
                      description TEXT NOT NULL, type TEXT NOT NULL, temporality INTEGER NOT NULL,
                      monotonic INTEGER NOT NULL);
CREATE TABLE series (id INTEGER PRIMARY KEY, metric INTEGER NOT NULL, resource TEXT NOT NULL, attrs TEXT NOT NULL,
                     UNIQUE (metric, resource, attrs));
CREATE TABLE points (series INTEGER NOT NULL, dev INTEGER NOT NULL, ino INTEGER NOT NULL, start_ns INTEGER NOT NULL,
                     time_ns INTEGER NOT NULL, value REAL, count INTEGER, sum REAL, bounds TEXT, buckets TEXT);
"""
# Built after the first points are in (one sort instead of a B-tree insert per point), and kept then.
_POINT_INDEXES: Final = ("CREATE INDEX IF NOT EXISTS points_by_series ON points (series, time_ns)",
                         "CREATE INDEX IF NOT EXISTS points_by_file ON points (dev, ino)")


@dataclass(frozen=True)
class MetricInfo:
    """One metric found in the store (contract: name, unit, description, type, attribute_keys)."""

    name: str
    unit: str
    description: str
    type: MetricType
    attribute_keys: list[str] = field(default_factory=list)
    """Every attribute key of its points, sorted (what ``by=`` can name)."""


@dataclass(frozen=True)
class Series:
    """The points of one group of series: ``attributes`` holds only the ``by`` keys."""

    attributes: dict[str, Any]
    points: list[tuple[int, float]]
    """(time_ns, value), oldest first; time_ns is the last point's time in its bucket."""


def metric_catalog(store: str | Path) -> list[MetricInfo]:
    """Every metric the store holds points of, by name."""
    with _opened(store) as index:
        if index is None:
            return []
        keys: dict[int, set[str]] = {}
        for metric, attrs in index.db.execute("SELECT metric, attrs FROM series"):
            keys.setdefault(metric, set()).update(json.loads(attrs))
        return [MetricInfo(name, unit, description, kind, sorted(keys.get(metric, ())))
                for metric, name, unit, description, kind in index.db.execute(
                    "SELECT id, name, unit, description, type FROM metrics ORDER BY name")
                if metric in keys]


def metric_series(store: str | Path, name: str, *, by: Sequence[str] = (), stat: Stat = "value",
                  since_ns: int | None = None, until_ns: int | None = None,
                  max_points: int = 500) -> list[Series]:
    """The series of metric ``name`` grouped by the ``by`` attributes, at most ``max_points`` each.

    Empty when the store has no such metric. ValueError for a ``stat`` that the metric's type has
    no meaning for (``rate`` of a gauge, ``p99`` of a sum) or a ``max_points`` below 1.
    """
    keys = (by,) if isinstance(by, str) else tuple(by)
    if stat not in STATS:
        raise ValueError(f"stat: expected one of {list(STATS)}, got {stat!r}")
    if isinstance(max_points, bool) or not isinstance(max_points, int) or max_points < 1:
        raise ValueError(f"max_points: expected a whole number of at least 1, got {max_points!r}")
    with _opened(store) as index:
        if index is None:
            return []
        found = index.db.execute("SELECT id, type, temporality, monotonic FROM metrics WHERE name = ?",
                                 (name,)).fetchone()
        if found is None:
            return []
        metric, kind, temporality, monotonic = found
        histogram = kind in ("histogram", "exponential_histogram")
        if stat == "rate" and kind != "sum":
            raise ValueError(f"stat 'rate': {name} is a {kind}; a rate is the per-second increase of a sum")
        if stat in ("p50", "p99") and not histogram:
            raise ValueError(f"stat {stat!r}: {name} is a {kind}; percentiles come from histogram buckets")
        # Increases need the point before the range: the range is applied to the samples.
        rows = _point_rows(index, metric, since_ns=None if histogram or stat == "rate" else since_ns,
                           until_ns=until_ns)
    samples = _samples(rows, keys, stat, delta=temporality == _DELTA, monotonic=bool(monotonic),
                       histogram=histogram)
    samples = [s for s in samples if since_ns is None or s.time_ns >= since_ns]
    return _downsample(samples, keys, stat, since_ns=since_ns, until_ns=until_ns, max_points=max_points)


def counter_increase(store: str | Path, name: str, *, since_ns: int | None = None, until_ns: int | None = None,
                     where: Mapping[str, Any] | None = None) -> tuple[float, int] | None:
    """How much the sum ``name`` grew over the range, and the time of its last point in it:
    summed over its series (those with the attribute values of ``where``, if given) and over the
    runs the store holds (a restart's reset handled as ``rate`` handles it). None when the store
    has no points of it in the range."""
    with _opened(store) as index:
        if index is None:
            return None
        found = index.db.execute("SELECT id, type, temporality, monotonic FROM metrics WHERE name = ?",
                                 (name,)).fetchone()
        if found is None:
            return None
        metric, kind, temporality, monotonic = found
        if kind != "sum":
            raise ValueError(f"counter_increase: {name} is a {kind}; only a sum has an increase")
        rows = _point_rows(index, metric, since_ns=None, until_ns=until_ns)
    if where:
        wanted = dict(where)
        matches: dict[str, bool] = {}
        for row in rows:
            if row[1] not in matches:
                attributes = json.loads(row[1])
                matches[row[1]] = all(attributes.get(key) == value for key, value in wanted.items())
        rows = [row for row in rows if matches[row[1]]]
    samples = [s for s in _samples(rows, (), "rate", delta=temporality == _DELTA, monotonic=bool(monotonic),
                                   histogram=False) if since_ns is None or s.time_ns >= since_ns]
    if not samples:
        return None
    return sum(sample.value for sample in samples), max(sample.time_ns for sample in samples)


def _point_rows(index: _MetricIndex, metric: int, *, since_ns: int | None, until_ns: int | None) -> list[Any]:
    """The points of ``metric`` in the range, by series then time (what ``_samples`` reads)."""
    query = ("SELECT s.id, s.attrs, p.start_ns, p.time_ns, p.value, p.count, p.sum, p.bounds, p.buckets "
             "FROM points p JOIN series s ON p.series = s.id WHERE s.metric = ?")
    parameters: list[Any] = [metric]
    query += _in_range(parameters, since_ns=since_ns, until_ns=until_ns)
    return index.db.execute(query + " ORDER BY s.id, p.time_ns", parameters).fetchall()


def _in_range(parameters: list[Any], *, since_ns: int | None, until_ns: int | None) -> str:
    """The conditions that keep a point in the range (``p`` is the points table), their values
    appended to ``parameters``."""
    conditions = ""
    for condition, value in ((" AND p.time_ns >= ?", since_ns), (" AND p.time_ns <= ?", until_ns)):
        if value is not None:
            conditions += condition
            parameters.append(value)
    return conditions


def recorded_equity(store: str | Path, *, since_ns: int | None = None, until_ns: int | None = None,
                    resources: Callable[[Mapping[str, Any]], bool] | None = None) -> list[tuple[int, float]]:
    """The ``trading.equity`` gauge as the store's metrics recorded it: at each export, the sum over
    the portfolios (of the runs whose resource ``resources`` accepts), oldest first."""
    with _opened(store) as index:
        if index is None:
            return []
        query = ("SELECT s.resource, p.time_ns, p.value FROM points p JOIN series s ON p.series = s.id "
                 "JOIN metrics m ON s.metric = m.id WHERE m.name = ? AND p.value IS NOT NULL")
        parameters: list[Any] = [EQUITY_METRIC]
        query += _in_range(parameters, since_ns=since_ns, until_ns=until_ns)
        rows = index.db.execute(query, parameters).fetchall()
    accepted: dict[str, bool] = {}
    totals: dict[int, float] = {}
    for resource, time_ns, value in rows:
        if resources is not None:
            if resource not in accepted:
                accepted[resource] = resources(json.loads(resource))
            if not accepted[resource]:
                continue
        if math.isfinite(value):
            totals[time_ns] = totals.get(time_ns, 0.0) + value
    return sorted(totals.items())


def report_with_recorded_equity(report: TradingReport, store: str | Path, *,
                                resources: Callable[[Mapping[str, Any]], bool] | None = None) -> TradingReport | None:
    """``report`` with its equity curve, drawdown and start/end equity taken from the recorded
    ``trading.equity`` instead of reconstructed from the trades; None when that does not apply: a
    ``--symbol``/``--strategy`` report (the recorded equity is the whole account's), or fewer than
    two recorded points over the trades' period (a backtest's simulated times, a run shorter than
    the export interval). The per-trade ratios (Sharpe, Sortino, Calmar) stay per trade.
    """
    from otel_trading.analytics import EquityPoint, max_drawdown

    selection = report.selection
    first, last = report.first_ns, report.last_ns
    if selection.symbol is not None or selection.strategy is not None or first is None or last is None:
        return None
    points = recorded_equity(store, since_ns=selection.start_ns, until_ns=selection.end_ns, resources=resources)
    # The trades' period, and the last point before it (the equity the first trade started from)
    # and the first after it (the equity once the last one closed, exported a little later).
    before = [p for p in points if p[0] < first][-1:]
    after = [p for p in points if p[0] > last][:1]
    during = [p for p in points if first <= p[0] <= last]
    curve = [*before, *during, *after]
    if len(curve) < 2 or (not during and not (before and after)):
        return None
    drawdown = max_drawdown(value for _, value in curve)
    peak = -math.inf
    equity_curve: list[EquityPoint] = []
    for time_ns, value in curve:
        peak = max(peak, value)
        equity_curve.append(EquityPoint(time_ns, value, peak - value))
    risk = dataclasses.replace(
        report.risk,
        max_drawdown=drawdown.absolute if drawdown else None,
        max_drawdown_relative=drawdown.relative if drawdown else None,
        start_equity=curve[0][1],
        end_equity=curve[-1][1],
    )
    return dataclasses.replace(report, risk=risk, equity_curve=tuple(equity_curve))


# --- reading the index ------------------------------------------------------------------------------


@dataclass(slots=True)
class _Sample:
    """One point of one series, turned into what ``stat`` aggregates."""

    group: str  # the ``by`` values, as JSON
    series: int
    time_ns: int
    value: float = 0.0  # value (sums, gauges) or increase (rate)
    seconds: float = 0.0  # rate: over how long
    total: float = 0.0  # histograms: increase of the sum
    count: float = 0.0  # histograms: increase of the count
    bounds: tuple[float, ...] = ()
    buckets: tuple[float, ...] = ()


def _samples(rows: Sequence[Any], keys: tuple[str, ...], stat: Stat, *, delta: bool, monotonic: bool,
             histogram: bool) -> list[_Sample]:
    samples: list[_Sample] = []
    previous: Any = None
    groups: dict[str, str] = {}
    for row in rows:
        series, attrs, start_ns, time_ns, value, count, total, bounds, buckets = row
        group = groups.get(attrs)
        if group is None:
            plain = json.loads(attrs)
            group = groups[attrs] = json.dumps([plain.get(key) for key in keys])
        # The earlier point this one increased from: none after a restart (a new start time, a
        # counter that went down) or for delta points, which are increases already.
        before = previous if (previous is not None and previous[0] == series and not delta
                              and previous[2] == start_ns
                              and not (monotonic and not histogram and value < previous[4])
                              and not (histogram and count < previous[5])) else None
        previous = row
        sample = _Sample(group, series, time_ns)
        if histogram:
            sample.count = count - (before[5] if before else 0)
            sample.total = (total or 0.0) - ((before[6] or 0.0) if before else 0.0)
            sample.bounds = tuple(json.loads(bounds))
            now = json.loads(buckets)
            old = json.loads(before[8]) if before else None
            sample.buckets = tuple(now if before is None or old is None or before[7] != bounds else
                                   [a - b for a, b in zip(now, old, strict=True)])
        elif stat == "rate":
            sample.value = value - (before[4] if before else 0.0)
            since = before[3] if before else start_ns
            if not since or time_ns <= since:
                continue  # no interval to divide by
            sample.seconds = (time_ns - since) / 1e9
        else:
            sample.value = value
        samples.append(sample)
    return samples


def _downsample(samples: list[_Sample], keys: tuple[str, ...], stat: Stat, *, since_ns: int | None,
                until_ns: int | None, max_points: int) -> list[Series]:
    if not samples:
        return []
    low = since_ns if since_ns is not None else min(s.time_ns for s in samples)
    high = until_ns if until_ns is not None else max(s.time_ns for s in samples)
    width = max(1, -(-(high - low + 1) // max_points))
    buckets: dict[str, dict[int, list[_Sample]]] = {}
    for sample in samples:
        buckets.setdefault(sample.group, {}).setdefault((sample.time_ns - low) // width, []).append(sample)
    result: list[Series] = []
    for group, by_bucket in sorted(buckets.items()):
        points: list[tuple[int, float]] = []
        for _, in_bucket in sorted(by_bucket.items()):
            value = _aggregate(in_bucket, stat)
            if value is not None:
                points.append((max(s.time_ns for s in in_bucket), value))
        if points:
            result.append(Series(dict(zip(keys, json.loads(group), strict=True)), points))
    return result


def _aggregate(samples: list[_Sample], stat: Stat) -> float | None:
    if samples[0].bounds or (stat == "value" and samples[0].count):
        return _histogram_stat(samples, stat)
    if stat == "rate":
        increase: dict[int, float] = {}
        seconds: dict[int, float] = {}
        for sample in samples:
            increase[sample.series] = increase.get(sample.series, 0.0) + sample.value
            seconds[sample.series] = seconds.get(sample.series, 0.0) + sample.seconds
        return sum(increase[s] / seconds[s] for s in increase if seconds[s] > 0)
    last: dict[int, float] = {}
    for sample in samples:  # oldest first within a series
        last[sample.series] = sample.value
    return sum(last.values())


def _histogram_stat(samples: list[_Sample], stat: Stat) -> float | None:
    if stat == "value":
        count = sum(s.count for s in samples)
        return sum(s.total for s in samples) / count if count > 0 else None
    bounds = samples[-1].bounds
    merged = [0.0] * (len(bounds) + 1)
    for sample in samples:
        if sample.bounds == bounds and len(sample.buckets) == len(merged):
            merged = [a + b for a, b in zip(merged, sample.buckets, strict=True)]
    return quantile(0.5 if stat == "p50" else 0.99, bounds, merged)


def quantile(q: float, bounds: Sequence[float], counts: Sequence[float]) -> float | None:
    """The ``q`` quantile of explicit-bucket ``counts`` (one more than ``bounds``), interpolated
    linearly within its bucket; the top bound when it falls in the overflow bucket."""
    total = sum(counts)
    if total <= 0 or not bounds:
        return None
    rank = q * total
    seen = 0.0
    for i, count in enumerate(counts):
        if count > 0 and seen + count >= rank:
            if i >= len(bounds):
                return float(bounds[-1])
            upper = bounds[i]
            lower = bounds[i - 1] if i > 0 else min(0.0, upper)
            return float(lower + (upper - lower) * (rank - seen) / count)
        seen += count
    return float(bounds[-1])


# --- building the index -----------------------------------------------------------------------------


class _MetricIndex:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.db = _open(directory)
        self.problems: list[str] = []

    def update(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            if self.db.execute("SELECT NOT EXISTS (SELECT 1 FROM points)").fetchone()[0]:
                for (name,) in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'index' "
                                               "AND tbl_name = 'points' AND name LIKE 'points_by_%'").fetchall():
                    self.db.execute(f'DROP INDEX "{name}"')
            follower = _MetricFollower(self)
            for line in follower.new_lines():
                if line.error is not None:
                    self.problems.append(line.error)
            for statement in _POINT_INDEXES:
                self.db.execute(statement)
            self.db.execute("DELETE FROM series WHERE NOT EXISTS "
                            "(SELECT 1 FROM points WHERE points.series = series.id)")
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        if self.problems:
            # Each line is read once (the index remembers where it stopped): said once, where it was found.
            _LOG.warning("%d unreadable metric line(s) in the store %s, left out of the charts: %s%s",
                         len(self.problems), self.directory, "; ".join(self.problems[:3]),
                         " ..." if len(self.problems) > 3 else "")


@contextlib.contextmanager
def _opened(store: str | Path) -> Iterator[_MetricIndex | None]:
    directory = Path(store)
    if not directory.is_dir():
        yield None
        return
    index = _MetricIndex(directory)
    try:
        index.update()
        yield index
    finally:
        index.db.close()


def _locations(directory: Path) -> Iterator[str]:
    """Beside the span/log index (and its fallbacks), as ``<name>.metrics.sqlite3``."""
    for location in index_locations(directory):
        yield location if location == ":memory:" else location.removesuffix(".sqlite3") + ".metrics.sqlite3"


def _open(directory: Path) -> sqlite3.Connection:
    return open_cache(_locations(directory), _SCHEMA, SCHEMA_VERSION, what="the store's metric index",
                      pragmas=("journal_mode=WAL",))[1]


class _MetricFollower(StoreFollower):
    """Follows the metrics files from the positions kept in the index; each complete line goes in."""

    def __init__(self, index: _MetricIndex) -> None:
        # The files are named and rotated like the other signals'; the lines are decoded here.
        super().__init__(index.directory, METRICS_SIGNAL)  # type: ignore[arg-type]
        self._db = index.db
        self._metric_ids: dict[str, int] = {}
        self._series_ids: dict[tuple[int, str, str], int] = {}  # by the attributes as written
        for dev, ino, path, offset, lines in self._db.execute("SELECT dev, ino, path, offset, lines FROM files"):
            self._positions[(dev, ino)] = _Position(Path(path), offset, lines)
        self._current: FileIdentity = (0, 0)
        self._last_resource: object = object()  # equal to no resource
        self._last_resource_key = ""
        self._layouts: dict[tuple[int, str], tuple[list[Any], list[int]]] = {}  # see _metric_points
        self._bounds_text: dict[tuple[Any, ...], str] = {}

    def position(self, identity: FileIdentity, path: Path, size: int) -> _Position:
        self._current = identity
        return super().position(identity, path, size)

    def restarted(self, identity: FileIdentity) -> None:
        self._db.execute("DELETE FROM points WHERE dev = ? AND ino = ?", identity)

    def forget(self, kept: set[FileIdentity]) -> None:
        for dev, ino in self._db.execute("SELECT dev, ino FROM files").fetchall():
            if (dev, ino) not in kept:
                self._db.execute("DELETE FROM points WHERE dev = ? AND ino = ?", (dev, ino))
                self._db.execute("DELETE FROM files WHERE dev = ? AND ino = ?", (dev, ino))
        self._db.executemany("INSERT OR REPLACE INTO files (dev, ino, path, offset, lines) VALUES (?, ?, ?, ?, ?)",
                             [(*identity, str(p.path), p.offset, p.lines) for identity, p in self._positions.items()])

    def _read_from(self, handle: BinaryIO, position: _Position, *,
                   is_live: bool) -> Iterator[DecodedLine]:  # noqa: ARG002 - a half line waits, live or not
        # Only complete lines: the one being written is read at the next update.
        handle.seek(position.offset)
        data = handle.read()
        self.bytes_read += len(data)
        complete = data.rfind(b"\n") + 1
        points: list[tuple[Any, ...]] = []
        for raw in data[:complete].split(b"\n")[:-1]:
            position.lines += 1
            if not raw.strip():
                continue
            try:
                points += self._line_points(json.loads(raw))  # a line goes in whole or not at all
            except (ValueError, TypeError, KeyError, AttributeError, _Unusual, RecursionError) as exc:
                reason = type(exc).__name__ if isinstance(exc, _Unusual) else str(exc) or type(exc).__name__
                yield DecodedLine(position.path, position.lines, [],
                                  f"{position.path}:{position.lines}: not an OTLP/JSON metrics record: {reason}")
        position.offset += complete
        self._db.executemany(
            "INSERT INTO points (series, dev, ino, start_ns, time_ns, value, count, sum, bounds, buckets) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", points)

    def _line_points(self, document: dict[str, Any]) -> list[tuple[Any, ...]]:
        points: list[tuple[Any, ...]] = []
        for group in document.get("resourceMetrics") or []:
            resource = self._resource_key(group.get("resource"))
            for scope in group.get("scopeMetrics") or []:
                for metric in scope.get("metrics") or []:
                    self._metric_points(metric, resource, points)
        return points

    def _resource_key(self, resource: object) -> str:
        # Every line of a run repeats its resource: compared as decoded, encoded only when it changes.
        if resource != self._last_resource:
            self._last_resource_key = json.dumps(_resource(resource), sort_keys=True, ensure_ascii=False)
            self._last_resource = resource
        return self._last_resource_key

    def _metric_points(self, metric: dict[str, Any], resource: str, points: list[tuple[Any, ...]]) -> None:
        kind_field = next((k for k in _KINDS if k in metric), None)
        if kind_field is None:
            return  # a kind this version does not chart (summary)
        data = metric[kind_field]
        metric_id = self._metric_id(str(metric["name"]), str(metric.get("unit", "")),
                                    str(metric.get("description", "")), _KINDS[kind_field],
                                    temporality=int(data.get("aggregationTemporality", 0)),
                                    monotonic=bool(data.get("isMonotonic")))
        # A line lists a metric's series in the order the line before did (the SDK keeps them in
        # the order they were first recorded): its points' attributes are compared with the last
        # line's at once, and looked up by their text only when they differ.
        data_points: list[dict[str, Any]] = data.get("dataPoints") or []
        attributes = [point.get("attributes") for point in data_points]
        layout_key = (metric_id, resource)
        layout = self._layouts.get(layout_key)
        if layout is not None and attributes == layout[0]:
            series_ids = layout[1]
        else:
            series_ids = [self._series_id(metric_id, resource, point_attributes)
                          for point_attributes in attributes]
            self._layouts[layout_key] = (attributes, series_ids)
        dev, ino = self._current
        add = points.append
        if kind_field in ("sum", "gauge"):  # most points: their own loop, with nothing else in it
            for point, series in zip(data_points, series_ids, strict=True):
                start, time_ns = int(point.get("startTimeUnixNano", 0)), int(point.get("timeUnixNano", 0))
                if not (0 <= start < _INT64_LIMIT and 0 <= time_ns < _INT64_LIMIT):
                    _int64(start), _int64(time_ns)  # raises: a bad line
                value = float(point["asDouble"]) if "asDouble" in point else float(int(point.get("asInt", 0)))
                add((series, dev, ino, start, time_ns, value, None, None, None, None))
            return
        for point, series in zip(data_points, series_ids, strict=True):
            start, time_ns = _int64(point.get("startTimeUnixNano", 0)), _int64(point.get("timeUnixNano", 0))
            if kind_field == "histogram":
                bounds, buckets = self._explicit_text(point)
            else:
                exponential = _exponential(point)
                bounds, buckets = json.dumps(exponential[0]), json.dumps(exponential[1])
            add((series, dev, ino, start, time_ns, None, _int64(point.get("count", 0)),
                 float(point.get("sum", 0.0)), bounds, buckets))

    def _explicit_text(self, point: dict[str, Any]) -> tuple[str, str]:
        """An explicit-bucket point's bounds and counts as JSON text; the bounds, the same in every
        point of a histogram, encoded once."""
        raw_bounds = tuple(point.get("explicitBounds") or ())
        bounds = self._bounds_text.get(raw_bounds)
        if bounds is None:
            bounds = self._bounds_text[raw_bounds] = json.dumps([float(b) for b in raw_bounds])
        return bounds, "[" + ", ".join([str(int(c)) for c in point.get("bucketCounts") or ()]) + "]"  # as json.dumps

    def _metric_id(self, name: str, unit: str, description: str, kind: MetricType, *, temporality: int,
                   monotonic: bool) -> int:
        known = self._metric_ids.get(name)
        if known is not None:
            return known
        self._db.execute(
            "INSERT INTO metrics (name, unit, description, type, temporality, monotonic) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET unit = excluded.unit, description = excluded.description, "
            "type = excluded.type, temporality = excluded.temporality, monotonic = excluded.monotonic",
            (name, unit, description, kind, temporality, int(monotonic)))
        [(row,)] = self._db.execute("SELECT id FROM metrics WHERE name = ?", (name,)).fetchall()
        self._metric_ids[name] = int(row)
        return int(row)

    def _series_id(self, metric: int, resource: str, attributes: object) -> int:
        # Looked up by the attributes as the line wrote them (one C-level dump): a series repeats in
        # every line, and decoding and sorting its attributes each time was most of the indexing.
        written = (metric, resource, json.dumps(attributes))
        known = self._series_ids.get(written)
        if known is not None:
            return known
        key = (metric, resource, json.dumps(_attributes(attributes), sort_keys=True, ensure_ascii=False))
        self._db.execute("INSERT OR IGNORE INTO series (metric, resource, attrs) VALUES (?, ?, ?)", key)
        [(row,)] = self._db.execute("SELECT id FROM series WHERE metric = ? AND resource = ? AND attrs = ?",
                                    key).fetchall()
        self._series_ids[written] = int(row)
        return int(row)


_INT64_LIMIT: Final = 2**63


def _int64(value: Any) -> int:
    """A time or count as SQLite can hold it; ValueError (a bad line) otherwise."""
    number = int(value)  # str or int in OTLP/JSON; anything else: TypeError (a bad line)
    if not 0 <= number < _INT64_LIMIT:
        raise ValueError(f"{value!r} out of range")
    return number


def _exponential(point: dict[str, Any]) -> tuple[list[float], list[int]]:
    """A base-2 exponential histogram as explicit buckets: zero (and negative) values first, then
    each positive bucket up to its upper bound base**(index + 1)."""
    base = 2.0 ** (2.0 ** -int(point.get("scale", 0)))
    positive = point.get("positive") or {}
    offset = int(positive.get("offset", 0))
    counts = [int(c) for c in positive.get("bucketCounts") or []]
    below = int(point.get("zeroCount", 0)) + sum(int(c) for c in (point.get("negative") or {}).get("bucketCounts")
                                                  or [])
    bounds = [0.0]
    for i in range(len(counts)):
        try:
            bounds.append(base ** (offset + i + 1))
        except OverflowError:
            bounds.append(math.inf)
    return bounds, [below, *counts, 0]
