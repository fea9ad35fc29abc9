"""Rule expressions: each kind evaluates in-process and prints as the equivalent PromQL.

An expression yields a vector of (labels, value) at an evaluation time, after its
comparison: each element is one alert instance, as in a Prometheus alerting rule.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from otel_trading.alerts._duration import format_duration
from otel_trading.alerts._promql import (
    COMPARISONS,
    Vector,
    aggregate,
    divide,
    extrapolated_rate,
    histogram_quantile,
    stddev,
)
from otel_trading.alerts._series import LabelSet, SeriesStore


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


@dataclass(frozen=True)
class Selector:
    """A metric (OTel ``metric`` name, Prometheus ``series`` name) and equality matchers on its labels."""

    metric: str
    series: str
    where: tuple[tuple[str, str], ...] = ()

    def promql(self, suffix: str = "", window_s: float | None = None) -> str:
        matchers = ",".join(f"{k}={_quote(v)}" for k, v in self.where)
        text = self.series + suffix + (f"{{{matchers}}}" if matchers else "")
        return text + (f"[{format_duration(window_s)}]" if window_s is not None else "")

    @property
    def matchers(self) -> dict[str, str]:
        return dict(self.where)


def _grouping(operator: str, by: Sequence[str], inner: str) -> str:
    return f"{operator} by ({', '.join(by)}) ({inner})" if by else f"{operator}({inner})"


class Query(ABC):
    """The value part of a rule (before the comparison)."""

    @abstractmethod
    def evaluate(self, store: SeriesStore, t: float) -> Vector: ...

    @abstractmethod
    def promql(self) -> str: ...

    @property
    def lookback_s(self) -> float:
        """How far back in time the query reads."""
        return 0.0


@dataclass(frozen=True)
class GaugeQuery(Query):
    selector: Selector
    aggregate: str | None = None
    by: tuple[str, ...] = ()

    def evaluate(self, store: SeriesStore, t: float) -> Vector:
        vector = store.instant(self.selector.series, self.selector.matchers, t)
        return aggregate(self.aggregate, vector, self.by) if self.aggregate else vector

    def promql(self) -> str:
        inner = self.selector.promql()
        return _grouping(self.aggregate, self.by, inner) if self.aggregate else inner


@dataclass(frozen=True)
class AgeQuery(Query):
    """Seconds since the Unix time a gauge holds (``time() - x``): heartbeats, last updates."""

    selector: Selector
    by: tuple[str, ...] = ()

    def evaluate(self, store: SeriesStore, t: float) -> Vector:
        vector = aggregate("max", store.instant(self.selector.series, self.selector.matchers, t), self.by)
        return [(labels, t - value) for labels, value in vector]

    def promql(self) -> str:
        return f"time() - {_grouping('max', self.by, self.selector.promql())}"


@dataclass(frozen=True)
class RateQuery(Query):
    """``sum by (...) (rate(counter[w]))``, optionally divided by the same over another counter."""

    selector: Selector
    window_s: float
    function: str = "rate"  # or "increase"
    per: Selector | None = None
    by: tuple[str, ...] = ()

    def _summed(self, selector: Selector, store: SeriesStore, t: float) -> Vector:
        vector = []
        for labels, samples in store.window(selector.series, selector.matchers, t, self.window_s):
            value = extrapolated_rate(samples, t - self.window_s, t, is_rate=self.function == "rate")
            if value is not None:
                vector.append((labels, value))
        return aggregate("sum", vector, self.by)

    def evaluate(self, store: SeriesStore, t: float) -> Vector:
        numerator = self._summed(self.selector, store, t)
        if self.per is None:
            return numerator
        denominators = dict(self._summed(self.per, store, t))
        return [(labels, divide(value, denominators[labels])) for labels, value in numerator if labels in denominators]

    def _term(self, selector: Selector) -> str:
        return _grouping("sum", self.by, f"{self.function}({selector.promql(window_s=self.window_s)})")

    def promql(self) -> str:
        text = self._term(self.selector)
        return f"{text} / {self._term(self.per)}" if self.per is not None else text

    @property
    def lookback_s(self) -> float:
        return self.window_s


@dataclass(frozen=True)
class QuantileQuery(Query):
    """``histogram_quantile(q, sum by (le, ...) (rate(h_bucket[w])))``."""

    selector: Selector
    quantile: float
    window_s: float
    by: tuple[str, ...] = ()

    def evaluate(self, store: SeriesStore, t: float) -> Vector:
        groups: dict[LabelSet, list[tuple[float, float]]] = {}
        for labels, samples in store.window(f"{self.selector.series}_bucket", self.selector.matchers, t,
                                            self.window_s):
            rate = extrapolated_rate(samples, t - self.window_s, t, is_rate=True)
            if rate is None:
                continue
            as_dict = dict(labels)
            key = tuple((k, v) for k, v in labels if k in self.by)
            groups.setdefault(key, []).append((float(as_dict.get("le", "nan")), rate))
        vector = []
        for key, per_bound in groups.items():
            merged: dict[float, float] = {}
            for bound, rate in per_bound:
                merged[bound] = merged.get(bound, 0.0) + rate
            value = histogram_quantile(self.quantile, merged.items())
            if value is not None:
                vector.append((key, value))
        return vector

    def promql(self) -> str:
        inner = f"rate({self.selector.promql('_bucket', self.window_s)})"
        return f"histogram_quantile({self.quantile!r}, {_grouping('sum', ('le', *self.by), inner)})"

    @property
    def lookback_s(self) -> float:
        return self.window_s


@dataclass(frozen=True)
class AbsentQuery(Query):
    """1 (with the selector's labels) while no series matches: a metric that stopped or never came."""

    selector: Selector

    def evaluate(self, store: SeriesStore, t: float) -> Vector:
        if store.instant(self.selector.series, self.selector.matchers, t):
            return []
        return [(tuple(sorted(self.selector.where)), 1.0)]

    def promql(self) -> str:
        return f"absent({self.selector.promql()})"


@dataclass(frozen=True)
class ZScoreQuery(Query):
    """``abs((x - avg_over_time(x[w])) / stddev_over_time(x[w]))``: how unusual the value is now."""

    selector: Selector
    window_s: float

    def evaluate(self, store: SeriesStore, t: float) -> Vector:
        current = dict(store.instant(self.selector.series, self.selector.matchers, t))
        vector = []
        for labels, samples in store.window(self.selector.series, self.selector.matchers, t, self.window_s):
            if labels not in current:
                continue
            values = [value for _, value in samples]
            mean = sum(values) / len(values)
            vector.append((labels, abs(divide(current[labels] - mean, stddev(values)))))
        return vector

    def promql(self) -> str:
        plain, ranged = self.selector.promql(), self.selector.promql(window_s=self.window_s)
        return f"abs(({plain} - avg_over_time({ranged})) / stddev_over_time({ranged}))"

    @property
    def lookback_s(self) -> float:
        return self.window_s


@dataclass(frozen=True)
class Expression:
    """A query and the comparison that turns its values into alerts (absent() needs none).

    ``guard``: another expression that must hold for the same ``on`` labels (PromQL ``and on``),
    e.g. "win rate below 50 %" only once the window holds enough trades.
    """

    query: Query
    operator: str | None = None
    threshold: float = 0.0
    guard: Expression | None = None
    on: tuple[str, ...] = ()

    def evaluate(self, store: SeriesStore, t: float) -> Vector:
        vector = self.query.evaluate(store, t)
        if self.operator is not None:
            compare = COMPARISONS[self.operator]
            vector = [(labels, value) for labels, value in vector
                      if not math.isnan(value) and compare(value, self.threshold)]
        if self.guard is None:
            return vector
        allowed = {tuple((k, v) for k, v in labels if k in self.on) for labels, _ in self.guard.evaluate(store, t)}
        return [(labels, value) for labels, value in vector
                if tuple((k, v) for k, v in labels if k in self.on) in allowed]

    def promql(self) -> str:
        text = self.query.promql()
        if self.operator is not None:
            text = f"{text} {self.operator} {self.threshold!r}"
        if self.guard is None:
            return text
        return f"({text}) and on ({', '.join(self.on)}) ({self.guard.promql()})"

    @property
    def lookback_s(self) -> float:
        return max(self.query.lookback_s, self.guard.lookback_s if self.guard else 0.0)
