"""What the demo counts for its progress line and summary, and the result it returns.

Everything but the wall-clock figures (latencies, elapsed time) follows from the seed and
the options alone: two runs with the same ones give the same numbers.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from otel_trading.analytics import ClosedTrade, Journal, RiskStats, report_from_journal


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile (``fraction`` 0..1), None without values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


@dataclass
class DemoStats:
    trades_opened: int = 0
    wins: int = 0
    losses: int = 0
    realized_pnl: float = 0.0
    fees: float = 0.0
    orders: Counter[str] = field(default_factory=Counter)
    """Orders by final status (filled, cancelled, rejected, ...)."""
    rejects: Counter[str] = field(default_factory=Counter)
    partial_fills: int = 0
    risk_denials: Counter[str] = field(default_factory=Counter)
    exchange_calls: int = 0
    exchange_errors: Counter[str] = field(default_factory=Counter)
    breaker_trips: Counter[str] = field(default_factory=Counter)
    breaker_resumes: int = 0
    feed_gaps: int = 0
    order_latencies_s: list[float] = field(default_factory=list)
    closed: list[ClosedTrade] = field(default_factory=list, compare=False)
    """Each round trip as ``otel-trading report`` reads it back from its trace: PnL and the equity
    after it (with wall-clock times and trade ids, so not part of a run's seeded outcome)."""

    @property
    def trades_closed(self) -> int:
        return self.wins + self.losses

    def per_trade_risk(self) -> RiskStats:
        """Equity and drawdown at the trade closes, computed by the report's own code from the same
        records, so that the summary and ``otel-trading report`` show the same figures."""
        return report_from_journal(Journal(trades=tuple(self.closed))).risk

    def latency_ms(self, fraction: float) -> float | None:
        value = percentile(self.order_latencies_s, fraction)
        return None if value is None else value * 1000


@dataclass(frozen=True)
class DemoResult:
    """The outcome of a demo run (see ``DemoStats`` for the counters)."""

    seed: int
    symbols: tuple[str, ...]
    stats: DemoStats
    equity: float
    starting_cash: float
    max_drawdown: float
    open_positions: int
    ticks: int
    elapsed_s: float
    interrupted: bool

    @property
    def return_ratio(self) -> float:
        return self.equity / self.starting_cash - 1

    @property
    def win_rate(self) -> float | None:
        closed = self.stats.trades_closed
        return self.stats.wins / closed if closed else None
