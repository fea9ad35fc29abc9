"""Portfolio accounting against hand-computed values, with an injected clock."""

from __future__ import annotations

import itertools
import logging
import math

import pytest

import otel_trading
from otel_trading import Portfolio
from otel_trading.analytics import sharpe_ratio
from otel_trading.testing import TelemetryCapture
from otel_trading.trading import PortfolioSnapshot

DAY = 86_400.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_long_round_trip_with_fees() -> None:
    book = Portfolio(cash=10_000.0)
    assert book.apply_fill("BTC/USDT", "buy", 0.5, 20_000.0, fee=5.0) == -5.0
    assert book.apply_fill("BTC/USDT", "buy", 0.5, 22_000.0) == 0.0
    position = book.positions["BTC/USDT"]
    assert position.quantity == 1.0 and position.average_price == 21_000.0
    book.mark("BTC/USDT", 23_000.0)
    snap = book.snapshot()
    assert snap.cash == pytest.approx(10_000 - 10_000 - 11_000 - 5)
    assert snap.unrealized_pnl == pytest.approx(2_000.0)
    assert snap.equity == pytest.approx(10_000 - 5 + 2_000)
    assert snap.exposure == pytest.approx(23_000.0)
    assert snap.balances == {"USDT": pytest.approx(-11_005.0), "BTC": 1.0}
    assert book.apply_fill("BTC/USDT", "sell", 0.4, 24_000.0, fee=2.0) == pytest.approx(0.4 * 3_000 - 2)
    assert book.positions["BTC/USDT"].quantity == pytest.approx(0.6)
    assert book.positions["BTC/USDT"].average_price == 21_000.0  # average cost is kept on reduction
    assert book.realized_pnl == pytest.approx(-5 + 1_198)


def test_short_and_crossing_through_zero() -> None:
    book = Portfolio(cash=1_000.0)
    book.apply_fill("ETH/USDT:USDT", "sell", 2.0, 100.0)
    assert book.positions["ETH/USDT:USDT"].quantity == -2.0
    book.mark("ETH/USDT:USDT", 90.0)
    assert book.snapshot().unrealized_pnl == pytest.approx(20.0)
    realized = book.apply_fill("ETH/USDT:USDT", "buy", 3.0, 90.0)  # covers 2, opens 1 long at 90
    assert realized == pytest.approx(20.0)
    position = book.positions["ETH/USDT:USDT"]
    assert position.quantity == pytest.approx(1.0) and position.average_price == 90.0
    assert book.snapshot().balances["ETH"] == pytest.approx(1.0)
    assert book.equity == pytest.approx(1_020.0)


def test_fee_in_another_asset_is_a_balance_not_pnl() -> None:
    book = Portfolio(cash=100.0)
    assert book.apply_fill("BTC/USDT", "buy", 0.001, 50_000.0, fee=0.01, fee_currency="BNB") == 0.0
    assert book.snapshot().balances["BNB"] == pytest.approx(-0.01)
    assert book.realized_pnl == 0.0


def test_drawdown_tracks_the_equity_peak() -> None:
    book = Portfolio(cash=1_000.0)
    book.apply_fill("X/USDT", "buy", 10.0, 10.0)
    for price, expected_drawdown in ((20.0, 0.0), (15.0, 50 / 1_100), (25.0, 0.0), (5.0, 200 / 1_150)):
        book.mark("X/USDT", price)
        assert book.snapshot().drawdown == pytest.approx(expected_drawdown)
    assert book.snapshot().max_drawdown == pytest.approx(200 / 1_150)


def test_daily_pnl_resets_at_the_configured_utc_hour() -> None:
    clock = Clock(10 * DAY + 6 * 3600)  # 06:00 UTC
    book = Portfolio(cash=1_000.0, daily_reset_hour_utc=8, clock=clock)
    book.apply_fill("X/USDT", "buy", 10.0, 10.0)
    book.mark("X/USDT", 12.0)
    assert book.snapshot().daily_pnl == pytest.approx(20.0)
    assert book.snapshot().daily_pnl_ratio == pytest.approx(0.02)
    clock.now = 10 * DAY + 8 * 3600  # 08:00: a new trading day starts from the current equity
    assert book.snapshot().daily_pnl == 0.0
    book.mark("X/USDT", 11.0)
    assert book.snapshot().daily_pnl == pytest.approx(-10.0)
    assert book.snapshot().daily_pnl_ratio == pytest.approx(-10 / 1_020)
    clock.now = 11 * DAY + 7 * 3600  # 07:00 next day: still the same trading day
    assert book.snapshot().daily_pnl == pytest.approx(-10.0)
    with pytest.raises(ValueError, match=r"daily_reset_hour_utc: expected 0\.\.23"):
        Portfolio(daily_reset_hour_utc=24)


