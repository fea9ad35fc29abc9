"""Spans and log records straight to an OTLP/JSON line, without building protobuf messages.

The local store writes every span and log line of a bot; encoding them into the proto messages
and then through ``json_format`` cost a backtest about as much as recording them. This writes
the JSON text itself (strings quoted by ``json``'s own C escaper, numbers by their ``repr`` as
``json.dumps`` writes them): the line is byte for byte what
``message_to_json_line(encode_spans(...))`` / ``encode_logs(...)`` give
(tests/test_otlp_json_encode.py holds the two side by side). The rules of that mapping, as
protobuf's JSON printer applies them to OTLP messages:

- fields in field-number order, named in lowerCamelCase; scalars at their default (0, "",
  false) and empty repeated fields are left out; a sub-message that is set is written even empty
  (``"resource":{}``); a value of the ``AnyValue`` one-of is written even at its default;
- 64-bit integers (times, ``intValue``) as strings; enums and 32-bit integers as numbers;
- doubles as numbers, NaN and infinities as the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``;
- bytes as base64, except trace and span ids: lowercase hex (the OTLP/JSON rule).
"""

from __future__ import annotations

import base64
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from json.encoder import encode_basestring
from typing import TYPE_CHECKING, Any, Final, TypeVar

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, StatusCode

from otel_trading._otel_compat import ReadableLogRecord, SeverityNumber
from otel_trading.tracing._lean import UNSET_STATUS

if TYPE_CHECKING:
    from otel_trading.tracing._lean import LeanSpan

_LOG = logging.getLogger(__name__)
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
# OTLP Span.SpanKind: SpanKind.INTERNAL (0 in the API) is SPAN_KIND_INTERNAL (1) in OTLP.
_KIND: Final = {SpanKind.INTERNAL: "1", SpanKind.SERVER: "2", SpanKind.CLIENT: "3", SpanKind.PRODUCER: "4",
                SpanKind.CONSUMER: "5"}
# SpanFlags: the parent's is_remote is known (always), and whether it is remote.
_HAS_IS_REMOTE: Final = 0x100
_IS_REMOTE: Final = 0x200
# A JSON string literal as json.dumps(ensure_ascii=False) writes it (the C escaper).
_quote: Final[Callable[[str], str]] = encode_basestring
# '{"key":"<key>","value":' by attribute key: keys repeat on every span; bounded for odd callers.
_KEY_PREFIXES: Final[dict[str, str]] = {}
_MAX_KEY_PREFIXES: Final = 4096
# A whole '{"key":..,"value":{"stringValue":..}}' by (key, value): a bot's string attributes repeat
# (symbol, side, exchange, function names) on every span and log line. Only str values: a tuple
# key would take 1, 1.0 and True for the same value. Bounded in count and in value length.
_STRING_ATTRIBUTES: Final[dict[tuple[str, str], str]] = {}
_MAX_STRING_ATTRIBUTES: Final = 4096
_MAX_CACHED_VALUE_LENGTH: Final = 128
# How many values of each key are in _STRING_ATTRIBUTES, and the most a key may have there.
_VALUES_PER_KEY: Final[dict[str, int]] = {}
_MAX_VALUES_PER_KEY: Final = 256
_Encode = Callable[[Any], str]


class _Unencodable(ValueError):
    """A span attribute value the OTLP span encoder rejects (its attribute is left out)."""


def _double(value: float) -> str:
    if math.isfinite(value):
        return float.__repr__(value)
    return '"NaN"' if math.isnan(value) else ('"Infinity"' if value > 0 else '"-Infinity"')


def _bytes(value: bytes) -> str:
    return '{"bytesValue":"' + base64.b64encode(value).decode("ascii") + '"}'


def _int(value: int, lenient: bool) -> str:
    if _INT64_MIN <= value <= _INT64_MAX:
        return '{"intValue":"' + int.__repr__(value) + '"}'
    if lenient:
        return '{"stringValue":"' + int.__repr__(value) + '"}'
    raise _Unencodable(f"int {value} out of int64 range")


