"""Questions asked of a local store, answered from its index: traces, one trace, logs, trades, the report.

Plain functions over a store directory returning plain dataclasses (``dataclasses.asdict`` then
``json.dumps``): what the console's API serves and what the CLI views print. Times are Unix
nanoseconds; every filter is optional; lists are newest first and ``limit`` (None: all) cuts them.
Each call brings the index up to date first (only what was appended since is read).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from otel_trading.analytics._journal import (
    CallCounts,
    ClosedTrade,
    Journal,
    OrderFigures,
    OrderRecord,
    ReportFilter,
    TradingReport,
    UnclosedTrade,
    report_from_journal,
)
from otel_trading.analytics._report_document import Scope, report_document
from otel_trading.export._index import (
    TRACE_COLUMNS,
    StoreIndex,
    log_of,
    no_collection,
    span_of,
    trace_facts,
    updated_index,
)
from otel_trading.export._index_rows import TraceFacts, TradeStatus, group_traces, unclosed_status
from otel_trading.export._log_filter import FIELD_NAMES, LEVELS, FieldFilter, LogFilter, equals_text, level_name
from otel_trading.export._records import StoredLog, StoredSpan
from otel_trading.export._runs import Run, RunSelection

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
    "unclosed_status",
]

TraceStatus = Literal["ok", "error"]


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
    """``closed``: ``position_closed()`` was called; else as the trade span ended without it (``unclosed_status``):
    ``open`` with its position on, ``denied`` by its risk check, ``abandoned`` before a fill."""
    pnl: float | None
    opened_ns: int
    closed_ns: int | None
    duration_ms: float | None
    exit_reason: str | None
    outcome: str | None
    service: str | None


_UNKNOWN = "unknown"
_HOUR_NS = 3_600 * 10**9
_RUN_NONE = "-"


def _limited(rows: list[Any], limit: int | None) -> list[Any]:
    return rows if limit is None else rows[:max(0, limit)]


def _service(resource: Mapping[str, Any]) -> str | None:
    value = resource.get("service.name")
    return None if value is None else str(value)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _prefix_range(column: str, prefix: str) -> tuple[str, list[Any]]:
    """``column`` starts with ``prefix`` (lower-case hex ids), as an indexed range."""
    return f"{column} >= ? AND {column} < ?", [prefix, prefix + "g"]  # hex digits sort before "g"


class _Where:
    """SQL conditions joined by AND, with their parameters."""

    def __init__(self) -> None:
        self.conditions: list[str] = []
        self.parameters: list[Any] = []

    def add(self, condition: str, *parameters: Any) -> None:
        self.conditions.append(condition)
        self.parameters.extend(parameters)

    def __str__(self) -> str:
        return f" WHERE {' AND '.join(self.conditions)}" if self.conditions else ""


def _in(column: str, rows: Sequence[int]) -> str:
    return f"{column} IN ({','.join(str(int(row)) for row in rows)})"


# -- traces ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TraceQuery:
    """The filters of a trace listing (the CLI's options and the API's parameters)."""

    service: str | None = None
    run: str | None = None
    """A prefix of the head span's ``service.instance.id`` (any case)."""
    name: str | None = None
    symbol: str | None = None
    correlation_id: str | None = None
    status: TraceStatus | None = None
    min_duration_ms: float | None = None
    max_duration_ms: float | None = None
    since_ns: int | None = None
    until_ns: int | None = None
    attribute: tuple[str, str] | None = None

    def where(self) -> _Where:
        where = _Where()
        duration_ms = "((end_ns - start_ns) / 1e9 * 1e3)"  # as TraceSummary.duration_ms computes it
        for condition, value in (("service = ?", self.service), ("name = ?", self.name), ("symbol = ?", self.symbol),
                                 ("trace_id IN (SELECT trace_id FROM trace_keys WHERE key = ?)", self.correlation_id),
                                 (f"{duration_ms} >= ?", self.min_duration_ms),
                                 (f"{duration_ms} <= ?", self.max_duration_ms),
                                 ("start_ns >= ?", self.since_ns), ("start_ns <= ?", self.until_ns)):
            if value is not None:
                where.add(condition, value)
        if self.run is not None:
            where.add("substr(lower(COALESCE(run, '')), 1, ?) = ?", len(self.run), self.run.lower())
        if self.status is not None:
            where.add("error IS NOT NULL" if self.status == "error" else "error IS NULL")
        return where