def test_period_returns_feed_the_rolling_ratios(otel_capture: TelemetryCapture) -> None:
    clock = Clock(0.0)
    book = Portfolio("ratios", cash=100.0, returns_period=60.0, periods_per_year=252, clock=clock)
    book.apply_fill("X/USDT", "buy", 10.0, 1.0)
    equities = [100.0]
    for minute, price in enumerate((1.5, 1.2, 2.0, 1.8), start=1):
        clock.now = minute * 60.0 - 30.0  # within the minute: its period ends at minute * 60
        book.mark("X/USDT", price)
        equities.append(100.0 - 10.0 + 10.0 * price)
    clock.now = 4 * 60.0
    returns = [b / a - 1 for a, b in itertools.pairwise(equities)]
    snap = book.snapshot()
    assert snap.period_returns == pytest.approx(tuple(returns))
    expected = sharpe_ratio(returns, 252)
    assert expected is not None
    sharpe = otel_capture.value("trading.performance.sharpe", **{"trading.portfolio": "ratios"})
    assert sharpe == pytest.approx(expected)


def test_portfolio_gauges(otel_capture: TelemetryCapture) -> None:
    book = Portfolio("main", cash=1_000.0)
    book.apply_fill("BTC/USDT", "buy", 0.01, 30_000.0, fee=0.3)
    book.mark("BTC/USDT", 31_000.0)
    main = {"trading.portfolio": "main"}
    assert otel_capture.value("trading.equity", **main) == pytest.approx(1_000 - 0.3 + 10)
    assert otel_capture.value("trading.pnl.unrealized", **main) == pytest.approx(10.0)
    assert otel_capture.value("trading.pnl.realized", **main) == pytest.approx(-0.3)
    assert otel_capture.value("trading.positions.open", **main) == 1
    assert otel_capture.value("trading.position.size", **main, **{"trading.symbol": "BTC/USDT"}) == 0.01
    assert otel_capture.value("trading.exposure", **main) == pytest.approx(310.0)
    assert otel_capture.value("trading.balance", **main, **{"trading.asset": "BTC"}) == 0.01
    assert otel_capture.value("trading.drawdown.max", **main) == pytest.approx(0.3 / 1_000)
    book.apply_fill("BTC/USDT", "sell", 0.01, 31_000.0)
    btc = {**main, "trading.symbol": "BTC/USDT"}
    assert otel_capture.value("trading.position.size", **btc) == 0.0  # closed: 0, not gone
    assert otel_capture.value("trading.exposure", **btc) == 0.0
    assert otel_capture.value("trading.positions.open", **main) == 0
    assert otel_capture.points("trading.exposure", **main, **{"trading.symbol": "ETH/USDT"}) == []  # never held
    del book
    assert otel_capture.points("trading.equity", **main) == []  # a dropped portfolio stops reporting


@pytest.mark.parametrize("bad", [{"returns_period": 0}, {"returns_window": 1}, {"periods_per_year": 0}])
def test_bad_settings_name_what_was_expected(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="returns_period must be > 0, returns_window >= 2 and periods_per_year >= 1"):
        Portfolio(**bad)  # type: ignore[arg-type]


def test_a_change_counts_in_the_period_and_day_it_happened_in() -> None:
    clock = Clock(0.0)
    book = Portfolio(cash=100.0, clock=clock)  # daily periods, reset at 00:00 UTC
    clock.now = 0.5 * DAY
    book.set_cash(110.0)  # +10 % on day 0
    clock.now = 1.5 * DAY
    book.set_cash(121.0)  # +10 % on day 1
    assert book.snapshot().daily_pnl == pytest.approx(11.0)  # day 1 started at 110, not at 121
    clock.now = 2.0 * DAY
    assert book.snapshot().period_returns == pytest.approx((0.1, 0.1))
    clock.now = 3.0 * DAY + 1.0  # a quiet day: its boundary still gets the equity in force
    assert book.snapshot().period_returns == pytest.approx((0.1, 0.1, 0.0))


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and r.name.startswith("otel_trading")]