def _any_value(value: Any, lenient: bool) -> str:
    """``AnyValue`` as the OTLP span encoder builds it, or with ``lenient`` as export/_otlp_logs.py's
    ``any_value`` does for log records: an int out of int64 range and an unknown type become text
    there, where the span encoder rejects them."""
    kind = type(value)
    if kind is str:
        return '{"stringValue":' + _quote(value) + "}"
    if kind is float:
        return '{"doubleValue":' + _double(value) + "}"
    if value is None:
        return "{}"
    if isinstance(value, bool):
        return '{"boolValue":true}' if value else '{"boolValue":false}'
    if isinstance(value, str):
        return '{"stringValue":' + _quote(value) + "}"
    if isinstance(value, int):
        return _int(value, lenient)
    if isinstance(value, float):
        return '{"doubleValue":' + _double(value) + "}"
    if isinstance(value, bytes):
        return _bytes(value)
    if isinstance(value, Mapping):
        pairs = [_key_value(str(key), _any_value(item, lenient)) for key, item in value.items()]
        return '{"kvlistValue":' + _values(pairs) + "}"
    if isinstance(value, Sequence):
        return '{"arrayValue":' + _values([_any_value(item, lenient) for item in value]) + "}"
    if lenient:
        return '{"stringValue":' + _quote(str(value)) + "}"
    raise _Unencodable(f"invalid type {type(value).__name__}")


def _values(items: list[str]) -> str:
    """An ArrayValue or KeyValueList: ``{"values":[...]}``, ``{}`` when empty."""
    return '{"values":[' + ",".join(items) + "]}" if items else "{}"


def _key_prefix(key: str) -> str:
    prefix = '{"key":' + _quote(key) + ',"value":' if key else '{"value":'
    if len(_KEY_PREFIXES) < _MAX_KEY_PREFIXES:
        _KEY_PREFIXES[key] = prefix
    return prefix


def _key_value(key: str, value: str) -> str:
    return (_KEY_PREFIXES.get(key) or _key_prefix(key)) + value + "}"


def _plain(attributes: Mapping[str, Any]) -> Mapping[str, Any]:
    # A span's attributes are a read-only view of BoundedAttributes, whose items() iterates key by
    # key through the Mapping mixin; copy() (both have it) is one dict copy, iterated at C speed.
    copy = getattr(attributes, "copy", None)
    plain = copy() if callable(copy) else attributes
    return plain if isinstance(plain, Mapping) else attributes


def _string_attribute(key: str, value: str) -> str:
    """``{"key":<key>,"value":{"stringValue":<value>}}``, kept in ``_STRING_ATTRIBUTES`` when short
    and its key's values repeat."""
    encoded = f'{_KEY_PREFIXES.get(key) or _key_prefix(key)}{{"stringValue":{_quote(value)}}}}}'
    if len(value) <= _MAX_CACHED_VALUE_LENGTH:
        # A key whose values hardly repeat (ids: correlation, order, trade) would fill the cache with
        # values never seen again and empty it for the ones that do repeat: past a number of values
        # its own are no longer kept.
        seen = _VALUES_PER_KEY.get(key, 0)
        if seen < _MAX_VALUES_PER_KEY:
            if len(_STRING_ATTRIBUTES) >= _MAX_STRING_ATTRIBUTES:
                _STRING_ATTRIBUTES.clear()  # a bound, not a policy: the values in use come back at once
                _VALUES_PER_KEY.clear()
            _STRING_ATTRIBUTES[key, value] = encoded
            _VALUES_PER_KEY[key] = seen + 1
    return encoded


