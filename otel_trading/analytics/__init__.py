"""Trading performance analytics: pure functions over closed-trade PnLs and equity/return series.

Formulas and edge cases are documented in docs/analytics.md.
"""

from otel_trading.analytics._performance import (
    CRYPTO_PERIODS_PER_YEAR,
    EQUITY_PERIODS_PER_YEAR,
    Drawdown,
    cagr,
    calmar_ratio,
    expectancy,
    max_drawdown,
    profit_factor,
    returns_from_equity,
    sharpe_ratio,
    sortino_ratio,
    win_rate,
)

__all__ = [
    "CRYPTO_PERIODS_PER_YEAR",
    "EQUITY_PERIODS_PER_YEAR",
    "Drawdown",
    "cagr",
    "calmar_ratio",
    "expectancy",
    "max_drawdown",
    "profit_factor",
    "returns_from_equity",
    "sharpe_ratio",
    "sortino_ratio",
    "win_rate",
]
