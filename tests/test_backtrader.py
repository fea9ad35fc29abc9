"""backtrader: every Cerebro's trades become otel-trading trades, against backtrader's own numbers.

A real Cerebro runs LongShortCross (tests/backtrader_bot.py: long and short trades, stop orders
placed, hit and cancelled) on generated bars, offline. Our closed trades and net PnL must equal
backtrader's TradeAnalyzer, and the strategy's results must not change with the telemetry on.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import backtrader as bt
import pytest
from backtrader_bot import LongShortCross, make_cerebro, make_csv, own_numbers, run_backtest
from cli_runner import clean_environment, report_json

import otel_trading.instrumentation.backtrader._analyzer as analyzer_module
from otel_trading.instrumentation.backtrader import ANALYZER_NAME, BacktraderInstrumentor, TradeTelemetry
from otel_trading.testing import TelemetryCapture, capture


@pytest.fixture(scope="module")
def bars(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_csv(tmp_path_factory.mktemp("bt") / "bars.csv", 2000)


@pytest.fixture(scope="module")
def plain(bars: Path) -> dict[str, Any]:
    """backtrader's own results with no telemetry at all."""
    cerebro, strategy = run_backtest(bars)
    return own_numbers(cerebro, strategy) | {"trades": _trade_list(strategy)}


def _trade_list(strategy: Any) -> list[tuple[Any, ...]]:
    """Every closed trade as backtrader saw it (TradeAnalyzer keeps no list: the strategy's trades do)."""
    return [(t.ref, t.dtopen, t.dtclose, t.pnl, t.pnlcomm) for trades in strategy._trades.values()
            for by_id in trades.values() for t in by_id if t.isclosed]


def _failures(otel: TelemetryCapture) -> dict[str, float]:
    metric = otel.metrics_as_dict("otel_trading.instrumentation.failures").get("otel_trading.instrumentation.failures")
    return {p["attributes"]["where"]: p["value"] for p in metric["points"]} if metric else {}


def _closed_trade_spans(otel: TelemetryCapture) -> list[Any]:
    return [s for s in otel.spans if s.name == "trade" and "trading.trade.outcome" in (s.attributes or {})]


def test_closed_trades_and_net_pnl_equal_trade_analyzer(bars: Path) -> None:
    with capture(instrument=["backtrader"]) as otel:
        cerebro, strategy = run_backtest(bars)
        ours = strategy.analyzers.getbyname(ANALYZER_NAME).get_analysis()
        closed = _closed_trade_spans(otel)
        counted = sum(p.value for p in otel.points("trading.trades"))
        failures = _failures(otel)
    theirs = own_numbers(cerebro, strategy)
    assert theirs["closed"] > 20  # the strategy does trade
    assert ours["closed"] == len(closed) == counted == theirs["closed"]
    assert math.isclose(ours["pnl_net"], theirs["pnl_net"], abs_tol=1e-6)
    assert math.isclose(sum(s.attributes["trading.pnl.realized"] for s in closed), theirs["pnl_net"], abs_tol=1e-6)
    assert failures == {}
    by_id = {s.attributes["trading.trade_id"]: s for s in closed}
    for ref, dtopen, dtclose, _pnl, pnlcomm in _trade_list(strategy):
        span = by_id[str(ref)]  # the trade id is backtrader's trade ref
        assert math.isclose(span.attributes["trading.pnl.realized"], pnlcomm, abs_tol=1e-9)
        assert span.end_time == _ns(dtclose)  # the simulated time, not the wall clock
        assert span.start_time <= _ns(dtopen)  # from its entry order's submission
    sides = {s.attributes["trading.side"] for s in closed}
    reasons = {s.attributes["trading.exit_reason"] for s in closed}
    assert sides == {"buy", "sell"} and reasons == {"signal", "stop_loss"}
    assert {s.attributes["trading.strategy"] for s in closed} == {"LongShortCross"}
    assert {s.attributes["trading.exchange"] for s in closed} == {"backtrader"}


