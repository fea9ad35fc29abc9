"""Lean spans (otel_trading/tracing/_lean.py): otel-trading's own spans behind the OTel API.

They must be indistinguishable from the SDK's spans to everything outside: the current span,
parents and children of other tracers' spans, the sampler, the span limits, and what reaches the
store and the SDK exporters (byte for byte the line the SDK span gives). A span processor a user
adds to the provider gets SDK spans (the slow path)."""

from __future__ import annotations

import gc
import json
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.context import attach as context_attach
from opentelemetry.context import detach as context_detach
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.sdk.trace import Tracer as SdkTracer
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased, Sampler, TraceIdRatioBased
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
)

import otel_trading
from otel_trading import span, traced
from otel_trading.export import _otlp_json_encode as direct
from otel_trading.export._otlp_json import message_to_json_line
from otel_trading.testing import TelemetryCapture, capture
from otel_trading.testing._deterministic import SequentialIdGenerator
from otel_trading.tracing._lean import LeanSpan, LeanTracer, to_readable


class _Sink:
    """Stands where the export queues are: keeps what ``end()`` hands over."""

    def __init__(self) -> None:
        self.items: list[Any] = []

    def put(self, item: Any) -> None:
        self.items.append(item)


def _provider(sampler: Sampler | None = None, limits: SpanLimits | None = None) -> TracerProvider:
    return TracerProvider(resource=Resource.create({"service.name": "bot"}), sampler=sampler,
                          id_generator=SequentialIdGenerator(), span_limits=limits, shutdown_on_exit=False)


def _lean_tracer(provider: TracerProvider) -> tuple[LeanTracer, _Sink]:
    sink = _Sink()
    sdk = provider.get_tracer("otel_trading", "1.2.3")
    assert isinstance(sdk, SdkTracer)
    return LeanTracer(provider, sdk, [sink]), sink


class _Boom(Exception):
    pass


_LIMITS = SpanLimits(max_span_attributes=6, max_span_attribute_length=8, max_events=3, max_event_attributes=5,
                     max_attribute_length=6, max_links=2, max_link_attributes=2)
_LINKED = SpanContext(0x1234, 0x5678, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED),
                      trace_state=TraceState([("k", "v")]))
_BOOM = _Boom("order rejected")
try:
    raise _BOOM
except _Boom:
    pass


def _script(tracer: trace.Tracer) -> None:
    """Everything a span records, with fixed times, so that two tracers give the same spans."""
    root = tracer.start_span("root", kind=SpanKind.SERVER, start_time=1_000,
                             attributes={"long": "x" * 20, "n": 1, "f": 1.5, "flag": True, "seq": [1, 2],
                                         "strs": ("a", "bbbbbbbbbbbbb")},
                             links=[Link(_LINKED, {"a": "long text", "b": 1, "c": 2}),
                                    Link(trace.INVALID_SPAN_CONTEXT)])  # invalid, nothing to carry: left out
    with trace.use_span(root, end_on_exit=False):
        child = tracer.start_span("child", kind=SpanKind.CLIENT, start_time=1_100)
        child.set_attribute("k1", "v")
        child.set_attributes({"k2": 2, "k3": (1.0, 2.0), "k4": b"bytes", "": "empty key", "k5": {"no": "dict"}})
        child.set_attribute("k1", "moved to the end")
        for index in range(6):  # over the limit of 6: the oldest go
            child.set_attribute(f"extra.{index}", index)
        for index in range(5):  # over the limit of 3 events
            child.add_event(f"event.{index}", {"a": "long text here", "b": index, "c": 1, "d": 2, "e": 3, "f": 4},
                            timestamp=1_200 + index)
        child.record_exception(_BOOM, {"extra": "x"}, timestamp=1_300)
        child.set_status(Status(StatusCode.ERROR, "order rejected"))
        child.set_status(StatusCode.UNSET)  # ignored
        child.update_name("child.renamed")
        for index in range(3):  # over the limit of 2 links
            child.add_link(_LINKED, {"index": index})
        child.add_link(trace.INVALID_SPAN_CONTEXT, {"carried": "by attributes"})
        clean = tracer.start_span("clean", start_time=1_150, attributes={"symbol": "BTC/USDT", "n": 2})
        clean.end(end_time=1_160)
        child.end(end_time=1_400)
        child.set_attribute("after", "end")  # ignored with a warning, as the SDK does
        child.end(end_time=9_999)  # ignored
        ok = tracer.start_span("ok", start_time=1_500)
        ok.set_status(StatusCode.OK)
        ok.set_status(Status(StatusCode.ERROR, "too late"))  # OK is final
        ok.end(end_time=1_600)
        bare = tracer.start_span("bare", kind=SpanKind.CONSUMER, start_time=1_610)  # no attributes at all
        bare.end(end_time=1_620)
    root.set_status(StatusCode.ERROR, "described")
    root.end(end_time=2_000)
    # The common shape under a remote parent (its flags say so), and under one with a trace state.
    for parent in (SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED)), _LINKED):
        with trace.use_span(trace.NonRecordingSpan(parent)):
            remote_child = tracer.start_span("remote child", start_time=2_100, attributes={"n": 3})
            remote_child.end(end_time=2_200)


