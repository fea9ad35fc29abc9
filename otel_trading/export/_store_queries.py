"""Questions asked of a local store, answered from its index: traces, one trace, logs, trades, the report.

Plain functions over a store directory returning plain dataclasses (``dataclasses.asdict`` then
``json.dumps``): what the console's API serves and what the CLI views print. Times are Unix
nanoseconds; every filter is optional; lists are newest first and ``limit`` (None: all) cuts them.
Each call brings the index up to date first (only what was appended since is read).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from otel_trading.analytics._journal import ReportFilter, build_report
from otel_trading.cli._log_filter import FieldFilter, LogFilter, equals_text
from otel_trading.cli._log_format import LEVELS, level_name
from otel_trading.cli._report_render import Scope, report_document
from otel_trading.cli._runs import RunSelection, runs_of
from otel_trading.cli._trace_summary import Trace, group_traces, summarize
from otel_trading.export._index import load_indexed
from otel_trading.export._records import StoredLog, StoredSpan

__all__ = [
    "LogView",
    "SpanView",
    "TraceDetail",
    "TraceSummary",
    "TradeRow",
    "search_logs",
    "store_report",
    "trace_detail",
    "trace_summaries",
    "trades",
]

TraceStatus = Literal["ok", "error"]
TradeStatus = Literal["open", "closed"]


@dataclass(frozen=True)
class TraceSummary:
    """One trace as a list shows it (``otel-trading traces``)."""

    trace_id: str
    name: str
    """The root span's name (the earliest span's when the root is not in the store)."""
    service: str | None
    start_ns: int
    duration_ms: float
    span_count: int
    error_count: int
    correlation_id: str | None
    """The head span's ``trading.trade_id`` (else its ``correlation_id``)."""
    symbol: str | None
    end_ns: int
    partial: bool
    """The root span is not in the store (yet)."""
    error: str | None
    """What failed, named (``order: order rejected: insufficient_funds``); None when nothing did."""
    side: str | None
    outcome: str | None
    pnl: float | None
    exit_reason: str | None
    run: str | None
    """The head span's ``service.instance.id``."""


@dataclass(frozen=True)
class EventView:
    name: str
    time_ns: int
    attributes: dict[str, Any]


@dataclass(frozen=True)
class SpanView:
    span_id: str
    parent_span_id: str | None
    name: str
    service: str | None
    kind: str
    start_ns: int
    end_ns: int
    duration_ms: float
    status: str
    """``unset``, ``ok`` or ``error``."""
    status_message: str
    attributes: dict[str, Any]
    events: list[EventView]
    scope: str


@dataclass(frozen=True)
class LogView:
    time_ns: int
    level: str
    """The short OpenTelemetry name: ``TRACE``, ``DEBUG``, ``INFO``, ``WARN``, ``ERROR``, ``FATAL``."""
    service: str | None
    message: str
    trace_id: str | None
    span_id: str | None
    correlation_id: str | None
    """The record's ``trade_id`` attribute, else its ``correlation_id``."""
    attributes: dict[str, Any]
    severity_number: int
    logger: str


@dataclass(frozen=True)
class TraceDetail:
    trace_id: str
    spans: list[SpanView]
    """In start order."""
    logs: list[LogView]
    """The trace's log records, oldest first."""


@dataclass(frozen=True)
class TradeRow:
    trade_id: str
    trace_id: str
    symbol: str
    side: str
    strategy: str | None
    status: TradeStatus
    """``closed``: ``position_closed()`` was called; ``open``: the trade span ended without it."""
    pnl: float | None
    opened_ns: int
    closed_ns: int | None
    duration_ms: float | None
    exit_reason: str | None
    outcome: str | None
    service: str | None


def _limited(rows: list[Any], limit: int | None) -> list[Any]:
    return rows if limit is None else rows[:max(0, limit)]


def _service(resource: Mapping[str, Any]) -> str | None:
    value = resource.get("service.name")
    return None if value is None else str(value)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _summary(trace: Trace) -> TraceSummary:
    summary = summarize(trace)
    head = summary.head
    return TraceSummary(
        trace_id=trace.trace_id, name=head.name, service=_service(head.resource), start_ns=summary.start_ns,
        duration_ms=summary.duration_s * 1e3, span_count=summary.span_count,
        error_count=sum(1 for span in trace.spans if span.is_error),
        correlation_id=_text(summary.attribute("trading.trade_id") or summary.attribute("correlation_id")),
        symbol=summary.symbol, end_ns=summary.end_ns, partial=summary.partial, error=summary.error,
        side=_text(summary.attribute("trading.side")), outcome=_text(summary.attribute("trading.trade.outcome")),
        pnl=_number(summary.attribute("trading.pnl.realized")),
        exit_reason=_text(summary.attribute("trading.exit_reason")),
        run=_text(head.resource.get("service.instance.id")),
    )


