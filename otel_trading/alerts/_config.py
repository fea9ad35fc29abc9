"""A whole alerting file: rules, the default pack, custom metrics, channels, routes, silences.

Schema (docs/alerts.md has the reference)::

    interval: 15s                      # evaluation interval
    state_file: .otel-trading/alerts-state.json
    default_pack: true                 # or {overrides: {DailyLossLimit: {below: -0.03}, WinRateLow: {enabled: false}}}
    metrics: {my.metric: {kind: gauge, unit: "1"}}
    rules: [...]
    channels: {name: {type: telegram, ...}}
    routes: [{match: {...}, match_re: {...}, channels: [...], group_by, group_wait, group_interval,
              repeat_interval, continue}]
    inhibit: [{source: {...}, target: {...}, equal: [...]}]
    escalate: [{after: 15m, channels: [...]}]
    silences: [{match: {...}, match_re: {...}, ends_at: 2026-12-01T00:00:00Z, comment: ...}]
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Final

from otel_trading.alerts._duration import parse_duration
from otel_trading.alerts._paths import file_path
from otel_trading.alerts._routing import Escalation, Inhibition, Matcher, Route, Silence
from otel_trading.alerts._rules import COMPARISON_KEYS, Rule, parse_rule
from otel_trading.alerts._yaml import LocatedDict, LocatedList, Origin, RulesError, kind_of, load_yaml, load_yaml_file
from otel_trading.metrics._catalog import CATALOG, Kind, MetricInfo
from otel_trading.metrics._prometheus_names import label_name as sanitize_attribute

TOP_LEVEL: Final = ("interval", "state_file", "dead_letter_file", "default_pack", "metrics", "rules", "channels",
                    "routes", "inhibit", "escalate", "silences")
DEFAULT_PACK: Final = "default_rules.yaml"


@dataclass
class AlertConfig:
    rules: list[Rule] = field(default_factory=list)
    channels: dict[str, LocatedDict] = field(default_factory=dict)
    routes: list[Route] = field(default_factory=list)
    inhibitions: list[Inhibition] = field(default_factory=list)
    escalations: list[Escalation] = field(default_factory=list)
    silences: list[Silence] = field(default_factory=list)
    interval_s: float = 15.0
    state_file: Path | None = None
    dead_letter_file: Path | None = None
    source: str = "<python>"


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, node: Any, key: str | None, where: str, message: str) -> RulesError:
        line = node.line_of(key) if isinstance(node, LocatedDict) and key else getattr(node, "line", None)
        return RulesError(message, source=self.source, line=line, field=where)

    def mapping(self, node: Any, key: str, where: str) -> LocatedDict:
        value = node.get(key) if isinstance(node, Mapping) else None
        if value is None:
            return LocatedDict()
        if not isinstance(value, LocatedDict):
            raise self.error(node, key, where, f"expected a mapping, got {kind_of(value)}")
        return value

    def items(self, node: Any, key: str, where: str) -> list[Any]:
        value = node.get(key) if isinstance(node, Mapping) else None
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error(node, key, where, f"expected a list, got {kind_of(value)}")
        return value

    def entries(self, node: LocatedDict, key: str, expected: str) -> list[tuple[str, LocatedDict]]:
        """The mappings listed under ``key``, each with its field path (``routes[0]``)."""
        values = self.items(node, key, key)
        for index, value in enumerate(values):
            if not isinstance(value, LocatedDict):
                line = node[key].lines[index] if isinstance(node[key], LocatedList) else None
                raise RulesError(f"expected a mapping ({expected}), got {kind_of(value)}", source=self.source,
                                 line=line, field=f"{key}[{index}]")
        return [(f"{key}[{index}]", value) for index, value in enumerate(values)]

    def names(self, node: LocatedDict, key: str, where: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        """Label names: a list of strings (or one), in their Prometheus spelling."""
        value = node.get(key)
        if value is None:
            return default
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            raise self.error(node, key, where, f"expected a list of label names, got {kind_of(value)}")
        return tuple(sanitize_attribute(item) for item in items)

    def flag(self, node: LocatedDict, key: str, where: str, default: bool) -> bool:
        value = node.get(key, default)
        if not isinstance(value, bool):
            raise self.error(node, key, where, f"expected true or false, got {kind_of(value)}")
        return value

    def duration(self, node: LocatedDict, key: str, where: str, default: float) -> float:
        if key not in node:
            return default
        try:
            return parse_duration(node[key])
        except ValueError as exc:
            raise self.error(node, key, where, str(exc)) from None

    def known_keys(self, node: LocatedDict, allowed: tuple[str, ...], where: str) -> None:
        for key in node:
            if key not in allowed:
                raise self.error(node, key, f"{where}.{key}", f"unknown field; expected one of {', '.join(allowed)}")

    def matcher(self, node: LocatedDict, where: str, prefix: str = "match") -> Matcher:
        equal = {sanitize_attribute(k): str(v) for k, v in self.mapping(node, prefix, where).items()}
        regex = {}
        for key, pattern in self.mapping(node, f"{prefix}_re", where).items():
            try:
                regex[sanitize_attribute(key)] = re.compile(str(pattern))
            except re.error as exc:
                raise self.error(node, f"{prefix}_re", f"{where}.{prefix}_re.{key}", f"bad regex: {exc}") from None
        return Matcher(equal, regex)


def load_config(path: str | os.PathLike[str] | None = None, *, text: str | None = None) -> AlertConfig:
    """Reads an alerting file (or ``text``); every problem is a RulesError naming file, line and field."""
    source = os.fspath(path) if path is not None else "<text>"
    document = load_yaml(text, source) if text is not None else load_yaml_file(source)
    if document is None:
        document = LocatedDict()
    reader = _Reader(source)
    if not isinstance(document, LocatedDict):
        raise reader.error(document, None, "(top level)", "expected a mapping with a 'rules:' list")
    reader.known_keys(document, TOP_LEVEL, "(top level)")
    config = AlertConfig(source=source, interval_s=reader.duration(document, "interval", "interval", 15.0))
    if config.interval_s <= 0:
        raise reader.error(document, "interval", "interval", "expected a duration > 0")
    for key in ("state_file", "dead_letter_file"):
        if document.get(key) is not None:
            try:
                setattr(config, key, file_path(document[key]))
            except ValueError as exc:
                raise reader.error(document, key, key, str(exc)) from None
    catalog = {**CATALOG, **_custom_metrics(reader, document)}
    seen: dict[str, int | None] = {}
    pack = _default_pack(reader, document, catalog)
    for _, spec in reader.entries(document, "rules", "name, a kind, ..."):
        if not reader.flag(spec, "enabled", f"rules[{spec.get('name', '?')}].enabled", True):
            continue
        rule_ = parse_rule(spec, source=source, catalog=catalog)
        if rule_.name in seen:
            raise RulesError(f"duplicate rule name (first at line {seen[rule_.name]})", source=source,
                             line=spec.line_of("name"), field=f"rules[{rule_.name}].name")
        seen[rule_.name] = rule_.line
        config.rules.append(rule_)
    config.rules = [r for r in pack if r.name not in seen] + config.rules
    _routing(reader, document, config)
    return config


def _custom_metrics(reader: _Reader, document: LocatedDict) -> dict[str, MetricInfo]:
    custom = {}
    declared = reader.mapping(document, "metrics", "metrics")
    for name, spec in declared.items():
        where = f"metrics.{name}"
        if not isinstance(spec, LocatedDict) or spec.get("kind") not in {k.name.lower() for k in Kind}:
            expected = "expected {kind: counter|up_down_counter|gauge|histogram, unit: ...}"
            raise reader.error(declared, name, where, expected)
        custom[name] = MetricInfo(name, Kind[str(spec["kind"]).upper()], str(spec.get("unit", "")))
    return custom


def _default_pack(reader: _Reader, document: LocatedDict, catalog: Mapping[str, MetricInfo]) -> list[Rule]:
    setting = document.get("default_pack", False)
    if setting is False or setting is None:
        return []
    if setting is True:
        return default_rules(catalog=catalog, origin=reader)
    if not isinstance(setting, LocatedDict):
        raise reader.error(document, "default_pack", "default_pack",
                           f"expected true, false or {{overrides: {{RULE: {{field: value}}}}}}, got {kind_of(setting)}"
                           + (f" {setting!r}" if isinstance(setting, str) else ""))
    reader.known_keys(setting, ("overrides",), "default_pack")
    overrides = reader.mapping(setting, "overrides", "default_pack.overrides")
    return default_rules(overrides, catalog=catalog, origin=reader)


def default_rules(overrides: Mapping[str, Mapping[str, Any]] | None = None, *,
                  catalog: Mapping[str, MetricInfo] = CATALOG, origin: _Reader | None = None) -> list[Rule]:
    """The shipped trading rule pack, with per-rule field overrides (``{"enabled": False}`` drops one).

    A threshold in an override (``above``, ``below``...) replaces the rule's own. An error in an
    override names the file and line that set it (``origin``), or ``overrides.RULE.field``.
    """
    source = f"otel_trading/alerts/{DEFAULT_PACK}"
    text = resources.files("otel_trading.alerts").joinpath(DEFAULT_PACK).read_text(encoding="utf-8")
    pack = load_yaml(text, source)["rules"]
    by_name = {spec["name"]: spec for spec in pack}
    origins: dict[str, Origin] = {}
    for name, given in (overrides or {}).items():
        fields: object = given  # checked here: overrides come from YAML or from the caller's code
        field_path = f"default_pack.overrides.{name}" if origin is not None else f"overrides.{name}"
        where = Origin(origin.source if origin else "<python>", _line_of(overrides, name), field_path)
        problem = None
        if name not in by_name:
            problem = f"no rule {name!r} in the default pack; it has {', '.join(by_name)}"
        elif not isinstance(fields, Mapping):
            problem = f"expected a mapping of the rule's fields to new values, got {kind_of(fields)}"
        elif "name" in fields:
            problem = "a default rule cannot be renamed: copy it under 'rules:' instead"
        if problem is not None:
            raise RulesError(problem, source=where.source, line=where.line, field=field_path)
        origins[name] = where
    rules = []
    for spec in pack:
        name = spec["name"]
        fields = (overrides or {}).get(name, {})
        own = {k: v for k, v in spec.items() if not (k in COMPARISON_KEYS and COMPARISON_KEYS.keys() & fields)}
        merged = LocatedDict({**own, **fields})
        merged.line, merged.lines = spec.line, spec.lines
        if name in origins:
            merged.origins = {key: Origin(origins[name].source, _line_of(fields, key) or origins[name].line,
                                          origins[name].field) for key in fields}
        enabled = merged.get("enabled", True)
        if not isinstance(enabled, bool):
            at = merged.origin_of("enabled") or Origin(source, spec.line_of("enabled"), f"rules[{name}]")
            raise RulesError(f"expected true or false, got {kind_of(enabled)}", source=at.source, line=at.line,
                             field=f"{at.field}.enabled")
        if enabled:
            rules.append(parse_rule(merged, source=source, catalog=catalog))
    return rules


def _line_of(node: object, key: str) -> int | None:
    return node.line_of(key) if isinstance(node, LocatedDict) else None


def _routing(reader: _Reader, document: LocatedDict, config: AlertConfig) -> None:
    defined = reader.mapping(document, "channels", "channels")
    for name, spec in defined.items():
        if not isinstance(spec, LocatedDict):  # the channel's own checks need its lines
            raise reader.error(defined, name, f"channels.{name}",
                               f"expected a mapping with a type: field, got {kind_of(spec)}")
    config.channels = dict(defined)
    route_keys = ("match", "match_re", "channels", "group_by", "group_wait", "group_interval", "repeat_interval",
                  "continue")
    for where, spec in reader.entries(document, "routes", "channels, match, ..."):
        reader.known_keys(spec, route_keys, where)
        channels = _channel_names(reader, spec, where, config)
        group_by = reader.names(spec, "group_by", f"{where}.group_by", ("alertname",))
        config.routes.append(Route(
            channels, reader.matcher(spec, where), group_by,
            reader.duration(spec, "group_wait", f"{where}.group_wait", 5.0),
            reader.duration(spec, "group_interval", f"{where}.group_interval", 60.0),
            reader.duration(spec, "repeat_interval", f"{where}.repeat_interval", 4 * 3600.0),
            reader.flag(spec, "continue", f"{where}.continue", False),
        ))
    if not config.routes:
        config.routes.append(Route(tuple(config.channels) or ("console",)))
        if not config.channels:
            config.channels["console"] = LocatedDict({"type": "console"})
    for where, spec in reader.entries(document, "inhibit", "source, target, ..."):
        reader.known_keys(spec, ("source", "source_re", "target", "target_re", "equal"), where)
        equal = reader.names(spec, "equal", f"{where}.equal")
        source, target = reader.matcher(spec, where, "source"), reader.matcher(spec, where, "target")
        config.inhibitions.append(Inhibition(source, target, equal))
    for where, spec in reader.entries(document, "escalate", "after, channels"):
        reader.known_keys(spec, ("after", "channels"), where)
        config.escalations.append(Escalation(reader.duration(spec, "after", f"{where}.after", 900.0),
                                             _channel_names(reader, spec, where, config)))
    for where, spec in reader.entries(document, "silences", "match, ends_at, ..."):
        reader.known_keys(spec, ("match", "match_re", "ends_at", "starts_at", "comment", "created_by"), where)
        config.silences.append(Silence(reader.matcher(spec, where), _time(reader, spec, "ends_at", where),
                                       _time(reader, spec, "starts_at", where, 0.0), str(spec.get("comment", "")),
                                       str(spec.get("created_by", ""))))


def _channel_names(reader: _Reader, spec: LocatedDict, where: str, config: AlertConfig) -> tuple[str, ...]:
    names = spec.get("channels")
    if not isinstance(names, list) or not names or not all(isinstance(name, str) for name in names):
        raise reader.error(spec, "channels", f"{where}.channels", "expected a non-empty list of channel names")
    for name in names:
        if name not in config.channels and name != "console":
            defined = ", ".join(config.channels) or "none"
            raise reader.error(spec, "channels", f"{where}.channels",
                               f"no channel {name!r} under 'channels:' (defined: {defined})")
    return tuple(str(n) for n in names)


def _time(reader: _Reader, spec: LocatedDict, key: str, where: str, default: float | None = None) -> float:
    value = spec.get(key)
    if value is None:
        if default is None:
            raise reader.error(spec, None, f"{where}.{key}", "required (an ISO 8601 time like 2026-12-01T00:00:00Z)")
        return default
    if isinstance(value, dt.datetime):
        moment = value
    else:
        try:
            moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise reader.error(spec, key, f"{where}.{key}", f"expected an ISO 8601 time, got {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.timestamp()
