"""The structlog processor chain shared by ``get_logger()`` loggers and stdlib records.

One step (``log_event``) for our loggers: level filter -> enrich (timestamp, trace/span ids,
correlation id, bound context, exception) -> redact -> hand to the OTel log pipeline -> render
for the console (the SDK's own info lines stop there: exported, not printed). An application's
own structlog chain gets the middle three as separate steps (``STRUCTLOG_PROCESSORS``).
Each step reads ``STATE`` at call time, so loggers created before ``configure()`` follow it.
"""

from __future__ import annotations

import datetime as _dt
import json
import sys
import time
import traceback
from collections.abc import MutableMapping
from types import CodeType, FrameType
from typing import Any, Final, TextIO

import orjson
import structlog
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import INVALID_SPAN_CONTEXT, SpanContext

from otel_trading._state import STATE
from otel_trading.context._correlation import CORRELATION_KEY, CURRENT_BOUND, correlation_id
from otel_trading.export._batch import in_export_worker
from otel_trading.export._pipeline import PendingLog
from otel_trading.redaction import REDACTED, Redactor

EventDict = MutableMapping[str, Any]

LEVELS: Final = {"debug": 10, "info": 20, "warning": 30, "warn": 30, "error": 40, "exception": 40,
                 "critical": 50, "fatal": 50}
# OTel SeverityNumber for each level (DEBUG=5, INFO=9, WARN=13, ERROR=17, FATAL=21).
SEVERITY: Final = {10: 5, 20: 9, 30: 13, 40: 17, 50: 21}
_SEVERITY_OF_LEVEL: Final = {level: SEVERITY[number] for level, number in LEVELS.items()}
# Fields we set ourselves (never secret), skipped by the redaction step.
_PRODUCED_BY_US: Final = frozenset({"level", "timestamp", "trace_id", "span_id", "logger", "_time_ns",
                                    "_internal", "_span_context", "_code", CORRELATION_KEY})
# Modules between the user's log call and enrich(): skipped to find the call site.
_LOGGING_MODULES: Final = ("structlog", "otel_trading.logs")
_UTC = _dt.timezone.utc
# Types orjson would write its own way where json.dumps hands them to structlog's fallback (repr).
_ORJSON_AS_JSON: Final = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def json_line(event_dict: EventDict) -> str:
    """The console's JSON line: orjson, several times faster than ``json.dumps``, compact.

    ``json.dumps`` (the same separators) writes the lines orjson would write otherwise: orjson
    refuses ints beyond 64 bits, keys that are not strings, lone surrogates; it writes non-ASCII
    text unescaped (the line must stay ASCII whatever the stream's encoding, or a line to an
    ASCII file would be lost) and NaN and infinities as ``null`` (json: ``NaN``). A value JSON
    has no type for is written as structlog's ``JSONRenderer`` writes it.
    """
    try:
        line = orjson.dumps(event_dict, default=_structlog_form, option=_ORJSON_AS_JSON)
    except orjson.JSONEncodeError:
        line = None
    if line is not None and line.isascii() and b"null" not in line:  # null: a None, or a NaN json writes as NaN
        return line.decode("ascii")
    try:
        return json.dumps(event_dict, separators=(",", ":"), default=_structlog_form)
    except (TypeError, ValueError, RecursionError):
        # A key JSON cannot hold (a tuple), a cycle: the line still goes out, such values as text;
        # a log call never raises into the bot.
        return json.dumps({str(key): _as_text_if_odd(value) for key, value in event_dict.items()},
                          separators=(",", ":"))


