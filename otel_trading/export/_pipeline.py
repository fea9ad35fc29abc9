"""Span and log pipelines: one bounded batch exporter per destination, scrubbing off-thread.

Scrubbing (secret redaction, coercion) happens on the exporter threads, so what the hot
path pays is an ``on_end`` enqueue, and every exported byte has been through the redactor,
whatever instrumentation produced it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from types import MappingProxyType
from typing import Any, cast

from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, Status

from otel_trading._otel_compat import (
    LogRecord,
    LogRecordExporter,
    LogRecordExportResult,
    LogRecordProcessor,
    ReadableLogRecord,
    ReadWriteLogRecord,
    SeverityNumber,
)
from otel_trading.context._correlation import CORRELATION_KEY, correlation_id
from otel_trading.export._batch import BatchExporter
from otel_trading.export._log_event_encode import CODE_FILE, CODE_FUNCTION, CODE_LINE, STACKTRACE, log_event_record
from otel_trading.export._otlp_json_encode import EncodedLogRecord, log_record_json
from otel_trading.export._sanitize import coerce_attributes
from otel_trading.redaction import Redactor
from otel_trading.tracing._lean import LeanSpan, to_readable

OUR_SCOPE = "otel_trading"


def _plain(attributes: Mapping[str, Any]) -> Mapping[str, Any]:
    # BoundedAttributes takes its lock on every access; one copy() (public, one lock, through the
    # span's read-only view too) on the exporter thread is what keeps scrubbing cheap.
    if type(attributes) is dict:  # a lean span's (otel-trading's own spans): the common case first
        return attributes.copy()
    plain: object
    if type(attributes) is MappingProxyType:  # what an SDK span's attributes property returns
        plain = attributes.copy()
    else:
        copy = getattr(attributes, "copy", None)
        plain = copy() if callable(copy) else attributes
    return plain if isinstance(plain, Mapping) else attributes


FinishedSpan = ReadableSpan | LeanSpan
"""What the span queues hold: the SDK's spans (other instrumentations', or ours on the slow path)
and otel-trading's lean spans."""


