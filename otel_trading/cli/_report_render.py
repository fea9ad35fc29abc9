"""Rendering a ``TradingReport``: aligned text, GitHub Markdown tables, or one JSON document.

Text and Markdown render the same sections; the JSON document is the machine-readable
form (numbers as numbers, ``null`` where undefined, ``"inf"`` for an infinite ratio).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from otel_trading.analytics import LatencySummary, ReportFilter, TradeStats, TradingReport
from otel_trading.analytics._report_document import Scope, report_document, utc
from otel_trading.cli._common import NAME_WIDTH, align_columns, format_duration, printable
from otel_trading.cli._runs import describe_runs

_NONE: Final = "n/a"


# -- number formats --------------------------------------------------------------------------------


def money(value: float | None) -> str:
    return _NONE if value is None else f"{value:,.2f}"


def ratio(value: float | None) -> str:
    if value is None:
        return _NONE
    return "inf" if math.isinf(value) else f"{value:.2f}"


def percent(value: float | None) -> str:
    return _NONE if value is None else f"{value * 100:.2f}%"


def bps(value: float | None) -> str:
    return _NONE if value is None else f"{value:+.2f}"


def seconds(value: float | None) -> str:
    return _NONE if value is None else format_duration(value)


def utc_hour(time_ns: int) -> str:
    return dt.datetime.fromtimestamp(time_ns / 1e9, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:00Z")


# -- sections: what text and markdown both show ----------------------------------------------------


@dataclass
class Section:
    """A titled table. ``headers`` None: a key/value list. Numbers are right-aligned."""

    title: str
    rows: list[list[str]]
    headers: list[str] | None = None
    notes: list[str] = field(default_factory=list)


def describe_filters(selection: ReportFilter, run: str | None = None) -> str:
    parts = [f"{name}={value}" for name, value in (
        ("service", selection.service), ("run", run), ("symbol", selection.symbol),
        ("strategy", selection.strategy), ("from", utc(selection.start_ns)), ("to", utc(selection.end_ns)),
    ) if value is not None]
    return ", ".join(parts) or "none"


def _risk_note(report: TradingReport, scope: Scope) -> str:
    risk = report.risk
    recorded = scope.recorded_equity_points
    if recorded:
        ratios = ("Sharpe, Sortino and Calmar are per trade (periods_per_year=1, not annualised), on the trades' "
                  "trading.portfolio.equity" if risk.basis == "equity" else
                  "Sharpe and Sortino are per trade (periods_per_year=1, not annualised), on the trades' PnL")
        return (f"{ratios}; the equity, the drawdown and the equity curve are the recorded trading.equity "
                f"({recorded} points of the store's metrics), not reconstructed from the trades.")
    if risk.basis == "equity":
        return ("Sharpe, Sortino and Calmar are per trade (periods_per_year=1, not annualised), on the "
                "equity curve from trading.portfolio.equity.")
    return ("Sharpe and Sortino are per trade (periods_per_year=1, not annualised), on the trades' PnL: "
            "no trading.portfolio.equity recorded, so Calmar and the drawdown in % (which need a capital "
            "base) are omitted and the drawdown is that of the cumulative PnL.")


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}{'es' if noun.endswith('s') else 's'}"


def performance_section(report: TradingReport, scope: Scope) -> Section:
    stats, risk = report.stats, report.risk
    drawdown = money(risk.max_drawdown)
    if risk.max_drawdown_relative is not None:
        drawdown += f" ({percent(risk.max_drawdown_relative)})"
    rows = [
        ["closed trades", f"{stats.trades} ({_plural(stats.wins, 'win')}, {_plural(stats.losses, 'loss')}, "
                          f"{stats.breakeven} breakeven)"],
        ["not closed", str(len(report.journal.unclosed_trades))],
        ["total PnL", money(stats.total_pnl)],
        ["average PnL", money(stats.average_pnl)],
        ["win rate", percent(stats.win_rate)],
        ["profit factor", ratio(stats.profit_factor)],
        ["expectancy", money(stats.expectancy)],
        ["Sharpe (per trade)", ratio(risk.sharpe)],
        ["Sortino (per trade)", ratio(risk.sortino)],
        ["Calmar (per trade)", ratio(risk.calmar)],
        ["max drawdown", drawdown],
    ]
    if risk.start_equity is not None:
        rows.append(["equity", f"{money(risk.start_equity)} -> {money(risk.end_equity)}"])
    return Section("Performance", rows, notes=[_risk_note(report, scope)])


def _latency_row(name: str, summary: LatencySummary) -> list[str]:
    return [name, str(summary.count), *(seconds(v) for v in (summary.p50, summary.p90, summary.p99, summary.max))]


def orders_sections(report: TradingReport) -> list[Section]:
    statuses = ", ".join(f"{status} {count}" for status, count in report.orders_by_status.items())
    total = sum(report.orders_by_status.values())
    slippage = report.slippage
    return [
        Section("Order latency", [
            _latency_row("ack", report.ack_latency), _latency_row("fill", report.fill_latency),
        ], ["latency", "orders", "p50", "p90", "p99", "max"],
            notes=[f"{total} orders: {statuses or 'none'}. Ack: submitted -> accepted (or first fill); "
                   "fill: submitted -> last fill of a filled order."]),
        Section("Slippage", [[str(slippage.orders), bps(slippage.mean_bps), bps(slippage.p50_bps),
                              bps(slippage.p95_bps), money(slippage.cost)]],
                ["orders", "mean bps", "p50 bps", "p95 bps", "cost"],
                notes=["Orders with a reference price and fills; positive is a cost, in the quote currency."]),
        Section("Rejects by reason", _count_rows(report.rejects_by_reason), ["reason", "rejects"]),
    ]


def _count_rows(counts: Mapping[str, int]) -> list[list[str]]:
    return [[name, str(count)] for name, count in counts.items()]


def exchange_sections(report: TradingReport) -> list[Section]:
    calls = report.exchange_calls_by_method
    by_method = [
        [method, str(count), str(report.errors_by_method.get(method, 0)),
         percent(report.errors_by_method.get(method, 0) / count)]
        for method, count in calls.items() if report.errors_by_method.get(method)
    ]
    return [
        Section("Exchange errors by type", _count_rows(report.errors_by_type), ["error.type", "errors"],
                notes=[f"{report.exchange_errors} of {sum(calls.values())} exchange calls failed."]),
        Section("Exchange errors by method", by_method, ["method", "calls", "errors", "error rate"]),
        Section("Rejects and errors by hour (UTC)",
                [[utc_hour(b.hour_ns), str(b.rejects), str(b.errors)] for b in report.problems_by_hour],
                ["hour", "rejects", "errors"], notes=["Hours with neither are not listed."]),
    ]


def _stats_rows(groups: Mapping[str, TradeStats]) -> list[list[str]]:
    return [
        [name, str(s.trades), percent(s.win_rate), money(s.total_pnl), money(s.average_pnl),
         ratio(s.profit_factor), money(s.expectancy)]
        for name, s in groups.items()
    ]


_GROUP_HEADERS: Final = ["trades", "win rate", "total PnL", "avg PnL", "profit factor", "expectancy"]


def sections(report: TradingReport, scope: Scope) -> list[Section]:
    return [
        performance_section(report, scope),
        *orders_sections(report),
        *exchange_sections(report),
        Section("By symbol", _stats_rows(report.by_symbol), ["symbol", *_GROUP_HEADERS]),
        Section("By strategy", _stats_rows(report.by_strategy), ["strategy", *_GROUP_HEADERS]),
        Section("By exit reason", _stats_rows(report.by_exit_reason), ["exit reason", *_GROUP_HEADERS]),
    ]


def headline(report: TradingReport, scope: Scope) -> list[str]:
    """Two lines: the trades, period, store and filters; then which runs they come from."""
    period = ""
    if report.first_ns is not None:
        period = f", {utc(report.first_ns)} to {utc(report.last_ns)}"
    filters = describe_filters(report.selection, scope.run)
    return [f"{report.stats.trades} closed trades{period} (store {scope.store}; filters: {filters})",
            describe_runs(scope.runs, "report")]


# -- text and markdown -------------------------------------------------------------------------------


def _is_numeric(cell: str) -> bool:
    stripped = cell.replace(",", "").replace("%", "").rstrip("smµ").lstrip("+-")
    return stripped.replace(".", "", 1).isdigit() or cell in (_NONE, "inf")


def _aligned(rows: Sequence[Sequence[str]], indent: str, *, right_align_numbers: bool) -> list[str]:
    return align_columns(rows, indent=indent,
                         right=lambda index, cell: bool(index) and right_align_numbers and _is_numeric(cell))


def render_text(report: TradingReport, scope: Scope) -> str:
    first, runs = headline(report, scope)
    lines = ["otel-trading report: " + first, runs]
    for section in sections(report, scope):
        lines += ["", section.title]
        rows = section.rows
        if section.headers is not None and rows:
            rows = [section.headers, *rows]
        tabular = section.headers is not None
        lines += _aligned(rows, "  ", right_align_numbers=tabular) if rows else ["  (none)"]
        lines += [f"  {note}" for note in section.notes]
    return "\n".join(lines) + "\n"


def _markdown_cell(cell: str) -> str:
    return cell.replace("|", "\\|")


def render_markdown(report: TradingReport, scope: Scope) -> str:
    first, runs = headline(report, scope)
    lines = ["# otel-trading report", "", first, "", runs]
    for section in sections(report, scope):
        lines += ["", f"## {section.title}", ""]
        headers = section.headers or ["metric", "value"]
        if not section.rows:
            lines.append("_none_")
        else:
            numeric = [all(_is_numeric(row[i]) for row in section.rows) and i > 0 for i in range(len(headers))]
            lines.append("| " + " | ".join(headers) + " |")
            lines.append("|" + "|".join("---:" if right else "---" for right in numeric) + "|")
            lines += ["| " + " | ".join(_markdown_cell(printable(c, NAME_WIDTH)) for c in row) + " |"
                      for row in section.rows]
        if section.notes:
            lines += ["", *section.notes]
    return "\n".join(lines) + "\n"


# -- JSON --------------------------------------------------------------------------------------------


def render(report: TradingReport, scope: Scope, output_format: str) -> str:
    if output_format == "markdown":
        return render_markdown(report, scope)
    if output_format == "json":
        return json.dumps(report_document(report, scope), indent=2, allow_nan=False) + "\n"
    return render_text(report, scope)