def _trace_spans(index: StoreIndex, trace_id: str) -> list[StoredSpan]:
    resources = index.resources()
    return [span_of(data, resources.get(resource)) for resource, data in index.db.execute(
        "SELECT resource, data FROM spans WHERE trace_id = ? ORDER BY id", (trace_id,))]


def _has_attribute(index: StoreIndex, trace_id: str, key: str, value: str) -> bool:
    return any(key in span.attributes and equals_text(span.attributes[key], value)
               for span in _trace_spans(index, trace_id))


def listed_traces(index: StoreIndex, query: TraceQuery, limit: int | None) -> tuple[list[TraceFacts], int]:
    """The traces ``query`` selects, the latest start first, at most ``limit`` (None: all), and how
    many it selects in all (with ``query.attribute``: how many were returned)."""
    where = query.where()
    order = f"SELECT {TRACE_COLUMNS} FROM traces{where} ORDER BY start_ns DESC, rowid"  # noqa: S608 - our SQL
    if query.attribute is None:
        [(total,)] = index.db.execute(f"SELECT COUNT(*) FROM traces{where}", where.parameters).fetchall()  # noqa: S608
        suffix = "" if limit is None else f" LIMIT {int(limit)}"
        return [trace_facts(row) for row in index.db.execute(order + suffix, where.parameters)], int(total)
    # An attribute is compared on the spans of the traces whose stored spans contain its key (and its
    # value's text where that is how it must appear), newest first, until ``limit`` are found.
    key, value = query.attribute
    texts = [json.dumps(key, ensure_ascii=False) + ":"]
    value_text = _value_text(value)
    if value_text is not None:
        texts.append(value_text)
    where.add("trace_id IN (SELECT trace_id FROM spans WHERE "  # noqa: S608 - our SQL, texts as parameters
              f"{' AND '.join('instr(data, ?) > 0' for _ in texts)})", *texts)
    order = f"SELECT {TRACE_COLUMNS} FROM traces{where} ORDER BY start_ns DESC, rowid"  # noqa: S608 - our SQL
    found: list[TraceFacts] = []
    for row in index.db.execute(order, where.parameters).fetchall():
        if limit is not None and len(found) >= limit:
            break
        if _has_attribute(index, row[0], key, value):
            found.append(trace_facts(row))
    return found, len(found)


