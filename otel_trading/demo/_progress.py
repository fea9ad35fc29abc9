"""What the demo prints: a live status line, event lines, and the final summary.

On a terminal the status line is redrawn in place (``\\r``, at most ten times a second) and
events scroll above it. Anywhere else (a pipe, a file, CI logs) the same status is printed as
plain lines, every ``every_trades`` closed trades or ``every_s`` seconds, so logs stay readable.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Final, TextIO

from otel_trading.demo._stats import DemoResult, DemoStats

_CLEAR_LINE: Final = "\r\x1b[K"
_REDRAW_S: Final = 0.1


@dataclass(frozen=True)
class Status:
    market_time: float
    trades: int
    wins: int
    losses: int
    realized_pnl: float
    equity: float
    drawdown: float
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    errors: int
    state: str
    trips: int


def clock(market_time: float) -> str:
    return dt.datetime.fromtimestamp(market_time, dt.timezone.utc).strftime("%H:%M:%S")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}ms"


def status_line(status: Status) -> str:
    return (f"{clock(status.market_time)}  trades {status.trades} ({status.wins}W/{status.losses}L)  "
            f"PnL {status.realized_pnl:+,.2f}  equity {status.equity:,.2f}  dd {status.drawdown:.2%}  "
            f"order latency p50 {_ms(status.latency_p50_ms)} p99 {_ms(status.latency_p99_ms)}  "
            f"errors {status.errors}  {status.state}  trips {status.trips}")


class Progress:
    def __init__(self, out: TextIO, *, enabled: bool, tty: bool | None = None, every_trades: int = 10,
                 every_s: float = 5.0) -> None:
        self._out = out
        self._enabled = enabled
        self._tty = out.isatty() if tty is None else tty
        self._every_trades = every_trades
        self._every_s = every_s
        self._last_at = time.monotonic()
        self._last_trades = 0
        self._drawn: Status | None = None

    def event(self, market_time: float, text: str) -> None:
        """A line about something that happened (scenario events, breaker trips)."""
        if not self._enabled:
            return
        line = f"{clock(market_time)}  {text}"
        self._write(f"{_CLEAR_LINE}{line}\n" if self._tty else f"{line}\n")
        if self._tty and self._drawn is not None:
            self._write(status_line(self._drawn))

    def update(self, status: Status) -> None:
        if not self._enabled:
            return
        now = time.monotonic()
        if self._tty:
            if now - self._last_at >= _REDRAW_S or self._drawn is None:
                self._write(_CLEAR_LINE + status_line(status))
                self._drawn, self._last_at = status, now
            else:
                self._drawn = status
            return
        if status.trades >= self._last_trades + self._every_trades or now - self._last_at >= self._every_s:
            self._write(f"{status_line(status)}\n")
            self._last_trades, self._last_at = status.trades, now

    def finish(self) -> None:
        """Clears the status line, so that the summary starts on a clean line."""
        if self._enabled and self._tty and self._drawn is not None:
            self._write(_CLEAR_LINE)

    def _write(self, text: str) -> None:
        self._out.write(text)
        self._out.flush()


def _counts(counter: dict[str, int]) -> str:
    return ", ".join(f"{key} {value}" for key, value in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


@dataclass(frozen=True)
class RecordedEquity:
    """The equity figures ``otel-trading report`` shows for the run when the store's metrics
    recorded the ``trading.equity`` gauge over its trades (its ``equity_source`` ``recorded``)."""

    end_equity: float
    max_drawdown_relative: float
    points: int
    """How many recorded points the report's equity curve has."""


def _report_equity(stats: DemoStats, recorded: RecordedEquity | None) -> list[str]:
    """The equity line ``otel-trading report`` shows: the recorded one when there is one."""
    if recorded is None:
        return _per_trade(stats)
    return [f"  recorded         {recorded.end_equity:,.2f} USDT, max drawdown {recorded.max_drawdown_relative:.2%}: "
            f"trading.equity as the store's metrics recorded it ({recorded.points} points), "
            "as otel-trading report shows it"]


def _per_trade(stats: DemoStats) -> list[str]:
    """The equity line as ``otel-trading report`` computes it: at each close, from the closed
    trades' returns alone (the drift of positions still open in between is not in it)."""
    risk = stats.per_trade_risk()
    if risk.end_equity is None or risk.max_drawdown_relative is None:
        return []
    return [f"  per trade        {risk.end_equity:,.2f} USDT, max drawdown {risk.max_drawdown_relative:.2%}: "
            "at each close, from the closed trades' returns alone, as otel-trading report computes it"]


def summary(result: DemoResult, recorded: RecordedEquity | None = None) -> str:
    """The final summary. Every line but ``order latency``, ``time`` and ``recorded`` (the
    equity at each metrics export, given as ``recorded``) is determined by the seed and options."""
    stats = result.stats
    win_rate = "-" if result.win_rate is None else f"{result.win_rate:.0%}"
    orders = sum(stats.orders.values())
    rejects = sum(stats.rejects.values())
    errors = sum(stats.exchange_errors.values())
    trips = sum(stats.breaker_trips.values())
    lines = [
        "Summary" + (" (interrupted)" if result.interrupted else ""),
        f"  trades           {stats.trades_closed} closed: {stats.wins} wins, {stats.losses} losses "
        f"(win rate {win_rate}), {result.open_positions} still open",
        f"  PnL              {stats.realized_pnl:+,.2f} USDT realized, fees {stats.fees:,.2f} USDT",
        f"  equity           {result.equity:,.2f} USDT ({result.return_ratio:+.2%}), "
        f"max drawdown {result.max_drawdown:.2%}: marked to market every tick",
        *_report_equity(stats, recorded),
        f"  orders           {orders} done: {_counts(dict(stats.orders))}; {stats.partial_fills} partially filled",
        f"  rejects          {rejects}" + (f": {_counts(dict(stats.rejects))}" if rejects else ""),
        f"  risk denials     {sum(stats.risk_denials.values())}"
        + (f": {_counts(dict(stats.risk_denials))}" if stats.risk_denials else ""),
        f"  exchange errors  {errors} in {stats.exchange_calls} calls"
        + (f": {_counts(dict(stats.exchange_errors))}" if errors else ""),
        f"  circuit breaker  {_plural(trips, 'trip')}" + (f" ({_counts(dict(stats.breaker_trips))})" if trips else "")
        + f", {_plural(stats.breaker_resumes, 'reset')}",
        f"  market data      {_plural(stats.feed_gaps, 'feed gap')}, {result.ticks} ticks",
        f"  order latency    p50 {_ms(stats.latency_ms(0.5))}, p99 {_ms(stats.latency_ms(0.99))} (create_order)",
        f"  time             {result.ticks:,} s of market time in {result.elapsed_s:.1f} s",
    ]
    return "\n".join(lines)
