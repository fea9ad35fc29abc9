"""Alert rules: what each one watches, and the checks that turn a mistyped rule into a clear error.

A rule is a mapping (YAML or keyword arguments of ``rule()``) with exactly one *kind* key
naming the metric: ``gauge``, ``rate``, ``increase``, ``histogram`` (with ``quantile``),
``absent``, ``age``, ``zscore`` or ``consecutive_failures``; see docs/alerts.md.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from otel_trading.alerts._duration import parse_duration
from otel_trading.alerts._expr import (
    AbsentQuery,
    AgeQuery,
    Expression,
    GaugeQuery,
    QuantileQuery,
    Query,
    RateQuery,
    Selector,
    ZScoreQuery,
)
from otel_trading.alerts._model import Severity
from otel_trading.alerts._template import check_template
from otel_trading.alerts._yaml import LocatedDict, RulesError, kind_of
from otel_trading.metrics._catalog import CATALOG, Kind, MetricInfo, nearest
from otel_trading.metrics._prometheus_names import label_name as sanitize_attribute

KINDS: Final = ("gauge", "rate", "increase", "histogram", "absent", "age", "zscore", "consecutive_failures")
COMPARISON_KEYS: Final = {"above": ">", "below": "<", "at_least": ">=", "at_most": "<="}
AGGREGATES: Final = ("sum", "min", "max", "avg", "count")
_COMMON: Final = ("name", "for", "keep_firing_for", "severity", "labels", "annotations", "where", "by", "enabled",
                   "require")
_EXTRA: Final[dict[str, tuple[str, ...]]] = {
    "gauge": ("aggregate",), "rate": ("window", "per", "per_where"), "increase": ("window", "per", "per_where"),
    "histogram": ("quantile", "window"), "absent": (), "age": (), "zscore": ("window",),
    "consecutive_failures": (),
}
_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Prometheus label (and annotation) names; "__" starts the names Prometheus reserves for itself.
_LABEL_NAME: Final = re.compile(r"^(?!__)[A-Za-z_][A-Za-z0-9_]*$")
_ALLOWED_KINDS: Final[dict[str, tuple[Kind, ...]]] = {
    "rate": (Kind.COUNTER,), "increase": (Kind.COUNTER,), "histogram": (Kind.HISTOGRAM,),
    "gauge": (Kind.GAUGE, Kind.UP_DOWN_COUNTER, Kind.COUNTER), "age": (Kind.GAUGE,),
    "zscore": (Kind.GAUGE, Kind.UP_DOWN_COUNTER), "consecutive_failures": (Kind.GAUGE, Kind.UP_DOWN_COUNTER),
    "absent": tuple(Kind),
}


@dataclass(frozen=True)
class Rule:
    """One alerting rule (build with ``rule()`` or load from YAML with ``load_rules()``)."""

    name: str
    expression: Expression
    for_s: float = 0.0
    keep_firing_for_s: float = 0.0
    severity: Severity = Severity.WARNING
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    metrics: tuple[str, ...] = ()
    source: str = "<python>"
    line: int | None = None


class _Spec:
    """Reads fields of one rule mapping, raising RulesError with its file, line and field."""

    def __init__(self, spec: Mapping[str, Any], source: str, catalog: Mapping[str, MetricInfo]) -> None:
        self.spec = spec
        self.source = source
        self.catalog = catalog
        self.name = str(spec.get("name", "?"))

    def line(self, key: str | None = None) -> int | None:
        if isinstance(self.spec, LocatedDict):
            return self.spec.line_of(key) if key else self.spec.line
        return None

    def error(self, key: str | None, message: str) -> RulesError:
        origin = self.spec.origin_of(key) if key and isinstance(self.spec, LocatedDict) else None
        if origin is not None:  # an override: reported in the file and at the line that set it
            return RulesError(message, source=origin.source, line=origin.line, field=f"{origin.field}.{key}")
        where = f"rules[{self.name}].{key}" if key else f"rules[{self.name}]"
        return RulesError(message, source=self.source, line=self.line(key), field=where)

    def get(self, key: str, convert: Callable[[Any], Any], default: Any = None) -> Any:
        if key not in self.spec or self.spec[key] is None:
            return default
        try:
            return convert(self.spec[key])
        except (TypeError, ValueError) as exc:
            raise self.error(key, str(exc)) from None

    def metric(self, key: str, allowed: tuple[Kind, ...]) -> MetricInfo:
        name = self.spec[key]
        info = self.catalog.get(name) if isinstance(name, str) else None
        if info is None:
            hint = nearest(str(name)) if isinstance(name, str) else None
            suggestion = f" (did you mean {hint!r}?)" if hint else ""
            raise self.error(key, f"unknown metric {name!r}{suggestion}; declare your own under 'metrics:'")
        if info.kind not in allowed:
            kinds = " or ".join(k.value for k in allowed)
            raise self.error(key, f"{info.name} is a {info.kind.value}; {key} needs a {kinds}")
        return info


def _text_map(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise TypeError(f"expected a mapping of names to values, got {kind_of(value)}")
    for key, item in value.items():
        if not isinstance(item, (str, int, float)):  # a list or mapping would be exported as its repr
            raise TypeError(f"{key}: expected a text or a number, got {kind_of(item)}")
    return {k: str(v) for k, v in value.items()}


def _label_map(value: Any) -> dict[str, str]:
    """Labels or annotations: names Prometheus accepts, so the export loads and the names route alike."""
    labels = _text_map(value)
    for name in labels:
        if not _LABEL_NAME.match(name):
            raise ValueError(f"{name!r} is not a Prometheus label name: expected letters, digits and _, "
                             "not starting with a digit or __")
    return labels


def _names(value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
        raise TypeError(f"expected a list of attribute names, got {value!r}")
    return tuple(sanitize_attribute(i) for i in items)


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a number, got {value!r}")
    if not math.isfinite(value):  # NaN compares false with everything: a rule that could never fire
        raise ValueError(f"expected a finite number, got {value!r}")
    return float(value)


def _positive_duration(value: Any) -> float:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError(f"expected a duration > 0, got {value!r}")
    return seconds


def _quantile(value: Any) -> float:
    number = _number(value)
    if not 0 < number < 1:
        raise ValueError(f"expected a quantile between 0 and 1 (0.99 = p99), got {value!r}")
    return number


def parse_rule(spec: Mapping[str, Any], *, source: str = "<python>",
               catalog: Mapping[str, MetricInfo] = CATALOG) -> Rule:
    """Builds one Rule from its mapping; every problem is a RulesError naming the field."""
    reader = _Spec(spec, source, catalog)
    name = spec.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise reader.error("name", f"expected a name of letters, digits and _ (a Prometheus alertname), got {name!r}")
    kinds = [k for k in KINDS if k in spec]
    if len(kinds) != 1:
        raise reader.error(None, f"expected exactly one of {', '.join(KINDS)}; got {', '.join(kinds) or 'none'}")
    kind = kinds[0]
    allowed = {*_COMMON, kind, *_EXTRA[kind], *([] if kind == "absent" else COMPARISON_KEYS)}
    for key in spec:
        if key not in allowed:
            raise reader.error(key, f"unknown field for a {kind} rule; expected one of {', '.join(sorted(allowed))}")
    info = reader.metric(kind, _ALLOWED_KINDS[kind])
    where = tuple(sorted((sanitize_attribute(k), v) for k, v in reader.get("where", _text_map, {}).items()))
    selector = Selector(info.name, info.prometheus_name, where)
    by: tuple[str, ...] = reader.get("by", _names, ())
    query = _query(reader, kind, selector, by)
    operator, threshold = _comparison(reader, kind)
    severity = reader.get("severity", Severity, Severity.WARNING)
    annotations = reader.get("annotations", _label_map, {})
    for key, text in annotations.items():
        problem = check_template(text)
        if problem:
            raise reader.error("annotations", f"{key}: {problem}")
    metrics = (info.name, *((query.per.metric,) if isinstance(query, RateQuery) and query.per else ()))
    guard = _guard(reader, by) if "require" in spec else None
    if guard is not None:
        metrics = (*metrics, *guard.metrics)
    expression = Expression(query, operator, threshold, guard.expression if guard else None, by)
    return Rule(
        name=name, expression=expression,
        for_s=reader.get("for", parse_duration, 0.0),
        keep_firing_for_s=reader.get("keep_firing_for", parse_duration, 0.0),
        severity=severity, labels=reader.get("labels", _label_map, {}), annotations=annotations,
        metrics=metrics, source=source, line=reader.line(),
    )


def _guard(reader: _Spec, by: tuple[str, ...]) -> Rule:
    spec = reader.spec["require"]
    if not isinstance(spec, Mapping) or "require" in spec:
        raise reader.error("require", "expected a mapping with one kind and a threshold, e.g. "
                                      "{gauge: trading.performance.trades, at_least: 20}")
    inherited: dict[str, Any] = {"name": f"{reader.name}_require", "where": reader.spec.get("where"),
                                 "by": list(by) or None}
    if by and next((k for k in KINDS if k in spec), None) == "gauge":
        inherited["aggregate"] = "sum"
    merged = LocatedDict({k: v for k, v in inherited.items() if v is not None} | dict(spec))
    if isinstance(spec, LocatedDict):
        merged.line, merged.lines = spec.line, spec.lines
    try:
        return parse_rule(merged, source=reader.source, catalog=reader.catalog)
    except RulesError as exc:
        raise reader.error("require", exc.reason) from None


def _query(reader: _Spec, kind: str, selector: Selector, by: tuple[str, ...]) -> Query:
    if kind in ("rate", "increase"):
        per = None
        if "per" in reader.spec:
            per_info = reader.metric("per", (Kind.COUNTER,))
            per_where = {sanitize_attribute(k): v for k, v in reader.get("per_where", _text_map, {}).items()}
            where = tuple(sorted((dict(selector.where) | per_where).items()))
            per = Selector(per_info.name, per_info.prometheus_name, where)
        elif "per_where" in reader.spec:
            raise reader.error("per_where", "per_where filters the 'per' counter; add per: (the denominator)")
        window = reader.get("window", _positive_duration, 300.0)
        return RateQuery(selector, window, kind, per, by)
    if kind == "histogram":
        if "quantile" not in reader.spec:
            raise reader.error("quantile", "a histogram rule needs quantile: (0.99 for p99)")
        window = reader.get("window", _positive_duration, 300.0)
        return QuantileQuery(selector, reader.get("quantile", _quantile), window, by)
    if kind == "absent":
        return AbsentQuery(selector)
    if kind == "age":
        return AgeQuery(selector, by)
    if kind == "zscore":
        return ZScoreQuery(selector, reader.get("window", _positive_duration, 1800.0))
    aggregate_ = reader.get("aggregate", str, "max" if kind == "consecutive_failures" else None)
    if aggregate_ is not None and aggregate_ not in AGGREGATES:
        raise reader.error("aggregate", f"expected one of {', '.join(AGGREGATES)}, got {aggregate_!r}")
    if by and aggregate_ is None:
        raise reader.error("by", "'by' groups an aggregation: add aggregate: sum, min, max, avg or count")
    return GaugeQuery(selector, aggregate_, by)


def _comparison(reader: _Spec, kind: str) -> tuple[str | None, float]:
    if kind == "absent":
        return None, 0.0
    given = [key for key in COMPARISON_KEYS if key in reader.spec]
    if len(given) != 1:
        keys = ", ".join(COMPARISON_KEYS)
        raise reader.error(None, f"expected exactly one threshold ({keys}); got {', '.join(given) or 'none'}")
    key = given[0]
    threshold = reader.get(key, _number)
    if kind == "consecutive_failures" and (key != "at_least" or threshold < 1):
        raise reader.error(key, "consecutive_failures takes at_least: N (N ≥ 1)")
    return COMPARISON_KEYS[key], threshold


def rule(name: str, **fields: Any) -> Rule:
    """A rule from keyword arguments, with the YAML fields' names (``for_`` for ``for``)."""
    spec = {"name": name, **{key.rstrip("_"): value for key, value in fields.items()}}
    return parse_rule(spec)
