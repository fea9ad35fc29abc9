"""Compact forms of queued telemetry: what a backlog in an export queue is kept as.

A finished span or a pending log line is a graph of Python objects (the span, its attribute
dict, its context, its status...), all tracked by the garbage collector. A queue that backs up
(a slow or dead backend, a burst) holds hundreds of thousands of them: RSS grows by hundreds of
megabytes, and every full collection walks them all while the bot waits (hundreds of ms).

The export worker therefore packs the backlog (the items beyond the next batch, while an export
call is in flight; the calling thread only right before a collection of the older generations,
see export/_batch.py) into flat tuples of str/int/float/bool, which
CPython stops tracking at their first collection, and unpacks them into ordinary records just
before export. An item that does not fit a flat tuple (links, a non-empty trace state, dropped
counts, values that are containers) stays as it is: packing is an optimisation, never a change
of what is exported (tests/test_export_compact.py holds the encoded lines side by side).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from typing import Any, Final, Protocol, TypeVar

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from otel_trading.export._pipeline import PendingLog

T = TypeVar("T")
_PLAIN: Final = (str, int, float, bool)
_KINDS: Final = {kind.value: kind for kind in SpanKind}
_CODES: Final = {code.value: code for code in StatusCode}
# Unpacking shares the immutable parts every span repeats (the status without a description, the
# trace flags, no events) instead of allocating them per span: each is an object the garbage
# collector tracks, and a batch in flight outlives young collections (promoted, then walked by
# the full collections that stall callers).
_STATUSES: Final = {code.value: Status(code) for code in StatusCode}
_FLAGS: Final = tuple(TraceFlags(flags) for flags in range(256))
_SPAN_FIELDS: Final = 9  # fixed fields of a packed span, before its attributes and events
# A span's ids and times in one bytes object (an int object each would be ~200 bytes a span):
# trace id (high, low 64 bits), span id, parent's trace id (high, low), parent's span id (0: no
# parent; a valid span id is never 0), start and end time.
_IDS: Final = struct.Struct("<8Q")
_LOW64: Final = (1 << 64) - 1
_LOG_FIELDS: Final = 10  # fixed fields of a packed log event, before its fields
_MAX_ORIGINS: Final = 256  # (resource, scope) pairs remembered per queue; spans of others stay unpacked


class QueueCodec(Protocol[T]):
    """Packs an item into a flat tuple (or returns it unchanged) and back. ``pack`` returns the
    packed form and its approximate size in bytes; ``unpack`` is only called on tuples it made."""

    def pack(self, item: T) -> tuple[T | tuple[Any, ...], int]: ...

    def unpack(self, packed: tuple[Any, ...]) -> T: ...


def _flat(value: object) -> bool:
    """True for a value a flat tuple can hold untracked: a primitive or a tuple of primitives."""
    kind = type(value)
    if kind in _PLAIN:
        return True
    return kind is tuple and all(type(item) in _PLAIN for item in value)  # type: ignore[attr-defined]


def _add_pairs(flat: list[Any], attributes: Mapping[str, Any] | None) -> int | None:
    """Appends the attributes' count and (key, value) pairs to ``flat``: the approximate size of what
    they hold in bytes, or None when one does not fit."""
    if not attributes:
        flat.append(0)
        return 0
    flat.append(len(attributes))
    size = 0
    for key, value in attributes.items():
        if type(key) is not str:
            return None
        kind = type(value)
        if kind is str:
            size += len(key) + len(value)
        elif kind in _PLAIN or _flat(value):
            size += len(key) + 16  # a number, or a tuple's items: what they cost is about that
        else:
            return None
        flat += (key, value)
    return size


def _take_pairs(packed: tuple[Any, ...], at: int) -> tuple[dict[str, Any], int]:
    """The attributes written by :func:`_add_pairs` at ``at``, and the index after them."""
    count = packed[at]
    end = at + 1 + 2 * count
    return dict(zip(packed[at + 1:end:2], packed[at + 2:end:2], strict=True)), end


def _take_events(packed: tuple[Any, ...], at: int) -> list[Event]:
    """The events written after a span's attributes, from ``at`` to the end."""
    events = []
    while at < len(packed):
        event_name, timestamp = packed[at], packed[at + 1]
        event_attributes, at = _take_pairs(packed, at + 2)
        events.append(Event(event_name, event_attributes, timestamp))
    return events


