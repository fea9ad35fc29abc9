"""Analytics against hand-computed values and the documented edge cases."""

from __future__ import annotations

import math

import pytest

from otel_trading.analytics import (
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

PNLS = [100.0, -50.0, 200.0, -100.0, 0.0]


def test_trade_statistics_by_hand() -> None:
    assert win_rate(PNLS) == pytest.approx(2 / 5)
    assert profit_factor(PNLS) == pytest.approx(300 / 150)
    # W·avgWin - L·avgLoss = 0.4·150 - 0.4·75 = 30 = mean PnL
    assert expectancy(PNLS) == pytest.approx(30.0)
    assert expectancy(PNLS) == pytest.approx(sum(PNLS) / len(PNLS))


def test_trade_statistics_edge_cases() -> None:
    assert win_rate([]) is None and expectancy([]) is None and profit_factor([]) is None
    assert profit_factor([10.0, 5.0]) == math.inf  # no losses
    assert profit_factor([0.0, 0.0]) is None
    assert profit_factor([-5.0]) == 0.0
    assert win_rate([42.0]) == 1.0 and expectancy([42.0]) == 42.0  # one trade


def test_max_drawdown_by_hand() -> None:
    equity = [100.0, 120.0, 90.0, 130.0, 104.0, 140.0]
    # peaks/troughs: 120→90 = 25 %, 130→104 = 20 %: the first is deepest
    assert max_drawdown(equity) == Drawdown(absolute=30.0, relative=0.25, peak_index=1, trough_index=2)
    assert max_drawdown([100.0, 100.0, 100.0]) == Drawdown(0.0, 0.0, 0, 0)  # flat
    assert max_drawdown([]) is None


def test_returns() -> None:
    assert returns_from_equity([100.0, 110.0, 99.0]) == pytest.approx([0.1, -0.1])


def test_sharpe_and_sortino_by_hand() -> None:
    r = [0.01, -0.02, 0.03, 0.0]
    mean = 0.005
    std = math.sqrt(((0.005) ** 2 + (0.025) ** 2 + (0.025) ** 2 + (0.005) ** 2) / 3)
    assert sharpe_ratio(r, 252) == pytest.approx(mean / std * math.sqrt(252))
    downside = math.sqrt((0.02**2) / 4)
    assert sortino_ratio(r, 365) == pytest.approx(mean / downside * math.sqrt(365))


def test_sharpe_sortino_edge_cases() -> None:
    assert sharpe_ratio([0.01]) is None  # one period
    assert sharpe_ratio([0.01, 0.01]) is None  # zero volatility (flat returns)
    assert sortino_ratio([0.01, 0.02]) == math.inf  # no downside, positive mean
    assert sortino_ratio([0.0, 0.0]) is None
    assert sortino_ratio([]) is None


def test_cagr_and_calmar_by_hand() -> None:
    r = [0.10, -0.20, 0.25]  # growth 1.1·0.8·1.25 = 1.1
    assert cagr(r, 3) == pytest.approx(0.1)
    # compounded curve 1, 1.1, 0.88, 1.1: max drawdown (1.1-0.88)/1.1 = 0.2
    assert calmar_ratio(r, 3) == pytest.approx(0.1 / 0.2)
    assert calmar_ratio([0.01, 0.02], 252) is None  # no drawdown
    assert cagr([-1.0]) is None  # total loss