def _has_attribute(spans: Iterable[StoredSpan], key: str, value: str) -> bool:
    return any(key in span.attributes and equals_text(span.attributes[key], value) for span in spans)


def trace_summaries(store: str | Path, *, service: str | None = None, name: str | None = None,
                    symbol: str | None = None, correlation_id: str | None = None,
                    status: TraceStatus | None = None, min_duration_ms: float | None = None,
                    max_duration_ms: float | None = None, since_ns: int | None = None, until_ns: int | None = None,
                    attribute: tuple[str, str] | None = None, limit: int | None = 100) -> list[TraceSummary]:
    """The traces that pass every filter, the latest start first.

    ``service`` and ``name`` are those of the root span; ``correlation_id`` matches a trace any of whose
    spans carries it as ``trading.trade_id`` or ``correlation_id``; ``attribute`` (key, value) one any
    of whose spans has that attribute with that value (compared as ``otel-trading logs key=value``
    compares: ``("trading.pnl.realized", "2")`` matches 2.0); ``since_ns``/``until_ns`` bound the start."""
    traces = group_traces(load_indexed(store, logs=False).spans)
    found: list[TraceSummary] = []
    for trace in traces.values():
        summary = summarize(trace)
        row = _summary(trace)
        if ((service is None or row.service == service) and (name is None or row.name == name)
                and (symbol is None or row.symbol == symbol)
                and (correlation_id is None or correlation_id in summary.trade_ids)
                and (status is None or (row.error is not None) == (status == "error"))
                and (min_duration_ms is None or row.duration_ms >= min_duration_ms)
                and (max_duration_ms is None or row.duration_ms <= max_duration_ms)
                and (since_ns is None or row.start_ns >= since_ns) and (until_ns is None or row.start_ns <= until_ns)
                and (attribute is None or _has_attribute(trace.spans, *attribute))):
            found.append(row)
    found.sort(key=lambda row: row.start_ns, reverse=True)
    return _limited(found, limit)


def _span_view(span: StoredSpan) -> SpanView:
    return SpanView(
        span_id=span.span_id, parent_span_id=span.parent_span_id, name=span.name, service=_service(span.resource),
        kind=span.kind, start_ns=span.start_ns, end_ns=span.end_ns, duration_ms=span.duration_s * 1e3,
        status=span.status, status_message=span.status_message, attributes=dict(span.attributes),
        events=[EventView(event.name, event.time_ns, dict(event.attributes)) for event in span.events],
        scope=span.scope,
    )


def log_view(log: StoredLog) -> LogView:
    """A stored log record as the queries return it."""
    attributes = log.attributes
    correlation = attributes.get("trade_id") or attributes.get("correlation_id")
    return LogView(
        time_ns=log.time_ns, level=level_name(log), service=_service(log.resource), message=log.body,
        trace_id=log.trace_id, span_id=log.span_id, correlation_id=_text(correlation),
        attributes=dict(attributes), severity_number=log.severity_number, logger=log.scope,
    )


def trace_detail(store: str | Path, trace_id_or_prefix: str) -> TraceDetail | None:
    """The spans and logs of the one trace whose id is (or starts with) ``trace_id_or_prefix``; None
    when no trace, or more than one, matches."""
    prefix = trace_id_or_prefix.strip().lower()
    if not prefix:
        return None
    traces = group_traces(load_indexed(store, logs=False, trace_prefix=prefix).spans)
    if len(traces) != 1:
        return None
    [trace] = traces.values()
    logs = sorted((log for log in load_indexed(store, traces=False, trace_prefix=trace.trace_id).logs
                   if log.trace_id == trace.trace_id), key=lambda log: log.time_ns)
    return TraceDetail(trace.trace_id, [_span_view(span) for span in trace.spans], [log_view(log) for log in logs])


def _min_severity(min_level: str | None) -> int:
    if min_level is None:
        return 0
    severity = LEVELS.get(min_level.lower())
    if severity is None:
        raise ValueError(f"min_level {min_level!r}: expected one of {', '.join(LEVELS)}")
    return severity


