"""Plain-dict snapshots of captured spans, log records and metrics, for ``==`` assertions."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry.sdk.metrics.export import HistogramDataPoint, Metric, NumberDataPoint
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext

from otel_trading._otel_compat import ReadableLogRecord

Clock = Callable[[int | None], int | None]


def _plain(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    return {key: list(value) if isinstance(value, tuple) else value for key, value in (attributes or {}).items()}


def _context(context: SpanContext | None) -> dict[str, Any] | None:
    if context is None:
        return None
    return {"trace_id": context.trace_id, "span_id": context.span_id, "is_remote": context.is_remote}


def span_as_dict(span: ReadableSpan, clock: Clock) -> dict[str, Any]:
    return {
        "name": span.name,
        "context": _context(span.context),
        "parent": _context(span.parent),
        "kind": span.kind.name,
        "start_time": clock(span.start_time),
        "end_time": clock(span.end_time),
        "status": {"code": span.status.status_code.name, "description": span.status.description},
        "attributes": _plain(span.attributes),
        "events": [{"name": e.name, "timestamp": clock(e.timestamp), "attributes": _plain(e.attributes)}
                   for e in span.events],
        "links": [{"context": _context(link.context), "attributes": _plain(link.attributes)} for link in span.links],
        "scope": span.instrumentation_scope.name if span.instrumentation_scope else None,
    }


def log_as_dict(log: ReadableLogRecord, clock: Clock) -> dict[str, Any]:
    record = log.log_record
    severity = record.severity_number
    return {
        "body": record.body,
        "severity_text": record.severity_text,
        "severity_number": severity.value if severity is not None else None,
        "timestamp": clock(record.timestamp),
        "observed_timestamp": clock(record.observed_timestamp),
        "trace_id": record.trace_id,
        "span_id": record.span_id,
        "attributes": _plain(record.attributes),
        "scope": log.instrumentation_scope.name if log.instrumentation_scope else None,
    }


def metric_as_dict(metric: Metric) -> dict[str, Any]:
    points: list[dict[str, Any]] = []
    for point in metric.data.data_points:
        item: dict[str, Any] = {"attributes": _plain(point.attributes)}
        if isinstance(point, HistogramDataPoint):
            item.update(count=point.count, sum=point.sum, min=point.min, max=point.max,
                        bucket_counts=list(point.bucket_counts), explicit_bounds=list(point.explicit_bounds))
        elif isinstance(point, NumberDataPoint):
            item["value"] = point.value
        points.append(item)
    points.sort(key=lambda p: sorted((k, str(v)) for k, v in p["attributes"].items()))
    return {"name": metric.name, "unit": metric.unit, "description": metric.description, "points": points}


def instants(spans: Sequence[ReadableSpan], logs: Sequence[ReadableLogRecord]) -> list[int | None]:
    """Every timestamp a snapshot of these spans and logs carries."""
    found: list[int | None] = []
    for span in spans:
        found += [span.start_time, span.end_time, *(e.timestamp for e in span.events)]
    for log in logs:
        found += [log.log_record.timestamp, log.log_record.observed_timestamp]
    return found
