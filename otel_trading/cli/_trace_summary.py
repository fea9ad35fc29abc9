"""Spans grouped into traces, and the one-line summary of each that ``otel-trading traces`` lists.

The summary is computed where the index keeps it (``otel_trading/export/_index_rows.py``): the
listing reads it from the index, the waterfall computes it from the trace's spans, the same way.
"""

from __future__ import annotations

from typing import Any

from otel_trading.cli._log_format import iso_time
from otel_trading.export._index_rows import Trace, group_traces, span_error_text
from otel_trading.export._index_rows import TraceFacts as TraceSummary
from otel_trading.export._index_rows import summarize as summarize_spans

__all__ = ["Trace", "TraceSummary", "group_traces", "span_error_text", "summarize", "summary_document"]


def summarize(trace: Trace) -> TraceSummary:
    return summarize_spans(trace.trace_id, trace.spans)


def summary_document(summary: TraceSummary) -> dict[str, Any]:
    """The summary as a JSON object (``traces --json``)."""
    return {
        "trace_id": summary.trace_id, "start": iso_time(summary.start_ns), "start_unix_nano": summary.start_ns,
        "root": summary.name, "partial": summary.partial, "duration_s": summary.duration_s,
        "span_count": summary.span_count, "status": "error" if summary.error else "ok", "error": summary.error,
        "symbol": summary.symbol, "side": summary.attribute("trading.side"),
        "trade_id": summary.attribute("trading.trade_id") or summary.attribute("correlation_id"),
        "outcome": summary.attribute("trading.trade.outcome"), "pnl": summary.attribute("trading.pnl.realized"),
        "exit_reason": summary.attribute("trading.exit_reason"), "service": summary.service, "run": summary.run,
    }