def scrub_span(span: FinishedSpan, redactor: Redactor) -> FinishedSpan:
    """``span`` itself when it carries no secret (the common case), else a scrubbed ``ReadableSpan`` copy."""
    if type(span) is LeanSpan and not span.events and span.status.description is None:
        # otel-trading's own spans, nearly all without events or a status message: their name and
        # attributes are all there is to check. The copy checked is the one encoded (see below).
        checked = span.attributes = span.attributes.copy()
        if redactor.is_clean_text(span.name) and redactor.scrub_if_needed(checked) is None:
            return span
    # Each property is read once: they are copies taken under the span's lock.
    original_name = span.name
    name = original_name if redactor.is_clean_text(original_name) else redactor.scrub_text(original_name)
    raw_attributes = span.attributes
    attributes = None
    if raw_attributes:
        plain = _plain(raw_attributes)
        if type(span) is LeanSpan and type(plain) is dict:
            # The copy checked here is the one encoded, without another copy: a thread that raced
            # the span's end() writes to the dict left behind, never to what was checked.
            span.attributes = plain
        attributes = redactor.scrub_if_needed(plain)
    status = span.status
    description = status.description
    if description:
        description = redactor.scrub_text(description)
    events = span.events
    if name is original_name and attributes is None and description is status.description and not (
        events and any(e.attributes and redactor.scrub_if_needed(_plain(e.attributes)) is not None for e in events)
    ):
        return span
    return ReadableSpan(
        name=name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=attributes if attributes is not None else span.attributes,
        events=[
            Event(e.name, redactor.scrub_mapping(e.attributes) if e.attributes else e.attributes, e.timestamp)
            for e in events
        ],
        links=span.links,
        kind=span.kind,
        status=Status(status.status_code, description),
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def span_export_fn(exporter: SpanExporter, redactor: Redactor) -> Callable[[Sequence[FinishedSpan]], bool]:
    """Scrubs each span once; exporters that read SDK objects get ``ReadableSpan``s, built here on the
    export thread from the lean spans; an exporter with ``accepts_lean_spans`` (the local store) reads both.
    One that also ``reads_spans_once`` (the direct OTLP exporters) gets them one at a time as it reads them:
    a batch from the packed backlog is then never all unpacked at once (export/_batch.py)."""
    if getattr(exporter, "accepts_lean_spans", False):
        if getattr(exporter, "reads_spans_once", False):
            def export_streamed(batch: Sequence[FinishedSpan]) -> bool:
                spans: Any = (scrub_span(s, redactor) for s in batch)
                return exporter.export(spans) is SpanExportResult.SUCCESS

            return export_streamed

        def export_lean(batch: Sequence[FinishedSpan]) -> bool:
            spans: Any = [scrub_span(s, redactor) for s in batch]
            return exporter.export(spans) is SpanExportResult.SUCCESS

        return export_lean

    def export(batch: Sequence[FinishedSpan]) -> bool:
        spans: list[ReadableSpan] = []
        for item in batch:
            span = scrub_span(item, redactor)
            spans.append(to_readable(span) if isinstance(span, LeanSpan) else span)
        return exporter.export(spans) is SpanExportResult.SUCCESS

    return export


class SpanPipeline(SpanProcessor):
    """Adds the correlation id to spans of other instrumentations and batches finished spans."""

    def __init__(self, exporters: Sequence[BatchExporter[FinishedSpan]]) -> None:
        self.exporters = list(exporters)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:  # noqa: ARG002 - SDK interface
        scope = span.instrumentation_scope
        if scope is None or scope.name != OUR_SCOPE:
            cid = correlation_id()
            if cid is not None:
                span.set_attribute(CORRELATION_KEY, cid)

    def on_end(self, span: ReadableSpan) -> None:
        context = span.context
        if context is not None and context.trace_flags.sampled:
            for exporter in self.exporters:
                exporter.put(span)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return all([e.force_flush(timeout_millis / 1000) for e in self.exporters])

    def shutdown(self) -> None:
        """Shut down by the Telemetry object with a deadline, not by the provider."""


# Fields of a structlog event that are not exported as log record attributes: they become
# the record's body, severity, timestamp and span context, or its scope (``logger``).
NON_ATTRIBUTE_FIELDS = frozenset({"event", "level", "timestamp", "trace_id", "span_id", "logger", "exception"})


@dataclass(slots=True)
class PendingLog:
    """A log event as captured on the calling thread (already redacted by the processor
    chain); turned into an OTel record on the exporter thread, off the hot path."""

    time_ns: int
    severity_number: int
    fields: Mapping[str, Any]
    span_context: SpanContext
    code: tuple[str, str, int] | None = None  # file, function, line of the log call


LogItem = PendingLog | ReadableLogRecord | ReadWriteLogRecord


class LogMaterializer:
    """Turns queued log items into records for an exporter, on the export thread."""

    def __init__(self, resource: Resource, redactor: Redactor, max_attribute_length: int | None) -> None:
        self._resource = resource
        self._redactor = redactor
        self._max_length = max_attribute_length
        self._scopes: dict[str, InstrumentationScope] = {}
        self._severities = {number.value: number for number in SeverityNumber}

    def _scope(self, fields: Mapping[str, Any]) -> InstrumentationScope:
        name = str(fields.get("logger") or "otel_trading")
        scope = self._scopes.get(name)
        if scope is None:
            scope = self._scopes.setdefault(name, InstrumentationScope(name))
        return scope

    def _record_text(self, item: PendingLog) -> str:
        """The text of the SDK record ``self(item)`` would give, without building that record but for odd events."""
        text = log_event_record(item.time_ns, item.severity_number, item.fields, skip=NON_ATTRIBUTE_FIELDS,
                                code=item.code, span_context=item.span_context, max_length=self._max_length)
        return text if text is not None else log_record_json(self(item))

    def encoded_batch(self, batch: Sequence[LogItem]) -> list[EncodedLogRecord | ReadableLogRecord]:
        """The batch for the local store: each run of our own events of one logger as one
        :class:`EncodedLogRecord` (their records' text, comma-separated: the line holds them so),
        the other records as SDK records, in order."""
        result: list[EncodedLogRecord | ReadableLogRecord] = []
        for scope, items in groupby(batch, self._run_key):
            if scope is None:  # records of the OTel logs API
                result.extend(map(self, items))
            else:
                events = cast("Iterator[PendingLog]", items)  # a scope is the key of our own events only
                result.append(EncodedLogRecord(self._resource, scope, ",".join(map(self._record_text, events))))
        return result

    def _run_key(self, item: LogItem) -> InstrumentationScope | None:
        """The scope of our own event (its logger's), None for another record: what a run shares."""
        return self._scope(item.fields) if type(item) is PendingLog else None

    def __call__(self, item: LogItem) -> ReadableLogRecord:
        if isinstance(item, PendingLog):
            return self._from_event(item)
        # Records from the OTel logs API are copied, never mutated: several exporter
        # threads may hold the same one.
        source = item.log_record
        return _sdk_record(source,
                           self._redactor.scrub_text(source.body) if isinstance(source.body, str) else source.body,
                           self._attributes(source.attributes or {}), item.resource or self._resource,
                           item.instrumentation_scope)

    def _from_event(self, item: PendingLog) -> ReadableLogRecord:
        fields = item.fields
        attributes = {k: v for k, v in fields.items() if k not in NON_ATTRIBUTE_FIELDS}
        if "exception" in fields:
            attributes[STACKTRACE] = fields["exception"]
        if item.code is not None:
            # The names the SDK's LoggingHandler gives them (semantic conventions 1.3x).
            attributes[CODE_FILE], attributes[CODE_FUNCTION], attributes[CODE_LINE] = item.code
        context = item.span_context
        record = LogRecord(
            timestamp=item.time_ns,
            observed_timestamp=item.time_ns,
            trace_id=context.trace_id,
            span_id=context.span_id,
            trace_flags=context.trace_flags,
            severity_number=self._severities.get(item.severity_number) or SeverityNumber(item.severity_number),
            severity_text=str(fields.get("level", "info")).upper(),
            body=str(fields.get("event", "")),
            attributes=coerce_attributes(attributes, self._max_length),
        )
        return ReadableLogRecord(record, self._resource, self._scope(fields))

    def _attributes(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        return coerce_attributes(self._redactor.scrub_mapping(attributes), self._max_length)


def _sdk_record(source: LogRecord, body: Any, attributes: dict[str, Any], resource: Resource,
                scope: InstrumentationScope | None) -> ReadableLogRecord:
    """A new SDK record with ``source``'s time, trace context and severity, and ``body`` and ``attributes``."""
    record = LogRecord(
        timestamp=source.timestamp,
        observed_timestamp=source.observed_timestamp,
        trace_id=source.trace_id,
        span_id=source.span_id,
        trace_flags=source.trace_flags,
        severity_number=source.severity_number,
        severity_text=source.severity_text,
        body=body,
        attributes=attributes,
    )
    return ReadableLogRecord(record, resource, scope)


def log_export_fn(
    exporter: LogRecordExporter, materialize: LogMaterializer
) -> Callable[[Sequence[LogItem]], bool]:
    """Exporters get SDK records built on the export thread; one with ``accepts_lean_logs`` (the local
    store) gets our own events as :class:`EncodedLogRecord` instead (the same line, less work)."""
    if getattr(exporter, "accepts_lean_logs", False):
        def export_lean(batch: Sequence[LogItem]) -> bool:
            records: Any = materialize.encoded_batch(batch)
            return exporter.export(records) is LogRecordExportResult.SUCCESS

        return export_lean

    def export(batch: Sequence[LogItem]) -> bool:
        result = exporter.export([materialize(item) for item in batch])
        return result is LogRecordExportResult.SUCCESS

    return export


class LogPipeline(LogRecordProcessor):
    """Receives records from the OTel logs API and events from our structlog chain."""

    def __init__(self, exporters: Sequence[BatchExporter[LogItem]]) -> None:
        self.exporters = list(exporters)

    def put(self, item: LogItem) -> None:
        for exporter in self.exporters:
            exporter.put(item)

    def sink(self) -> Callable[[LogItem], None] | None:
        """What our log chain hands events to: the one exporter's queue directly when there is one
        (a call less on every log line), else ``put``; None without exporters."""
        if not self.exporters:
            return None
        return self.exporters[0].put if len(self.exporters) == 1 else self.put

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        self.put(log_record)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return all([e.force_flush(timeout_millis / 1000) for e in self.exporters])

    def shutdown(self) -> None:
        """Shut down by the Telemetry object with a deadline, not by the provider."""
