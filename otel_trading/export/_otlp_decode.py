"""OTLP/JSON lines straight to flat ``StoredSpan`` / ``StoredLog`` records, with ``orjson.loads``.

Going through protobuf (``json_format.ParseDict`` then reading the message back) costs about 20 times
the ``json.loads`` of the same line, and reading the store is mostly that. The fast path here reads
the documents our writer and the Collector write; anything it does not expect (an unknown or
snake_case field, an id that is not lowercase hex, an enum by name, a link, a wrong type) sends
the line down the protobuf path, which gives the same records for anything protobuf accepts and
the error in our words for anything it rejects. So both paths agree on every line, and hostile
input is judged by one set of rules.

``orjson.loads`` (about twice ``json.loads``) gives the values ``json.loads`` gives for every line it
reads (the last duplicate key wins; an integer beyond 64 bits comes out as the nearest float, which
only a ``doubleValue`` accepts, as protobuf's ``float()`` of ``json.loads``' integer; a UTF-16
surrogate pair is the character). What it refuses (``NaN``, ``Infinity``, ``1e400``: protobuf refuses
them too, unquoted; deeper nesting; a lone surrogate escape, which ``json.loads`` reads and protobuf
judges) goes down the protobuf path: no line is searched for any of them first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final

import orjson
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from otel_trading.export._otlp_json import Signal, parse_json_line
from otel_trading.export._record_builder import new_event, new_log, new_span
from otel_trading.export._records import SPAN_KINDS, STATUS, SpanEvent, StoredLog, StoredSpan

_LOWER_HEX_DIGITS: Final = "0123456789abcdef"
_UINT64_DIGITS: Final = 20
_INT: Final = re.compile(r"-?[0-9]{1,19}")
_UINT64_MAX: Final = 2**64 - 1
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1


class _Unusual(Exception):
    """The line is not shaped the way the fast path reads; protobuf decides."""


def decode_line(line: str | bytes, signal: Signal) -> list[StoredSpan] | list[StoredLog]:
    """The records of one OTLP/JSON line of ``signal``.

    Raises ValueError ``not an OTLP/JSON record: <reason>`` exactly as ``parse_json_line`` does."""
    return decode_records(line, signal)[0]


def decode_records(line: str | bytes, signal: Signal) -> tuple[list[StoredSpan] | list[StoredLog], bool]:
    """``decode_line``, and whether the fast path (``orjson``) read the line: then its values hold no
    float ``orjson`` cannot write back (``NaN`` and the infinities, which it writes as ``null``; the
    protobuf path reads them from ``"NaN"`` and ``"Infinity"``)."""
    try:
        document = orjson.loads(line)  # what it refuses (NaN, Infinity, 1e400, deep nesting): protobuf decides
        if signal == "traces":
            return _spans(document), True
        return _logs(document), True
    except (_Unusual, ValueError, RecursionError, TypeError, KeyError, AttributeError):
        pass
    if isinstance(line, bytes):  # orjson read it as UTF-8, and refuses bytes that are not: replaced, as a file read
        line = line.decode("utf-8", errors="replace")
    request = parse_json_line(line, signal)  # raises the problem in our words
    if isinstance(request, ExportTraceServiceRequest):
        return list(spans_of(request)), False
    return list(logs_of(request)), False


# --- the fast path ------------------------------------------------------------------------------

def _only(node: object, allowed: frozenset[str]) -> dict[str, Any]:
    if type(node) is not dict or not allowed.issuperset(node):
        raise _Unusual
    return node


# The helpers below test the type the documents hold first: decoding the store is mostly their calls.

def _list(node: object) -> list[Any]:
    if type(node) is list:
        return node
    if node is None:
        return []
    raise _Unusual


def _str(node: object) -> str:
    if type(node) is str:
        return node
    if node is None:
        return ""
    raise _Unusual


def _uint64(node: object) -> int:
    if type(node) is str and node.isdigit() and node.isascii() and len(node) <= _UINT64_DIGITS:
        value = int(node)  # ASCII and isdigit(): 0-9 only, as a regex would have it, at less cost
    elif type(node) is int:
        value = node
    elif node is None:
        return 0
    else:
        raise _Unusual
    if not 0 <= value <= _UINT64_MAX:
        raise _Unusual
    return value


def _enum(node: object, size: int) -> int:
    if type(node) is int and 0 <= node < size:
        return node
    if node is None:
        return 0
    raise _Unusual


def _hex_id(node: object) -> str:
    if type(node) is str:
        # Even length of lowercase hex digits: strip() in C, about half the cost of a regex fullmatch.
        if len(node) % 2 or node.strip(_LOWER_HEX_DIGITS):
            raise _Unusual
        return node
    if node is None:
        return ""
    raise _Unusual


def _optional_id(node: object) -> str | None:
    value = _hex_id(node)
    return value if value and value.strip("0") else None


_VALUE_KINDS: Final = frozenset({"stringValue", "boolValue", "intValue", "doubleValue", "arrayValue",
                                 "kvlistValue"})
_LIST_FIELDS: Final = frozenset({"values"})
_PAIR_FIELDS: Final = frozenset({"key", "value"})


def _value(node: object) -> Any:  # noqa: PLR0912 - one branch per OTLP value kind
    if node is None:
        return None
    if type(node) is not dict or len(node) > 1:
        raise _Unusual
    if not node:
        return None
    [(kind, value)] = node.items()
    if kind == "stringValue":
        return _str(value)
    if kind == "intValue":
        if type(value) is str and _INT.fullmatch(value):
            number = int(value)
        elif type(value) is int:
            number = value
        else:
            raise _Unusual
        if not _INT64_MIN <= number <= _INT64_MAX:
            raise _Unusual
        return number
    if kind == "doubleValue":
        if type(value) is float:
            return value
        if type(value) is int:
            return float(value)
        raise _Unusual
    if kind == "boolValue":
        if type(value) is not bool:
            raise _Unusual
        return value
    if kind == "arrayValue":
        return [_value(item) for item in _list(_only(value, _LIST_FIELDS).get("values"))]
    if kind == "kvlistValue":
        return _attributes(_only(value, _LIST_FIELDS).get("values"))
    raise _Unusual  # bytesValue and anything else: protobuf's base64 rules decide


# An intValue text of at most 18 ASCII digits is a non-negative int64: read at once, without the
# regex and range check of the general case.
_SHORT_INT_DIGITS: Final = 18


def _attributes(node: object) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    for item in _list(node):
        # Most pairs are {"key": str, "value": {"stringValue": str}} (or a double, or a small int as
        # text): read at once, without the checks of the general case (decoding the store is mostly
        # this loop). An item or value of another type fails a subscript, len() or .get(): the
        # general case judges it.
        try:
            key, value = item["key"], item["value"]
            if len(item) == 2 and len(value) == 1 and type(key) is str:
                text = value.get("stringValue")
                if type(text) is str:
                    attributes[key] = text
                    continue
                number = value.get("doubleValue")
                if type(number) is float:
                    attributes[key] = number
                    continue
                text = value.get("intValue")
                if type(text) is str and len(text) <= _SHORT_INT_DIGITS and text.isascii() and text.isdigit():
                    attributes[key] = int(text)
                    continue
        except (TypeError, KeyError, AttributeError):
            pass
        pair = _only(item, _PAIR_FIELDS)
        attributes[_str(pair.get("key"))] = _value(pair.get("value"))
    return attributes


_RESOURCE: Final = frozenset({"attributes", "droppedAttributesCount"})
_SCOPE: Final = frozenset({"name", "version", "attributes", "droppedAttributesCount"})


class _LastResource:
    """The last resource decoded, by its JSON as ``orjson`` writes it back (exact: ``1``, ``1.0`` and
    ``true`` differ): a writer repeats its resource in every line, decoded once while it stays the
    same, and one object for the records of all those lines (the index then finds its row by that
    object). One pair, replaced whole: threads decoding at once at worst decode it again."""

    pair: tuple[bytes, dict[str, Any]] = (b"", {})


def _resource(node: object) -> dict[str, Any]:
    if node is None:
        return {}
    try:
        text = orjson.dumps(node)
    except orjson.JSONEncodeError:  # pragma: no cover - what orjson read it can write
        text = b""
    last_text, last = _LastResource.pair
    if text and text == last_text:
        return last
    resource = _only(node, _RESOURCE)
    _uint64(resource.get("droppedAttributesCount"))
    decoded = _attributes(resource.get("attributes"))
    _LastResource.pair = (text, decoded)
    return decoded


def _scope_name(node: object) -> str:
    if node is None:
        return ""
    scope = _only(node, _SCOPE)
    _str(scope.get("version"))
    _attributes(scope.get("attributes"))
    _uint64(scope.get("droppedAttributesCount"))
    return _str(scope.get("name"))


_Shape = tuple[str, str, str, frozenset[str], frozenset[str]]
"""A request's top field, its scope list field, its record list field, their groups' and scopes' fields."""


