"""The structlog processor chain shared by ``get_logger()`` loggers and stdlib records.

Order: level filter -> enrich (timestamp, trace/span ids, correlation id, bound context,
exception) -> redact -> hand to the OTel log pipeline -> render for the console.
Each step reads ``STATE`` at call time, so loggers created before ``configure()`` follow it.
"""

from __future__ import annotations

import datetime as _dt
import sys
import time
import traceback
from collections.abc import MutableMapping
from typing import Any, Final, TextIO

import structlog
from opentelemetry import trace

from otel_trading._state import STATE
from otel_trading.context._correlation import CORRELATION_KEY, CURRENT_BOUND, CURRENT_CORRELATION_ID
from otel_trading.export._batch import in_export_worker
from otel_trading.export._pipeline import PendingLog
from otel_trading.redaction import REDACTED

EventDict = MutableMapping[str, Any]

LEVELS: Final = {"debug": 10, "info": 20, "warning": 30, "warn": 30, "error": 40, "exception": 40,
                 "critical": 50, "fatal": 50}
# OTel SeverityNumber for each level (DEBUG=5, INFO=9, WARN=13, ERROR=17, FATAL=21).
SEVERITY: Final = {10: 5, 20: 9, 30: 13, 40: 17, 50: 21}
_RESERVED: Final = frozenset({"event", "level", "timestamp", "trace_id", "span_id", "logger", "_time_ns",
                              "_internal", "_span_context", "exc_info", "exception"})
_UTC = _dt.timezone.utc


class ConsoleOutput:
    """Where rendered lines go and in which form; replaced by configure()."""

    def __init__(self) -> None:
        self.mode = "json"
        self.stream: TextIO | None = None
        self.min_level = 20
        self.json = structlog.processors.JSONRenderer()
        self.pretty: structlog.dev.ConsoleRenderer | None = None

    def render(self, event_dict: EventDict) -> str:
        if self.mode == "pretty":
            if self.pretty is None:
                self.pretty = structlog.dev.ConsoleRenderer(colors=_isatty(self._stream()))
            return str(self.pretty(None, "", event_dict))
        return str(self.json(None, "", event_dict))

    def _stream(self) -> TextIO:
        return self.stream if self.stream is not None else sys.stderr

    def write(self, line: str) -> None:
        stream = self._stream()
        try:
            stream.write(line + "\n")
            stream.flush()
        except (OSError, ValueError):  # closed or broken stream: logging must not break the bot
            pass


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


CONSOLE = ConsoleOutput()


def filter_level(_logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    if LEVELS.get(method_name, 20) < CONSOLE.min_level:
        raise structlog.DropEvent
    return event_dict


def enrich(_logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    level = event_dict.get("level") or ("error" if method_name == "exception" else method_name)
    event_dict["level"] = level
    now_ns = event_dict.pop("_time_ns", None) or time.time_ns()
    event_dict["_time_ns"] = now_ns
    if "timestamp" not in event_dict:
        event_dict["timestamp"] = _dt.datetime.fromtimestamp(now_ns / 1e9, _UTC).isoformat(
            timespec="microseconds"
        ).replace("+00:00", "Z")
    span_context = trace.get_current_span().get_span_context()
    event_dict["_span_context"] = span_context
    if span_context.is_valid:
        event_dict["trace_id"] = format(span_context.trace_id, "032x")
        event_dict["span_id"] = format(span_context.span_id, "016x")
    cid = CURRENT_CORRELATION_ID.get()
    if cid is not None:
        event_dict.setdefault(CORRELATION_KEY, cid)
    bound = CURRENT_BOUND.get()
    for key, value in bound.items():
        event_dict.setdefault(key, value)
    exc_info = event_dict.pop("exc_info", None)
    if exc_info:
        exc = exc_info if isinstance(exc_info, BaseException) else sys.exc_info()[1]
        if isinstance(exc_info, tuple):
            exc = exc_info[1]
        if exc is not None:
            event_dict["exception"] = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            event_dict["exception.type"] = type(exc).__qualname__
    return event_dict


def redact(_logger: Any, _method_name: str, event_dict: EventDict) -> EventDict:
    redactor = STATE.redactor
    for key, value in event_dict.items():
        if key in _RESERVED and key != "exception":
            continue
        if redactor.is_secret_key(key):
            event_dict[key] = REDACTED
        elif isinstance(value, str):
            event_dict[key] = redactor.scrub_text(value)
        elif isinstance(value, (dict, list, tuple)):
            event_dict[key] = redactor.scrub_value(key, value)
    event = event_dict.get("event")
    if isinstance(event, str):
        event_dict["event"] = redactor.scrub_text(event)
    return event_dict


def to_otel(_logger: Any, _method_name: str, event_dict: EventDict) -> EventDict:
    sink = STATE.log_sink
    internal = event_dict.pop("_internal", False)
    now_ns = event_dict.pop("_time_ns", 0)
    span_context = event_dict.pop("_span_context", None) or trace.get_current_span().get_span_context()
    if sink is None or internal or in_export_worker():
        return event_dict
    level_number = LEVELS.get(event_dict.get("level", "info"), 20)
    attributes = {k: v for k, v in event_dict.items() if k not in _RESERVED}
    exception = event_dict.get("exception")
    if exception is not None:
        attributes["exception.stacktrace"] = exception
    sink(PendingLog(
        time_ns=now_ns or time.time_ns(),
        severity_number=SEVERITY.get(level_number, 9),
        severity_text=str(event_dict.get("level", "info")).upper(),
        body=str(event_dict.get("event", "")),
        attributes=attributes,
        trace_id=span_context.trace_id,
        span_id=span_context.span_id,
        trace_flags=int(span_context.trace_flags),
        scope=str(event_dict.get("logger") or "otel_trading"),
    ))
    return event_dict


def render(_logger: Any, _method_name: str, event_dict: EventDict) -> str:
    if CONSOLE.mode == "off":
        raise structlog.DropEvent
    return CONSOLE.render(event_dict)


PROCESSORS: Final = (filter_level, enrich, redact, to_otel, render)


def process(method_name: str, event_dict: EventDict) -> None:
    """Runs the chain outside structlog (for stdlib records) and writes the line."""
    try:
        for processor in PROCESSORS[:-1]:
            event_dict = processor(None, method_name, event_dict)
        CONSOLE.write(render(None, method_name, event_dict))
    except structlog.DropEvent:
        return