def search_logs(store: str | Path, *, since_ns: int | None = None, until_ns: int | None = None,
                min_level: str | None = None, service: str | None = None, trace_id: str | None = None,
                correlation_id: str | None = None, fields: Sequence[tuple[str, str]] = (), text: str | None = None,
                limit: int | None = 100, before_ns: int | None = None) -> list[LogView]:
    """Log records passing every filter, newest first: ``min_level`` a level name (``debug`` ...
    ``critical``), ``trace_id`` a prefix, ``fields`` ``(field, value)`` pairs as ``otel-trading logs
    field=value`` compares them, ``text`` a substring (any case) of the message, logger or attributes,
    ``before_ns`` only records older than it (the cursor of the next page). An unknown level is a
    ValueError naming it."""
    trace_prefix = trace_id.strip().lower() if trace_id else None
    wanted = LogFilter(start_ns=since_ns, end_ns=until_ns, min_severity=_min_severity(min_level),
                       trace_prefix=trace_prefix, trade_id=correlation_id,
                       fields=tuple(FieldFilter(key, "=", value) for key, value in fields),
                       grep=text.lower() if text else None, runs=RunSelection(service=service))
    logs = [log for log in load_indexed(store, traces=False, trace_prefix=trace_prefix).logs
            if wanted.matches(log) and (before_ns is None or log.time_ns < before_ns)]
    logs.sort(key=lambda log: log.time_ns, reverse=True)
    return [log_view(log) for log in _limited(logs, limit)]


def _trade_row(span: StoredSpan) -> TradeRow:
    attributes = span.attributes
    closed = "trading.trade.outcome" in attributes
    closed_ns = next((event.time_ns for event in reversed(span.events) if event.name == "position.closed"),
                     span.end_ns) if closed else None
    return TradeRow(
        trade_id=str(attributes["trading.trade_id"]), trace_id=span.trace_id,
        symbol=_text(attributes.get("trading.symbol")) or "unknown", side=_text(attributes.get("trading.side"))
        or "unknown", strategy=_text(attributes.get("trading.strategy")), status="closed" if closed else "open",
        pnl=(_number(attributes.get("trading.pnl.realized")) or 0.0) if closed else None, opened_ns=span.start_ns,
        closed_ns=closed_ns, duration_ms=None if closed_ns is None else max(0, closed_ns - span.start_ns) / 1e6,
        exit_reason=_text(attributes.get("trading.exit_reason")),
        outcome=_text(attributes.get("trading.trade.outcome")), service=_service(span.resource),
    )


def trades(store: str | Path, *, symbol: str | None = None, side: str | None = None, strategy: str | None = None,
           status: TradeStatus | None = None, exit_reason: str | None = None,
           limit: int | None = None) -> list[TradeRow]:
    """The trades (``trade`` spans) of the store, the latest opened first: ``closed`` once
    ``position_closed()`` was called on them, ``open`` when their span ended without it."""
    rows: dict[str, TradeRow] = {}
    for span in load_indexed(store, logs=False).spans:
        if span.name == "trade" and "trading.trade_id" in span.attributes:
            rows[span.trace_id] = _trade_row(span)  # one per trace, as the journal reads them
    found = [row for row in rows.values()
             if (symbol is None or row.symbol == symbol) and (side is None or row.side == side)
             and (strategy is None or row.strategy == strategy) and (status is None or row.status == status)
             and (exit_reason is None or row.exit_reason == exit_reason)]
    found.sort(key=lambda row: row.opened_ns, reverse=True)
    return _limited(found, limit)


def store_report(store: str | Path, *, symbol: str | None = None, strategy: str | None = None,
                 service: str | None = None, run: str | None = None, since_ns: int | None = None,
                 until_ns: int | None = None) -> dict[str, Any]:
    """What ``otel-trading report --format json`` prints for the same store and filters (``run`` a
    prefix of the run id, as ``--run``)."""
    runs = RunSelection(service, run.strip().lower() if run else None)
    spans = load_indexed(store, logs=False).spans
    if not runs.everything:
        spans = [span for span in spans if runs.matches(span.resource)]
    selection = ReportFilter(symbol=symbol, strategy=strategy, service=service, start_ns=since_ns, end_ns=until_ns)
    report = build_report(spans, selection)
    scope = Scope(str(store), runs_of(
        (span.resource, span.start_ns) for span in spans
        if (since_ns is None or span.end_ns >= since_ns) and (until_ns is None or span.start_ns <= until_ns)),
        runs.run)
    return report_document(report, scope)