def _groups(document: object, shape: _Shape) -> Iterator[tuple[dict[str, Any], str, list[Any]]]:
    """(resource, scope name, records) of every scope of a request document."""
    top, scopes, items, top_fields, scope_fields = shape
    for group_node in _list(_only(document, frozenset({top})).get(top)):
        group = _only(group_node, top_fields)
        _str(group.get("schemaUrl"))
        resource = _resource(group.get("resource"))
        for scoped_node in _list(group.get(scopes)):
            scoped = _only(scoped_node, scope_fields)
            _str(scoped.get("schemaUrl"))
            yield resource, _scope_name(scoped.get("scope")), _list(scoped.get(items))


_SPAN: Final = frozenset({"traceId", "spanId", "traceState", "parentSpanId", "flags", "name", "kind",
                          "startTimeUnixNano", "endTimeUnixNano", "attributes", "droppedAttributesCount",
                          "events", "droppedEventsCount", "droppedLinksCount", "status"})
_RARE_SPAN_FIELDS: Final = ("traceState", "droppedAttributesCount", "droppedEventsCount", "droppedLinksCount")
_USUAL_SPAN: Final = _SPAN.difference(_RARE_SPAN_FIELDS)
"""The fields our writer and the Collector write: a span with no other one skips the checks of the rest."""
_EVENT: Final = frozenset({"timeUnixNano", "name", "attributes", "droppedAttributesCount"})
_STATUS_FIELDS: Final = frozenset({"code", "message"})
_SPANS_SHAPE: Final = ("resourceSpans", "scopeSpans", "spans", frozenset({"resource", "scopeSpans", "schemaUrl"}),
                       frozenset({"scope", "spans", "schemaUrl"}))
