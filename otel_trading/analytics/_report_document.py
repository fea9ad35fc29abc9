"""The trading report as one JSON document: what ``otel-trading report --format json`` prints
and the console's ``store_report`` answers (keys documented in docs/cli.md).

Numbers stay numbers, ``null`` where undefined, ``"inf"`` for an infinite ratio.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from otel_trading.analytics._journal import LatencySummary, TradeStats, TradingReport
from otel_trading.export._runs import Run

JSON_SCHEMA: Final = "otel-trading.report/1"


def utc(time_ns: int | None) -> str | None:
    """ISO 8601 in UTC to the millisecond, ``Z`` suffix."""
    if time_ns is None:
        return None
    moment = dt.datetime.fromtimestamp(time_ns / 1e9, tz=dt.timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Scope:
    """What the report read, besides its ``ReportFilter``: the store, the runs of the telemetry it
    covers, and ``--run`` (a run-id prefix, which the journal's records do not carry)."""

    store: str
    runs: list[Run] = field(default_factory=list)
    run: str | None = None
    recorded_equity_points: int = 0
    """Points of the recorded ``trading.equity`` the equity curve, drawdown and start/end equity
    come from (``report_with_recorded_equity``); 0: reconstructed from the trades."""


def json_number(value: float | None) -> float | str | None:
    """JSON has no infinity: ``"inf"`` / ``"-inf"``; NaN (never produced) as null."""
    if value is None or math.isnan(value):
        return None
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def _stats_document(stats: TradeStats) -> dict[str, Any]:
    return {
        "trades": stats.trades, "wins": stats.wins, "losses": stats.losses, "breakeven": stats.breakeven,
        "total_pnl": json_number(stats.total_pnl), "average_pnl": json_number(stats.average_pnl),
        "win_rate": json_number(stats.win_rate), "profit_factor": json_number(stats.profit_factor),
        "expectancy": json_number(stats.expectancy),
    }


def _latency_document(summary: LatencySummary) -> dict[str, Any]:
    return {"count": summary.count, "p50": summary.p50, "p90": summary.p90, "p99": summary.p99, "max": summary.max}


def _groups(groups: Mapping[str, TradeStats]) -> dict[str, Any]:
    return {name: _stats_document(stats) for name, stats in groups.items()}


def report_document(report: TradingReport, scope: Scope) -> dict[str, Any]:
    """The whole report as plain JSON values (keys documented in docs/cli.md)."""
    risk, selection, slippage = report.risk, report.selection, report.slippage
    return {
        "schema": JSON_SCHEMA,
        "store": scope.store,
        "filters": {"service": selection.service, "run": scope.run, "symbol": selection.symbol,
                    "strategy": selection.strategy, "from": utc(selection.start_ns), "to": utc(selection.end_ns)},
        "runs": [{"service": run.service, "run": run.run_id or None, "first": utc(run.first_ns),
                  "last": utc(run.last_ns)} for run in scope.runs],
        "period": {"first_trade_opened": utc(report.first_ns), "last_trade_closed": utc(report.last_ns)},
        "performance": {**_stats_document(report.stats), "not_closed": len(report.journal.unclosed_trades)},
        "risk": {
            "basis": risk.basis, "periods_per_year": risk.periods_per_year,
            "sharpe": json_number(risk.sharpe), "sortino": json_number(risk.sortino),
            "calmar": json_number(risk.calmar), "max_drawdown": json_number(risk.max_drawdown),
            "max_drawdown_relative": json_number(risk.max_drawdown_relative),
            "start_equity": risk.start_equity, "end_equity": risk.end_equity,
            "equity_source": "recorded" if scope.recorded_equity_points else "trades",
        },
        "orders": {
            "count": sum(report.orders_by_status.values()),
            "by_status": dict(report.orders_by_status),
            "ack_latency_s": _latency_document(report.ack_latency),
            "fill_latency_s": _latency_document(report.fill_latency),
            "slippage": {"orders": slippage.orders, "mean_bps": slippage.mean_bps, "p50_bps": slippage.p50_bps,
                         "p95_bps": slippage.p95_bps, "cost": slippage.cost},
            "rejects_by_reason": dict(report.rejects_by_reason),
        },
        "exchange": {
            "calls": sum(report.exchange_calls_by_method.values()),
            "errors": report.exchange_errors,
            "calls_by_method": dict(report.exchange_calls_by_method),
            "errors_by_type": dict(report.errors_by_type),
            "errors_by_method": dict(report.errors_by_method),
        },
        "problems_by_hour": [{"hour": utc(b.hour_ns), "rejects": b.rejects, "errors": b.errors}
                             for b in report.problems_by_hour],
        "by_symbol": _groups(report.by_symbol),
        "by_strategy": _groups(report.by_strategy),
        "by_exit_reason": _groups(report.by_exit_reason),
        "equity_curve": [{"time": utc(p.time_ns), "value": p.value, "drawdown": p.drawdown}
                         for p in report.equity_curve],
    }