class SpanCodec:
    """Finished spans (ours and the SDK's) as flat tuples; unpacked as SDK ``ReadableSpan``s."""

    def __init__(self) -> None:
        self._origins: list[tuple[Resource, InstrumentationScope | None]] = []
        self._origin_index: dict[tuple[int, int], int] = {}

    def _origin(self, resource: Resource, scope: InstrumentationScope | None) -> int | None:
        key = (id(resource), id(scope))
        index = self._origin_index.get(key)
        if index is None:
            if len(self._origins) >= _MAX_ORIGINS:
                return None
            index = self._origin_index[key] = len(self._origins)
            self._origins.append((resource, scope))  # kept: the ids stay theirs
        return index

    def pack(self, span: Any) -> tuple[Any, int]:
        # One flat tuple (no nested ones but the attribute values'): CPython untracks a tuple only
        # once everything in it is untracked, so nesting would keep it tracked for several collections.
        context: SpanContext = span.context
        parent: SpanContext | None = span.parent
        start_time, end_time = span.start_time, span.end_time
        if (span.links or span.dropped_attributes or span.dropped_events or span.dropped_links or context.is_remote
                or context.trace_state or (parent is not None and parent.trace_state)
                or start_time is None or end_time is None):
            return span, 0
        origin = self._origin(span.resource, span.instrumentation_scope)
        if origin is None:
            return span, 0
        status: Status = span.status
        trace_id = context.trace_id
        parent_trace_id, parent_span_id = (0, 0) if parent is None else (parent.trace_id, parent.span_id)
        ids = _IDS.pack(trace_id >> 64, trace_id & _LOW64, context.span_id, parent_trace_id >> 64,
                        parent_trace_id & _LOW64, parent_span_id, start_time, end_time)
        name = span.name
        description = status.description
        # ``_value_``, not ``.value``: the enum's property costs a Python call per span.
        flat: list[Any] = [
            origin, name, ids, int(context.trace_flags), parent is not None and parent.is_remote,
            0 if parent is None else int(parent.trace_flags), span.kind._value_, status.status_code._value_,
            description,
        ]
        size = _add_pairs(flat, span.attributes)
        if size is None:
            return span, 0
        for event in span.events:
            if event.dropped_attributes:
                return span, 0
            flat += (event.name, event.timestamp)
            event_size = _add_pairs(flat, event.attributes)
            if event_size is None:
                return span, 0
            size += 32 + event_size
        # The tuple (8 bytes an item), the ids' bytes, the name and description, what the values hold.
        return tuple(flat), 160 + 8 * len(flat) + len(name) + len(description or "") + size

    def unpack(self, packed: tuple[Any, ...]) -> ReadableSpan:
        origin, name, ids, flags, parent_remote, parent_flags, kind, code, description = packed[:_SPAN_FIELDS]
        trace_high, trace_low, span_id, parent_high, parent_low, parent_span_id, start_time, end_time = _IDS.unpack(ids)
        trace_id = trace_high << 64 | trace_low
        attributes, at = _take_pairs(packed, _SPAN_FIELDS)
        events: Sequence[Event] = () if at == len(packed) else _take_events(packed, at)
        resource, scope = self._origins[origin]
        parent = None if not parent_span_id else SpanContext(
            parent_high << 64 | parent_low, parent_span_id, parent_remote, _FLAGS[parent_flags])
        return ReadableSpan(
            name=name,
            context=SpanContext(trace_id, span_id, False, _FLAGS[flags]),
            parent=parent,
            resource=resource,
            attributes=attributes,
            events=events,
            kind=_KINDS[kind],
            status=_STATUSES[code] if description is None else Status(_CODES[code], description),
            start_time=start_time,
            end_time=end_time,
            instrumentation_scope=scope,
        )


class LogCodec:
    """Our structlog events (``PendingLog``) as flat tuples; records of the OTel logs API stay as they are."""

    def pack(self, item: Any) -> tuple[Any, int]:
        if type(item) is not PendingLog:
            return item, 0
        context = item.span_context
        code = item.code
        if context.trace_state or (code is not None and not _flat(code)):
            return item, 0
        flat: list[Any] = [item.time_ns, item.severity_number, context.trace_id, context.span_id, context.is_remote,
                           int(context.trace_flags), code is not None, *(code or (None, None, None))]
        size = _add_pairs(flat, item.fields)
        if size is None:
            return item, 0
        path = code[0] if code is not None else None
        return tuple(flat), 160 + 8 * len(flat) + (len(path) if type(path) is str else 0) + size

    def unpack(self, packed: tuple[Any, ...]) -> PendingLog:
        time_ns, severity, trace_id, span_id, is_remote, flags, has_code, path, function, line = packed[:_LOG_FIELDS]
        fields, _ = _take_pairs(packed, _LOG_FIELDS)
        context = SpanContext(trace_id, span_id, is_remote, _FLAGS[flags])
        return PendingLog(time_ns, severity, fields, context, (path, function, line) if has_code else None)