def _span_attributes(attributes: Mapping[str, Any] | None) -> str:
    """The attributes' list items, comma-separated ("" for none)."""
    if not attributes:
        return ""
    result: list[str] = []
    append = result.append
    prefixes = _KEY_PREFIXES
    strings = _STRING_ATTRIBUTES
    # A dict (a lean span's) is read as it is: scrub_span (export/_pipeline.py) has already swapped
    # in its private copy, the one it checked for secrets. The rest through _plain.
    for key, value in (attributes if type(attributes) is dict else _plain(attributes)).items():
        # Inline, the kinds nearly every attribute has (a span has a dozen or more of them).
        kind = type(value)
        if kind is str:
            append(strings.get((key, value)) or _string_attribute(key, value))
        elif kind is float and math.isfinite(value):
            append(f'{prefixes.get(key) or _key_prefix(key)}{{"doubleValue":{float.__repr__(value)}}}}}')
        else:
            try:
                encoded = _any_value(value, False)
            except _Unencodable as error:  # as the OTLP span encoder does: the attribute is left out, logged
                _LOG.warning("Failed to encode key %s: %s", key, error)
                continue
            append((prefixes.get(key) or _key_prefix(key)) + encoded + "}")
    return ",".join(result)


def _log_attributes(attributes: Mapping[Any, Any] | None) -> str:
    if not attributes:
        return ""
    result: list[str] = []
    append = result.append
    prefixes = _KEY_PREFIXES
    strings = _STRING_ATTRIBUTES
    for key, value in attributes.items():
        # Inline, the kinds nearly every log field has; the rest as _any_value writes them (lenient).
        name = key if type(key) is str else str(key)
        kind = type(value)
        if kind is str:
            append(strings.get((name, value)) or _string_attribute(name, value))
            continue
        if kind is int and _INT64_MIN <= value <= _INT64_MAX:
            encoded = f'{{"intValue":"{value:d}"}}'
        else:
            encoded = _any_value(value, True)
        append((prefixes.get(name) or _key_prefix(name)) + encoded + "}")
    return ",".join(result)


def _list(parts: list[str], key: str, items: str) -> None:
    """Appends ``,"key":[items]`` unless there are none (protobuf leaves empty lists out)."""
    if items:
        parts += (',"', key, '":[', items, "]")


def _text(parts: list[str], key: str, value: str | None) -> None:
    if value:
        parts += (',"', key, '":', _quote(value))


def _number(parts: list[str], key: str, value: int) -> None:
    if value:
        parts += (',"', key, '":', f"{value:d}")


def _time(parts: list[str], key: str, value: int | None) -> None:
    """A fixed64: a JSON string."""
    if value:
        parts += (',"', key, '":"', f"{value:d}", '"')


def _object(parts: list[str]) -> str:
    """``parts`` (each member written with a leading comma) as a JSON object."""
    if not parts:
        return "{}"
    parts[0] = parts[0][1:]  # the first member's comma
    return "{" + "".join(parts) + "}"


def _resource(resource: Resource, attributes: Callable[[Mapping[str, Any]], str]) -> str:
    parts: list[str] = []
    _list(parts, "attributes", attributes(resource.attributes))
    return _object(parts)


def _scope(scope: InstrumentationScope | None, attributes: Callable[[Mapping[str, Any]], str]) -> str:
    parts: list[str] = []
    if scope is not None:
        _text(parts, "name", scope.name)
        _text(parts, "version", scope.version)
        _list(parts, "attributes", attributes(getattr(scope, "attributes", None) or {}))
    return _object(parts)


_STATUS_CODE: Final = {code: f"{code.value:d}" if code.value else "" for code in StatusCode}
_LOCAL_PARENT_FLAGS: Final = f"{_HAS_IS_REMOTE:d}"
_REMOTE_PARENT_FLAGS: Final = f"{_HAS_IS_REMOTE | _IS_REMOTE:d}"


def _flags(parent: SpanContext | None) -> str:
    return f"{_HAS_IS_REMOTE | _IS_REMOTE if parent is not None and parent.is_remote else _HAS_IS_REMOTE:d}"


def _trace_state(context: SpanContext) -> str:
    state = context.trace_state
    return ",".join(f"{key}={value}" for key, value in state.items()) if state is not None else ""


# The members of the common span, in one format (see _span).
_COMMON_SPAN: Final = ('{"traceId":"%032x","spanId":"%016x"%s,"name":%s,"kind":%s,"startTimeUnixNano":"%d",'
                       '"endTimeUnixNano":"%d"%s,"status":{},"flags":%s}')
# '"<name>"' by span name: a bot's span names are a few fixed texts.
_NAMES: Final[dict[str, str]] = {}