def _lean_and_sdk_spans(limits: SpanLimits = _LIMITS) -> tuple[list[LeanSpan], list[ReadableSpan]]:
    lean_tracer, sink = _lean_tracer(_provider(limits=limits))
    _script(lean_tracer)
    memory = InMemorySpanExporter()
    sdk_provider = _provider(limits=limits)
    sdk_provider.add_span_processor(SimpleSpanProcessor(memory))
    _script(sdk_provider.get_tracer("otel_trading", "1.2.3"))
    assert all(type(s) is LeanSpan for s in sink.items)
    return sink.items, list(memory.get_finished_spans())


def test_the_store_line_of_lean_spans_is_the_sdk_spans_line_byte_for_byte() -> None:
    lean, sdk = _lean_and_sdk_spans()
    assert [s.name for s in lean] == ["clean", "child.renamed", "ok", "bare", "root", "remote child", "remote child"]
    line = direct.spans_to_json_line(lean)
    assert line == direct.spans_to_json_line(sdk)
    # And the limits are really in there (not two equally wrong lines).
    child = json.loads(line)["resourceSpans"][0]["scopeSpans"][0]["spans"][1]
    # 6 with OTel >= 1.40, which also counts the invalid key and value as dropped; 4 with 1.39.
    assert child["droppedAttributesCount"] in (4, 6) and len(child["attributes"]) == 6
    assert child["droppedEventsCount"] == 3 and [e["name"] for e in child["events"]][-1] == "exception"
    assert child["status"] == {"message": "order rejected", "code": 2}
    assert child["droppedLinksCount"] == 2 and len(child["links"]) == 2


def test_limits_of_zero_drop_everything_as_the_sdk_does() -> None:
    lean, sdk = _lean_and_sdk_spans(SpanLimits(max_span_attributes=0, max_events=0, max_links=0))
    line = direct.spans_to_json_line(lean)
    assert line == direct.spans_to_json_line(sdk)
    child = json.loads(line)["resourceSpans"][0]["scopeSpans"][0]["spans"][1]
    assert "attributes" not in child and "events" not in child and "links" not in child
    assert child["droppedEventsCount"] == 6 and child["droppedLinksCount"] == 4
    readable = [to_readable(s) for s in lean]
    assert message_to_json_line(encode_spans(readable)) == message_to_json_line(encode_spans(sdk))


def test_sdk_exporters_get_the_same_readable_span_as_from_the_sdk() -> None:
    lean, sdk = _lean_and_sdk_spans()
    readable = [to_readable(s) for s in lean]
    assert message_to_json_line(encode_spans(readable)) == message_to_json_line(encode_spans(sdk))
    assert [s.to_json() for s in readable] == [s.to_json() for s in sdk]


