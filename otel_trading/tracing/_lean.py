"""Lean spans: otel-trading's own spans behind the OpenTelemetry API, without the SDK span.

The SDK's span cleans every attribute through a locked ``BoundedAttributes``, builds a
``ReadableSpan`` copy at ``end()`` and hands it to a chain of processors. For the spans
otel-trading records itself (``@traced``, ``span()``, trades, orders, instrumented exchange
calls) that is most of the cost of a traced call. A :class:`LeanSpan` is a slotted record that
implements ``opentelemetry.trace.Span``: it is the current span (``trace.get_current_span()``),
its ``SpanContext`` is an ordinary one (other instrumentations' SDK spans become its children,
and it the child of theirs), and it honours what the provider sets: sampler, id generator,
span limits, resource. At ``end()`` it goes straight into otel-trading's export queues; the
local store encodes it directly, other exporters get a ``ReadableSpan`` built on the export
thread (:func:`to_readable`).

The SDK span is still used (the slow path, :class:`LeanTracer` delegates) whenever someone else
may want to see it: a span processor added to the provider besides otel-trading's own
(it must receive SDK spans in ``on_start``/``on_end``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from time import time_ns
from types import TracebackType
from typing import Any, Final, Protocol

from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.sdk.trace import Tracer as SdkTracer
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, Sampler, StaticSampler
from opentelemetry.sdk.util import BoundedList
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util import types

from otel_trading._otel_compat import span_limits, span_processors, tracer_scope

_LOG = logging.getLogger(__name__)
UNSET_STATUS: Final = Status(StatusCode.UNSET)
"""The status of every lean span until one is set (one object: the store's encoder tests it by identity)."""
# The trace flags the SDK gives a span: sampled or not, and (OTel >= 1.40) whether the trace id is random.
_RANDOM_FLAG: Final[int] = int(getattr(TraceFlags, "RANDOM_TRACE_ID", 0))
_PRIMITIVE: Final = (bool, int, float)
# start_span's checked_within when its caller has not checked the attributes (any other caller).
UNCHECKED: Final = -1


def _flags(sampled: bool, random_trace_id: bool) -> TraceFlags:
    value = (TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT) | (_RANDOM_FLAG if random_trace_id else 0)
    return TraceFlags(value)


_FLAGS: Final = {(sampled, random): _flags(sampled, random) for sampled in (False, True) for random in (False, True)}


def _default_sampler_kind(sampler: Sampler) -> str | None:
    """"parent" for the SDK's default ``ParentBased(ALWAYS_ON)``, "on"/"off" for ``ALWAYS_ON``/``ALWAYS_OFF``:
    decisions that need neither the attributes nor a call; None for any other sampler (it is called)."""
    try:
        description: str = sampler.get_description()  # type: ignore[no-untyped-call,unused-ignore]  # OTel < 1.40
    except Exception:  # noqa: BLE001 - a user's sampler: not one of these, and drops() must not raise
        return None
    default: str = ParentBased(StaticSampler(Decision.RECORD_AND_SAMPLE)).get_description()  # type: ignore[no-untyped-call,unused-ignore]
    # Only where should_sample is the SDK's own (OTel >= 1.45 subclasses StaticSampler for ALWAYS_ON/OFF):
    # a sampler that overrides it may decide otherwise than its description says.
    decides = type(sampler).should_sample
    kinds = {(StaticSampler.should_sample, "AlwaysOnSampler"): "on",
             (StaticSampler.should_sample, "AlwaysOffSampler"): "off",
             (ParentBased.should_sample, default): "parent"}
    return kinds.get((decides, description))


class SpanQueue(Protocol):
    """Where a finished lean span goes: otel-trading's export queues (``BatchExporter``)."""

    def put(self, item: Any) -> None: ...


class LeanSpan(trace.Span):
    """A recording, sampled span of otel-trading: what the SDK span records, in plain fields.

    The fields carry the names of ``ReadableSpan``'s properties, so the export side (scrubbing,
    the local store's encoder) reads both alike. Mutations after ``end()`` are ignored with a
    warning, as the SDK does.
    """

    __slots__ = (
        "attributes", "context", "dropped_attributes", "dropped_events", "dropped_links", "end_time", "events",
        "instrumentation_scope", "kind", "links", "name", "parent", "queues", "resource", "start_time", "status",
        "tracer",
    )

    def __init__(self, tracer: LeanTracer, name: str, context: SpanContext,  # noqa: PLR0917 - one call site, hot
                 parent: SpanContext | None, kind: SpanKind, start_time: int, queues: tuple[SpanQueue, ...]) -> None:
        self.tracer = tracer
        # Plain fields, not properties reading the tracer: the store's encoder groups every span by them.
        self.resource: Resource = tracer.resource
        self.instrumentation_scope: InstrumentationScope = tracer.scope
        # Where end() puts it: the tracer's queues when sampled, none for a recorded, not sampled span
        # (RECORD_ONLY), as the tracer decided (cheaper than the flags' two properties at end()).
        self.queues = queues
        self.name = name
        self.context = context
        self.parent = parent
        self.kind = kind
        self.start_time = start_time
        self.end_time: int | None = None
        self.attributes: dict[str, Any] = {}
        self.dropped_attributes = 0
        # A list from the first event on: most spans have none, and an empty list per span is one more
        # object the garbage collector tracks while the span waits in an export queue.
        self.events: list[Event] | tuple[()] = ()
        self.dropped_events = 0
        self.links: Sequence[Link] = ()  # a BoundedList once there is one (few spans have links)
        self.dropped_links = 0
        self.status = UNSET_STATUS

    def get_span_context(self) -> SpanContext:
        return self.context

    def is_recording(self) -> bool:
        return self.end_time is None

    def _ended(self, what: str) -> bool:
        if self.end_time is None:
            return False
        _LOG.warning("Tried calling %s on an ended span.", what)
        return True

    def set_attribute(self, key: str, value: types.AnyValue) -> None:
        if not self._ended("set_attribute"):
            self._set(key, value)

    def set_attributes(self, attributes: Mapping[str, types.AnyValue]) -> None:
        if not self._ended("set_attributes"):
            for key, value in attributes.items():
                self._set(key, value)

    def _set_initial(self, attributes: Mapping[str, Any]) -> None:
        """The attributes given at start: taken as they are when the SDK would not change them
        (the common case: otel-trading's own, coerced and cut already), else one by one."""
        limits = self.tracer.limits
        maximum = limits.max_span_attributes
        length = limits.max_span_attribute_length
        if maximum is None or len(attributes) <= maximum:
            for key, value in attributes.items():
                kind = type(value)
                if kind is str:
                    if length is not None and len(value) > length:
                        break
                elif kind is not float and kind is not int and kind is not bool:
                    break
                if type(key) is not str or not key:
                    break
            else:
                self.attributes = dict(attributes)
                return
        for key, value in attributes.items():
            self._set(key, value)

    def _set(self, key: str, value: Any) -> None:
        """One attribute as the SDK's ``BoundedAttributes`` keeps it: cleaned, cut, oldest evicted when full."""
        limits = self.tracer.limits
        if limits.max_span_attributes == 0:  # as the SDK: dropped before the key or value is looked at
            self.dropped_attributes += 1
            return
        kind = type(value)
        if kind is str and type(key) is str and key:
            length = limits.max_span_attribute_length
            if length is not None and len(value) > length:
                value = value[:length]
        elif not (kind in _PRIMITIVE and type(key) is str and key):
            # Anything else (sequences, bytes, bad keys, bad values) exactly as the SDK cleans it.
            cleaned = BoundedAttributes(None, {key: value}, max_value_len=limits.max_span_attribute_length)
            if key not in cleaned:
                # Counted as the SDK release in use counts it: OTel >= 1.40 counts an invalid key or
                # value as dropped, 1.39 leaves it uncounted.
                self.dropped_attributes += cleaned.dropped
                return
            value = cleaned[key]
        attributes = self.attributes
        if key in attributes:
            del attributes[key]
        else:
            maximum = limits.max_span_attributes
            if maximum is not None and len(attributes) >= maximum:  # at least 1 here
                del attributes[next(iter(attributes))]
                self.dropped_attributes += 1
        attributes[key] = value

    def add_event(self, name: str, attributes: types.Attributes = None, timestamp: int | None = None) -> None:
        if self._ended("add_event"):
            return
        limits = self.tracer.limits
        event = Event(name, BoundedAttributes(limits.max_event_attributes, attributes,
                                              max_value_len=limits.max_attribute_length, immutable=True),
                      timestamp)
        events = self.events
        if not isinstance(events, list):
            events = self.events = []
        maximum = limits.max_events
        if maximum is not None and len(events) >= maximum:
            self.dropped_events += 1
            if maximum == 0:
                return
            del events[0]  # as the SDK's BoundedList: the oldest goes
        events.append(event)

    def add_link(self, context: SpanContext, attributes: types.Attributes = None) -> None:
        if not self._ended("add_link"):
            self._add_links([Link(context, attributes)])

    def _add_links(self, links: Sequence[Link]) -> None:
        """As the SDK span keeps them: valid ones only (a valid context, or attributes or trace state
        to carry), their attributes bounded, the oldest dropped beyond the limit."""
        limits = self.tracer.limits
        bounded = self.links
        if not isinstance(bounded, BoundedList):
            # OTel 1.39 annotates maxlen as int, later releases int | None (None: no limit, as a deque).
            bounded = self.links = BoundedList(limits.max_links)  # type: ignore[arg-type, unused-ignore]
        for link in links:
            context = link.context
            if link and context and (context.is_valid or link.attributes or context.trace_state):
                bounded.append(Link(context, BoundedAttributes(
                    limits.max_link_attributes, link.attributes, max_value_len=limits.max_attribute_length,
                    immutable=True)))
        self.dropped_links = bounded.dropped  # a plain field: the encoder reads it for every span

    def update_name(self, name: str) -> None:
        if not self._ended("update_name"):
            self.name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        if self._ended("set_status"):
            return
        # As the SDK: OK is final, UNSET is ignored.
        if self.status.status_code is StatusCode.OK:
            return
        if isinstance(status, Status):
            if status.status_code is StatusCode.UNSET:
                return
            if description is not None:
                _LOG.warning("Description %s ignored. Use either `Status` or `(StatusCode, Description)`",
                             description)
            self.status = status
        elif isinstance(status, StatusCode) and status is not StatusCode.UNSET:
            self.status = Status(status, description)

    def record_exception(self, exception: BaseException, attributes: types.Attributes = None,
                         timestamp: int | None = None, escaped: bool = False) -> None:
        # The SDK's own method (it only builds the event's attributes and calls add_event): the
        # exception.* attributes are those of the OTel release in use.
        SdkSpan.record_exception(self, exception, attributes, timestamp, escaped)  # type: ignore[arg-type]

    def end(self, end_time: int | None = None) -> None:
        if self.end_time is not None:
            _LOG.warning("Tried calling end on an ended span.")
            return
        self.end_time = end_time if end_time is not None else time_ns()
        for queue in self.queues:
            queue.put(self)

    def __exit__(self, exc_type: type[BaseException] | None, exc_val: BaseException | None,
                 exc_tb: TracebackType | None) -> None:
        # As the SDK span used as a context manager: the exception is recorded and sets the status.
        if exc_val is not None and self.is_recording():
            self.record_exception(exc_val, escaped=True)
            self.set_status(Status(StatusCode.ERROR, f"{type(exc_val).__name__}: {exc_val}"))
        super().__exit__(exc_type, exc_val, exc_tb)

    def __repr__(self) -> str:
        return f'LeanSpan(name="{self.name}", context={self.context})'


def to_readable(span: LeanSpan) -> ReadableSpan:
    """The SDK's ``ReadableSpan`` of a finished lean span, for exporters that read SDK objects
    (built on the export thread, never by the caller)."""
    attributes: Mapping[str, Any] = span.attributes  # copied by ReadableSpan's attributes property
    events: Sequence[Event] = span.events
    limits = span.tracer.limits
    # The SDK's bounded containers only to carry drop counts (ReadableSpan reads them from there):
    # their values were cleaned when recorded, and building them cleans every value again.
    if span.dropped_attributes:
        bounded = BoundedAttributes(limits.max_span_attributes, span.attributes, immutable=True,
                                    max_value_len=limits.max_span_attribute_length)
        bounded.dropped = span.dropped_attributes
        attributes = bounded
    if span.dropped_events:
        bounded_events: BoundedList[Event] = BoundedList.from_seq(limits.max_events, span.events)  # type: ignore[arg-type, unused-ignore]
        bounded_events.dropped = span.dropped_events
        events = bounded_events
    return ReadableSpan(
        name=span.name, context=span.context, parent=span.parent, resource=span.resource, attributes=attributes,
        events=events, links=span.links, kind=span.kind, status=span.status, start_time=span.start_time,
        end_time=span.end_time, instrumentation_scope=span.instrumentation_scope,
    )


class LeanTracer(trace.Tracer):
    """otel-trading's tracer: lean spans while only otel-trading's pipeline is on the provider,
    the SDK tracer's spans otherwise."""

    def __init__(self, provider: TracerProvider, sdk_tracer: SdkTracer,
                 exporters: Sequence[SpanQueue]) -> None:
        self.sdk_tracer = sdk_tracer
        self.provider = provider
        self.exporters = tuple(exporters)
        self.resource = provider.resource
        self.scope = tracer_scope(sdk_tracer)
        self.limits: SpanLimits = span_limits(provider)
        # The processors in place when configured (otel-trading's own): any change means a user's is there too.
        self._own_processors = span_processors(provider)
        self._sampler: Sampler | None = None
        self._sampler_kind: str | None = None
        self._lock = threading.Lock()

    def _read_sampler(self, sampler: Sampler) -> str | None:
        """Reads the provider's sampler once (it may be replaced): which decisions need no call."""
        kind = _default_sampler_kind(sampler)
        with self._lock:
            self._sampler_kind = kind
            self._sampler = sampler
        return kind

    def drops(self) -> bool:
        """True when a span started now in the current context would be neither recorded nor sampled,
        decided without attributes (the default and always-on/off samplers): callers then skip the span.
        Never raises (called unguarded on the hot path)."""
        sampler = self.provider.sampler
        kind = self._sampler_kind if sampler is self._sampler else self._read_sampler(sampler)
        if kind == "parent":
            parent = trace.get_current_span().get_span_context()
            return parent.is_valid and not parent.trace_flags.sampled
        return kind == "off"

    def start_span(  # noqa: PLR0917 - the API's signature
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: types.Attributes = None,
        links: Sequence[Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        *,
        checked_within: int = UNCHECKED,
    ) -> trace.Span:
        """The API's ``start_span``. ``checked_within`` >= 0: ``attributes`` is a dict its caller gives
        away, its keys non-empty strings, its values str, bool, int or float, no string longer than
        ``checked_within``; kept as it is when the span limits allow it all (no copy, no look at each)."""
        provider = self.provider
        if span_processors(provider) is not self._own_processors:
            return self.sdk_tracer.start_span(name, context, kind, attributes, links, start_time,
                                              record_exception, set_status_on_exception)
        parent: SpanContext | None = trace.get_current_span(context).get_span_context()
        ids = provider.id_generator
        if parent is None or not parent.is_valid:
            parent = None
            trace_id = ids.generate_trace_id()
            # _RANDOM_FLAG is set only by the OTel releases whose id generators have is_trace_id_random.
            random_trace_id = ids.is_trace_id_random() if _RANDOM_FLAG else False  # type: ignore[attr-defined, unused-ignore]
        else:
            trace_id = parent.trace_id
            random_trace_id = bool(parent.trace_flags & _RANDOM_FLAG)
        sampler = provider.sampler
        fast = self._sampler_kind if sampler is self._sampler else self._read_sampler(sampler)
        if fast is not None:
            # Parent-based and static samplers keep the parent's trace state.
            trace_state = parent.trace_state if parent is not None else None
            recording = sampled = fast == "on" or (fast == "parent" and (parent is None or parent.trace_flags.sampled))
        else:
            result = sampler.should_sample(context, trace_id, name, kind, attributes, links)
            sampled = result.decision.is_sampled()  # type: ignore[no-untyped-call,unused-ignore]
            recording = result.decision.is_recording()  # type: ignore[no-untyped-call,unused-ignore]
            trace_state = result.trace_state
            attributes = result.attributes
            checked_within = UNCHECKED  # the sampler's
        span_context = SpanContext(trace_id, ids.generate_span_id(), False, _FLAGS[sampled, random_trace_id],
                                   trace_state)
        if not recording:
            return NonRecordingSpan(span_context)
        span = LeanSpan(self, name, span_context, parent, kind, start_time if start_time is not None else time_ns(),
                        self.exporters if sampled else ())
        if attributes:
            limits = self.limits
            length, maximum = limits.max_span_attribute_length, limits.max_span_attributes
            if checked_within >= 0 and type(attributes) is dict and (length is None or checked_within <= length) \
                    and (maximum is None or len(attributes) <= maximum):
                span.attributes = attributes
            else:
                span._set_initial(attributes)
        if links:
            span._add_links(links)
        return span

    # The SDK tracer's, as it is: it starts its span with ``self.start_span`` (this class's) and makes
    # it current; one signature to keep in step with the API instead of two.
    start_as_current_span = SdkTracer.start_as_current_span