def _quoted_name(name: str) -> str:
    quoted = _quote(name)
    if len(_NAMES) >= _MAX_KEY_PREFIXES:
        _NAMES.clear()  # a bound, not a policy: the names in use come back at once
    _NAMES[name] = quoted
    return quoted


def _span(span: ReadableSpan | LeanSpan) -> str:
    # A lean span has the same fields as ReadableSpan's properties (plain reads, no copies).
    # The property, not get_span_context(): that is an untyped call before OTel 1.40.
    context: SpanContext | None = span.context
    assert context is not None  # a finished SDK span always has one (the OTLP encoder reads it too)
    # The common span first, written by one format: no trace state, status unset, no events or
    # links, nothing dropped. A SpanContext is a tuple (trace_id, span_id, is_remote, trace_flags,
    # trace_state, is_valid): unpacked at C speed where its properties are a call each
    # (tests/test_otlp_json_encode.py holds the layout).
    trace_id, span_id, _, _, trace_state, _ = context
    name, start, end = span.name, span.start_time, span.end_time
    if (span.status is UNSET_STATUS and not trace_state and name and start and end and not span.events
            and not span.links and not span.dropped_attributes and not span.dropped_events
            and not span.dropped_links):
        parent = span.parent
        if parent is None:
            parent_member, flags = "", _LOCAL_PARENT_FLAGS
        else:
            parent_member = ',"parentSpanId":"%016x"' % parent.span_id  # noqa: UP031 - see below
            flags = _REMOTE_PARENT_FLAGS if parent.is_remote else _LOCAL_PARENT_FLAGS
        kind = span.kind
        attributes = _span_attributes(span.attributes)
        return _COMMON_SPAN % (trace_id, span_id, parent_member, _NAMES.get(name) or _quoted_name(name),
                               "1" if kind is SpanKind.INTERNAL else _KIND[kind], start, end,
                               attributes and ',"attributes":[' + attributes + "]", flags)
    return _any_span(span, context)


def _any_span(span: ReadableSpan | LeanSpan, context: SpanContext) -> str:
    """Any span, member by member (see the module docstring for the rules)."""
    # Written inline, the fields every span has (this runs for every span the store keeps); the
    # helpers for the rest. Each member after the first starts with its comma.
    # %-formatting: an id in half the time of format() (every span has two or three).
    parts = ['{"traceId":"%032x","spanId":"%016x"' % (context.trace_id, context.span_id)]  # noqa: UP031
    if context.trace_state:
        _text(parts, "traceState", _trace_state(context))
    parent = span.parent
    if parent is not None:
        parts.append(',"parentSpanId":"%016x"' % parent.span_id)  # noqa: UP031 - see above
    name = span.name
    if name:
        parts += (',"name":', _quote(name))
    kind = span.kind
    # SpanKind.INTERNAL by identity: hashing an enum member for the dict is a Python-level call.
    parts += (',"kind":', "1" if kind is SpanKind.INTERNAL else _KIND[kind])
    start, end = span.start_time, span.end_time
    if start:
        parts += (',"startTimeUnixNano":"', int.__repr__(start), '"')
    if end:
        parts += (',"endTimeUnixNano":"', int.__repr__(end), '"')
    attributes = _span_attributes(span.attributes)
    if attributes:
        parts += (',"attributes":[', attributes, "]")
    if span.dropped_attributes:
        _number(parts, "droppedAttributesCount", span.dropped_attributes)
    if span.events or span.links or span.dropped_events or span.dropped_links:  # most spans have none
        _events_and_links(parts, span)
    status = span.status
    description = status.description
    status_code = status.status_code
    code = "" if status_code is StatusCode.UNSET else _STATUS_CODE[status_code]  # identity first, as kind
    if description:
        parts += (',"status":{"message":', _quote(description), code and ',"code":' + code, "}")
    else:
        parts += (',"status":', (code and '{"code":' + code + "}") or "{}")
    parts += (',"flags":', _REMOTE_PARENT_FLAGS if parent is not None and parent.is_remote else _LOCAL_PARENT_FLAGS,
              "}")
    return "".join(parts)


