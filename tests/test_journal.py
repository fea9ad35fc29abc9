"""The trading journal and report, on spans recorded in-process with the public API and read
back from the local store (numbers checkable by hand)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import ccxt
import pytest
from fake_exchange import FakeBinance, binance_config

import otel_trading
from otel_trading.analytics import (
    ReportFilter,
    TradingReport,
    build_report,
    calmar_ratio,
    max_drawdown,
    percentile,
    read_journal,
    returns_from_equity,
    sharpe_ratio,
    sortino_ratio,
)
from otel_trading.export import StoredSpan, load_store
from otel_trading.instrumentation.ccxt import CcxtInstrumentor

INSUFFICIENT = {"code": -2010, "msg": "Account has insufficient balance for requested action."}


def record_scenario(store: Path) -> None:
    """Three closed trades on one portfolio, one denied trade, and two failed exchange calls.

    1. BTC/USDT buy (breakout): entry 1 @ 100.1 against a 100.0 reference (+10 bps, cost 0.1),
       exit @ 110.0: PnL +9.9, equity 10 009.9.
    2. ETH/USDT buy (meanrev): entry 2 @ 49.99 against 50.0 (-2 bps, cost -0.02), a create_order
       refused by the venue (InsufficientFunds: an exchange error, and an order of the trade
       rejected with that reason by the ccxt instrumentation), exit @ 45.0: PnL -9.98, equity 9 999.92.
    3. BTC/USDT sell (breakout): the order is rejected (insufficient_funds); closed flat: PnL 0.
    4. BTC/USDT buy (breakout): risk check denied, never closed.
    Then a fetch_ticker outside any trade fails (ExchangeNotAvailable).
    """
    with pytest.MonkeyPatch.context() as env, FakeBinance() as venue:
        for name in [n for n in os.environ if n.startswith("OTEL_")]:
            env.delenv(name)
        telemetry = otel_trading.configure(
            service_name="journal-bot", store_dir=store, metrics_exporter="none", log_console="off",
            install_signal_handlers=False, system_metrics=False, instrument=["ccxt"],
        )
        try:
            exchange = venue.point(ccxt.binance(binance_config(apiKey="k", secret="s")))
            exchange.load_markets()
            portfolio = otel_trading.Portfolio("book", cash=10_000.0)
            with otel_trading.trade("BTC/USDT", "buy", strategy="breakout", portfolio=portfolio) as t:
                entry = t.submit_order(1.0, reference_price=100.0)
                entry.accepted("v-1")
                entry.fill(1.0, 100.1)
                t.submit_order(1.0, side="sell").fill(1.0, 110.0)
                t.position_closed(exit_reason="take_profit")
            with otel_trading.trade("ETH/USDT", "buy", strategy="meanrev", portfolio=portfolio) as t:
                t.submit_order(2.0, reference_price=50.0).fill(2.0, 49.99)
                venue.fail("/api/v3/order", 400, INSUFFICIENT)
                with pytest.raises(ccxt.InsufficientFunds):
                    exchange.create_order("ETH/USDT", "market", "sell", 2.0)
                t.submit_order(2.0, side="sell").fill(2.0, 45.0)
                t.position_closed(exit_reason="stop_loss")
            with otel_trading.trade("BTC/USDT", "sell", strategy="breakout", portfolio=portfolio) as t:
                t.submit_order(0.5).rejected("insufficient_funds")
                t.position_closed(0.0, exit_reason="manual")
            with otel_trading.trade("BTC/USDT", "buy", strategy="breakout") as t:
                t.risk_check(approved=False, reason="max_exposure")
            venue.fail("/api/v3/ticker/24hr", 503, "<html>503 Service Unavailable</html>")
            with pytest.raises(ccxt.ExchangeNotAvailable):
                exchange.fetch_ticker("BTC/USDT")
        finally:
            telemetry.shutdown()
            instrumentor = CcxtInstrumentor()
            if instrumentor.is_instrumented_by_opentelemetry:
                instrumentor.uninstrument()


@pytest.fixture(scope="module")
def spans(tmp_path_factory: pytest.TempPathFactory) -> list[StoredSpan]:
    store = tmp_path_factory.mktemp("journal") / "store"
    record_scenario(store)
    contents = load_store(store)
    assert contents.problems == []
    return contents.spans


@pytest.fixture(scope="module")
def report(spans: list[StoredSpan]) -> TradingReport:
    return build_report(spans)


def test_closed_trades_in_close_order_with_pnl_outcome_and_equity(spans: list[StoredSpan]) -> None:
    journal = read_journal(spans)
    assert [(t.symbol, t.strategy, t.outcome, t.exit_reason) for t in journal.trades] == [
        ("BTC/USDT", "breakout", "win", "take_profit"),
        ("ETH/USDT", "meanrev", "loss", "stop_loss"),
        ("BTC/USDT", "breakout", "breakeven", "manual"),
    ]
    assert [t.pnl for t in journal.trades] == pytest.approx([9.9, -9.98, 0.0])
    assert [t.equity for t in journal.trades] == pytest.approx([10_009.9, 9_999.92, 9_999.92])
    assert {t.portfolio for t in journal.trades} == {"book"}
    assert {t.service for t in journal.trades} == {"journal-bot"}
    assert all(t.opened_ns < t.closed_ns for t in journal.trades)
    assert [(u.symbol, u.strategy) for u in journal.unclosed_trades] == [("BTC/USDT", "breakout")]


def test_orders_latency_slippage_and_rejects(spans: list[StoredSpan]) -> None:
    orders = read_journal(spans).orders
    assert [o.status for o in orders] == ["filled"] * 3 + ["rejected", "filled", "rejected"]
    assert [o.strategy for o in orders] == ["breakout", "breakout", "meanrev", "meanrev", "meanrev", "breakout"]
    assert [o.slippage_bps for o in orders] == pytest.approx([10.0, None, -2.0, None, None, None])
    assert [o.slippage_cost for o in orders] == pytest.approx([0.1, None, -0.02, None, None, None])
    assert [orders[3].reason, orders[5].reason] == ["InsufficientFunds", "insufficient_funds"]
    assert orders[3].order_type == "market"  # the refused create_order, recorded from its exception
    for rejected in (orders[3], orders[5]):
        assert rejected.ack_latency_s is None and rejected.fill_latency_s is None
    for order in (*orders[:3], orders[4]):  # a fill before any acknowledgement counts as the acknowledgement
        assert order.ack_latency_s is not None and order.fill_latency_s is not None
        assert 0 <= order.ack_latency_s <= order.fill_latency_s < 5


def test_exchange_errors_carry_method_type_and_the_trades_strategy(spans: list[StoredSpan]) -> None:
    failed = [c for c in read_journal(spans).exchange_calls if c.error_type is not None]
    assert [(c.method, c.error_type, c.exchange, c.symbol, c.strategy) for c in failed] == [
        ("create_order", "InsufficientFunds", "binance", "ETH/USDT", "meanrev"),
        ("fetch_ticker", "ExchangeNotAvailable", "binance", "BTC/USDT", None),
    ]


def test_report_totals_and_ratios_on_the_equity_curve(report: TradingReport) -> None:
    stats = report.stats
    assert (stats.trades, stats.wins, stats.losses, stats.breakeven) == (3, 1, 1, 1)
    assert stats.total_pnl == pytest.approx(-0.08)
    assert stats.average_pnl == pytest.approx(-0.08 / 3)
    assert stats.win_rate == pytest.approx(1 / 3)
    assert stats.profit_factor == pytest.approx(9.9 / 9.98)
    assert stats.expectancy == pytest.approx(-0.08 / 3)
    # One portfolio, one position at a time: the curve is the recorded equity, from 10 000 before trade 1.
    risk = report.risk
    equity = [10_000.0, 10_009.9, 9_999.92, 9_999.92]
    assert [p.value for p in report.equity_curve] == pytest.approx(equity)
    assert [p.drawdown for p in report.equity_curve] == pytest.approx([0, 0, 9.98, 9.98])
    assert risk.basis == "equity" and risk.periods_per_year == 1
    returns = returns_from_equity(equity)
    assert risk.sharpe == pytest.approx(sharpe_ratio(returns, 1))
    assert risk.sortino == pytest.approx(sortino_ratio(returns, 1))
    assert risk.calmar == pytest.approx(calmar_ratio(returns, 1))
    assert risk.max_drawdown == pytest.approx(9.98)
    assert risk.max_drawdown_relative == pytest.approx(9.98 / 10_009.9)
    assert (risk.start_equity, risk.end_equity) == pytest.approx((10_000.0, 9_999.92))
    assert max_drawdown(equity) is not None


def test_report_orders_errors_and_breakdowns(report: TradingReport) -> None:
    assert dict(report.orders_by_status) == {"filled": 4, "rejected": 2}
    assert report.ack_latency.count == 4 and report.fill_latency.count == 4
    assert report.ack_latency.max is not None and report.ack_latency.p50 is not None
    assert report.ack_latency.p50 <= report.ack_latency.max
    slippage = report.slippage
    assert slippage.orders == 2
    assert (slippage.mean_bps, slippage.p50_bps, slippage.p95_bps) == pytest.approx((4.0, 4.0, 9.4))
    assert slippage.cost == pytest.approx(0.08)
    assert dict(report.rejects_by_reason) == {"insufficient_funds": 1, "InsufficientFunds": 1}
    assert dict(report.errors_by_type) == {"ExchangeNotAvailable": 1, "InsufficientFunds": 1}
    assert dict(report.errors_by_method) == {"create_order": 1, "fetch_ticker": 1}
    assert report.exchange_calls_by_method["create_order"] == 1
    assert sum(b.rejects for b in report.problems_by_hour) == 2
    assert sum(b.errors for b in report.problems_by_hour) == 2
    assert all(b.hour_ns % 3_600_000_000_000 == 0 for b in report.problems_by_hour)
    assert list(report.by_symbol) == ["BTC/USDT", "ETH/USDT"]
    assert report.by_symbol["BTC/USDT"].total_pnl == pytest.approx(9.9)
    assert report.by_symbol["BTC/USDT"].profit_factor == math.inf
    assert report.by_strategy["meanrev"].losses == 1


def test_filters_select_trades_orders_and_errors(spans: list[StoredSpan]) -> None:
    breakout = build_report(spans, ReportFilter(strategy="breakout"))
    assert breakout.stats.trades == 2 and breakout.stats.total_pnl == pytest.approx(9.9)
    assert dict(breakout.orders_by_status) == {"filled": 2, "rejected": 1}
    assert breakout.exchange_errors == 0  # the failed fetch_ticker belongs to no trade, so no strategy
    assert len(breakout.journal.unclosed_trades) == 1
    # A filtered curve compounds the selected trades' own returns on the equity before each.
    assert [p.value for p in breakout.equity_curve] == pytest.approx([10_000.0, 10_009.9, 10_009.9])
    eth = build_report(spans, ReportFilter(symbol="ETH/USDT"))
    assert eth.stats.trades == 1 and dict(eth.errors_by_type) == {"InsufficientFunds": 1}
    assert build_report(spans, ReportFilter(service="another-bot")).stats.trades == 0
    first_close = read_journal(spans).trades[0].closed_ns
    later = build_report(spans, ReportFilter(start_ns=first_close + 1))
    assert later.stats.trades == 2
    assert build_report(spans, ReportFilter(end_ns=first_close)).stats.trades == 1


def test_without_equity_the_ratios_fall_back_to_cumulative_pnl(spans: list[StoredSpan]) -> None:
    # The same trades as recorded by a bot that gives no Portfolio: drop the equity attribute.
    stripped = [
        StoredSpan(**{slot: getattr(s, slot) for slot in StoredSpan.__slots__ if slot != "attributes"},
                   attributes={k: v for k, v in s.attributes.items() if k != "trading.portfolio.equity"})
        for s in spans
    ]
    report = build_report(stripped)
    pnls = [9.9, -9.98, 0.0]
    assert report.risk.basis == "pnl"
    assert [p.value for p in report.equity_curve] == pytest.approx([0.0, 9.9, -0.08, -0.08])
    assert report.risk.max_drawdown == pytest.approx(9.98)
    assert report.risk.max_drawdown_relative is None and report.risk.calmar is None
    assert report.risk.sharpe == pytest.approx(sharpe_ratio(pnls, 1))
    assert report.risk.sortino == pytest.approx(sortino_ratio(pnls, 1))


def test_no_spans_no_trades() -> None:
    empty = build_report([])
    assert empty.stats.trades == 0 and empty.stats.win_rate is None
    assert empty.risk.sharpe is None and empty.risk.max_drawdown is None
    assert empty.equity_curve == () and empty.first_ns is None
    assert empty.ack_latency.p50 is None and empty.slippage.mean_bps is None


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3.0], 0.99) == 3.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 0.5) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 0.9) == pytest.approx(4.6)
    assert percentile([1.0, 2.0], 1.0) == 2.0
