"""Spans and log records straight to an OTLP/JSON line, without building protobuf messages.

The local store writes every span and log line of a bot; encoding them into the proto messages
and then through ``json_format`` cost a backtest about as much as recording them. This builds
the same JSON document from plain dicts and lists and lets ``json.dumps`` (C) write it: the line
is byte for byte what ``message_to_json_line(encode_spans(...))`` / ``encode_logs(...)`` give
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
import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, TypeVar

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind

from otel_trading._otel_compat import ReadableLogRecord

_LOG = logging.getLogger(__name__)
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
# OTLP Span.SpanKind: SpanKind.INTERNAL (0 in the API) is SPAN_KIND_INTERNAL (1) in OTLP.
_KIND: Final = {SpanKind.INTERNAL: 1, SpanKind.SERVER: 2, SpanKind.CLIENT: 3, SpanKind.PRODUCER: 4,
                SpanKind.CONSUMER: 5}
# SpanFlags: the parent's is_remote is known (always), and whether it is remote.
_HAS_IS_REMOTE: Final = 0x100
_IS_REMOTE: Final = 0x200
_DUMPS: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class _Unencodable(ValueError):
    """A span attribute value the OTLP span encoder rejects (its attribute is left out)."""


def _double(value: float) -> float | str:
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def _span_value(value: Any) -> dict[str, Any]:
    """``AnyValue`` as the OTLP span encoder builds it (an int out of int64 range is rejected)."""
    if value is None:
        return {}
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise _Unencodable(f"int {value} out of int64 range")
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": _double(value)}
    if isinstance(value, bytes):
        return {"bytesValue": base64.b64encode(value).decode("ascii")}
    if isinstance(value, Sequence):
        items = [_span_value(item) for item in value]
        return {"arrayValue": {"values": items} if items else {}}
    if isinstance(value, Mapping):
        pairs = [_key_value(str(key), _span_value(item)) for key, item in value.items()]
        return {"kvlistValue": {"values": pairs} if pairs else {}}
    raise _Unencodable(f"invalid type {type(value).__name__}")


def _log_value(value: Any) -> dict[str, Any]:
    """``AnyValue`` as export/_otlp_logs.py's ``any_value`` builds it (nothing is rejected)."""
    if value is None:
        return {}
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)} if _INT64_MIN <= value <= _INT64_MAX else {"stringValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": _double(value)}
    if isinstance(value, bytes):
        return {"bytesValue": base64.b64encode(value).decode("ascii")}
    if isinstance(value, Mapping):
        pairs = [_key_value(str(key), _log_value(item)) for key, item in value.items()]
        return {"kvlistValue": {"values": pairs} if pairs else {}}
    if isinstance(value, Sequence):
        items = [_log_value(item) for item in value]
        return {"arrayValue": {"values": items} if items else {}}
    return {"stringValue": str(value)}


def _key_value(key: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"key": key, "value": value} if key else {"value": value}


def _plain(attributes: Mapping[str, Any]) -> Mapping[str, Any]:
    # A span's attributes are a read-only view of BoundedAttributes, whose items() iterates key by
    # key through the Mapping mixin; copy() (both have it) is one dict copy, iterated at C speed.
    copy = getattr(attributes, "copy", None)
    plain = copy() if callable(copy) else attributes
    return plain if isinstance(plain, Mapping) else attributes