def test_orders_are_children_of_their_trade_with_fills_and_commissions(bars: Path) -> None:
    with capture(instrument=["backtrader"]) as otel:
        run_backtest(bars)
        spans = otel.spans
        fees = otel.value("trading.fees")
    trades = {s.context.trace_id: s for s in spans if s.name == "trade"}
    orders = [s for s in spans if s.name == "order"]
    in_trades = [o for o in orders if o.context.trace_id in trades]
    filled = [o for o in in_trades if o.attributes["trading.order.status"] == "filled"]
    for order in in_trades:
        assert order.parent.span_id == trades[order.context.trace_id].context.span_id
        assert order.attributes["trading.trade_id"] == trades[order.context.trace_id].attributes["trading.trade_id"]
    assert len(filled) >= 2 * len(trades) - 1  # an entry and an exit each (the last trade may be open)
    assert {o.attributes["trading.order.type"] for o in filled} == {"market", "stop"}
    assert any(o.attributes["trading.order.status"] == "cancelled" for o in in_trades)  # stops of signal exits
    assert math.isclose(fees, sum(o.attributes["trading.order.fee"] for o in filled), rel_tol=1e-9)
    entry = next(o for o in filled if o.attributes["trading.order.type"] == "market")
    assert [e.name for e in entry.events] == ["order.accepted", "order.fill", "order.filled"]


def test_the_portfolio_follows_the_brokers_value(bars: Path, plain: dict[str, Any]) -> None:
    with capture(instrument=["backtrader"]) as otel:
        # Held: a portfolio reports while something holds it (here the run's strategy and analyzer).
        _cerebro, _strategy = run_backtest(bars)
        (equity,) = otel.points("trading.equity", **{"trading.portfolio": "LongShortCross"})
        drawdown = otel.points("trading.drawdown.max", **{"trading.portfolio": "LongShortCross"})
    assert math.isclose(equity.value, plain["final_value"], rel_tol=1e-12)
    assert drawdown and drawdown[0].value > 0


def test_results_are_identical_with_and_without_the_instrumentation(bars: Path, plain: dict[str, Any]) -> None:
    with capture(instrument=["backtrader"]):
        cerebro, strategy = run_backtest(bars)
        assert strategy.analyzers.getbyname(ANALYZER_NAME).get_analysis()["closed"] > 0  # it was on
    assert own_numbers(cerebro, strategy) | {"trades": _trade_list(strategy)} == {
        **plain, "trades": [(ref + _ref_shift(plain, strategy), *rest) for ref, *rest in plain["trades"]]}


def _ref_shift(plain: dict[str, Any], strategy: Any) -> int:
    """backtrader numbers trades with one process-wide counter: the same trades, later refs."""
    return int(_trade_list(strategy)[0][0] - plain["trades"][0][0])


