"""otel-trading's own log events straight to their OTLP/JSON ``LogRecord`` text, on the export thread.

The general route builds a record (the attributes dict, coerced, then the SDK's record pair or a
record-shaped object) and encodes it; for the local store that was two thirds of a log line's
export cost. Here one pass over the event's fields coerces and writes each attribute, and the
record's fixed members come from small caches (severity, level text, the call site's three
``code.*`` attributes). The text is byte for byte what the general route writes
(tests/test_lean_logs.py holds the two side by side); an event with anything this pass does not
handle exactly as the general route (a non-text key, a field with one of the names the route
itself sets, a body or level that is not text) returns None and takes the general route.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from opentelemetry.trace import SpanContext

from otel_trading._otel_compat import SeverityNumber
from otel_trading.export._otlp_json_encode import (
    _INT64_MAX,
    _INT64_MIN,
    _KEY_PREFIXES,
    _MAX_CACHED_VALUE_LENGTH,
    _MAX_KEY_PREFIXES,
    _STRING_ATTRIBUTES,
    _any_value,
    _key_prefix,
    _quote,
    _string_attribute,
    _trace_context,
)
from otel_trading.export._sanitize import coerce_value

# Attributes the general route sets itself, over a field of the same name (in that field's place).
STACKTRACE: Final = "exception.stacktrace"
CODE_FILE, CODE_FUNCTION, CODE_LINE = "code.file.path", "code.function.name", "code.line.number"
_SET_BY_THE_ROUTE: Final = frozenset({STACKTRACE, CODE_FILE, CODE_FUNCTION, CODE_LINE})
# ',"severityNumber":N' by number ("" for 0: a field at its default is left out).
_SEVERITY_NUMBER: Final = {int(n.value): f',"severityNumber":{int(n.value):d}' if n.value else ""
                           for n in SeverityNumber}
# That and ',"severityText":"INFO"' (the level as the route writes it, upper case), by (number, level).
_SEVERITIES: Final[dict[tuple[int, str], str]] = {}
# '{"stringValue":"order placed"}' by message: a bot's messages are a few fixed texts.
_BODIES: Final[dict[str, str]] = {}
# The last call site tuple seen (by identity: the logging chain hands the same tuple for the same
# place), its length limit and its encoded attributes; replaced whole.
_last_site: tuple[object, int | None, str] = (None, None, "")
# The last span context's members (a tuple replaced whole: export threads may encode at once).
_last_context: tuple[object, str] = (None, "")
# The three code.* attributes of a call site, encoded, by (path, function, line, max_length).
_CALL_SITES: Final[dict[tuple[tuple[str, str, int], int | None], str]] = {}


def log_event_record(time_ns: int, severity_number: int, fields: Mapping[Any, Any], *, skip: frozenset[str],
                     code: tuple[str, str, int] | None, span_context: SpanContext,
                     max_length: int | None) -> str | None:
    """The ``LogRecord`` text of an event: ``fields`` less ``skip`` (their event, level and the like)
    as attributes, then the exception's stack trace and the call site; None for the general route."""
    body = fields.get("event", "")
    level = fields.get("level", "info")
    if type(body) is not str or type(level) is not str or not time_ns or not _SET_BY_THE_ROUTE.isdisjoint(fields):
        return None
    severity = _SEVERITIES.get((severity_number, level)) or _severity(severity_number, level)
    if severity is None:
        return None
    attributes = _attributes(fields, skip, max_length)
    if attributes is None:
        return None
    stacktrace = fields.get("exception")
    if stacktrace is not None:
        if type(stacktrace) is not str:
            return None
        attributes.append(_text_attribute(STACKTRACE, stacktrace, max_length))
    if code is not None:
        last_code, last_length, call_site = _last_site
        if code is not last_code or max_length != last_length:
            found = _CALL_SITES.get((code, max_length)) or _call_site(code, max_length)
            if found is None:
                return None
            call_site = found
            _remember_site(code, max_length, call_site)
        attributes.append(call_site)
    time_text = f"{time_ns:d}"
    cached_context, members = _last_context
    if span_context is not cached_context:
        members = _span_context_members(span_context)
    listed = ',"attributes":[' + ",".join(attributes) + "]" if attributes else ""
    return (f'{{"timeUnixNano":"{time_text}"{severity},"body":{_BODIES.get(body) or _body(body)}'
            f'{listed}{members},"observedTimeUnixNano":"{time_text}"}}')


