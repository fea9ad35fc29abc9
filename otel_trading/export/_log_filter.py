"""Which log records a view shows: time range, level, ids, fields, free text.

``otel-trading logs`` and the console's log search (``search_logs``) filter with the same
``LogFilter``; the CLI parses its ``--field`` options into ``FieldFilter`` (cli/_log_filter.py)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from otel_trading.export._index_rows import render_value, searchable_text
from otel_trading.export._records import StoredLog
from otel_trading.export._runs import RunSelection

# Minimum severity number per --level name (OpenTelemetry's ranges: DEBUG 5-8, INFO 9-12, ...).
LEVELS: Final = {
    "trace": 1, "debug": 5, "info": 9, "warn": 13, "warning": 13, "error": 17, "critical": 21, "fatal": 21,
}
_SHORT_LEVELS: Final = ((21, "FATAL"), (17, "ERROR"), (13, "WARN"), (9, "INFO"), (5, "DEBUG"), (1, "TRACE"))
_LEVEL_NAMES: Final = {"warning": "WARN", "critical": "FATAL"}


def level_name(log: StoredLog) -> str:
    """The short OpenTelemetry name of the record's severity (``WARN``, ``FATAL``...)."""
    for number, name in _SHORT_LEVELS:
        if log.severity_number >= number:
            return name
    return log.severity_text.upper() or "-"


# Record fields that are not attributes, by the names the pretty and JSON output use.
_RECORD_FIELDS: Final[dict[str, Callable[[StoredLog], str | None]]] = {
    "body": lambda log: log.body, "message": lambda log: log.body, "event": lambda log: log.body,
    "logger": lambda log: log.scope, "level": level_name,
    "trace_id": lambda log: log.trace_id, "span_id": lambda log: log.span_id,
}
FIELD_NAMES: Final = frozenset({*_RECORD_FIELDS, "service"})
"""The ``field=value`` keys that name a record's field, not only an attribute (one of these wins only
when neither the attributes nor the resource hold the key)."""


@dataclass(frozen=True)
class FieldFilter:
    """``field=value`` (exact), ``field!=value`` or ``field~=text`` (substring, any case)."""

    key: str
    operator: str
    value: str

    def matches(self, log: StoredLog) -> bool:
        found, value = _field_value(log, self.key)
        wanted = self.value
        if self.key == "level" and "level" not in log.attributes:  # level=warning finds WARN records
            wanted = _LEVEL_NAMES.get(wanted.lower(), wanted.upper())
        if self.operator == "~=":
            return found and wanted.lower() in render_value(value).lower()
        equal = found and equals_text(value, wanted)
        return equal if self.operator == "=" else not equal


def _field_value(log: StoredLog, key: str) -> tuple[bool, Any]:
    if key in log.attributes:
        return True, log.attributes[key]
    if key in log.resource:
        return True, log.resource[key]
    if key == "service":
        return "service.name" in log.resource, log.resource.get("service.name")
    getter = _RECORD_FIELDS.get(key)
    if getter is None:
        return False, None
    value = getter(log)
    return value is not None, value


def equals_text(value: Any, text: str) -> bool:
    """The rendered value equals ``text``, or both are the same number (``pnl=2`` matches 2.0)."""
    if render_value(value) == text:
        return True
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            number = float(text)
        except ValueError:
            return False
        return not math.isnan(number) and float(value) == number
    return False


@dataclass(frozen=True)
class LogFilter:
    start_ns: int | None = None
    end_ns: int | None = None
    min_severity: int = 0
    trace_prefix: str | None = None
    trade_id: str | None = None
    fields: tuple[FieldFilter, ...] = ()
    grep: str | None = None
    """Lower-cased text to find in the body or rendered attributes."""
    runs: RunSelection = field(default_factory=RunSelection)

    def matches(self, log: StoredLog) -> bool:
        if not self.runs.matches(log.resource):
            return False
        if self.start_ns is not None and log.time_ns < self.start_ns:
            return False
        if self.end_ns is not None and log.time_ns > self.end_ns:
            return False
        if log.severity_number < self.min_severity:
            return False
        if self.trace_prefix is not None and not (log.trace_id or "").startswith(self.trace_prefix):
            return False
        if self.trade_id is not None and self.trade_id not in (
                log.attributes.get("trade_id"), log.attributes.get("correlation_id")):
            return False
        if not all(f.matches(log) for f in self.fields):
            return False
        return self.grep is None or self.grep in searchable_text(log)
