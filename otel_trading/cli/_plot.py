"""``report --plot``: one PNG with the equity curve, its drawdown and the order latencies.

matplotlib is an optional dependency (``pip install 'otel-trading[plot]'``); it is imported
only here, with the Agg backend, so no display is ever needed.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from otel_trading.cli._common import CliError

if TYPE_CHECKING:
    from otel_trading.analytics import TradingReport

_BINS = 30
INSTALL_HINT = "--plot needs matplotlib: install otel-trading[plot] (pip install 'otel-trading[plot]')"


def require_matplotlib() -> None:
    """Fails with exit status 2 before any work when matplotlib cannot be imported."""
    try:
        import matplotlib
    except ImportError:
        raise CliError(INSTALL_HINT, code=2) from None
    matplotlib.use("Agg")


def _times(report: TradingReport) -> list[dt.datetime]:
    return [dt.datetime.fromtimestamp(p.time_ns / 1e9, tz=dt.timezone.utc) for p in report.equity_curve]


def _equity(axes: Any, report: TradingReport) -> None:
    values = [p.value for p in report.equity_curve]
    axes.plot(_times(report), values, marker="o", markersize=3, linewidth=1.2, color="tab:blue")
    axes.ticklabel_format(axis="y", useOffset=False, style="plain")  # show 10,002 rather than +1e4 and 2
    if report.risk.basis == "equity":
        axes.set_title("Equity (trading.portfolio.equity, compounded per trade)")
        axes.set_ylabel("equity")
    else:
        axes.set_title("Cumulative PnL (no trading.portfolio.equity recorded)")
        axes.set_ylabel("PnL")
    axes.grid(alpha=0.3)


def _drawdown(axes: Any, report: TradingReport) -> None:
    points = report.equity_curve
    if report.risk.basis == "equity":
        values = [-100 * p.drawdown / (p.value + p.drawdown) if p.value + p.drawdown > 0 else 0.0 for p in points]
        axes.set_ylabel("drawdown %")
    else:
        values = [-p.drawdown for p in points]
        axes.set_ylabel("drawdown")
    axes.fill_between(_times(report), values, 0, step="post", color="tab:red", alpha=0.4)
    axes.set_title("Drawdown from the running peak")
    axes.grid(alpha=0.3)


def _latency(axes: Any, report: TradingReport) -> None:
    orders = report.journal.orders
    series = [
        ("ack", [o.ack_latency_s * 1e3 for o in orders if o.ack_latency_s is not None], "tab:green"),
        ("fill", [o.fill_latency_s * 1e3 for o in orders if o.fill_latency_s is not None], "tab:purple"),
    ]
    longest = max((max(values) for _, values, _ in series if values), default=0.0)
    edges = [longest * i / _BINS for i in range(_BINS + 1)] if longest > 0 else _BINS  # same bins for both
    drawn = False
    for label, values, color in series:
        if values:
            axes.hist(values, bins=edges, alpha=0.5, label=f"{label} ({len(values)})", color=color)
            drawn = True
    if drawn:
        axes.legend()
    else:
        axes.text(0.5, 0.5, "no order latencies recorded", ha="center", va="center", transform=axes.transAxes)
    axes.set_title("Order latency")
    axes.set_xlabel("ms")
    axes.set_ylabel("orders")
    axes.grid(alpha=0.3)


def write_plot(report: TradingReport, path: Path) -> None:
    """Writes the three panels to ``path`` as PNG (call ``require_matplotlib()`` first)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 10), layout="constrained")
    equity_axes, drawdown_axes, latency_axes = figure.subplots(3, 1)
    _equity(equity_axes, report)
    _drawdown(drawdown_axes, report)
    _latency(latency_axes, report)
    figure.suptitle(f"otel-trading report: {report.stats.trades} closed trades")
    try:
        figure.savefig(path, format="png", dpi=100)
    except OSError as exc:
        raise CliError(f"--plot {path}: cannot write: {exc.strerror or exc}") from None
