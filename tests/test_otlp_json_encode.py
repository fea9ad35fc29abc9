"""The local store's direct OTLP/JSON encoder (export/_otlp_json_encode.py) against the protobuf
route it replaces (proto messages, then ``json_format``): the same line, byte for byte, for
every kind of span, event, link, status, attribute value, id, resource and scope, and for every
kind of log record (the protobuf route is what a Collector's ``otlp_json_file`` receiver reads
back; tests/test_local_store.py reads the lines back through the store reader)."""

from __future__ import annotations

import enum
import logging
import math
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

from otel_trading._otel_compat import LogRecord, ReadableLogRecord, SeverityNumber
from otel_trading.export import _otlp_json_encode as direct
from otel_trading.export._otlp_json import logs_to_json_line, message_to_json_line, parse_json_line
from otel_trading.export._otlp_logs import encode_logs


class _Level(enum.IntEnum):
    HIGH = 3


class _Text(str):
    """A str subclass (as some libraries hand over): written as its text."""


_VALUES: dict[str, Any] = {
    "s": "text", "empty": "", "unicode": "é ✓ \u2028 \"quoted\" \\", "i": 42, "zero": 0, "negative": -7,
    "int64.max": 2**63 - 1, "int64.min": -(2**63), "f": 1.5, "f.zero": 0.0, "f.negative.zero": -0.0,
    "f.tiny": 5e-324, "f.big": 1.7976931348623157e308, "nan": math.nan, "inf": math.inf, "-inf": -math.inf,
    "t": True, "false": False, "strs": ("a", "", "c"), "ints": (1, 0, -1), "floats": (0.1, math.nan),
    "bools": (True, False), "empty.seq": (), "int.enum": _Level.HIGH, "str.subclass": _Text("sub"),
    "ints.enum": (_Level.HIGH, 4),
}


def _recorded_spans() -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "bot", "n": 3, "ok": True}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("otel_trading", "1.2.3", schema_url="https://schema/1")
    other = provider.get_tracer("other.lib")
    remote = SpanContext(0x0123456789ABCDEF0123456789ABCDEF, 0x0123456789ABCDEF, is_remote=True,
                         trace_flags=TraceFlags(1), trace_state=TraceState([("vendor", "v1"), ("k", "x")]))
    with tracer.start_as_current_span("trade", kind=SpanKind.SERVER, attributes=_VALUES,
                                      links=[Link(remote, {"link.attr": 1}), Link(remote)]) as root:
        root.add_event("signal", {"direction": "long", "confidence": 0.75}, timestamp=1_700_000_000_000_000_001)
        root.add_event("bare")
        root.add_event("", {"": "empty key"})
        with tracer.start_as_current_span("order", kind=SpanKind.CLIENT) as order:
            order.set_status(Status(StatusCode.ERROR, "rejected: insufficient funds"))
        with other.start_as_current_span("", kind=SpanKind.PRODUCER) as unnamed:
            unnamed.set_status(Status(StatusCode.OK))
        with other.start_as_current_span("consumer", kind=SpanKind.CONSUMER):
            pass
    provider.shutdown()
    child_of_remote = ReadableSpan(
        name="remote child", context=SpanContext(0x0123456789ABCDEF0123456789ABCDEF, 0xFEDCBA9876543210, False),
        parent=remote, resource=Resource.create({}), attributes={"big": 2**63}, start_time=1, end_time=2,
        events=[Event("zero time", {"a": 1}, 0)], instrumentation_scope=None, kind=SpanKind.INTERNAL,
    )
    return [*memory.get_finished_spans(), child_of_remote]


_UNUSUAL: Any = {"obj": Resource.create({}), 3: "int key"}


def _log_records() -> list[ReadableLogRecord]:
    bot = Resource.create({"service.name": "bot", "deployment.environment": "paper"})
    other = Resource.create({"service.name": "other"}, schema_url="https://schema/2")
    ours = InstrumentationScope("otel_trading", "1.2.3", "https://schema/1", {"scope.attr": "x"})
    records = [
        (bot, ours, LogRecord(timestamp=1_700_000_000_000_000_001, observed_timestamp=1_700_000_000_000_000_002,
                              trace_id=0x0123456789ABCDEF0123456789ABCDEF, span_id=0x0123456789ABCDEF,
                              trace_flags=TraceFlags(1), severity_text="INFO", severity_number=SeverityNumber.INFO,
                              body="order filled", attributes=dict(_VALUES))),
        (bot, ours, LogRecord(timestamp=5, body={"nested": {"k": [1, "two", None, 2**70]}, "": {}, "l": []},
                              severity_number=SeverityNumber.ERROR)),
        (bot, None, LogRecord(timestamp=6, body=b"\x00bytes", attributes={})),
        # Values no attribute may hold (records of other libraries can): written as their text.
        (bot, None, LogRecord(timestamp=8, body=None, attributes=_UNUSUAL)),
        (other, InstrumentationScope("lib"), LogRecord(timestamp=7, body="", trace_id=0, span_id=0)),
        (other, InstrumentationScope("lib"), LogRecord(body=0.0, severity_text="", attributes={"nan": math.nan})),
        # An equal resource in another object (and the first's again): one group with the first's records.
        (Resource.create({"service.name": "bot", "deployment.environment": "paper"}), ours, LogRecord(timestamp=9)),
        (bot, ours, LogRecord(timestamp=10)),
    ]
    return [ReadableLogRecord(record, resource=resource, instrumentation_scope=scope)
            for resource, scope, record in records]