def _span_attributes(attributes: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    if not attributes:
        return []
    result = []
    for key, value in _plain(attributes).items():
        try:
            result.append(_key_value(key, _span_value(value)))
        except _Unencodable as error:  # as the OTLP span encoder does: the attribute is left out, logged
            _LOG.warning("Failed to encode key %s: %s", key, error)
    return result


def _log_attributes(attributes: Mapping[Any, Any] | None) -> list[dict[str, Any]]:
    return [_key_value(str(key), _log_value(value)) for key, value in (attributes or {}).items()]


def _put(document: dict[str, Any], key: str, value: Any) -> None:
    """Sets ``key`` unless ``value`` is a default protobuf leaves out (0, "", None, empty list)."""
    if value:
        document[key] = value


def _put_count(document: dict[str, Any], key: str, value: int) -> None:
    if value:
        document[key] = value


def _put_time(document: dict[str, Any], key: str, value: int | None) -> None:
    if value:
        document[key] = str(value)


def _resource(resource: Resource, attributes: Callable[[Mapping[str, Any]], list[dict[str, Any]]]
              ) -> dict[str, Any]:
    document: dict[str, Any] = {}
    _put(document, "attributes", attributes(resource.attributes))
    return document


def _scope(scope: InstrumentationScope | None, attributes: Callable[[Mapping[str, Any]], list[dict[str, Any]]]
           ) -> dict[str, Any]:
    document: dict[str, Any] = {}
    if scope is not None:
        _put(document, "name", scope.name)
        _put(document, "version", scope.version)
        _put(document, "attributes", attributes(getattr(scope, "attributes", None) or {}))
    return document


def _flags(parent: SpanContext | None) -> int:
    return _HAS_IS_REMOTE | _IS_REMOTE if parent is not None and parent.is_remote else _HAS_IS_REMOTE


def _trace_state(context: SpanContext) -> str:
    state = context.trace_state
    return ",".join(f"{key}={value}" for key, value in state.items()) if state is not None else ""


def _span(span: ReadableSpan) -> dict[str, Any]:
    context = span.get_span_context()
    assert context is not None  # a finished SDK span always has one (the OTLP encoder reads it too)
    document: dict[str, Any] = {"traceId": format(context.trace_id, "032x"), "spanId": format(context.span_id, "016x")}
    _put(document, "traceState", _trace_state(context))
    parent = span.parent
    if parent is not None:
        document["parentSpanId"] = format(parent.span_id, "016x")
    _put(document, "name", span.name)
    document["kind"] = _KIND[span.kind]
    _put_time(document, "startTimeUnixNano", span.start_time)
    _put_time(document, "endTimeUnixNano", span.end_time)
    _put(document, "attributes", _span_attributes(span.attributes))
    _put_count(document, "droppedAttributesCount", span.dropped_attributes)
    events = []
    for event in span.events:
        encoded: dict[str, Any] = {}
        _put_time(encoded, "timeUnixNano", event.timestamp)
        _put(encoded, "name", event.name)
        _put(encoded, "attributes", _span_attributes(event.attributes))
        _put_count(encoded, "droppedAttributesCount", event.dropped_attributes)
        events.append(encoded)
    _put(document, "events", events)
    _put_count(document, "droppedEventsCount", span.dropped_events)
    links = []
    for link in span.links:
        encoded = {"traceId": format(link.context.trace_id, "032x"), "spanId": format(link.context.span_id, "016x")}
        _put(encoded, "attributes", _span_attributes(link.attributes))
        _put_count(encoded, "droppedAttributesCount", link.dropped_attributes)
        encoded["flags"] = _flags(link.context)
        links.append(encoded)
    _put(document, "links", links)
    _put_count(document, "droppedLinksCount", span.dropped_links)
    status: dict[str, Any] = {}
    _put(status, "message", span.status.description)
    _put_count(status, "code", span.status.status_code.value)
    document["status"] = status
    document["flags"] = _flags(span.parent)
    return document


def _log_record(readable: ReadableLogRecord) -> dict[str, Any]:
    record = readable.log_record
    document: dict[str, Any] = {}
    _put_time(document, "timeUnixNano", record.timestamp)
    severity = record.severity_number
    _put_count(document, "severityNumber", severity.value if severity is not None else 0)
    _put(document, "severityText", record.severity_text)
    if record.body is not None:  # no body: the field is absent
        document["body"] = _log_value(record.body)
    _put(document, "attributes", _log_attributes(record.attributes))
    _put_count(document, "droppedAttributesCount", readable.dropped_attributes)
    _put_count(document, "flags", int(record.trace_flags or 0))
    if record.trace_id:
        document["traceId"] = format(record.trace_id, "032x")
    if record.span_id:
        document["spanId"] = format(record.span_id, "016x")
    _put_time(document, "observedTimeUnixNano", record.observed_timestamp)
    _put(document, "eventName", getattr(record, "event_name", None))
    return document


_Item = TypeVar("_Item", ReadableSpan, ReadableLogRecord)
_Grouped = dict[Resource, dict[InstrumentationScope | None, list[dict[str, Any]]]]


def _grouped(items: Sequence[_Item], encode: Callable[[_Item], dict[str, Any]]) -> _Grouped:
    """Encoded items by resource, then by scope, in order of first appearance (as the OTLP encoders group)."""
    grouped: _Grouped = {}
    # Hashing a Resource dumps its attributes to JSON: once per resource object, not once per item.
    by_identity: dict[int, dict[InstrumentationScope | None, list[dict[str, Any]]]] = {}
    for item in items:
        resource = item.resource
        scopes = by_identity.get(id(resource))
        if scopes is None:
            scopes = by_identity[id(resource)] = grouped.setdefault(resource, {})
        scopes.setdefault(item.instrumentation_scope or None, []).append(encode(item))
    return grouped


def _request(grouped: _Grouped, kind: str, attributes: Callable[[Mapping[str, Any]], list[dict[str, Any]]]) -> str:
    """The Export*ServiceRequest line; ``kind``: ``Spans`` or ``Logs``, ``attributes``: that signal's encoder."""
    items_key = "spans" if kind == "Spans" else "logRecords"
    resources = []
    for resource, scopes in grouped.items():
        scope_documents = []
        for scope, encoded in scopes.items():
            scope_document = {"scope": _scope(scope, attributes), items_key: encoded}
            _put(scope_document, "schemaUrl", scope.schema_url if scope is not None else None)
            scope_documents.append(scope_document)
        document = {"resource": _resource(resource, attributes), f"scope{kind}": scope_documents}
        _put(document, "schemaUrl", resource.schema_url)
        resources.append(document)
    return _DUMPS({f"resource{kind}": resources} if resources else {})


def spans_to_json_line(spans: Sequence[ReadableSpan]) -> str:
    """One ``ExportTraceServiceRequest`` line: spans grouped by resource, then by scope."""
    return _request(_grouped(spans, _span), "Spans", _span_attributes)


def logs_to_json_line(records: Sequence[ReadableLogRecord]) -> str:
    """One ``ExportLogsServiceRequest`` line: records grouped by resource, then by scope."""
    return _request(_grouped(records, _log_record), "Logs", _log_attributes)
