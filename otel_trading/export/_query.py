"""The local store as plain records: spans and log lines with hex ids and Python values.

``load_store()`` reads every file of the store (rotated ones first), turns each OTLP
request into flat ``StoredSpan`` / ``StoredLog`` records and collects what could not be
read as ``problems`` (each naming the file and line) instead of raising.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from otel_trading.export._local_store import store_files
from otel_trading.export._reader import StoreRecord, read_store

_SPAN_KINDS: Final = ("unspecified", "internal", "server", "client", "producer", "consumer")
_STATUS: Final = ("unset", "ok", "error")


@dataclass(frozen=True, slots=True)
class SpanEvent:
    name: str
    time_ns: int
    attributes: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class StoredSpan:
    """One finished span as the store holds it (ids in lowercase hex, times in Unix ns)."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str
    start_ns: int
    end_ns: int
    status: str
    """``unset``, ``ok`` or ``error``."""
    status_message: str
    attributes: Mapping[str, Any]
    events: tuple[SpanEvent, ...]
    resource: Mapping[str, Any]
    scope: str

    @property
    def duration_s(self) -> float:
        return max(0, self.end_ns - self.start_ns) / 1e9

    @property
    def is_error(self) -> bool:
        return self.status == "error"


@dataclass(frozen=True, slots=True)
class StoredLog:
    """One log record (``time_ns`` is its timestamp, or when it was observed if it had none)."""

    time_ns: int
    severity_number: int
    severity_text: str
    body: str
    attributes: Mapping[str, Any]
    trace_id: str | None
    span_id: str | None
    resource: Mapping[str, Any]
    scope: str


@dataclass
class StoreContents:
    """What ``load_store()`` found: records oldest file first, and every unreadable line."""

    directory: Path
    spans: list[StoredSpan] = field(default_factory=list)
    logs: list[StoredLog] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


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
                    kind=_SPAN_KINDS[span.kind] if 0 <= span.kind < len(_SPAN_KINDS) else str(span.kind),
                    start_ns=span.start_time_unix_nano,
                    end_ns=span.end_time_unix_nano,
                    status=_STATUS[span.status.code] if 0 <= span.status.code < len(_STATUS) else "unset",
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
                body = value_of(record.body)
                yield StoredLog(
                    time_ns=record.time_unix_nano or record.observed_time_unix_nano,
                    severity_number=record.severity_number,
                    severity_text=record.severity_text,
                    body=body if isinstance(body, str) else "" if body is None else str(body),
                    attributes=attributes_of(record.attributes),
                    trace_id=_hex(record.trace_id),
                    span_id=_hex(record.span_id),
                    resource=resource,
                    scope=scope,
                )


def records_of(records: Iterable[StoreRecord], contents: StoreContents) -> None:
    """Appends the spans, logs and problems of ``records`` to ``contents``."""
    for record in records:
        request = record.request
        if request is None:
            contents.problems.append(record.error or f"{record.path}:{record.line}: unreadable")
        elif isinstance(request, ExportTraceServiceRequest):
            contents.spans.extend(spans_of(request))
        else:
            contents.logs.extend(logs_of(request))


def load_store(directory: str | Path, *, traces: bool = True, logs: bool = True) -> StoreContents:
    """Reads the store at ``directory``; a missing directory is an empty store, not an error."""
    path = Path(directory)
    contents = StoreContents(path)
    for signal, wanted in (("traces", traces), ("logs", logs)):
        if wanted:
            contents.files.extend(store_files(path, signal))
            records_of(read_store(path, signal), contents)  # type: ignore[arg-type]  # signal is a Literal
    return contents
