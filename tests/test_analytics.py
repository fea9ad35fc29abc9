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


def test_a_constant_series_has_no_sharpe_despite_rounding_residue() -> None:
    # The mean of ten 0.01s is not exactly 0.01 in floats: the residue std must not give ~1e16.
    for value in (0.01, 0.1, -0.003, 1e-7):
        assert sharpe_ratio([value] * 10, 365) is None
    assert sharpe_ratio([0.01, 0.0100000001, 0.01], 252) is not None  # tiny but real volatility


def test_growth_beyond_the_float_range_is_an_infinite_cagr_not_an_overflow() -> None:
    assert cagr([6.0], 365) == math.inf  # 7x in one day, compounded over a year
    assert calmar_ratio([6.0, -0.01], 365 * 3) == math.inf  # the gauge case: a drawdown after the jump
    assert cagr([6.0], 1) == pytest.approx(6.0)


NON_FINITE = [math.nan, math.inf, -math.inf]


@pytest.mark.parametrize("bad", NON_FINITE)
def test_a_non_finite_value_makes_every_statistic_undefined(bad: float) -> None:
    pnls = [10.0, bad, -5.0]
    assert win_rate(pnls) is None and profit_factor(pnls) is None and expectancy(pnls) is None
    assert max_drawdown([bad, 100.0, 90.0, 80.0]) is None
    returns = [0.01, bad, -0.02, 0.03]
    assert sharpe_ratio(returns) is None and sortino_ratio(returns) is None
    assert cagr(returns) is None and calmar_ratio(returns) is None
    # An equity that is not a number spoils the returns next to it, and so every ratio on them.
    equity_returns = returns_from_equity([100.0, bad, 110.0, 99.0])
    assert equity_returns[-1] == pytest.approx(-0.1)
    assert sharpe_ratio(equity_returns) is None and calmar_ratio(equity_returns) is None


def test_numpy_arrays_and_other_sequences_are_accepted() -> None:
    np = pytest.importorskip("numpy")
    pnls, equity, returns = [100.0, -50.0, 200.0], [100.0, 120.0, 90.0, 130.0], [0.01, -0.02, 0.03, 0.0]
    assert win_rate(np.array(pnls)) == win_rate(pnls)
    assert profit_factor(np.array(pnls)) == profit_factor(pnls)
    assert expectancy(np.array(pnls)) == expectancy(pnls)
    assert win_rate(np.array([])) is None
    assert max_drawdown(np.array(equity)) == max_drawdown(equity)
    assert returns_from_equity(np.array(equity)) == returns_from_equity(equity)
    for statistic in (sharpe_ratio, sortino_ratio, cagr, calmar_ratio):
        assert statistic(np.array(returns), 252) == statistic(returns, 252)
        assert statistic(tuple(returns), 252) == statistic(returns, 252)
    assert sharpe_ratio(np.array([np.float32(0.01), np.float32(-0.02), np.float32(0.03)])) is not None
    assert win_rate(np.array([np.nan, 1.0])) is None  # numpy NaN: same rule as float NaN


def test_a_value_that_is_not_a_number_is_named() -> None:
    with pytest.raises(TypeError, match=r"pnls\[1\]: expected a number, got 'x'"):
        win_rate([1.0, "x"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"returns\[0\]: expected a number, got None"):
        sharpe_ratio([None, 0.1])  # type: ignore[list-item]