def _as_text_if_odd(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    try:
        return repr(value)
    except Exception:  # noqa: BLE001 - a value's own __repr__ may raise
        return f"<{type(value).__name__}>"


def _structlog_form(value: Any) -> Any:
    """As structlog's JSONRenderer: the value's ``__structlog__()``, else its repr."""
    form = getattr(value, "__structlog__", None)
    return form() if callable(form) else repr(value)


class ConsoleOutput:
    """Where rendered lines go and in which form; replaced by configure()."""

    def __init__(self) -> None:
        self.mode = "json"
        self.stream: TextIO | None = None
        self.min_level = 20
        self.pretty: structlog.dev.ConsoleRenderer | None = None

    def render(self, event_dict: EventDict) -> str:
        if self.mode == "pretty":
            if self.pretty is None:
                self.pretty = structlog.dev.ConsoleRenderer(colors=_isatty(self._stream()))
            return str(self.pretty(None, "", event_dict))
        return json_line(event_dict)

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


_second: tuple[int, str] = (-1, "")
_day: tuple[int, str] = (-1, "")
# The current context object of the last line, its span's context and hex ids (replaced whole:
# threads log at once). The context object is the key: a span's lines share it.
_ids: tuple[object, SpanContext, str, str] = (object(), INVALID_SPAN_CONTEXT, "", "")
_SECONDS_PER_DAY: Final = 86_400


def _timestamp(now_ns: int) -> str:
    """ISO 8601 UTC with microseconds; the part up to the second is formatted once a second, from
    the date formatted once a day (a backtest's log lines are seconds or minutes apart)."""
    global _second, _day
    micros = now_ns // 1000
    second = micros // 1_000_000
    cached_second, prefix = _second
    if cached_second != second:
        day, second_of_day = divmod(second, _SECONDS_PER_DAY)  # Unix time has no leap seconds
        cached_day, date = _day
        if cached_day != day:
            date = _dt.datetime.fromtimestamp(day * _SECONDS_PER_DAY, _UTC).strftime("%Y-%m-%dT")
            _day = (day, date)
        hours, rest = divmod(second_of_day, 3600)
        minutes, seconds = divmod(rest, 60)
        prefix = f"{date}{hours:02d}:{minutes:02d}:{seconds:02d}"
        _second = (second, prefix)
    return "%s.%06dZ" % (prefix, micros % 1_000_000)  # noqa: UP031 - twice as fast as the f-string


_NO_CODE: Final = ("", "", 0)  # a marker: the event did not bring its call site


def _enrich(method_name: str, event_dict: EventDict) -> tuple[int, SpanContext, tuple[str, str, int] | None, bool]:
    """Adds the visible fields (level, timestamp, trace and span ids, correlation id, bound context,
    exception); returns what the export needs besides: the time, span context, call site and
    whether the event is the export machinery's own (stdlib records bring their time, call site
    and that mark as ``_time_ns``, ``_code`` and ``_internal``, taken out here)."""
    level = event_dict.get("level") or ("error" if method_name == "exception" else method_name)
    event_dict["level"] = level
    now_ns = event_dict.pop("_time_ns", None) or time.time_ns()
    if "timestamp" not in event_dict:
        event_dict["timestamp"] = _timestamp(now_ns)
    context = otel_context.get_current()
    cached_context, span_context, trace_hex, span_hex = _ids
    if context is not cached_context:
        span_context, trace_hex, span_hex = _span_ids(context)
    if trace_hex:
        event_dict["trace_id"] = trace_hex
        event_dict["span_id"] = span_hex
    cid = correlation_id()
    if cid is not None:
        event_dict.setdefault(CORRELATION_KEY, cid)
    bound = CURRENT_BOUND.get()
    if bound:
        # Scrubbed as they are added: our chain redacts the caller's fields before enriching them.
        redactor = STATE.redactor
        for key, value in bound.items():
            if key not in event_dict:
                event_dict[key] = _scrubbed(redactor, key, value)
    code = event_dict.pop("_code", _NO_CODE)
    if code is _NO_CODE:
        code = _call_site()
    internal = bool(event_dict.pop("_internal", False))
    exc_info = event_dict.pop("exc_info", None)
    if exc_info:
        _add_exception(event_dict, exc_info)
    return now_ns, span_context, code, internal


def _span_ids(context: otel_context.Context) -> tuple[SpanContext, str, str]:
    """The current span's context and hex ids ("" outside a span), kept for the current context
    object: the lines logged in one span format its ids once."""
    global _ids
    span_context = trace.get_current_span(context).get_span_context()
    if span_context.is_valid:
        trace_hex, span_hex = format(span_context.trace_id, "032x"), format(span_context.span_id, "016x")
    else:
        trace_hex = span_hex = ""
    _ids = (context, span_context, trace_hex, span_hex)
    return span_context, trace_hex, span_hex


def _add_exception(event_dict: EventDict, exc_info: Any) -> None:
    exc = exc_info if isinstance(exc_info, BaseException) else sys.exc_info()[1]
    if isinstance(exc_info, tuple):
        exc = exc_info[1]
    if exc is not None:
        # As the SDK's LoggingHandler records them (exception.stacktrace is "exception" here); an
        # exception's text may quote a secret, and the chain's redaction may have run already.
        scrub = STATE.redactor.scrub_text
        event_dict["exception"] = scrub("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
        event_dict["exception.type"] = scrub(type(exc).__name__)
        if exc.args:
            event_dict["exception.message"] = scrub(str(exc.args[0]))


def enrich(_logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """The chain step of ``STRUCTLOG_PROCESSORS``: the visible fields, and the private ones
    ``to_otel`` takes out."""
    now_ns, span_context, code, internal = _enrich(method_name, event_dict)
    event_dict["_time_ns"] = now_ns
    event_dict["_span_context"] = span_context
    event_dict["_code"] = code
    if internal:
        event_dict["_internal"] = True
    return event_dict


def _call_site() -> tuple[str, str, int] | None:
    """File, function and line of the user's log call (code.* of the exported record)."""
    # sys._getframe: the cheap way to the caller (inspect.stack() costs a thousand times more).
    # The path found last time is tried first: its last logging frame and the frame above it
    # are made and compared by identity (code objects are not hashed: hashing one walks its
    # bytecode and constants). A log call from the same place costs two frames, not a walk.
    # The same place as last time gives the same tuple: the store's encoder keeps the encoded
    # code.* attributes of the last one it saw by identity.
    global _last_path
    depth, last_logging, caller, site = _last_path
    if last_logging is not None:
        try:
            below: FrameType | None = sys._getframe(depth - 1)
        except ValueError:  # a shallower stack than last time
            below = None
        if below is not None and below.f_code is last_logging:
            frame = below.f_back
            if frame is not None:
                code = frame.f_code
                if code is caller:
                    line = frame.f_lineno
                    if site[2] != line:
                        site = (code.co_filename, code.co_name, line)
                        _last_path = (depth, last_logging, caller, site)
                    return site
                if not _in_logging_module(frame):
                    site = (code.co_filename, code.co_name, frame.f_lineno)
                    _last_path = (depth, last_logging, code, site)
                    return site
    walked: FrameType | None = sys._getframe(2)
    depth, last_logging = 2, None
    while walked is not None:
        if not _in_logging_module(walked):
            code = walked.f_code
            site = (code.co_filename, code.co_name, walked.f_lineno)
            if last_logging is not None:
                _last_path = (depth, last_logging, code, site)
            return site
        last_logging = walked.f_code
        walked = walked.f_back
        depth += 1
    return None


def _in_logging_module(frame: FrameType) -> bool:
    return bool(frame.f_globals.get("__name__", "").startswith(_LOGGING_MODULES))


# From the last walk: the depth (from _call_site) of the user's frame, the code of the logging
# frame it called, its own code, and the last call site found there.
_last_path: tuple[int, CodeType | None, CodeType | None, tuple[str, str, int]] = (0, None, None, ("", "", -1))


def redact(_logger: Any, _method_name: str, event_dict: EventDict) -> EventDict:
    redactor = STATE.redactor
    if redactor.is_clean_event(event_dict, _PRODUCED_BY_US):  # the common case, judged at C speed
        return event_dict
    for key, value in event_dict.items():
        if key not in _PRODUCED_BY_US:
            scrubbed = _scrubbed(redactor, key, value)
            if scrubbed is not value:
                event_dict[key] = scrubbed
    # "event" (the message) is one of the fields above: scrubbed there, not checked twice.
    return event_dict


def _scrubbed(redactor: Redactor, key: Any, value: Any) -> Any:
    """``value`` of the field ``key`` as it may be logged: itself when it holds no secret."""
    if redactor.is_secret_key(key):
        return REDACTED
    kind = type(value)  # the exact types first: isinstance() on every field was most of this step
    if kind is int or kind is float or kind is bool or value is None:
        return value
    if isinstance(value, str):
        return value if redactor.is_clean_text(value) else redactor.scrub_text(value)
    if isinstance(value, (dict, list, tuple)):
        return redactor.scrub_value(key, value)
    return value


def to_otel(_logger: Any, _method_name: str, event_dict: EventDict) -> EventDict:
    """The chain step of ``STRUCTLOG_PROCESSORS``: hands the event to the OTel log pipeline."""
    internal = event_dict.pop("_internal", False)
    now_ns = event_dict.pop("_time_ns", 0) or time.time_ns()
    span_context = event_dict.pop("_span_context", None) or trace.get_current_span().get_span_context()
    code = event_dict.pop("_code", None)
    if not internal:
        # A copy: the application's processors after this one may change the dict.
        _export(dict(event_dict), now_ns, span_context, code)
    return event_dict


def _export(fields: EventDict, now_ns: int, span_context: SpanContext, code: tuple[str, str, int] | None) -> None:
    """Queues the event for the log exporters; the record is built on their thread."""
    sink = STATE.log_sink
    if sink is None or in_export_worker():  # an exporter thread's own lines are never exported
        return
    level = fields.get("level", "info")
    sink(PendingLog(now_ns, _SEVERITY_OF_LEVEL.get(level, 9) if type(level) is str else 9, fields, span_context,
                    code))


def log_event(_logger: Any, method_name: str, event_dict: EventDict) -> str:
    """The chain of ``get_logger()``'s loggers (and of stdlib records) in one step: level filter,
    enrich, redact, export, render. One step, not five: each step is a call, and the private
    fields the separate steps pass through the dict (time, span context, call site) are locals."""
    if LEVELS.get(method_name, 20) < CONSOLE.min_level:
        raise structlog.DropEvent
    # The caller's fields are redacted before our own join them (fewer to look at); what enrich
    # adds from elsewhere (bound context, an exception's text) it scrubs itself.
    redact(_logger, method_name, event_dict)
    now_ns, span_context, code, internal = _enrich(method_name, event_dict)
    if not internal:
        # The JSON line only reads the dict: the queued event shares it. The pretty renderer
        # takes fields out of it: a copy then.
        _export(dict(event_dict) if CONSOLE.mode == "pretty" else event_dict, now_ns, span_context, code)
    return render(_logger, method_name, event_dict)


# The SDK's own loggers (``otel_trading.trading``: "order filled", "position closed", ...).
SDK_LOGGER: Final = "otel_trading"
_SDK_LOGGER_PREFIX: Final = SDK_LOGGER + "."
_WARNING: Final = 30


def is_sdk_chatter(event_dict: EventDict) -> bool:
    """An event of the SDK's own loggers below warning: the lifecycle the SDK records for every
    order and trade. It belongs in the telemetry (the store, the collector), not among the user's
    own lines on the console, where it would outnumber them; ``log_level="debug"`` shows it."""
    logger = event_dict.get("logger")
    # startswith first: on nearly every line it is the one test made (the user's loggers).
    return (type(logger) is str and logger.startswith(SDK_LOGGER)
            and (logger == SDK_LOGGER or logger.startswith(_SDK_LOGGER_PREFIX))
            and LEVELS.get(str(event_dict.get("level", "info")), 20) < _WARNING and CONSOLE.min_level > LEVELS["debug"])


def render(_logger: Any, _method_name: str, event_dict: EventDict) -> str:
    mode = CONSOLE.mode
    if mode == "off" or is_sdk_chatter(event_dict):
        raise structlog.DropEvent
    return json_line(event_dict) if mode == "json" else CONSOLE.render(event_dict)


PROCESSORS: Final = (log_event,)
# For an application's own ``structlog.configure()`` chain, before its renderer: correlation
# fields, redaction and export. No level filter (the application's chain has its own) and no
# rendering (its renderer prints). ``enrich`` and ``to_otel`` go together: the first adds the
# private fields the second takes out.
STRUCTLOG_PROCESSORS: Final = (enrich, redact, to_otel)


def process(method_name: str, event_dict: EventDict, *, console: bool = True) -> None:
    """Runs the chain outside structlog (for stdlib records) and writes the line if ``console``."""
    try:
        if console:
            CONSOLE.write(log_event(None, method_name, event_dict))
            return
        if LEVELS.get(method_name, 20) < CONSOLE.min_level:
            return
        redact(None, method_name, event_dict)
        now_ns, span_context, code, internal = _enrich(method_name, event_dict)
        if not internal:
            _export(event_dict, now_ns, span_context, code)
    except structlog.DropEvent:
        return
