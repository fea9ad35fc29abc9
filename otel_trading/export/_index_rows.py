"""What the store's index keeps besides the records: one summary row per trace, the journal's rows
(trades, orders, exchange calls) and a log record's query columns.

A trace's spans arrive over time and across files (children end, and are written, before their
root), so a trace's summary is an accumulation: ``TraceAccumulator`` takes spans in store order and
gives the same summary as all of them at once (``summarize``). The index seeds it with a trace's
spans already indexed when new ones arrive, and rebuilds it from the remaining ones when a file
goes away.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from otel_trading.analytics._journal import (
    closed_trade,
    exchange_call_columns,
    is_exchange_call_span,
    is_order_span,
    is_trade_span,
    order_record,
)
from otel_trading.export._record_builder import record_builder
from otel_trading.export._records import StoredLog, StoredSpan

HEAD_KEYS: Final = ("trading.side", "trading.trade_id", "correlation_id", "trading.trade.outcome",
                    "trading.pnl.realized", "trading.exit_reason", "trading.symbol", "trading.strategy")
"""The head span's attributes a trace's summary keeps (what the listings show of it)."""
ERROR_TEXT_MAX: Final = 60
TradeStatus = Literal["open", "closed", "denied", "abandoned"]


@dataclass(frozen=True, slots=True)
class TraceFacts:
    """A trace in one row: what the listings show and filter on."""

    trace_id: str
    name: str
    """The head span's name: the root span, or the earliest span when the root is not in the store."""
    service: str | None
    run: str | None
    """The head span's ``service.instance.id``."""
    start_ns: int
    end_ns: int
    partial: bool
    span_count: int
    error_count: int
    error: str | None
    """None when no span failed; else what failed (``order: order rejected: insufficient_funds``)."""
    symbol: str | None
    trade_ids: tuple[str, ...]
    """Every ``trading.trade_id`` and ``correlation_id`` of its spans, sorted."""
    head_attributes: Mapping[str, Any]
    """The head span's attributes among ``HEAD_KEYS``."""

    @property
    def duration_s(self) -> float:
        return max(0, self.end_ns - self.start_ns) / 1e9

    def attribute(self, key: str) -> Any:
        return self.head_attributes.get(key)

    @property
    def resource(self) -> dict[str, Any]:
        """The head span's resource as far as run selection reads it."""
        return {"service.name": self.service, "service.instance.id": self.run}


new_trace_facts: Final = record_builder(TraceFacts)
"""``TraceFacts`` by position, as the index builds and reads them by the thousand (``_record_builder.py``)."""


@dataclass(frozen=True)
class Trace:
    """The spans of one trace, each span id once, in start order."""

    trace_id: str
    spans: tuple[StoredSpan, ...]

    @property
    def root(self) -> StoredSpan | None:
        return next((span for span in self.spans if span.parent_span_id is None), None)


def group_traces(spans: Iterable[StoredSpan]) -> dict[str, Trace]:
    """Traces by id, in one pass; a span stored twice (a copied file) counts once."""
    by_trace: dict[str, dict[str, StoredSpan]] = {}
    for span in spans:
        by_trace.setdefault(span.trace_id, {}).setdefault(span.span_id, span)
    return {trace_id: Trace(trace_id, tuple(sorted(members.values(), key=lambda s: (s.start_ns, s.end_ns))))
            for trace_id, members in by_trace.items()}


def span_error_text(span: StoredSpan) -> str:
    return span.status_message or str(span.attributes.get("error.type") or "error")


def _earlier(span: StoredSpan, than: StoredSpan | None) -> bool:
    """Spans in start order, ties kept in store order (the first one stays)."""
    return than is None or span.start_ns < than.start_ns or (
        span.start_ns == than.start_ns and span.end_ns < than.end_ns)


class TraceAccumulator:
    """The summary and trade of one trace, from its spans in store order (a span id counts once)."""

    __slots__ = ("_errors", "_first", "_last_end", "_root", "_span_ids", "_symbol_span", "_trade_ids",
                 "failed", "trace_id", "trade", "trade_ref")

    def __init__(self, trace_id: str) -> None:
        self.trace_id = trace_id
        self._span_ids: set[str] = set()
        self._first: StoredSpan | None = None
        self._root: StoredSpan | None = None
        self._symbol_span: StoredSpan | None = None
        self.failed: StoredSpan | None = None
        self._errors = 0
        self._last_end = 0
        self._trade_ids: set[str] = set()
        self.trade: StoredSpan | None = None
        """The last ``trade`` span in store order: the journal's trade of this trace."""
        self.trade_ref: object = None
        """What ``add()`` was given with ``trade`` (the index: its row and resource row)."""

    @property
    def empty(self) -> bool:
        return not self._span_ids

    def add(self, span: StoredSpan, ref: object = None) -> None:
        if is_trade_span(span):
            self.trade, self.trade_ref = span, ref  # the journal reads every copy; the last one wins
        if span.span_id in self._span_ids:
            return
        self._span_ids.add(span.span_id)
        attributes = span.attributes
        if _earlier(span, self._first):
            self._first = span
        if span.parent_span_id is None and _earlier(span, self._root):
            self._root = span
        if "trading.symbol" in attributes and _earlier(span, self._symbol_span):
            self._symbol_span = span
        if span.status == "error":
            self._errors += 1
            if _earlier(span, self.failed):
                self.failed = span
        self._last_end = max(self._last_end, span.end_ns)
        if "trading.trade_id" in attributes or "correlation_id" in attributes:  # most spans have neither
            for key in ("trading.trade_id", "correlation_id"):
                value = attributes.get(key)
                if value is not None:
                    self._trade_ids.add(str(value))

    def facts(self) -> TraceFacts:
        first = self._first
        if first is None:
            raise ValueError(f"trace {self.trace_id}: no span")
        head = self._root or first
        attributes = head.attributes
        start = first.start_ns
        end = head.end_ns if self._root is not None else self._last_end
        symbol = head.attributes.get("trading.symbol") or (
            self._symbol_span.attributes["trading.symbol"] if self._symbol_span is not None else None)
        return new_trace_facts(  # trace_id, name, service, run, start_ns, end_ns, partial, span_count,
            # error_count, error, symbol, trade_ids, head_attributes
            self.trace_id, head.name, _text(head.resource.get("service.name")),
            _text(head.resource.get("service.instance.id")), start, max(start, end), self._root is None,
            len(self._span_ids), self._errors, self._error(head), _text(symbol), tuple(sorted(self._trade_ids)),
            {key: attributes[key] for key in HEAD_KEYS if key in attributes},
        )

    def _error(self, head: StoredSpan) -> str | None:
        """What failed: the head span's error first, else the first failed span's, named."""
        if self.failed is None:
            return None
        first = head if head.status == "error" else self.failed
        text = span_error_text(first)
        if first is not head and not text.startswith(first.name):  # "order rejected: ..." names its span already
            text = f"{first.name}: {text}"
        return text if len(text) <= ERROR_TEXT_MAX else text[:ERROR_TEXT_MAX - 3] + "..."


