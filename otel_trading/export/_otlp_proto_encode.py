"""Spans straight to ``ExportTraceServiceRequest`` protobuf bytes, without building proto messages.

The SDK's OTLP exporters build a ``ReadableSpan`` per span and then the ``opentelemetry-proto``
message tree (``encode_spans``), about 20 µs a span: as much as recording it. This writes the
protobuf wire format itself (varints, length-delimited fields, fixed64 times) from otel-trading's
lean spans and the SDK's ``ReadableSpan`` alike, and the bytes are those of
``encode_spans(spans).SerializeToString()`` (tests/test_otlp_direct.py holds the two side by
side). The rules of that encoder, as the protobuf serializer applies them:

- fields in field-number order; proto3 scalars at their default (0, "", empty bytes) and empty
  repeated fields are left out; a sub-message that is set is written even empty (the resource, the
  scope, a span's status); a value of the ``AnyValue`` one-of is written even at its default;
- an attribute the SDK's encoder cannot encode (an int beyond int64, an unknown type, a string that
  is not valid Unicode) is left out and logged; the batch is never failed for it;
- links carry no trace state (the SDK's encoder sets none); spans and links have ``flags`` telling
  whether the parent (the link's context) is remote.

Resource and scope are encoded once per object and cached: they repeat on every batch.
"""

from __future__ import annotations

import functools
import logging
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind

from otel_trading.export._otlp_json_encode import _plain

if TYPE_CHECKING:
    from otel_trading.tracing._lean import LeanSpan

_LOG = logging.getLogger(__name__)
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
_UINT64: Final = 2**64 - 1
_fixed64: Final[Callable[[int], bytes]] = struct.Struct("<Q").pack
_double: Final[Callable[[float], bytes]] = struct.Struct("<d").pack
# Varints below 2**14 (lengths, counts) from a table: they are written for every field.
_SMALL: Final[tuple[bytes, ...]] = tuple(
    bytes([n]) if n < 0x80 else bytes([(n & 0x7F) | 0x80, n >> 7]) for n in range(1 << 14))
# OTLP Span.SpanKind: SpanKind.INTERNAL (0 in the API) is SPAN_KIND_INTERNAL (1) in OTLP. Tag 0x30: field 6.
_KIND: Final = {kind: b"\x30" + bytes([kind.value + 1]) for kind in SpanKind}
# SpanFlags (fixed32, field 16 of Span, 6 of Link): the parent's is_remote is known, and whether it is remote.
_LOCAL_FLAGS: Final = b"\x85\x01" + struct.pack("<I", 0x100)
_REMOTE_FLAGS: Final = b"\x85\x01" + struct.pack("<I", 0x300)
_LINK_LOCAL_FLAGS: Final = b"\x35" + struct.pack("<I", 0x100)
_LINK_REMOTE_FLAGS: Final = b"\x35" + struct.pack("<I", 0x300)
# A KeyValue's key field, by key: keys repeat on every span; bounded for odd callers.
_KEYS: Final[dict[str, bytes]] = {}
_MAX_KEYS: Final = 4096
# Encoded Resource / InstrumentationScope messages (with their field tags), by object.
_ORIGINS: Final[dict[int, tuple[object, bytes]]] = {}
_MAX_ORIGINS: Final = 256


class _Unencodable(ValueError):
    """A value the SDK's encoder rejects (its attribute is left out)."""


def _varint(value: int) -> bytes:
    if value < 1 << 14:
        return _SMALL[value]
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: its tag, the payload's length, the payload."""
    size = len(payload)
    return tag + (_SMALL[size] if size < 1 << 14 else _varint(size)) + payload


def _text(value: str) -> bytes:
    try:
        return value.encode()
    except UnicodeEncodeError as error:  # a lone surrogate: protobuf refuses it as well
        raise _Unencodable(f"invalid string {value!r}") from error


def _any_value(value: Any) -> bytes:
    """An ``AnyValue`` message, as the SDK's ``_encode_value`` builds it (same type checks, same order)."""
    if value is None:
        if not _encodes_none():
            raise _Unencodable("invalid type NoneType of value None")
        return b""
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, str):
        return _field(b"\x0a", _text(value))
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise _Unencodable(f"int {value} out of int64 range")
        return b"\x18" + _varint(value & _UINT64)
    if isinstance(value, float):
        return b"\x21" + _double(value)
    if isinstance(value, bytes):
        return _field(b"\x3a", value)
    if isinstance(value, Sequence):
        return _field(b"\x2a", b"".join([_field(b"\x0a", _any_value(item)) for item in value]))
    if isinstance(value, Mapping):
        pairs = [_field(b"\x0a", _key(str(key)) + _field(b"\x12", _any_value(item))) for key, item in value.items()]
        return _field(b"\x32", b"".join(pairs))
    raise _Unencodable(f"invalid type {type(value)} of value {value}")


