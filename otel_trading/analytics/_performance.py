"""Performance statistics in the nautilus_trader convention (risk-free rate 0).

Undefined results are ``None`` (not enough data, or a zero denominator with a zero
numerator); a positive numerator over a zero risk denominator is ``math.inf``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

EQUITY_PERIODS_PER_YEAR: Final = 252
CRYPTO_PERIODS_PER_YEAR: Final = 365


def win_rate(pnls: Sequence[float]) -> float | None:
    """Winning trades / all closed trades (a zero-PnL trade is not a win); None without trades."""
    if not pnls:
        return None
    return sum(1 for p in pnls if p > 0) / len(pnls)


def profit_factor(pnls: Sequence[float]) -> float | None:
    """Gross profit / |gross loss|; ``inf`` with profits and no losses; None with neither."""
    gross_profit = sum(p for p in pnls if p > 0)
    gross_loss = -sum(p for p in pnls if p < 0)
    if gross_loss == 0:
        return math.inf if gross_profit > 0 else None
    return gross_profit / gross_loss


def expectancy(pnls: Sequence[float]) -> float | None:
    """W·avg_win - L·avg_loss (W, L: win and loss rates) = the mean PnL per trade."""
    if not pnls:
        return None
    wins = [p for p in pnls if p > 0]
    losses = [-p for p in pnls if p < 0]
    n = len(pnls)
    avg_win = sum(wins) / len(wins) if wins else 0.0
    avg_loss = sum(losses) / len(losses) if losses else 0.0
    return len(wins) / n * avg_win - len(losses) / n * avg_loss


@dataclass(frozen=True)
class Drawdown:
    """The deepest peak-to-trough fall of an equity curve."""

    absolute: float
    """Peak minus trough, in equity units (0 for a curve that never falls)."""
    relative: float
    """(Peak - trough) / peak, as a fraction (0.25 = 25 %)."""
    peak_index: int
    trough_index: int


def max_drawdown(equity: Sequence[float]) -> Drawdown | None:
    """Maximum relative drawdown of ``equity`` (running peak P, max (P - E) / P); None if empty.

    The absolute figure is that of the same peak/trough pair. Peaks ≤ 0 have no relative
    drawdown and are skipped for the relative measure.
    """
    if not equity:
        return None
    peak_index = 0
    best = Drawdown(0.0, 0.0, 0, 0)
    for index, value in enumerate(equity):
        if value > equity[peak_index]:
            peak_index = index
        peak = equity[peak_index]
        if peak <= 0:
            continue
        relative = (peak - value) / peak
        if relative > best.relative:
            best = Drawdown(peak - value, relative, peak_index, index)
    return best


def returns_from_equity(equity: Sequence[float]) -> list[float]:
    """Simple per-period returns E[i] / E[i-1] - 1 (periods after a zero equity are skipped)."""
    return [b / a - 1 for a, b in itertools.pairwise(equity) if a != 0]


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def sharpe_ratio(returns: Sequence[float], periods_per_year: int = EQUITY_PERIODS_PER_YEAR) -> float | None:
    """mean(r) / stdev(r, ddof=1) · √N; None with fewer than 2 returns or zero volatility."""
    if len(returns) < 2:
        return None
    mean = _mean(returns)
    variance = sum((r - mean) ** 2 for r in returns) / (len(returns) - 1)
    if variance == 0:
        return None
    return mean / math.sqrt(variance) * math.sqrt(periods_per_year)


def sortino_ratio(returns: Sequence[float], periods_per_year: int = EQUITY_PERIODS_PER_YEAR) -> float | None:
    """mean(r) / √(Σ_{r<0} r² / n) · √N (target 0, downside deviation over all n periods).

    ``inf`` when there is no downside and the mean is positive; None when there are no
    returns or neither downside nor a positive mean.
    """
    if not returns:
        return None
    mean = _mean(returns)
    downside = math.sqrt(sum(r * r for r in returns if r < 0) / len(returns))
    if downside == 0:
        return math.inf if mean > 0 else None
    return mean / downside * math.sqrt(periods_per_year)


def cagr(returns: Sequence[float], periods_per_year: int = EQUITY_PERIODS_PER_YEAR) -> float | None:
    """Compound annual growth rate: (Π(1 + r))^(N / n) - 1; None without returns or on total loss."""
    if not returns:
        return None
    growth = math.prod(1 + r for r in returns)
    if growth <= 0:
        return None
    return float(growth ** (periods_per_year / len(returns)) - 1)


def calmar_ratio(returns: Sequence[float], periods_per_year: int = EQUITY_PERIODS_PER_YEAR) -> float | None:
    """CAGR / |max relative drawdown| of the compounded curve; None when undefined or no drawdown."""
    growth = cagr(returns, periods_per_year)
    if growth is None:
        return None
    curve = [1.0]
    for r in returns:
        curve.append(curve[-1] * (1 + r))
    drawdown = max_drawdown(curve)
    if drawdown is None or drawdown.relative == 0:
        return None
    return growth / drawdown.relative