def test_a_failing_hook_is_counted_and_never_reaches_backtrader(
        bars: Path, plain: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(_exectype: int | None) -> str:
        raise RuntimeError("bug in our exit reason")

    monkeypatch.setattr(analyzer_module, "exit_reason", broken)
    with capture(instrument=["backtrader"]) as otel:
        cerebro, strategy = run_backtest(bars)
        failures = _failures(otel)
    assert own_numbers(cerebro, strategy) == {k: plain[k] for k in ("closed", "pnl_net", "final_value")}
    assert failures == {"backtrader notify_trade": plain["closed"]}


def test_uninstrument_restores_cerebro_run_and_leaves_no_analyzer(bars: Path) -> None:
    original = bt.Cerebro.run
    with capture(instrument=["backtrader"]):
        assert bt.Cerebro.run is not original
        cerebro = make_cerebro(bars)
        cerebro.addstrategy(LongShortCross)
        before = list(cerebro.analyzers)
        strategy = cerebro.run()[0]
        assert cerebro.analyzers == before  # added for the run only
        assert strategy.analyzers.getbyname(ANALYZER_NAME).get_analysis()["closed"] > 0
    assert bt.Cerebro.run is original
    assert not BacktraderInstrumentor().is_instrumented_by_opentelemetry


def test_an_explicit_analyzer_is_not_added_twice(bars: Path, plain: dict[str, Any]) -> None:
    with capture(instrument=["backtrader"]) as otel:
        cerebro = make_cerebro(bars)
        cerebro.addstrategy(LongShortCross)
        cerebro.addanalyzer(TradeTelemetry, _name="mine", exchange="sim")
        strategy = cerebro.run()[0]
        closed = _closed_trade_spans(otel)
    assert not hasattr(strategy.analyzers, ANALYZER_NAME)
    assert len(closed) == plain["closed"] and {s.attributes["trading.exchange"] for s in closed} == {"sim"}


@pytest.mark.parametrize("maxcpus", [1, 2])
def test_optstrategy_runs_with_worker_processes(bars: Path, maxcpus: int, caplog: pytest.LogCaptureFixture) -> None:
    """maxcpus != 1 runs the strategies in a process pool: no trades are recorded there (a warning
    says so), and the optimisation's results are backtrader's own. maxcpus=1 records every run."""
    with capture(instrument=["backtrader"]) as otel, caplog.at_level(logging.WARNING):
        cerebro = make_cerebro(bars, maxcpus=maxcpus)
        cerebro.optstrategy(LongShortCross, fast=[5, 10])
        runs = cerebro.run()
        recorded = len(_closed_trade_spans(otel))
    theirs = [r[0].analyzers.ta.get_analysis().total.closed for r in runs]
    ours = [r[0].analyzers.getbyname(ANALYZER_NAME).get_analysis()["closed"] for r in runs]
    assert len(runs) == 2 and min(theirs) > 0
    assert ours == (theirs if maxcpus == 1 else [0, 0])
    assert recorded == (sum(theirs) if maxcpus == 1 else 0)
    warned = [r for r in caplog.records if "worker processes" in r.getMessage()]
    assert len(warned) == (0 if maxcpus == 1 else 1)


class Crashes(bt.Strategy):  # type: ignore[misc]
    def next(self) -> None:
        if len(self) == 3:
            raise ValueError("the strategy's own bug")


def test_the_strategys_exception_reaches_the_caller_unchanged(bars: Path) -> None:
    with capture(instrument=["backtrader"]):
        cerebro = make_cerebro(bars)
        cerebro.addstrategy(Crashes)
        before = list(cerebro.analyzers)
        with pytest.raises(ValueError, match="the strategy's own bug"):
            cerebro.run()
        assert cerebro.analyzers == before


def test_report_on_the_store_reproduces_the_backtest(tmp_path: Path) -> None:
    bot = subprocess.run([sys.executable, str(Path(__file__).with_name("backtrader_bot.py")),
                          "--bars", "2000", "--store", str(tmp_path)],
                         capture_output=True, text=True, timeout=120, env=clean_environment(), check=False)
    assert bot.returncode == 0, bot.stderr
    theirs = json.loads(bot.stdout.splitlines()[-1])
    performance = report_json(tmp_path, timeout=60)["performance"]
    assert performance["trades"] == theirs["closed"]
    assert math.isclose(performance["total_pnl"], theirs["pnl_net"], abs_tol=1e-6)


def _ns(number: float) -> int:
    moment = bt.num2date(number).replace(tzinfo=dt.timezone.utc)
    return (moment - _EPOCH) // dt.timedelta(microseconds=1) * 1000


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


class OverReach(bt.Strategy):  # type: ignore[misc]
    """Buys more than the cash allows once: the broker refuses the order (Margin)."""

    def next(self) -> None:
        if len(self) == 1:
            self.buy(size=10_000_000)


def test_an_order_the_broker_refuses_is_a_rejected_standalone_order(bars: Path) -> None:
    with capture(instrument=["backtrader"]) as otel:
        cerebro = make_cerebro(bars)
        cerebro.addstrategy(OverReach)
        cerebro.run()
        (order,) = [s for s in otel.spans if s.name == "order"]
        rejects = otel.value("trading.order.rejects", **{"trading.order.reason": "margin"})
    assert not [s for s in otel.spans if s.name == "trade"]  # nothing was traded
    assert order.parent is None and order.attributes["trading.order.status"] == "rejected"
    assert rejects == 1


class FlipAndAdd(bt.Strategy):  # type: ignore[misc]
    """Long 10; then, in one bar, close it, go short 10 and add 10 more; then close the short."""

    def next(self) -> None:
        if len(self) == 5:
            self.buy(size=10)
        elif len(self) == 10:
            self.close()
            self.sell(size=10)
            self.sell(size=10)
        elif len(self) == 15:
            self.close()


def test_orders_filled_in_one_bar_go_to_the_trade_they_open_or_add_to(bars: Path) -> None:
    with capture(instrument=["backtrader"]) as otel:
        cerebro = make_cerebro(bars)
        cerebro.addstrategy(FlipAndAdd)
        strategy = cerebro.run()[0]
        spans = otel.spans
    assert own_numbers(cerebro, strategy)["closed"] == 2
    long_trade, short_trade = sorted((s for s in spans if s.name == "trade"), key=lambda s: s.start_time)
    assert (long_trade.attributes["trading.side"], short_trade.attributes["trading.side"]) == ("buy", "sell")

    def orders_of(trade: Any) -> list[tuple[str, float]]:
        return [(o.attributes["trading.side"], o.attributes["trading.order.filled_amount"]) for o in spans
                if o.name == "order" and o.context.trace_id == trade.context.trace_id]

    assert orders_of(long_trade) == [("buy", 10.0), ("sell", 10.0)]
    assert sorted(orders_of(short_trade)) == [("buy", 20.0), ("sell", 10.0), ("sell", 10.0)]