_PROBE_KEY: Final = "otel_trading.encoder_probe"


def _not_the_probe(record: logging.LogRecord) -> bool:
    return not (isinstance(record.args, tuple) and _PROBE_KEY in record.args)


@functools.cache
def _encodes_none() -> bool:
    """Whether the SDK's encoder in use writes None (in a sequence: the SDK keeps it there) as an empty
    ``AnyValue`` (OTel >= 1.40) or rejects the attribute (1.39): asked of its public ``encode_spans`` once."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    attributes: Any = {_PROBE_KEY: (None,)}  # a sequence with None: allowed by the API, typed so since 1.40
    probe = ReadableSpan("probe", SpanContext(1, 1, False), attributes=attributes, start_time=1, end_time=1)
    # The encoder logs a rejection with its traceback: that of the probe only is kept out of the logs.
    loggers = [logging.getLogger(name) for name in ("opentelemetry.exporter.otlp.proto.common._internal",
                                                    "opentelemetry.exporter.otlp.proto.common._internal.trace_encoder")]
    for logger in loggers:
        logger.addFilter(_not_the_probe)
    try:
        request = encode_spans([probe])
    finally:
        for logger in loggers:
            logger.removeFilter(_not_the_probe)
    return bool(request.resource_spans[0].scope_spans[0].spans[0].attributes)


def _key(key: str) -> bytes:
    """A KeyValue's key field ("" is the default: left out)."""
    encoded = _KEYS.get(key)
    if encoded is None:
        encoded = _field(b"\x0a", _text(key)) if key else b""
        if len(_KEYS) < _MAX_KEYS:
            _KEYS[key] = encoded
    return encoded


def _attributes(tag: bytes, attributes: Mapping[str, Any] | None) -> bytes:
    """The repeated KeyValue field ``tag``: each attribute as a field of its own."""
    if not attributes:
        return b""
    parts = []
    keys = _KEYS
    for key, value in (attributes.copy() if type(attributes) is dict else _plain(attributes)).items():
        try:
            kind = type(value)
            # Inline, the kinds nearly every attribute has.
            if kind is str:
                encoded = _field(b"\x0a", _text(value))
            elif kind is float:
                encoded = b"\x21" + _double(value)
            else:
                encoded = _any_value(value)
            pair = (keys.get(key) or _key(key)) + _field(b"\x12", encoded)
        except _Unencodable as error:  # as the SDK's encoder: the attribute is left out, logged
            _LOG.warning("Failed to encode key %s: %s", key, error)
            continue
        parts.append(_field(tag, pair))
    return b"".join(parts)


def _count(tag: bytes, value: int) -> bytes:
    return tag + _varint(value) if value else b""


def _span(span: ReadableSpan | LeanSpan) -> bytes:
    """One Span message (without its field tag)."""
    # The property, not get_span_context(): that is an untyped call before OTel 1.40.
    context: SpanContext | None = span.context
    assert context is not None  # a finished SDK span always has one (the SDK's encoder reads it too)
    parts = [b"\x0a\x10", context.trace_id.to_bytes(16, "big"), b"\x12\x08", context.span_id.to_bytes(8, "big")]
    state = context.trace_state
    if state:
        parts.append(_field(b"\x1a", _text(",".join([f"{key}={value}" for key, value in state.items()]))))
    parent = span.parent
    if parent is not None:
        parts += (b"\x22\x08", parent.span_id.to_bytes(8, "big"))
    name = span.name
    if name:
        parts.append(_field(b"\x2a", _text(name)))
    parts.append(_KIND[span.kind])
    start, end = span.start_time, span.end_time
    if start:
        parts += (b"\x39", _fixed64(start))
    if end:
        parts += (b"\x41", _fixed64(end))
    if span.attributes:
        parts.append(_attributes(b"\x4a", span.attributes))
    if span.dropped_attributes:
        parts.append(_count(b"\x50", span.dropped_attributes))
    if span.events or span.links or span.dropped_events or span.dropped_links:  # most spans have none
        parts.append(_events_and_links(span))
    status = span.status
    description = status.description
    code = status.status_code.value
    body = (_field(b"\x12", _text(description)) if description else b"") + (b"\x18" + _SMALL[code] if code else b"")
    parts.append(_field(b"\x7a", body))
    parts.append(_REMOTE_FLAGS if parent is not None and parent.is_remote else _LOCAL_FLAGS)
    return b"".join(parts)


