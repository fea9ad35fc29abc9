"""Performance statistics in the nautilus_trader convention (risk-free rate 0).

Undefined results are ``None`` (not enough data, or a zero denominator with a zero
numerator); a positive numerator over a zero risk denominator is ``math.inf``. Every
function takes any iterable of numbers (lists, tuples, numpy arrays) and returns ``None``
when a value is NaN or infinite: a statistic over a partly undefined series is undefined.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

EQUITY_PERIODS_PER_YEAR: Final = 252
CRYPTO_PERIODS_PER_YEAR: Final = 365
# A standard deviation this small relative to the series' magnitude is rounding residue of a
# constant series (the mean of n equal floats is not always exactly that float), not risk.
_FLAT_RELATIVE_TOLERANCE: Final = 1e-10


def _floats(values: Iterable[Any], name: str) -> list[float]:
    """``values`` (a list, tuple, numpy array, ...) as a list of floats; TypeError names a non-number."""
    floats: list[float] = []
    for index, value in enumerate(values):
        try:
            if isinstance(value, (str, bytes)):
                raise TypeError
            floats.append(float(value))
        except (TypeError, ValueError):
            raise TypeError(f"{name}[{index}]: expected a number, got {value!r}") from None
    return floats


def _finite(values: Iterable[float], name: str) -> list[float] | None:
    """``values`` as floats, or None when one of them is NaN or infinite (the result is undefined)."""
    floats = _floats(values, name)
    return floats if all(math.isfinite(value) for value in floats) else None


def win_rate(pnls: Iterable[float]) -> float | None:
    """Winning trades / all closed trades (a zero-PnL trade is not a win); None without trades."""
    values = _finite(pnls, "pnls")
    if not values:
        return None
    return sum(1 for p in values if p > 0) / len(values)


def profit_factor(pnls: Iterable[float]) -> float | None:
    """Gross profit / |gross loss|; ``inf`` with profits and no losses; None with neither."""
    values = _finite(pnls, "pnls")
    if values is None:
        return None
    gross_profit = sum(p for p in values if p > 0)
    gross_loss = -sum(p for p in values if p < 0)
    if gross_loss == 0:
        return math.inf if gross_profit > 0 else None
    return gross_profit / gross_loss


def expectancy(pnls: Iterable[float]) -> float | None:
    """W·avg_win - L·avg_loss (W, L: win and loss rates) = the mean PnL per trade."""
    values = _finite(pnls, "pnls")
    if not values:
        return None
    wins = [p for p in values if p > 0]
    losses = [-p for p in values if p < 0]
    n = len(values)
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


def max_drawdown(equity: Iterable[float]) -> Drawdown | None:
    """Maximum relative drawdown of ``equity`` (running peak P, max (P - E) / P); None if empty.

    The absolute figure is that of the same peak/trough pair. Peaks ≤ 0 have no relative
    drawdown and are skipped for the relative measure.
    """
    values = _finite(equity, "equity")
    if not values:
        return None
    peak_index = 0
    best = Drawdown(0.0, 0.0, 0, 0)
    for index, value in enumerate(values):
        if value > values[peak_index]:
            peak_index = index
        peak = values[peak_index]
        if peak <= 0:
            continue
        relative = (peak - value) / peak
        if relative > best.relative:
            best = Drawdown(peak - value, relative, peak_index, index)
    return best


def returns_from_equity(equity: Iterable[float]) -> list[float]:
    """Simple per-period returns E[i] / E[i-1] - 1 (periods after a zero equity are skipped).

    A NaN or infinite equity makes the returns next to it NaN, so every ratio computed from
    them is None rather than a number that silently leaves a period out.
    """
    values = _floats(equity, "equity")
    return [b / a - 1 if math.isfinite(a) and math.isfinite(b) else math.nan
            for a, b in itertools.pairwise(values) if a != 0]


def _mean(values: list[float]) -> float:
    return math.fsum(values) / len(values)


def sharpe_ratio(returns: Iterable[float], periods_per_year: int = EQUITY_PERIODS_PER_YEAR) -> float | None:
    """mean(r) / stdev(r, ddof=1) · √N; None with fewer than 2 returns or zero volatility.

    Zero volatility includes a standard deviation within 1e-10 of the largest |r|: the
    rounding residue of a constant series would otherwise give a ratio near 1e16.
    """
    values = _finite(returns, "returns")
    if values is None or len(values) < 2:
        return None
    mean = _mean(values)
    std = math.sqrt(math.fsum((r - mean) ** 2 for r in values) / (len(values) - 1))
    if std <= _FLAT_RELATIVE_TOLERANCE * max(abs(r) for r in values):
        return None
    return mean / std * math.sqrt(periods_per_year)


def sortino_ratio(returns: Iterable[float], periods_per_year: int = EQUITY_PERIODS_PER_YEAR) -> float | None:
    """mean(r) / √(Σ_{r<0} r² / n) · √N (target 0, downside deviation over all n periods).

    ``inf`` when there is no downside and the mean is positive; None when there are no
    returns or neither downside nor a positive mean.
    """
    values = _finite(returns, "returns")
    if not values:
        return None
    mean = _mean(values)
    downside = math.sqrt(sum(r * r for r in values if r < 0) / len(values))
    if downside == 0:
        return math.inf if mean > 0 else None
    return mean / downside * math.sqrt(periods_per_year)


def cagr(returns: Iterable[float], periods_per_year: int = EQUITY_PERIODS_PER_YEAR) -> float | None:
    """Compound annual growth rate: (Π(1 + r))^(N / n) - 1; None without returns or on total loss.

    ``inf`` when the annualised growth exceeds the float range (a 7x in one day, compounded
    over a year): the honest value, where ``**`` would raise OverflowError.
    """
    values = _finite(returns, "returns")
    if not values:
        return None
    growth = math.prod(1 + r for r in values)
    if growth <= 0:
        return None
    try:
        return float(growth ** (periods_per_year / len(values)) - 1)
    except OverflowError:
        return math.inf


def calmar_ratio(returns: Iterable[float], periods_per_year: int = EQUITY_PERIODS_PER_YEAR) -> float | None:
    """CAGR / |max relative drawdown| of the compounded curve; None when undefined or no drawdown."""
    values = _finite(returns, "returns")
    if values is None:
        return None
    growth = cagr(values, periods_per_year)
    if growth is None:
        return None
    curve = [1.0]
    for r in values:
        curve.append(curve[-1] * (1 + r))
    drawdown = max_drawdown(curve)
    if drawdown is None or drawdown.relative == 0:
        return None
    return growth / drawdown.relative