def test_a_traced_call_is_a_lean_span_current_and_parent_of_another_tracers_span(
        otel_capture: TelemetryCapture) -> None:
    provider = otel_capture.telemetry.tracer_provider
    assert provider is not None
    other = provider.get_tracer("some.instrumentation")
    seen: dict[str, Any] = {}

    @traced(name="inner")
    def inner() -> None:
        seen["inner"] = trace.get_current_span()

    @traced(name="place_order")
    def place_order() -> None:
        current = seen["outer"] = trace.get_current_span()
        with other.start_as_current_span("http.request") as sdk_span:
            seen["sdk"] = sdk_span
            inner()  # our span, child of the SDK span
        assert trace.get_current_span() is current

    place_order()
    assert type(seen["outer"]) is LeanSpan and type(seen["inner"]) is LeanSpan
    assert isinstance(seen["sdk"], SdkSpan)
    outer, request, inner_span = (otel_capture.span(n) for n in ("place_order", "http.request", "inner"))
    assert request.parent is not None and request.parent.span_id == outer.context.span_id
    assert inner_span.parent is not None and inner_span.parent.span_id == request.context.span_id
    assert outer.context.trace_id == request.context.trace_id == inner_span.context.trace_id
    # The correlation id reaches the other instrumentation's span too, and the resource and scope are the provider's.
    assert request.attributes is not None and outer.attributes is not None
    assert request.attributes["correlation_id"] == outer.attributes["correlation_id"]
    assert outer.resource is provider.resource
    assert outer.instrumentation_scope is not None and outer.instrumentation_scope.name == "otel_trading"


def test_a_span_processor_added_by_the_user_sees_our_spans_as_sdk_spans() -> None:
    class Recording(SimpleSpanProcessor):
        def __init__(self) -> None:
            self.memory = InMemorySpanExporter()
            super().__init__(self.memory)
            self.started: list[Any] = []

        def on_start(self, span: Any, parent_context: Any = None) -> None:  # noqa: ARG002 - the SDK's signature
            self.started.append(span)

    with capture() as otel:
        with span("before") as before:
            assert type(before) is LeanSpan  # only otel-trading's pipeline on the provider: lean
        provider = otel.telemetry.tracer_provider
        assert provider is not None
        processor = Recording()
        provider.add_span_processor(processor)
        with span("after", symbol="BTC/USDT") as after:
            assert isinstance(after, SdkSpan)
        assert [s.name for s in processor.started] == ["after"]
        assert [s.name for s in processor.memory.get_finished_spans()] == ["after"]
        assert sorted(s.name for s in otel.spans) == ["after", "before"]  # ours still export both
        assert otel.span("after").attributes == processor.memory.get_finished_spans()[0].attributes


def _recorded(tracer: LeanTracer, sink: _Sink, context: Any = None) -> trace.Span:
    started = tracer.start_span("op", context)
    started.end()
    return started


def test_always_off_records_nothing_and_still_gives_a_fresh_context() -> None:
    tracer, sink = _lean_tracer(_provider(ALWAYS_OFF))
    started = _recorded(tracer, sink)
    assert type(started) is NonRecordingSpan and not started.is_recording()
    context = started.get_span_context()
    assert context.is_valid and not context.trace_flags.sampled
    assert sink.items == []


def test_always_off_through_configure(otel_capture: TelemetryCapture) -> None:
    with capture(sampler="always_off") as otel:

        @traced
        def place_order() -> bool:
            return trace.get_current_span().is_recording()

        assert place_order() is False
        assert otel.spans == []