_TIME_DIGITS: Final = 19
"""A time of at most 19 ASCII digits is a uint64 (the largest has 20): read without the range check."""


# The per-record functions below inline the helpers' usual case (a text id of lowercase hex, a time
# of ASCII digits, a text name) and call the helper for anything else, which returns the same value
# or raises: a store of a few hundred MB is millions of these calls.

def _spans(document: object) -> list[StoredSpan]:
    spans: list[StoredSpan] = []
    for resource, scope, items in _groups(document, _SPANS_SHAPE):
        for node in items:
            if type(node) is not dict:
                raise _Unusual
            if not _USUAL_SPAN.issuperset(node):
                _only(node, _SPAN)
                _uint64(node.get("droppedAttributesCount"))
                _uint64(node.get("droppedEventsCount"))
                _uint64(node.get("droppedLinksCount"))
                _str(node.get("traceState"))
            get = node.get
            flags, kind = get("flags"), get("kind")
            if type(flags) is not int or not 0 <= flags <= _UINT64_MAX:  # the usual case, inline
                _uint64(flags)
            trace_id, span_id, parent = get("traceId"), get("spanId"), get("parentSpanId")
            if type(trace_id) is not str or len(trace_id) % 2 or trace_id.strip(_LOWER_HEX_DIGITS):
                trace_id = _hex_id(trace_id)
            if type(span_id) is not str or len(span_id) % 2 or span_id.strip(_LOWER_HEX_DIGITS):
                span_id = _hex_id(span_id)
            if parent is not None and (type(parent) is not str or len(parent) % 2 or parent.strip(_LOWER_HEX_DIGITS)
                                       or not parent.strip("0")):
                parent = _optional_id(parent)  # not an id of lowercase hex digits, not all zero: it decides
            start, end = get("startTimeUnixNano"), get("endTimeUnixNano")
            start = int(start) if type(start) is str and len(start) <= _TIME_DIGITS and start.isascii() \
                and start.isdigit() else _uint64(start)
            end = int(end) if type(end) is str and len(end) <= _TIME_DIGITS and end.isascii() and end.isdigit() \
                else _uint64(end)
            status = get("status")
            if status is None or status == {}:  # unset: written as {} (an empty dict is no other value)
                code, message = STATUS[0], ""
            else:
                status = _only(status, _STATUS_FIELDS)
                code, message = STATUS[_enum(status.get("code"), len(STATUS))], _str(status.get("message"))
            name, events = get("name"), get("events")
            spans.append(new_span(  # by position, in the fields' order
                trace_id,
                span_id,
                parent,
                name if type(name) is str else _str(name),
                SPAN_KINDS[kind if type(kind) is int and 0 <= kind < len(SPAN_KINDS) else _enum(kind, len(SPAN_KINDS))],
                start,
                end,
                code,
                message,
                _attributes(get("attributes")),
                () if events is None else tuple(map(_event, _list(events))),
                resource,
                scope,
            ))
    return spans


def _event(node: object) -> SpanEvent:
    event = _only(node, _EVENT)
    if "droppedAttributesCount" in event:
        _uint64(event["droppedAttributesCount"])
    name, time_ns = event.get("name"), event.get("timeUnixNano")
    if type(time_ns) is str and len(time_ns) <= _TIME_DIGITS and time_ns.isascii() and time_ns.isdigit():
        time_ns = int(time_ns)
    else:
        time_ns = _uint64(time_ns)
    return new_event(name if type(name) is str else _str(name), time_ns, _attributes(event.get("attributes")))