def _attributes(fields: Mapping[Any, Any], skip: frozenset[str], max_length: int | None) -> list[str] | None:
    encoded: list[str] = []
    append = encoded.append
    prefixes = _KEY_PREFIXES
    strings = _STRING_ATTRIBUTES
    for key, value in fields.items():
        if key in skip:
            continue
        if type(key) is not str:  # str(key) could collide with another key: the route's dict decides
            return None
        kind = type(value)
        if kind is str:
            text = value if max_length is None or len(value) <= max_length else value[:max_length]
            append(strings.get((key, text)) or _string_attribute(key, text))
            continue
        if kind is int and _INT64_MIN <= value <= _INT64_MAX:
            text = f'{{"intValue":"{value:d}"}}'
        else:
            coerced = coerce_value(value, max_length)
            if coerced is None:  # dropped, as the route drops it
                continue
            text = _any_value(coerced, True)
        append((prefixes.get(key) or _key_prefix(key)) + text + "}")
    return encoded


def _text_attribute(key: str, value: str, max_length: int | None) -> str:
    if max_length is not None and len(value) > max_length:
        value = value[:max_length]
    return _STRING_ATTRIBUTES.get((key, value)) or _string_attribute(key, value)


def _remember_site(code: tuple[str, str, int], max_length: int | None, encoded: str) -> None:
    global _last_site
    _last_site = (code, max_length, encoded)


def _call_site(code: tuple[str, str, int], max_length: int | None) -> str | None:
    path, function, line = code
    if type(path) is not str or type(function) is not str or type(line) is not int:  # a hand-made stdlib record's
        return None
    encoded = ",".join((
        _text_attribute(CODE_FILE, path, max_length), _text_attribute(CODE_FUNCTION, function, max_length),
        (_KEY_PREFIXES.get(CODE_LINE) or _key_prefix(CODE_LINE)) + _any_value(line, True) + "}",
    ))
    if len(_CALL_SITES) >= _MAX_KEY_PREFIXES:
        _CALL_SITES.clear()  # a bound, not a policy: the call sites in use come back at once
    _CALL_SITES[code, max_length] = encoded
    return encoded


def _severity(number: int, level: str) -> str | None:
    """``,"severityNumber":N,"severityText":"LEVEL"`` (each left out at its default), or None for a
    number that is no SeverityNumber."""
    number_text = _SEVERITY_NUMBER.get(number)
    if number_text is None:
        return None
    upper = level.upper()
    encoded = number_text + (',"severityText":' + _quote(upper) if upper else "")
    if len(_SEVERITIES) < _MAX_KEY_PREFIXES:
        _SEVERITIES[number, level] = encoded
    return encoded


def _body(body: str) -> str:
    encoded = '{"stringValue":' + _quote(body) + "}"
    if len(body) <= _MAX_CACHED_VALUE_LENGTH:
        if len(_BODIES) >= _MAX_KEY_PREFIXES:
            _BODIES.clear()  # a bound, not a policy: the messages in use come back at once
        _BODIES[body] = encoded
    return encoded


def _span_context_members(span_context: SpanContext) -> str:
    """The record's flags, trace and span id members, kept for the last span context: a span's lines share it."""
    global _last_context
    members = _trace_context(span_context.trace_flags, span_context.trace_id, span_context.span_id)
    _last_context = (span_context, members)
    return members
