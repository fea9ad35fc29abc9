"""Spans grouped into traces, and the one-line summary of each that ``otel-trading traces`` lists."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from otel_trading.cli._common import clip
from otel_trading.cli._log_format import iso_time
from otel_trading.export import StoredSpan

_ERROR_TEXT_MAX = 60


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


@dataclass(frozen=True)
class TraceSummary:
    trace_id: str
    head: StoredSpan
    """The root span, or the earliest span when the root is not in the store."""
    partial: bool
    start_ns: int
    end_ns: int
    span_count: int
    error: str | None
    """None when no span failed; else what failed (``order: order rejected: insufficient_funds``)."""
    trade_ids: frozenset[str]
    symbol: str | None

    @property
    def duration_s(self) -> float:
        return max(0, self.end_ns - self.start_ns) / 1e9

    def attribute(self, key: str) -> Any:
        return self.head.attributes.get(key)

    def document(self) -> dict[str, Any]:
        """The summary as a JSON object (``traces --json``)."""
        return {
            "trace_id": self.trace_id, "start": iso_time(self.start_ns), "start_unix_nano": self.start_ns,
            "root": self.head.name, "partial": self.partial, "duration_s": self.duration_s,
            "span_count": self.span_count, "status": "error" if self.error else "ok", "error": self.error,
            "symbol": self.symbol, "side": self.attribute("trading.side"),
            "trade_id": self.attribute("trading.trade_id") or self.attribute("correlation_id"),
            "outcome": self.attribute("trading.trade.outcome"), "pnl": self.attribute("trading.pnl.realized"),
            "exit_reason": self.attribute("trading.exit_reason"), "service": self.head.resource.get("service.name"),
            "run": self.head.resource.get("service.instance.id"),
        }


def summarize(trace: Trace) -> TraceSummary:
    root = trace.root
    head = root or trace.spans[0]
    start = min(span.start_ns for span in trace.spans)
    end = root.end_ns if root is not None else max(span.end_ns for span in trace.spans)
    trade_ids = frozenset(
        str(value) for span in trace.spans
        for value in (span.attributes.get("trading.trade_id"), span.attributes.get("correlation_id"))
        if value is not None
    )
    symbol = head.attributes.get("trading.symbol") or next(
        (span.attributes["trading.symbol"] for span in trace.spans if "trading.symbol" in span.attributes), None)
    return TraceSummary(trace.trace_id, head, root is None, start, max(start, end), len(trace.spans),
                        error_of(trace.spans, head), trade_ids, None if symbol is None else str(symbol))


def error_of(spans: Iterable[StoredSpan], head: StoredSpan) -> str | None:
    """What failed: the head span's error first, else the first failed span's, named."""
    failed = [span for span in spans if span.is_error]
    if not failed:
        return None
    first = head if head.is_error else failed[0]
    text = span_error_text(first)
    if first is not head and not text.startswith(first.name):  # "order rejected: ..." names its span already
        text = f"{first.name}: {text}"
    return clip(text, _ERROR_TEXT_MAX)


def span_error_text(span: StoredSpan) -> str:
    return span.status_message or str(span.attributes.get("error.type") or "error")