def summarize(trace_id: str, spans: Iterable[StoredSpan]) -> TraceFacts:
    accumulator = TraceAccumulator(trace_id)
    for span in spans:
        accumulator.add(span)
    return accumulator.facts()


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


# -- the journal's rows ---------------------------------------------------------------------------------


def unclosed_status(span: StoredSpan) -> TradeStatus:
    """How a trade whose span ended without ``position_closed()`` ended, as its span says:
    ``denied`` by its risk check (``trading.risk.denied``), ``open`` when it holds a position
    (a ``position.opened`` event: the bot stopped, or evicted it, with the position on), else
    ``abandoned`` (no position: no quote, its entry rejected or cancelled, an error)."""
    if span.attributes.get("trading.risk.denied") is True:
        return "denied"
    if any(event.name == "position.opened" for event in span.events):
        return "open"
    return "abandoned"


def trade_row(span: StoredSpan, span_row: int, resource: int) -> tuple[Any, ...]:
    """``trades`` columns of the journal's trade span of a trace, closed or not (its text attributes
    as recorded: the readers put in the journal's ``unknown``), and its status: ``closed``, else
    ``unclosed_status``."""
    closed = closed_trade(span)
    attributes = span.attributes
    return (span.trace_id, span_row, resource, str(attributes["trading.trade_id"]),
            _text(attributes.get("trading.symbol")), _text(attributes.get("trading.side")),
            _text(attributes.get("trading.strategy")), _text(span.resource.get("service.name")),
            _text(attributes.get("trading.portfolio")), span.start_ns, None if closed is None else closed.closed_ns,
            span.end_ns, None if closed is None else closed.pnl, None if closed is None else closed.outcome,
            _text(attributes.get("trading.exit_reason")), None if closed is None else closed.equity,
            "closed" if closed is not None else unclosed_status(span))


def journal_row(span: StoredSpan, span_row: int, resource: int) -> tuple[str, tuple[Any, ...]] | None:
    """``("orders", columns)`` or ``("calls", columns)`` for the journal's order and exchange-call spans;
    their strategy (and a call's symbol when it has none) is their trade's, joined when read."""
    if is_order_span(span):
        order = order_record(span, None)
        return "orders", (span_row, span.trace_id, resource, order.symbol, order.side, order.service,
                          order.order_type, order.status, order.reason, order.submitted_ns, order.ack_latency_s,
                          order.fill_latency_s, order.slippage_bps, order.slippage_cost)
    if is_exchange_call_span(span):
        return "calls", (span_row, span.trace_id, resource, *exchange_call_columns(span))
    return None


# -- log columns ------------------------------------------------------------------------------------------


# As json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str), by one encoder:
# dumps() with options builds an encoder per call.
_encode_value: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode


def render_value(value: Any) -> str:
    """The exact text of a value, as ``field=value`` filters and ``--grep`` compare it."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None or isinstance(value, (list, dict)):
        return _encode_value(value)
    return repr(value) if isinstance(value, float) else str(value)


_FORMATTED_AS_RENDERED: Final = frozenset({str, int, float})


def searchable_text(log: StoredLog) -> str:
    """What a text search (``otel-trading logs --grep``) looks in, lower-cased: logger, message and
    ``key=value`` of every attribute."""
    # Most values are texts, integers and floats, which a format field renders as render_value does
    # (str() and repr(), the same for a float): without a call.
    attributes = " ".join([f"{key}={value if type(value) in _FORMATTED_AS_RENDERED else render_value(value)}"
                           for key, value in log.attributes.items()])
    return f"{log.scope} {log.body} {attributes}".lower()


def log_columns(log: StoredLog, dev: int, ino: int, resource: int, data: str) -> tuple[Any, ...]:
    """A record's ``logs`` row: its file, time, severity, trace id, the ``trade_id`` / ``correlation_id``
    attributes, the searchable text, its resource row and ``data`` (the record's JSON)."""
    attributes = log.attributes
    trade_id, correlation_id = attributes.get("trade_id"), attributes.get("correlation_id")
    # Only text: the filters compare the value as is, and no other type equals a text.
    return (dev, ino, log.time_ns, log.severity_number, log.trace_id, trade_id if isinstance(trade_id, str) else None,
            correlation_id if isinstance(correlation_id, str) else None, searchable_text(log), resource, data)