def _events_and_links(parts: list[str], span: ReadableSpan | LeanSpan) -> None:
    events = []
    for event in span.events:
        encoded: list[str] = []
        _time(encoded, "timeUnixNano", event.timestamp)
        _text(encoded, "name", event.name)
        _list(encoded, "attributes", _span_attributes(event.attributes))
        _number(encoded, "droppedAttributesCount", event.dropped_attributes)
        events.append(_object(encoded))
    _list(parts, "events", ",".join(events))
    _number(parts, "droppedEventsCount", span.dropped_events)
    links = []
    for link in span.links:
        encoded = [',"traceId":"', format(link.context.trace_id, "032x"), '","spanId":"',
                   format(link.context.span_id, "016x"), '"']
        _list(encoded, "attributes", _span_attributes(link.attributes))
        _number(encoded, "droppedAttributesCount", link.dropped_attributes)
        encoded += (',"flags":', _flags(link.context))
        links.append(_object(encoded))
    _list(parts, "links", ",".join(links))
    _number(parts, "droppedLinksCount", span.dropped_links)


# The lines of one span share their trace context: its encoded members, for the last one seen
# (a tuple replaced whole: export threads may encode at once).
_last_trace_context: tuple[object, int, int, str] = (None, 0, 0, "")


def _trace_context(flags: object, trace_id: int, span_id: int) -> str:
    """``,"flags":..,"traceId":..,"spanId":..``, each left out at zero."""
    global _last_trace_context
    cached_flags, cached_trace_id, cached_span_id, encoded = _last_trace_context
    if cached_trace_id == trace_id and cached_span_id == span_id and cached_flags == flags:
        return encoded
    parts: list[str] = []
    _number(parts, "flags", int(flags or 0))  # type: ignore[call-overload]  # TraceFlags or int
    if trace_id:
        parts += (',"traceId":"', format(trace_id, "032x"), '"')
    if span_id:
        parts += (',"spanId":"', format(span_id, "016x"), '"')
    encoded = "".join(parts)
    _last_trace_context = (flags, trace_id, span_id, encoded)
    return encoded


class EncodedLogRecord:
    """A log record already written as its OTLP/JSON ``LogRecord`` object (``record``), with the
    resource and scope the line groups it by: what the local store is handed for otel-trading's own
    log events (export/_log_event_encode.py writes them on the export thread)."""

    __slots__ = ("instrumentation_scope", "record", "resource")

    def __init__(self, resource: Resource, scope: InstrumentationScope | None, record: str) -> None:
        self.resource = resource
        self.instrumentation_scope = scope
        self.record = record


def log_record_json(readable: ReadableLogRecord | EncodedLogRecord) -> str:
    """The OTLP/JSON ``LogRecord`` object of one record."""
    if isinstance(readable, EncodedLogRecord):
        return readable.record
    # Every log line of a bot passes here: the members are written inline (the helpers above, one
    # call each, were most of its time); the rules are the same (see the module docstring).
    record = readable.log_record
    parts: list[str] = []
    timestamp = record.timestamp
    time_text = f"{timestamp:d}" if timestamp else ""
    if timestamp:
        parts += (',"timeUnixNano":"', time_text, '"')
    severity = record.severity_number
    if severity is not None:
        number = _SEVERITY_NUMBER.get(severity) or _severity_number(severity)
        if number:
            parts.append(number)
    if record.severity_text:
        parts += (',"severityText":', _quote(record.severity_text))
    body = record.body
    if body is not None:  # no body: the field is absent
        parts += (',"body":', '{"stringValue":' + _quote(body) + "}" if type(body) is str else _any_value(body, True))
    attributes = _log_attributes(record.attributes)
    if attributes:
        parts += (',"attributes":[', attributes, "]")
    dropped = readable.dropped_attributes
    if dropped:
        parts += (',"droppedAttributesCount":', f"{dropped:d}")
    trace_context = _trace_context(record.trace_flags, record.trace_id or 0, record.span_id or 0)
    if trace_context:
        parts.append(trace_context)
    observed = record.observed_timestamp
    if observed:
        parts += (',"observedTimeUnixNano":"', time_text if observed == timestamp else f"{observed:d}", '"')
    _text(parts, "eventName", getattr(record, "event_name", None))
    return _object(parts)


