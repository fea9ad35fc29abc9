"""Log records as an OTLP ``ExportLogsServiceRequest``, built from the public proto messages.

The OTLP exporters' own log encoder is private (``_log_encoder``), so the local store encodes
log records here, field for field as the OTLP log data model defines them: records grouped by
resource, then by instrumentation scope; ids as big-endian bytes, absent when zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs, SeverityNumber
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as ProtoResource
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope as SdkScope

from otel_trading._otel_compat import ReadableLogRecord


def any_value(value: Any) -> AnyValue:
    """An attribute or body value as OTLP ``AnyValue`` (other types as their text: nothing is lost)."""
    if value is None:
        return AnyValue()
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value) if -(2**63) <= value < 2**63 else AnyValue(string_value=str(value))
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, Mapping):
        return AnyValue(kvlist_value=KeyValueList(values=key_values(value)))
    if isinstance(value, Sequence):
        return AnyValue(array_value=ArrayValue(values=[any_value(item) for item in value]))
    return AnyValue(string_value=str(value))


def key_values(attributes: Mapping[str, Any] | None) -> list[KeyValue]:
    return [KeyValue(key=str(key), value=any_value(value)) for key, value in (attributes or {}).items()]


def _record(readable: ReadableLogRecord) -> LogRecord:
    record = readable.log_record
    severity = record.severity_number
    return LogRecord(
        time_unix_nano=record.timestamp or 0,
        observed_time_unix_nano=record.observed_timestamp or 0,
        severity_number=SeverityNumber.ValueType(severity.value if severity is not None else 0),
        severity_text=record.severity_text or "",
        body=any_value(record.body) if record.body is not None else None,  # no body: the field is absent
        attributes=key_values(record.attributes),
        dropped_attributes_count=readable.dropped_attributes,
        flags=int(record.trace_flags or 0),
        trace_id=record.trace_id.to_bytes(16, "big") if record.trace_id else b"",
        span_id=record.span_id.to_bytes(8, "big") if record.span_id else b"",
        event_name=getattr(record, "event_name", None) or "",
    )


def encode_logs(batch: Sequence[ReadableLogRecord]) -> ExportLogsServiceRequest:
    grouped: dict[Resource, dict[SdkScope | None, list[LogRecord]]] = {}
    for readable in batch:
        scopes = grouped.setdefault(readable.resource, {})
        scopes.setdefault(readable.instrumentation_scope or None, []).append(_record(readable))
    return ExportLogsServiceRequest(resource_logs=[
        ResourceLogs(
            resource=ProtoResource(attributes=key_values(resource.attributes)),
            scope_logs=[
                ScopeLogs(
                    scope=InstrumentationScope(name=scope.name, version=scope.version or "",
                                               attributes=key_values(scope.attributes))
                    if scope is not None else InstrumentationScope(),
                    log_records=records,
                    schema_url=scope.schema_url or "" if scope is not None else "",
                )
                for scope, records in scopes.items()
            ],
            schema_url=resource.schema_url or "",
        )
        for resource, scopes in grouped.items()
    ])