def test_spans_encode_as_through_the_proto_messages() -> None:
    spans = _recorded_spans()
    for batch in (spans, spans[:1], spans[-1:], []):
        assert direct.spans_to_json_line(batch) == message_to_json_line(encode_spans(batch))


def test_log_records_encode_as_through_the_proto_messages() -> None:
    records = _log_records()
    expected = message_to_json_line(encode_logs(records))
    assert direct.logs_to_json_line(records) == expected
    assert logs_to_json_line(records) == expected  # the store's encoder is the direct one
    for record in records:
        assert direct.logs_to_json_line([record]) == message_to_json_line(encode_logs([record]))


def test_an_attribute_the_span_encoder_rejects_is_left_out_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    span = _recorded_spans()[-1]  # "big": 2**63, one past int64
    with caplog.at_level(logging.WARNING, logger=direct.__name__):
        line = direct.spans_to_json_line([span])
    assert '"big"' not in line
    assert "Failed to encode key big" in caplog.text


def test_a_directly_encoded_line_reads_back() -> None:
    spans, records = _recorded_spans(), _log_records()
    trace_request = parse_json_line(direct.spans_to_json_line(spans), "traces")
    assert trace_request == encode_spans(spans)
    assert parse_json_line(direct.logs_to_json_line(records), "logs") == encode_logs(records)


def test_repeated_string_attributes_encode_alike_and_the_cache_stays_bounded() -> None:
    # A bot's string attributes repeat (symbol, side, function names): their encoded form is
    # kept by (key, value). The second encoding (from the cache) is the protobuf route's too,
    # a value under another key is another attribute, and a long value is never kept.
    long_text = "x" * (direct._MAX_CACHED_VALUE_LENGTH + 1)
    spans, records = _recorded_spans(), _log_records()
    record = ReadableLogRecord(LogRecord(timestamp=1, body="b", attributes={
        "symbol": "BTC/USDT", "venue": "BTC/USDT", "long": long_text}), resource=Resource.create({}))
    for _ in range(2):
        assert direct.spans_to_json_line(spans) == message_to_json_line(encode_spans(spans))
        assert direct.logs_to_json_line([*records, record]) == message_to_json_line(encode_logs([*records, record]))
    assert direct._STRING_ATTRIBUTES[("symbol", "BTC/USDT")] == '{"key":"symbol","value":{"stringValue":"BTC/USDT"}}'
    assert direct._STRING_ATTRIBUTES[("venue", "BTC/USDT")] == '{"key":"venue","value":{"stringValue":"BTC/USDT"}}'
    assert ("long", long_text) not in direct._STRING_ATTRIBUTES
    many = [ReadableLogRecord(LogRecord(timestamp=1, attributes={"order.id": f"id-{n}"}), resource=Resource.create({}))
            for n in range(direct._MAX_STRING_ATTRIBUTES + 10)]
    assert direct.logs_to_json_line(many) == message_to_json_line(encode_logs(many))
    assert 0 < len(direct._STRING_ATTRIBUTES) <= direct._MAX_STRING_ATTRIBUTES


def test_lines_of_alternating_spans_carry_their_own_trace_context() -> None:
    # The trace context of the last line is reused for the next one of the same span: lines of
    # other spans, other flags, none, and the same ids again must each carry their own.
    contexts = [(0xA, 0x1, TraceFlags(1)), (0xA, 0x2, TraceFlags(1)), (0xA, 0x2, TraceFlags(0)), (0, 0, None),
                (0xA, 0x1, TraceFlags(1)), (0xB, 0x1, TraceFlags(1))]
    records = [ReadableLogRecord(LogRecord(timestamp=n + 1, observed_timestamp=n + 2 if n % 2 else n + 1,
                                           trace_id=trace_id, span_id=span_id, trace_flags=flags,
                                           severity_number=SeverityNumber.WARN if n != 3 else SeverityNumber(0),
                                           body="line"), resource=Resource.create({}))
               for n, (trace_id, span_id, flags) in enumerate(contexts)]
    for batch in (records, records[::-1]):
        assert direct.logs_to_json_line(batch) == message_to_json_line(encode_logs(batch))
        for record in batch:
            assert direct.logs_to_json_line([record]) == message_to_json_line(encode_logs([record]))


def test_a_span_context_is_the_tuple_the_span_encoder_unpacks() -> None:
    # The encoder reads a SpanContext's fields by unpacking it (its properties are a call each).
    context = SpanContext(0xA, 0xB, is_remote=True, trace_flags=TraceFlags(1), trace_state=TraceState([("k", "v")]))
    assert tuple(context) == (context.trace_id, context.span_id, context.is_remote, context.trace_flags,
                              context.trace_state, context.is_valid)


def test_records_group_by_origin_whichever_comes_first() -> None:
    # Runs of one resource and scope reuse their group: a batch starting with any record (one
    # without a scope among them) groups as the protobuf route does.
    records = _log_records()
    for first in range(len(records)):
        batch = records[first:] + records[:first]
        assert direct.logs_to_json_line(batch) == message_to_json_line(encode_logs(batch))