def test_a_ratio_sampler_samples_the_trace_ids_the_sdk_samples() -> None:
    sampler = TraceIdRatioBased(0.5)
    tracer, _ = _lean_tracer(_provider(sampler))
    # Sequential trace ids are all below the bound; spread them over the range as random ids are.
    step = (1 << 64) // 16
    decisions = []
    for index in range(16):
        parent = trace.set_span_in_context(NonRecordingSpan(SpanContext(
            (index * step) | (1 << 100), 1, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))))
        decisions.append(tracer.start_span("op", parent).is_recording())
    expected = [((index * step) & ((1 << 64) - 1)) < sampler.bound for index in range(16)]
    assert decisions == expected and any(expected) and not all(expected)


@pytest.mark.parametrize("sampled", [True, False])
def test_the_default_sampler_follows_a_remote_parent(sampled: bool) -> None:
    tracer, sink = _lean_tracer(_provider())  # the SDK's default: parent-based, always on at the root
    state = TraceState([("vendor", "x")])
    remote = SpanContext(0xABC, 0xDEF, is_remote=True,
                         trace_flags=TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT),
                         trace_state=state)
    started = _recorded(tracer, sink, trace.set_span_in_context(NonRecordingSpan(remote)))
    context = started.get_span_context()
    assert context.trace_id == 0xABC and context.trace_flags.sampled is sampled and context.trace_state == state
    assert started.is_recording() is False  # ended, or never recording
    if sampled:
        assert [type(s) for s in sink.items] == [LeanSpan]
        assert sink.items[0].parent == remote
        line = json.loads(direct.spans_to_json_line(sink.items))
        recorded = line["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
        assert recorded["parentSpanId"] == format(0xDEF, "016x") and recorded["flags"] == 0x300
    else:
        assert type(started) is NonRecordingSpan and sink.items == []


def test_parent_based_ratio_with_a_non_sampled_remote_parent_is_not_sampled() -> None:
    tracer, sink = _lean_tracer(_provider(ParentBased(TraceIdRatioBased(1.0))))
    remote = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(TraceFlags.DEFAULT))
    started = _recorded(tracer, sink, trace.set_span_in_context(NonRecordingSpan(remote)))
    assert not started.get_span_context().trace_flags.sampled and sink.items == []
    root = _recorded(tracer, sink)  # no parent: the ratio (1.0) decides
    assert root.get_span_context().trace_flags.sampled and [s.name for s in sink.items] == ["op"]


def test_an_always_on_sampler_records_under_a_non_sampled_parent() -> None:
    tracer, sink = _lean_tracer(_provider(ALWAYS_ON))
    remote = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(TraceFlags.DEFAULT))
    _recorded(tracer, sink, trace.set_span_in_context(NonRecordingSpan(remote)))
    assert [s.parent for s in sink.items] == [remote]


def test_attribute_limits_of_the_environment_apply_to_traced_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "3")
    with capture(ambient_environment=True) as otel:

        @traced(name="place_order", capture=["symbol", "side", "amount", "price"])
        def place_order(symbol: str, side: str, amount: float, price: float) -> None:
            assert type(trace.get_current_span()) is LeanSpan

        place_order("BTC/USDT", "buy", 1.0, 2.0)
        recorded = otel.span("place_order")
        assert recorded.attributes is not None and len(recorded.attributes) == 3
        assert recorded.dropped_attributes > 0
        assert dict(recorded.attributes)["price"] == 2.0  # the newest are kept


def test_errors_in_a_traced_call_reach_the_exporters_as_before(otel_capture: TelemetryCapture) -> None:
    @traced(name="place_order")
    def place_order() -> None:
        raise _Boom("rejected")

    with pytest.raises(_Boom, match="rejected"):
        place_order()
    recorded = otel_capture.span("place_order")
    assert recorded.status.status_code is StatusCode.ERROR and recorded.status.description == "_Boom: rejected"
    assert [e.name for e in recorded.events] == ["exception"]
    event_attributes = recorded.events[0].attributes
    assert event_attributes is not None and event_attributes["exception.message"] == "rejected"
    assert otel_trading.__name__  # the package stays importable as a whole