def _number_text(text: str) -> bool:
    """``text`` reads as a number: then it also matches numbers written otherwise (``2`` and ``2.0``)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def _summary(facts: TraceFacts) -> TraceSummary:
    return TraceSummary(
        trace_id=facts.trace_id, name=facts.name, service=facts.service, start_ns=facts.start_ns,
        duration_ms=facts.duration_s * 1e3, span_count=facts.span_count, error_count=facts.error_count,
        correlation_id=_text(facts.attribute("trading.trade_id") or facts.attribute("correlation_id")),
        symbol=facts.symbol, end_ns=facts.end_ns, partial=facts.partial, error=facts.error,
        side=_text(facts.attribute("trading.side")), outcome=_text(facts.attribute("trading.trade.outcome")),
        pnl=_number(facts.attribute("trading.pnl.realized")), exit_reason=_text(facts.attribute("trading.exit_reason")),
        run=facts.run,
    )


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
    query = TraceQuery(service=service, name=name, symbol=symbol, correlation_id=correlation_id, status=status,
                       min_duration_ms=min_duration_ms, max_duration_ms=max_duration_ms, since_ns=since_ns,
                       until_ns=until_ns, attribute=attribute)
    with updated_index(store) as index:
        return [] if index is None else [_summary(facts) for facts in listed_traces(index, query, limit)[0]]


def trace_runs(index: StoreIndex, query: TraceQuery) -> list[Run]:
    """The runs of the traces ``query`` selects (by their head span), the earliest first."""
    where = query.where()
    found: dict[tuple[str, str], list[int]] = {}
    for service, run, first, last, count in index.db.execute(
            f"SELECT service, run, MIN(start_ns), MAX(start_ns), COUNT(*) FROM traces{where} "  # noqa: S608
            "GROUP BY service, run", where.parameters):
        key = (service or _RUN_NONE, run or "")
        seen = found.setdefault(key, [first, last, 0])
        seen[0], seen[1], seen[2] = min(seen[0], first), max(seen[1], last), seen[2] + count
    return sorted((Run(service, run, first, last, count) for (service, run), (first, last, count) in found.items()),
                  key=lambda run: (run.first_ns, run.service, run.run_id))


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


def trace_ids_starting(index: StoreIndex, prefix: str, limit: int | None = None) -> list[str]:
    """The ids of the traces that start with ``prefix``, in order."""
    condition, parameters = _prefix_range("trace_id", prefix)
    suffix = "" if limit is None else f" LIMIT {int(limit)}"
    return [trace_id for (trace_id,) in index.db.execute(
        f"SELECT trace_id FROM traces WHERE {condition} ORDER BY trace_id{suffix}", parameters)]  # noqa: S608


def trace_detail(store: str | Path, trace_id_or_prefix: str) -> TraceDetail | None:
    """The spans and logs of the one trace whose id is (or starts with) ``trace_id_or_prefix``; None
    when no trace, or more than one, matches."""
    prefix = trace_id_or_prefix.strip().lower()
    if not prefix:
        return None
    with updated_index(store) as index:
        if index is None:
            return None
        found = trace_ids_starting(index, prefix, limit=2)
        if len(found) != 1:
            return None
        [trace_id] = found
        [trace] = group_traces(_trace_spans(index, trace_id)).values()
        logs = sorted(index.contents(traces=False, trace_prefix=trace_id).logs, key=lambda log: log.time_ns)
    return TraceDetail(trace_id, [_span_view(span) for span in trace.spans],
                       [log_view(log) for log in logs if log.trace_id == trace_id])


# -- logs ------------------------------------------------------------------------------------------------


def _min_severity(min_level: str | None) -> int:
    if min_level is None:
        return 0
    severity = LEVELS.get(min_level.lower())
    if severity is None:
        raise ValueError(f"min_level {min_level!r}: expected one of {', '.join(LEVELS)}")
    return severity


@dataclass(frozen=True)
class _LogQuery:
    """The SQL of a log filter: every part but ``fields``, which is compared on the records."""

    wanted: LogFilter
    before_ns: int | None = None

    def where(self, index: StoreIndex) -> _Where:
        wanted, where = self.wanted, _Where()
        for condition, value in (("time_ns >= ?", wanted.start_ns), ("time_ns <= ?", wanted.end_ns),
                                 ("time_ns < ?", self.before_ns), ("severity >= ?", wanted.min_severity or None),
                                 ("instr(search, ?) > 0", wanted.grep or None)):
            if value is not None:
                where.add(condition, value)
        if wanted.trace_prefix:
            condition, parameters = _prefix_range("trace_id", wanted.trace_prefix)
            where.add(condition, *parameters)
        if wanted.trade_id is not None:
            where.add("(trade_id = ? OR correlation_id = ?)", wanted.trade_id, wanted.trade_id)
        if not wanted.runs.everything:
            where.add(_in("resource", index.resources_matching(wanted.runs.matches)))
        for field_filter in wanted.fields:
            for text in _attribute_texts(index, field_filter):
                where.add("instr(data, ?) > 0", text)
        return where

    def rows(self, index: StoreIndex, limit: int | None = None) -> Iterator[StoredLog]:
        """The records matching, newest first (ties: the last written first)."""
        where = self.where(index)
        suffix = "" if limit is None else f" LIMIT {int(limit)}"
        resources = index.resources()
        for resource, data in index.db.execute(
                f"SELECT resource, data FROM logs{where} ORDER BY time_ns DESC, id DESC{suffix}",  # noqa: S608
                where.parameters):
            log = log_of(data, resources.get(resource))
            if self.wanted.matches(log):
                yield log

    def count(self, index: StoreIndex) -> int:
        where = self.where(index)
        [(count,)] = index.db.execute(f"SELECT COUNT(*) FROM logs{where}", where.parameters).fetchall()  # noqa: S608
        return int(count)


def _value_text(value: str) -> str | None:
    """How ``value`` must appear in a stored record's JSON to equal an attribute (as ``field=value``
    compares), or None when it may appear otherwise (a number: ``2`` equals 2.0; quotes, escapes)."""
    if _number_text(value) or '"' in value or "\\" in value:
        return None
    return json.dumps(value, ensure_ascii=False)[1:-1]


def _attribute_texts(index: StoreIndex, field_filter: FieldFilter) -> list[str]:
    """Texts a record's stored JSON contains when ``field_filter`` (``key=value``) matches it: only for
    a key that can only be an attribute (no record field, no resource attribute of the store)."""
    key = field_filter.key
    if field_filter.operator != "=" or key in FIELD_NAMES or index.resources_matching(lambda r: key in r):
        return []
    value = _value_text(field_filter.value)
    return [json.dumps(key, ensure_ascii=False) + ":", *([value] if value is not None else [])]


def newest_logs(index: StoreIndex, wanted: LogFilter, limit: int | None, *,
                before_ns: int | None = None, count: bool = True) -> tuple[list[StoredLog], int | None]:
    """The newest ``limit`` records ``wanted`` matches (None: all), newest first, and (``count``) how
    many it matches in all. Without ``field=value`` filters both are answered by SQL alone."""
    query = _LogQuery(wanted, before_ns)
    if not wanted.fields:
        return list(query.rows(index, limit)), query.count(index) if count else None
    found: list[StoredLog] = []
    total = 0
    for log in query.rows(index):
        total += 1
        if limit is None or len(found) < limit:
            found.append(log)
        elif not count:
            break
    return found, total if count else None


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
    with updated_index(store) as index:
        if index is None:
            return []
        found, _ = newest_logs(index, wanted, limit, before_ns=before_ns, count=False)
    return [log_view(log) for log in found]


# -- trades and the report ---------------------------------------------------------------------------------

_TRADE_COLUMNS = ("trace_id, trade_id, symbol, side, strategy, service, portfolio, opened_ns, closed_ns, ended_ns, "
                  "pnl, outcome, exit_reason, equity")


def _trade_rows(index: StoreIndex, where: _Where) -> list[tuple[Any, ...]]:
    return index.db.execute(f"SELECT {_TRADE_COLUMNS} FROM trades{where}", where.parameters).fetchall()  # noqa: S608


def trades(store: str | Path, *, symbol: str | None = None, side: str | None = None, strategy: str | None = None,
           status: TradeStatus | None = None, exit_reason: str | None = None,
           limit: int | None = None) -> list[TradeRow]:
    """The trades (``trade`` spans) of the store, the latest opened first: ``closed`` once
    ``position_closed()`` was called on them, else ``open``, ``denied`` or ``abandoned`` as their
    span says (``unclosed_status``, kept in the index's ``trades.status``)."""
    where = _Where()
    for condition, value in (("COALESCE(NULLIF(symbol, ''), 'unknown') = ?", symbol),
                             ("COALESCE(NULLIF(side, ''), 'unknown') = ?", side), ("strategy = ?", strategy),
                             ("exit_reason = ?", exit_reason), ("status = ?", status)):
        if value is not None:
            where.add(condition, value)
    with updated_index(store) as index:
        rows = [] if index is None else index.db.execute(
            f"SELECT {_TRADE_COLUMNS}, status FROM trades{where}", where.parameters).fetchall()  # noqa: S608
    with no_collection():
        return _limited(_trade_views(rows), limit)


def _trade_views(rows: list[tuple[Any, ...]]) -> list[TradeRow]:
    found = []
    for (trace_id, trade_id, trade_symbol, trade_side, trade_strategy, service, _, opened_ns, closed_ns, _, pnl,
         outcome, reason, _, status) in rows:
        found.append(TradeRow(
            trade_id=trade_id, trace_id=trace_id, symbol=trade_symbol or _UNKNOWN, side=trade_side or _UNKNOWN,
            strategy=trade_strategy, status=status, pnl=pnl, opened_ns=opened_ns,
            closed_ns=closed_ns, duration_ms=None if closed_ns is None else max(0, closed_ns - opened_ns) / 1e6,
            exit_reason=reason, outcome=outcome, service=service))
    found.sort(key=lambda row: row.opened_ns, reverse=True)
    return found


def _journal(index: StoreIndex, resources: list[int] | None, *, orders: bool = True) -> Journal:
    """The trades (and ``orders``) of the spans of ``resources`` (None: all), from the index's rows;
    the exchange calls are counted (``_call_counts``), not listed."""
    trade_where, where = _Where(), ""
    if resources is not None:
        trade_where.add(_in("resource", resources))
        where = " WHERE " + _in("x.resource", resources)
    closed: list[ClosedTrade] = []
    unclosed: list[UnclosedTrade] = []
    for (trace_id, _, symbol, side, strategy, service, portfolio, opened_ns, closed_ns, ended_ns, pnl, outcome,
         reason, equity) in _trade_rows(index, trade_where):
        if outcome is None:
            unclosed.append(UnclosedTrade(trace_id, symbol or _UNKNOWN, strategy, service, ended_ns))
        else:
            closed.append(ClosedTrade(trace_id, symbol or _UNKNOWN, side or _UNKNOWN, strategy, service, portfolio,
                                      opened_ns, closed_ns, pnl, outcome, reason, equity))
    listed = [] if not orders else [OrderRecord(*row) for row in index.db.execute(
        "SELECT x.trace_id, x.symbol, x.side, t.strategy, x.service, x.order_type, x.status, x.reason, "  # noqa: S608
        "x.submitted_ns, x.ack_latency_s, x.fill_latency_s, x.slippage_bps, x.slippage_cost "
        f"FROM orders x LEFT JOIN trades t ON t.trace_id = x.trace_id{where} ORDER BY x.span")]
    return Journal(
        trades=tuple(sorted(closed, key=lambda t: t.closed_ns)),
        orders=tuple(sorted(listed, key=lambda o: o.submitted_ns)),
        unclosed_trades=tuple(sorted(unclosed, key=lambda u: u.ended_ns)),
    )


def _covered(selection: ReportFilter, resources: list[int] | None, time: str, symbol: str) -> tuple[_Where, str]:
    """The WHERE of the journal rows ``x`` that ``selection`` covers, and the join it needs (a row's
    strategy, and a call's symbol when it has none, are those of its trade, as the journal reads them)."""
    where = _Where()
    if resources is not None:
        where.add(_in("x.resource", resources))
    for condition, value in ((f"{time} >= ?", selection.start_ns), (f"{time} <= ?", selection.end_ns),
                             (f"{symbol} = ?", selection.symbol), ("t.strategy = ?", selection.strategy),
                             ("x.service = ?", selection.service)):
        if value is not None:
            where.add(condition, value)
    join = " LEFT JOIN trades t ON t.trace_id = x.trace_id" if selection.symbol or selection.strategy else ""
    return where, join


def _call_counts(index: StoreIndex, resources: list[int] | None, selection: ReportFilter) -> CallCounts:
    """The exchange calls ``selection`` covers, counted in SQL."""
    where, join = _covered(selection, resources, "x.time_ns", "COALESCE(NULLIF(x.symbol, ''), t.symbol)")
    by_method: Counter[str] = Counter()
    errors_by_type: Counter[str] = Counter()
    errors_by_method: Counter[str] = Counter()
    errors_by_hour: Counter[int] = Counter()
    for method, error_type, hour, count in index.db.execute(
            f"SELECT x.method, x.error_type, x.time_ns / {_HOUR_NS}, COUNT(*) FROM calls x{join}{where} "  # noqa: S608
            "GROUP BY 1, 2, 3", where.parameters):
        by_method[method] += count
        if error_type is not None:
            errors_by_type[error_type or _UNKNOWN] += count
            errors_by_method[method] += count
            errors_by_hour[hour] += count
    return CallCounts(by_method, errors_by_type, errors_by_method, errors_by_hour)


def _order_figures(index: StoreIndex, resources: list[int] | None, selection: ReportFilter) -> OrderFigures:
    """What the report reads of the orders ``selection`` covers, from their rows without building records."""
    where, join = _covered(selection, resources, "x.submitted_ns", "x.symbol")
    by_status: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    hours: Counter[int] = Counter()
    ack: list[float] = []
    fill: list[float] = []
    bps: list[float] = []
    costs: list[float] = []
    for status, reason, hour, ack_s, fill_s, slippage, cost in index.db.execute(
            f"SELECT x.status, x.reason, x.submitted_ns / {_HOUR_NS}, x.ack_latency_s, x.fill_latency_s, "  # noqa: S608
            f"x.slippage_bps, x.slippage_cost FROM orders x{join}{where}", where.parameters):
        by_status[status] += 1
        if status == "rejected":
            reasons[reason or _UNKNOWN] += 1
            hours[hour] += 1
        if ack_s is not None:
            ack.append(ack_s)
        if fill_s is not None:
            fill.append(fill_s)
        if slippage is not None:
            bps.append(slippage)
            if cost is not None:
                costs.append(cost)
    return OrderFigures(by_status, reasons, hours, ack, fill, bps, costs)


def _report_runs(index: StoreIndex, resources: list[int] | None, since_ns: int | None,
                 until_ns: int | None) -> list[Run]:
    """The runs with spans in the time range, as the report names them (from the covering index
    ``spans_by_resource``, not the records)."""
    where = _Where()
    if resources is not None:
        where.add(_in("resource", resources))
    if since_ns is not None:
        where.add("end_ns >= ?", since_ns)
    if until_ns is not None:
        where.add("start_ns <= ?", until_ns)
    found: dict[tuple[str, str], list[int]] = {}
    decoded = index.resources()
    for resource, first, last, count in index.db.execute(
            f"SELECT resource, MIN(start_ns), MAX(start_ns), COUNT(*) FROM spans{where} GROUP BY resource",  # noqa: S608
            where.parameters):
        attributes = decoded.get(resource)
        key = (str(attributes.get("service.name") or _RUN_NONE), str(attributes.get("service.instance.id") or ""))
        seen = found.setdefault(key, [first, last, 0])
        seen[0], seen[1], seen[2] = min(seen[0], first), max(seen[1], last), seen[2] + count
    return sorted((Run(service, run, first, last, count) for (service, run), (first, last, count) in found.items()),
                  key=lambda run: (run.first_ns, run.service, run.run_id))


@dataclass(frozen=True)
class StoreReport:
    """A report over a store: the report, the runs it covers, and whether the store had any span."""

    report: TradingReport
    runs: list[Run]
    has_spans: bool
    problems: list[str]
    recorded_equity_points: int = 0
    """How many points of the recorded ``trading.equity`` the equity curve comes from (0: from the trades)."""


def trading_report(store: str | Path, selection: ReportFilter, runs: RunSelection, *,
                   orders: bool = False) -> StoreReport:
    """``build_report`` over the spans of ``store`` that ``runs`` selects, from the index's journal rows:
    the report's journal lists the trades (and with ``orders`` the orders); the exchange calls and
    orders are counted in SQL, not listed."""
    with updated_index(store) as index, no_collection():  # many new objects, none of them garbage
        if index is None:
            return StoreReport(report_from_journal(Journal(), selection), [], False, [])
        resources = None if runs.everything else index.resources_matching(runs.matches)
        report = report_from_journal(_journal(index, resources, orders=orders), selection,
                                     call_counts=_call_counts(index, resources, selection),
                                     orders=None if orders else _order_figures(index, resources, selection))
        has_spans = index.db.execute("SELECT EXISTS (SELECT 1 FROM spans)").fetchone()[0]
        runs_covered = _report_runs(index, resources, selection.start_ns, selection.end_ns)
        problems = index.problems("traces")
    # Here, not at the top: the recorded metrics (and the SDK's metric classes) only for a report.
    from otel_trading.export._metric_queries import report_with_recorded_equity

    recorded = report_with_recorded_equity(report, store, resources=None if runs.everything else runs.matches)
    return StoreReport(recorded or report, runs_covered, bool(has_spans), problems,
                       len(recorded.equity_curve) if recorded is not None else 0)


def store_report(store: str | Path, *, symbol: str | None = None, strategy: str | None = None,
                 service: str | None = None, run: str | None = None, since_ns: int | None = None,
                 until_ns: int | None = None) -> dict[str, Any]:
    """What ``otel-trading report --format json`` prints for the same store and filters (``run`` a
    prefix of the run id, as ``--run``)."""
    runs = RunSelection(service, run.strip().lower() if run else None)
    selection = ReportFilter(symbol=symbol, strategy=strategy, service=service, start_ns=since_ns, end_ns=until_ns)
    found = trading_report(store, selection, runs)
    return report_document(found.report, Scope(str(store), found.runs, runs.run,
                                               recorded_equity_points=found.recorded_equity_points))