_LOGS_SHAPE: Final = ("resourceLogs", "scopeLogs", "logRecords", frozenset({"resource", "scopeLogs", "schemaUrl"}),
                      frozenset({"scope", "logRecords", "schemaUrl"}))
_LOG: Final = frozenset({"timeUnixNano", "observedTimeUnixNano", "severityNumber", "severityText", "body",
                         "attributes", "droppedAttributesCount", "flags", "traceId", "spanId", "eventName"})
_SEVERITIES: Final = 25  # SEVERITY_NUMBER_UNSPECIFIED .. FATAL4


def _logs(document: object) -> list[StoredLog]:
    logs: list[StoredLog] = []
    for resource, scope, items in _groups(document, _LOGS_SHAPE):
        for node in items:
            record = _only(node, _LOG)
            get = record.get
            if "droppedAttributesCount" in record:
                _uint64(record["droppedAttributesCount"])
            if "eventName" in record:
                _str(record["eventName"])
            _uint64(get("flags"))
            time_ns, severity, text, body = get("timeUnixNano"), get("severityNumber"), get("severityText"), get("body")
            if type(time_ns) is str and len(time_ns) <= _TIME_DIGITS and time_ns.isascii() and time_ns.isdigit():
                time_ns = int(time_ns)
            else:
                time_ns = _uint64(time_ns)
            observed = get("observedTimeUnixNano")  # judged even when unused, as protobuf judges it
            if observed is not None:
                observed = _uint64(observed)
            if type(body) is dict and len(body) == 1 and type(body.get("stringValue")) is str:
                body = body["stringValue"]
            else:
                body = _body_text(_value(body))
            trace_id, span_id = get("traceId"), get("spanId")
            logs.append(new_log(  # by position, as the spans
                time_ns or observed or 0,
                _enum(severity, _SEVERITIES),
                text if type(text) is str else _str(text),
                body,
                _attributes(get("attributes")),
                None if trace_id is None else _optional_id(trace_id),
                None if span_id is None else _optional_id(span_id),
                resource,
                scope,
            ))
    return logs


def _body_text(body: Any) -> str:
    return body if isinstance(body, str) else "" if body is None else str(body)


# --- the protobuf path (what the fast path does not read) ----------------------------------------

def value_of(value: AnyValue) -> Any:
    """An OTLP ``AnyValue`` as a Python value (arrays as lists, kvlists as dicts, bytes as hex)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [value_of(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return attributes_of(value.kvlist_value.values)
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


def attributes_of(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    return {pair.key: value_of(pair.value) for pair in pairs}


def _hex(raw: bytes) -> str | None:
    return raw.hex() if raw and any(raw) else None


def _named(names: tuple[str, ...], index: int, default: Callable[[int], str]) -> str:
    return names[index] if 0 <= index < len(names) else default(index)


def spans_of(request: ExportTraceServiceRequest) -> Iterator[StoredSpan]:
    for resource_spans in request.resource_spans:
        resource = attributes_of(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope.name
            for span in scope_spans.spans:
                yield StoredSpan(
                    trace_id=span.trace_id.hex(),
                    span_id=span.span_id.hex(),
                    parent_span_id=_hex(span.parent_span_id),
                    name=span.name,
                    kind=_named(SPAN_KINDS, span.kind, str),
                    start_ns=span.start_time_unix_nano,
                    end_ns=span.end_time_unix_nano,
                    status=_named(STATUS, span.status.code, lambda _: "unset"),
                    status_message=span.status.message,
                    attributes=attributes_of(span.attributes),
                    events=tuple(SpanEvent(e.name, e.time_unix_nano, attributes_of(e.attributes))
                                 for e in span.events),
                    resource=resource,
                    scope=scope,
                )


def logs_of(request: ExportLogsServiceRequest) -> Iterator[StoredLog]:
    for resource_logs in request.resource_logs:
        resource = attributes_of(resource_logs.resource.attributes)
        for scope_logs in resource_logs.scope_logs:
            scope = scope_logs.scope.name
            for record in scope_logs.log_records:
                yield StoredLog(
                    time_ns=record.time_unix_nano or record.observed_time_unix_nano,
                    severity_number=record.severity_number,
                    severity_text=record.severity_text,
                    body=_body_text(value_of(record.body)),
                    attributes=attributes_of(record.attributes),
                    trace_id=_hex(record.trace_id),
                    span_id=_hex(record.span_id),
                    resource=resource,
                    scope=scope,
                )