def test_a_call_the_sampler_drops_has_no_span_but_its_metrics_and_correlation_id() -> None:
    with capture(sampler="always_off") as otel:
        seen: dict[str, Any] = {}

        @traced(name="place_order", capture=["symbol"])
        def place_order(symbol: str) -> None:
            seen["current"] = trace.get_current_span()
            seen["correlation"] = otel_trading.correlation_id()
            with span("inner") as inner:
                seen["inner"] = inner
                seen["inner.correlation"] = otel_trading.correlation_id()

        place_order("BTC/USDT")
        with pytest.raises(_Boom):
            traced(name="failing")(lambda: (_ for _ in ()).throw(_Boom()))()
        assert otel.spans == []
        assert not seen["current"].is_recording() and not seen["inner"].is_recording()
        assert seen["correlation"] is not None and seen["inner.correlation"] == seen["correlation"]
        assert otel_trading.correlation_id() is None  # reset after the call
        function = f"{place_order.__module__}.{place_order.__qualname__}"
        assert otel.value("otel_trading.function.calls", **{"code.function.name": function}) == 1


def test_a_dropped_call_leaves_the_remote_parent_current_for_other_tracers() -> None:
    with capture() as otel:  # the default sampler: parent-based
        provider = otel.telemetry.tracer_provider
        assert provider is not None
        other = provider.get_tracer("some.instrumentation")
        remote = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(TraceFlags.DEFAULT))

        @traced(name="place_order")
        def place_order() -> trace.Span:
            with other.start_as_current_span("http.request") as request:
                return request

        token = context_attach(trace.set_span_in_context(NonRecordingSpan(remote)))
        try:
            request = place_order()
        finally:
            context_detach(token)
        assert request.get_span_context().trace_id == 0xABC and not request.get_span_context().trace_flags.sampled
        assert otel.spans == []
        root = place_order()  # no parent: sampled, our span the parent of the other tracer's
        assert root.get_span_context().trace_flags.sampled
        assert sorted(s.name for s in otel.spans) == ["http.request", "place_order"]


def test_a_write_racing_the_end_is_neither_checked_nor_encoded() -> None:
    """scrub_span's secret check and the store line read one and the same copy of the attributes:
    a thread that passed ``set_attribute``'s ended-check just before ``end()`` and writes late
    (here: straight into the dict the span had) can put nothing unchecked into the line."""
    from otel_trading.export._pipeline import scrub_span
    from otel_trading.redaction import Redactor

    tracer, sink = _lean_tracer(_provider())
    span_ = tracer.start_span("place_order", attributes={"symbol": "BTC/USDT"})
    written_late = span_.attributes
    span_.end()
    checked = scrub_span(sink.items[0], Redactor())
    written_late["api_key"] = "sk-live-secret"
    line = direct.spans_to_json_line([checked])
    assert "BTC/USDT" in line
    assert "sk-live-secret" not in line
    assert "api_key" not in line


def test_a_queued_span_without_events_holds_only_itself_and_its_context() -> None:
    # What waits in an export queue during a burst: every object the collector tracks there is
    # promoted and walked by the full collections that stall callers.
    tracer, sink = _lean_tracer(_provider())
    gc.collect()
    gc.disable()
    try:
        before = gc.get_count()[0]
        for _ in range(1000):
            tracer.start_span("order", attributes={"symbol": "BTC/USDT", "amount": 0.5}).end()
        allocated = gc.get_count()[0] - before
    finally:
        gc.enable()
    assert len(sink.items) == 1000
    # The span, its context, its attribute dict (untracked, yet counted): no empty events list.
    assert allocated <= 3 * 1000 + 50
    live = tracer.start_span("live")  # a list from the first event on
    live.add_event("a")
    live.add_event("b")
    live.end()
    assert [event.name for event in sink.items[-1].events] == ["a", "b"]