def _events_and_links(span: ReadableSpan | LeanSpan) -> bytes:
    parts = []
    for event in span.events:
        timestamp = event.timestamp
        body = (b"\x09" + _fixed64(timestamp) if timestamp else b"") + (
            _field(b"\x12", _text(event.name)) if event.name else b"")
        body += _attributes(b"\x1a", event.attributes) + _count(b"\x20", event.dropped_attributes)
        parts.append(_field(b"\x5a", body))
    parts.append(_count(b"\x60", span.dropped_events))
    for link in span.links:
        context = link.context
        body = (b"\x0a\x10" + context.trace_id.to_bytes(16, "big") + b"\x12\x08" + context.span_id.to_bytes(8, "big")
                + _attributes(b"\x22", link.attributes) + _count(b"\x28", link.dropped_attributes)
                + (_LINK_REMOTE_FLAGS if context.is_remote else _LINK_LOCAL_FLAGS))
        parts.append(_field(b"\x6a", body))
    parts.append(_count(b"\x70", span.dropped_links))
    return b"".join(parts)


def _cached(origin: object, encode: Callable[[], bytes]) -> bytes:
    """The encoded form of a resource or scope, once per object (kept alive with its entry: ids stay theirs)."""
    entry = _ORIGINS.get(id(origin))
    if entry is not None and entry[0] is origin:
        return entry[1]
    encoded = encode()
    if len(_ORIGINS) < _MAX_ORIGINS:
        _ORIGINS[id(origin)] = (origin, encoded)
    return encoded


def _resource(resource: Resource) -> bytes:
    """``resource`` (field 1 of ResourceSpans) and the schema URL (field 3) after the scope spans."""
    return _field(b"\x0a", _attributes(b"\x0a", resource.attributes))


def _scope(scope: InstrumentationScope | None) -> bytes:
    if scope is None:
        return b"\x0a\x00"
    body = (_field(b"\x0a", _text(scope.name)) if scope.name else b"") + (
        _field(b"\x12", _text(scope.version)) if scope.version else b"")
    body += _attributes(b"\x1a", getattr(scope, "attributes", None))
    return _field(b"\x0a", body)


def _schema(url: str | None) -> bytes:
    return _field(b"\x1a", _text(url)) if url else b""


def spans_to_protobuf(spans: Iterable[ReadableSpan | LeanSpan]) -> bytes:
    """The serialized ``ExportTraceServiceRequest`` of ``spans``: grouped by resource, then by scope, in
    order of first appearance, as the SDK's ``encode_spans`` groups them."""
    # By equal resource / scope (the SDK groups with a dict), each object's hash taken once.
    grouped: dict[Resource, dict[InstrumentationScope | None, list[bytes]]] = {}
    lists: dict[tuple[int, int], list[bytes]] = {}
    keep = []  # the objects whose ids are keys in ``lists`` stay alive while it is used
    for span in spans:
        resource = span.resource
        scope = span.instrumentation_scope
        encoded = lists.get((id(resource), id(scope)))
        if encoded is None:
            keep.append((resource, scope))
            encoded = lists[id(resource), id(scope)] = grouped.setdefault(resource, {}).setdefault(scope or None, [])
        encoded.append(_field(b"\x12", _span(span)))
    request = []
    for resource, scopes in grouped.items():
        scope_spans = [
            _field(b"\x12", _cached(scope, lambda scope=scope: _scope(scope)) + b"".join(encoded)  # type: ignore[misc]
                   + _schema(scope.schema_url if scope is not None else None))
            for scope, encoded in scopes.items()
        ]
        body = _cached(resource, lambda resource=resource: _resource(resource))  # type: ignore[misc]
        request.append(_field(b"\x0a", body + b"".join(scope_spans) + _schema(resource.schema_url)))
    return b"".join(request)