@pytest.mark.parametrize(("side", "amount", "price", "named"), [
    ("across", 1.0, 1.0, "side 'across' is not 'buy' or 'sell'"),
    ("buy", -1.0, 1.0, "amount must be a finite number > 0, got -1.0"),
    ("buy", 1.0, 0.0, "price must be a finite number > 0, got 0.0"),
    ("buy", math.nan, 1.0, "amount must be a finite number > 0, got nan"),
    ("sell", 1.0, "12", "price must be a finite number > 0, got '12'"),
])
def test_a_bad_fill_is_logged_once_and_not_applied(caplog: pytest.LogCaptureFixture, side: str, amount: float,
                                                   price: float, named: str) -> None:
    book = Portfolio("bad-input", cash=100.0)
    for _ in range(3):
        assert book.apply_fill(f"X{side}{amount}{price}/USDT", side, amount, price) == 0.0  # never raises
    snap = book.snapshot()
    assert snap.positions == {} and snap.cash == 100.0 and snap.equity == 100.0
    (line,) = [message for message in _warnings(caplog) if named in message]
    assert line.startswith("Portfolio.apply_fill: ")
    book.mark("X/USDT", -5.0)
    book.set_cash(math.inf)
    assert book.snapshot().cash == 100.0


def test_sides_are_folded_to_buy_and_sell() -> None:
    book = Portfolio(cash=100.0)
    book.apply_fill("X/USDT", "LONG", 1.0, 10.0)
    book.apply_fill("X/USDT", "Bid", 1.0, 10.0)
    book.apply_fill("X/USDT", "short", 0.5, 12.0)
    assert book.positions["X/USDT"].quantity == pytest.approx(1.5)


def test_applying_a_trades_fill_by_hand_as_well_is_warned_once(caplog: pytest.LogCaptureFixture) -> None:
    book = Portfolio("double", cash=10_000.0)
    with otel_trading.trade("BTC/USDT", "buy", portfolio=book) as t:
        t.submit_order(0.1).fill(0.1, 50_000.0)
        book.apply_fill("BTC/USDT", "buy", 0.1, 50_000.0)  # the same fill, applied twice
        book.apply_fill("BTC/USDT", "buy", 0.1, 50_000.0)
    (line,) = [m for m in _warnings(caplog) if "counts it twice" in m]
    assert "Portfolio 'double': apply_fill('BTC/USDT', 'buy', 0.1, 50000.0) repeats a fill" in line
    # After the trade closed, a repeat of its fill is still recognised (per symbol, once).
    with otel_trading.trade("ETH/USDT", "sell", portfolio=book) as t:
        t.submit_order(1.0).fill(1.0, 3_000.0)
    book.apply_fill("ETH/USDT", "sell", 1.0, 3_000.0)
    assert len([m for m in _warnings(caplog) if "counts it twice" in m]) == 2
    # A different manual fill while a trade on that symbol is open is flagged too.
    trade = otel_trading.trade("SOL/USDT", "buy", portfolio=book).start()
    trade.submit_order(2.0).fill(2.0, 100.0)
    book.apply_fill("SOL/USDT", "buy", 1.0, 101.0)
    trade.close()
    assert any(f"while open trade {trade.trade_id}" in m for m in _warnings(caplog))
    # Manual fills on a symbol no trade feeds are not flagged.
    book.apply_fill("ADA/USDT", "buy", 10.0, 0.5)
    book.apply_fill("ADA/USDT", "buy", 10.0, 0.5)
    assert len([m for m in _warnings(caplog) if "counts it twice" in m]) == 3


def test_one_failing_portfolio_does_not_hide_the_others(otel_capture: TelemetryCapture,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock(0.0)
    rocket, steady = (Portfolio(name, cash=100.0, clock=clock, returns_period=3600.0, periods_per_year=365 * 24)
                      for name in ("rocket", "steady"))
    for hour, (rocket_cash, steady_cash) in enumerate(((700.0, 101.0), (693.0, 100.0), (700.0, 102.0)), start=1):
        clock.now = hour * 3600.0 - 1.0
        rocket.set_cash(rocket_cash)  # x7 in an hour: a CAGR beyond the float range
        steady.set_cash(steady_cash)
    clock.now = 3 * 3600.0
    calmar = {name: otel_capture.value("trading.performance.calmar", **{"trading.portfolio": name})
              for name in ("rocket", "steady")}
    assert calmar["rocket"] == math.inf and 0 < calmar["steady"] < math.inf

    class Broken(Portfolio):
        def snapshot(self) -> PortfolioSnapshot:
            raise RuntimeError("a snapshot that fails")

    broken = Broken("broken", cash=1.0)
    assert otel_capture.value("trading.equity", **{"trading.portfolio": "rocket"}) == 700.0
    assert otel_capture.value("trading.equity", **{"trading.portfolio": "steady"}) == 102.0
    assert otel_capture.points("trading.equity", **{"trading.portfolio": "broken"}) == []
    dropped = {"signal": "metrics", "metric": "trading.equity", "reason": "gauge_failed"}
    assert otel_capture.value("otel_trading.telemetry.dropped", **dropped) >= 1
    assert sum("reading gauge trading.equity of a portfolio failed" in r.getMessage() for r in caplog.records) == 1
    del broken
