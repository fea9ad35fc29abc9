"""How the reading commands render records: values, levels, colours, one log line.

Shared by ``otel-trading logs`` and the waterfall of ``otel-trading traces``.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import sys
from pathlib import Path
from typing import Any, Final, TextIO

from otel_trading.cli._common import NAME_WIDTH, TEXT_WIDTH, clip, escape_controls, format_time, printable
from otel_trading.export import StoredLog
from otel_trading.export._index_rows import render_value
from otel_trading.export._log_filter import LEVELS, level_name

_LEVEL_COLOURS: Final = {"FATAL": "1;31", "ERROR": "31", "WARN": "33", "INFO": "32", "DEBUG": "2", "TRACE": "2"}

STACKTRACE: Final = "exception.stacktrace"
HOW_TO_RECORD: Final = ("run `otel-trading demo` to record some, or call otel_trading.configure() in your bot "
                        "(its default store is ./.otel-trading)")


def no_telemetry_message(directory: Path) -> str:
    return f"no telemetry found at {directory}: {HOW_TO_RECORD}; --store DIR reads another store"


class Style:
    """ANSI colours when writing to a terminal and ``NO_COLOR`` is not set, else plain text."""

    def __init__(self, *, colour: bool, unicode: bool = True) -> None:
        self.colour = colour
        self.unicode = unicode

    @classmethod
    def for_stream(cls, stream: TextIO) -> Style:
        tty = stream.isatty()
        return cls(colour=tty and not os.environ.get("NO_COLOR"), unicode=_can_encode(stream, "█◆▸·"))

    def paint(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.colour and text else text

    def dim(self, text: str) -> str:
        return self.paint(text, "2")

    def bold(self, text: str) -> str:
        return self.paint(text, "1")

    def red(self, text: str) -> str:
        return self.paint(text, "31")

    def level(self, name: str) -> str:
        return self.paint(name, _LEVEL_COLOURS.get(name, "0"))


def tolerate_unencodable_output() -> None:
    """Records may hold characters the output encoding lacks (``PYTHONIOENCODING=ascii``): print
    those as ``?`` rather than stop with a UnicodeEncodeError halfway through."""
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(errors="replace")


def _can_encode(stream: TextIO, text: str) -> bool:
    try:
        text.encode(getattr(stream, "encoding", None) or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def display_value(value: Any) -> str:
    """A value as the pretty output shows it: floats to 8 significant digits, text quoted if needed
    (JSON escapes), control characters escaped, at most ``TEXT_WIDTH`` characters before quoting."""
    if isinstance(value, float):
        return f"{value + 0.0:.8g}"  # + 0.0: a -0.0 slippage reads as 0
    text = clip(render_value(value), TEXT_WIDTH)
    if not text or any(c.isspace() or c in "\"=" for c in text):
        text = json.dumps(text, ensure_ascii=False)
    return escape_controls(text)  # what JSON leaves: DEL and the C1 controls


def key_values(attributes: dict[str, Any], style: Style, *, skip: frozenset[str] = frozenset()) -> str:
    return " ".join(f"{style.dim(printable(key, NAME_WIDTH) + '=')}{display_value(value)}"
                    for key, value in attributes.items() if key not in skip)


def iso_time(time_ns: int) -> str:
    """UTC ISO 8601 with microseconds and ``Z``, as the console logs print it."""
    moment = dt.datetime.fromtimestamp(time_ns // 1000 / 1e6, tz=dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def is_source_location(key: str) -> bool:
    """``code.file.path``, ``code.function.name``, ``code.line.number``...: on every record, noise
    on a pretty line (``--format json`` and the waterfall's ``--attributes`` show them)."""
    return key.startswith("code.")


def log_attributes(log: StoredLog) -> dict[str, Any]:
    """The attributes worth printing: without the stack trace (shown apart), the source location
    and repeated ids."""
    attributes = {key: value for key, value in log.attributes.items()
                  if key != STACKTRACE and not is_source_location(key)}
    if "trade_id" in attributes and attributes.get("correlation_id") == attributes["trade_id"]:
        del attributes["correlation_id"]  # a trade's logs carry its id twice
    return attributes


def pretty_log(log: StoredLog, style: Style, *, with_trace: bool = True,
               skip: frozenset[str] = frozenset()) -> list[str]:
    """``time LEVEL logger message key=value ... trace=<8 hex>``, then the stack trace if any."""
    level = level_name(log)
    body = printable(log.body, TEXT_WIDTH)
    parts = [style.dim(format_time(log.time_ns)), style.level(f"{level:<5}"),
             style.paint(printable(log.scope or "-", NAME_WIDTH), "36"),
             style.bold(body) if log.severity_number >= LEVELS["warn"] else body]
    pairs = key_values(log_attributes(log), style, skip=skip)
    if pairs:
        parts.append(pairs)
    if with_trace and log.trace_id:
        parts.append(style.dim(f"trace={log.trace_id[:8]}"))
    lines = [" ".join(parts)]
    stacktrace = log.attributes.get(STACKTRACE)
    if isinstance(stacktrace, str) and stacktrace.strip():
        lines.extend(style.red("    " + printable(line, TEXT_WIDTH)) for line in stacktrace.rstrip().splitlines())
    return lines


def log_document(log: StoredLog, *, offset_from_ns: int | None = None) -> dict[str, Any]:
    """One log record as a JSON object (``--format json``, and the logs of ``traces --json``)."""
    document: dict[str, Any] = {
        "time": iso_time(log.time_ns),
        "time_unix_nano": log.time_ns,
        "level": level_name(log),
        "severity_number": log.severity_number,
        "logger": log.scope,
        "body": log.body,
        "attributes": dict(log.attributes),
        "trace_id": log.trace_id,
        "span_id": log.span_id,
        "service.name": log.resource.get("service.name"),
    }
    if offset_from_ns is not None:
        document["offset_s"] = (log.time_ns - offset_from_ns) / 1e9
    return document
