"""The local store's log encoder (export/_otlp_logs.py, public proto messages only) against the
OTLP exporters' own encoder, which is what a Collector receives over OTLP: same message for
every kind of body, attribute, id and scope."""

from __future__ import annotations

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import TraceFlags

from otel_trading._otel_compat import LogRecord, ReadableLogRecord, SeverityNumber
from otel_trading.export._otlp_json import logs_to_json_line, message_to_json_line
from otel_trading.export._otlp_logs import encode_logs


def _batch() -> list[ReadableLogRecord]:
    bot = Resource.create({"service.name": "bot", "deployment.environment": "paper"})
    other = Resource.create({"service.name": "other"})
    ours = InstrumentationScope("otel_trading", "1.2.3", "https://schema/1", {"scope.attr": "x"})
    records = [
        (bot, ours, LogRecord(timestamp=1_700_000_000_000_000_001, observed_timestamp=1_700_000_000_000_000_002,
                              trace_id=0x0123456789ABCDEF0123456789ABCDEF, span_id=0x0123456789ABCDEF,
                              trace_flags=TraceFlags(1), severity_text="INFO", severity_number=SeverityNumber.INFO,
                              body="order filled",
                              attributes={"s": "t", "i": 42, "f": 1.5, "b": True, "seq": ("a", "b"), "ints": (1, 2)})),
        (bot, ours, LogRecord(timestamp=5, body={"nested": {"k": [1, "two", None]}},
                              severity_number=SeverityNumber.ERROR)),
        (bot, None, LogRecord(timestamp=6, body=b"\x00bytes", attributes={})),
        (other, InstrumentationScope("lib"), LogRecord(timestamp=7, body="", trace_id=0, span_id=0)),
    ]
    return [ReadableLogRecord(record, resource=resource, instrumentation_scope=scope)
            for resource, scope, record in records]


def test_log_records_encode_as_the_otlp_exporters_encode_them() -> None:
    # The exporters' encoder is private: the reference here, never imported by the package.
    from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs as reference

    batch = _batch()
    ours, theirs = encode_logs(batch), reference(batch)
    assert message_to_json_line(ours) == message_to_json_line(theirs)
    assert ours == theirs


def test_a_stored_line_has_hex_ids_and_every_record() -> None:
    line = logs_to_json_line(_batch())
    assert '"traceId":"0123456789abcdef0123456789abcdef"' in line and '"spanId":"0123456789abcdef"' in line
    assert line.count('"timeUnixNano"') == 4


def test_a_record_without_body_has_no_body_field() -> None:
    # The OTel encoders differ here (absent before 1.4x, an empty value after): absent is what "no body" means.
    record = ReadableLogRecord(LogRecord(timestamp=7, body=None), resource=Resource.create({}))
    assert not encode_logs([record]).resource_logs[0].scope_logs[0].log_records[0].HasField("body")