_SEVERITY_NUMBER: Final[dict[SeverityNumber, str]] = {}


def _severity_number(severity: SeverityNumber) -> str:
    """``,"severityNumber":N``, or "" for 0 (by SeverityNumber member: one dict lookup a line)."""
    value = int(severity.value)
    encoded = f',"severityNumber":{value:d}' if value else ""
    if len(_SEVERITY_NUMBER) < _MAX_KEY_PREFIXES:
        _SEVERITY_NUMBER[severity] = encoded
    return encoded


_Item = TypeVar("_Item", "ReadableSpan | LeanSpan", "ReadableLogRecord | EncodedLogRecord")
_Grouped = dict[Resource, dict[InstrumentationScope | None, list[str]]]


_NO_ORIGIN: Final = object()  # before the first item: not any item's resource or scope (None may be one)


def _grouped(items: Sequence[_Item], encode: Callable[[_Item], str]) -> _Grouped:
    """Encoded items by resource, then by scope, in order of first appearance (as the OTLP encoders group)."""
    grouped: _Grouped = {}
    # Hashing a Resource dumps its attributes to JSON: once per resource object, not once per item.
    by_identity: dict[int, dict[InstrumentationScope | None, list[str]]] = {}
    # And a scope's hash is computed on every call: the list of each (resource, scope) object pair is kept.
    lists: dict[tuple[int, int], list[str]] = {}
    # Items come in runs of one origin (a bot's spans have one resource and scope): the last one's
    # list is reused without a lookup.
    last_resource: object = _NO_ORIGIN
    last_scope: object = _NO_ORIGIN
    encoded: list[str] = []
    for item in items:
        resource = item.resource
        scope = item.instrumentation_scope
        if resource is not last_resource or scope is not last_scope:
            last_resource, last_scope = resource, scope
            found = lists.get((id(resource), id(scope)))
            if found is None:
                scopes = by_identity.get(id(resource))
                if scopes is None:
                    scopes = by_identity[id(resource)] = grouped.setdefault(resource, {})
                found = lists[id(resource), id(scope)] = scopes.setdefault(scope or None, [])
            encoded = found
        encoded.append(encode(item))
    return grouped


def _request(grouped: _Grouped, kind: str, attributes: Callable[[Mapping[str, Any]], str]) -> str:
    """The Export*ServiceRequest line; ``kind``: ``Spans`` or ``Logs``, ``attributes``: that signal's encoder."""
    if not grouped:
        return "{}"
    items_key = ',"spans":[' if kind == "Spans" else ',"logRecords":['
    # One list of pieces, joined once: a batch's line is megabytes, and a join per nesting level
    # (scope, resource, request) copied all of it each time. Every group has its items and its
    # scope, and every resource a scope, so no member here is ever empty.
    pieces = ['{"resource', kind, '":[']
    for resource, scopes in grouped.items():
        pieces += ('{"resource":', _resource(resource, attributes), ',"scope', kind, '":[')
        for scope, encoded in scopes.items():
            pieces += ('{"scope":', _scope(scope, attributes), items_key, ",".join(encoded), "]")
            _text(pieces, "schemaUrl", scope.schema_url if scope is not None else None)
            pieces.append("},")
        pieces[-1] = "}]"  # the last scope's comma
        _text(pieces, "schemaUrl", resource.schema_url)
        pieces.append("},")
    pieces[-1] = "}]}"  # the last resource's comma
    return "".join(pieces)


def spans_to_json_line(spans: Sequence[ReadableSpan | LeanSpan]) -> str:
    """One ``ExportTraceServiceRequest`` line: spans grouped by resource, then by scope."""
    return _request(_grouped(spans, _span), "Spans", _span_attributes)


def logs_to_json_line(records: Sequence[ReadableLogRecord | EncodedLogRecord]) -> str:
    """One ``ExportLogsServiceRequest`` line: records grouped by resource, then by scope."""
    return _request(_grouped(records, log_record_json), "Logs", _log_attributes)
