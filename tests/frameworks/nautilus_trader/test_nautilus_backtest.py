"""nautilus_trader: a real BacktestEngine (EMACross on synthetic bars, offline) recorded by the
observer Actor, checked against nautilus' own orders, fills, positions and account reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from nautilus_backtest import STARTING_BALANCE, Reports, run

from otel_trading.instrumentation.nautilus_trader import OtelTradingActor, _recorder
from otel_trading.testing import capture
from otel_trading.testing._capture import TelemetryCapture

BARS = 2_000
FAILURES = "otel_trading.instrumentation.failures"


def _trade_spans(otel: TelemetryCapture) -> list:
    return [span for span in otel.spans if span.name == "trade"]


def _order_spans(otel: TelemetryCapture) -> list:
    return [span for span in otel.spans if span.name == "order"]


def _assert_matches(otel: TelemetryCapture, report: Reports) -> None:
    """Our telemetry says what nautilus' own reports say."""
    closed = report.closed_positions
    assert len(closed) > 10  # the backtest did trade: the comparison means something
    orders = _order_spans(otel)
    trades = _trade_spans(otel)
    assert len(orders) == len(report.orders)
    assert sum(len([e for e in span.events if e.name == "order.fill"]) for span in orders) == len(report.fills)
    assert otel.value("trading.fills") == len(report.fills)
    assert len(trades) == len(closed)
    assert otel.value("trading.trades") == len(closed)
    recorded_pnl = sum(span.attributes["trading.pnl.realized"] for span in trades)
    assert recorded_pnl == pytest.approx(report.realized_pnl, abs=0.01)
    assert report.realized_pnl == pytest.approx(report.final_balance - STARTING_BALANCE, abs=0.01)
    # the fills' commissions, as nautilus charged them
    fees = sum(float(str(value).split()[0]) for value in report.fills["commission"])
    assert otel.value("trading.fees") == pytest.approx(fees, abs=0.01)
    # every trade is one trace, its orders inside it, all at the simulated (2024) times
    by_trace = {span.context.trace_id: span for span in trades}
    filled = [span for span in orders if span.attributes["trading.order.status"] == "filled"]
    assert len(filled) == int((report.orders["status"] == "FILLED").sum())
    assert all(span.context.trace_id in by_trace for span in filled)
    first_bar_ns = 1_704_067_200_000_000_000  # 2024-01-01T00:00:00Z
    assert all(first_bar_ns <= span.start_time <= span.end_time < first_bar_ns + 10 * 86_400 * 10**9
               for span in trades + orders)
    assert len({span.attributes["trading.trade_id"] for span in trades}) == len(trades)


@pytest.mark.parametrize("oms", ["NETTING", "HEDGING"])
def test_telemetry_equals_nautilus_reports(oms: str) -> None:
    with capture(instrument=["nautilus_trader"]) as otel:
        report, _ = run(BARS, oms)
        _assert_matches(otel, report)
        # the account's portfolio: realized PnL and equity end where nautilus' account balance ends
        assert otel.value("trading.pnl.realized") == pytest.approx(report.realized_pnl, abs=0.01)
        assert otel.value("trading.equity") == pytest.approx(report.final_balance, abs=0.01)
        assert otel.value(FAILURES) == 0


def test_denied_rejected_and_cancelled_orders_are_orders_of_their_own() -> None:
    with capture(instrument=["nautilus_trader"]) as otel:
        report, _ = run(BARS, refused=True)
        statuses = report.orders.set_index(report.orders.index.astype(str))["status"]
        refused = {client_id: status for client_id, status in statuses.items() if status != "FILLED"}
        assert sorted(refused.values()) == ["CANCELED", "DENIED", "REJECTED"]
        spans = {span.attributes["trading.order.client_id"]: span for span in _order_spans(otel)}
        expected = {"CANCELED": "cancelled", "DENIED": "rejected", "REJECTED": "rejected"}
        for client_id, status in refused.items():
            span = spans[client_id]
            assert span.attributes["trading.order.status"] == expected[status]
            assert span.parent is None  # no position: the root of its own trace
            assert span.end_time >= span.start_time >= 1_704_067_200_000_000_000  # simulated times
        strategy = {"trading.strategy": "Refused-001"}
        assert otel.value("trading.order.rejects", **strategy, **{"trading.order.reason": "denied"}) == 1
        assert otel.value("trading.order.rejects", **strategy, **{"trading.order.reason": "rejected"}) == 1
        assert otel.value("trading.orders", **strategy, **{"trading.order.status": "cancelled"}) == 1
        _assert_matches(otel, report)  # EMACross' orders, fills and positions are unaffected


def test_a_trading_node_gets_the_actor_once() -> None:
    from nautilus_trader.config import ImportableActorConfig, LoggingConfig, TradingNodeConfig
    from nautilus_trader.live.node import TradingNode

    with capture(instrument=["nautilus_trader"]):
        node = TradingNode(config=TradingNodeConfig(trader_id="OBS-001", logging=LoggingConfig(log_level="ERROR")))
        ours = [actor for actor in node.trader.actors() if isinstance(actor, OtelTradingActor)]
        node.dispose()
        assert len(ours) == 1 and ours[0].automatic
        configured = ImportableActorConfig(
            actor_path="otel_trading.instrumentation.nautilus_trader:OtelTradingActor",
            config_path="otel_trading.instrumentation.nautilus_trader:OtelTradingActorConfig", config={})
        node = TradingNode(config=TradingNodeConfig(trader_id="OBS-002", logging=LoggingConfig(log_level="ERROR"),
                                                    actors=[configured]))
        ours = [actor for actor in node.trader.actors() if isinstance(actor, OtelTradingActor)]
        node.dispose()
        assert len(ours) == 1 and not ours[0].automatic  # the node's own, not a second one


def test_a_second_run_after_reset_is_recorded_afresh() -> None:
    from nautilus_backtest import build_engine, reports

    with capture(instrument=["nautilus_trader"]) as otel:
        engine = build_engine(BARS)
        engine.run()
        first = len(reports(engine).closed_positions)
        engine.reset()
        engine.run()
        second = reports(engine)
        engine.dispose()
        assert otel.value("trading.trades") == first + len(second.closed_positions)
        assert otel.value("trading.fills") == 2 * len(second.fills)
        assert otel.value(FAILURES) == 0


def test_netting_reuses_the_position_id_but_every_cycle_is_its_own_trade() -> None:
    with capture(instrument=["nautilus_trader"]) as otel:
        report, _ = run(BARS, "NETTING")
        trades = _trade_spans(otel)
        assert len({span.attributes["nautilus.position_id"] for span in trades}) == 1
        assert int(report.positions["is_snapshot"].sum()) == len(trades) - 1
        first = min(trades, key=lambda span: span.start_time)
        opening = report.fills.sort_values("ts_event").iloc[0]
        assert first.attributes["trading.trade_id"] == f"{first.attributes['nautilus.position_id']}-{opening.name}"
        assert {span.attributes["trading.side"] for span in trades} == {"buy", "sell"}  # long and short cycles


def test_reports_are_identical_with_and_without_the_instrumentation() -> None:
    without, _ = run(BARS)
    with capture(instrument=["nautilus_trader"]) as otel:
        with_it, _engine = run(BARS)
        assert otel.value("trading.trades") > 0
    assert with_it.comparable() == without.comparable()


def test_a_failing_hook_is_counted_and_the_backtest_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    without, _ = run(BARS)

    def broken(self: object, event: object) -> None:
        raise RuntimeError("a bug of ours")

    monkeypatch.setattr(_recorder.EventRecorder, "_position_closed", broken)
    with capture(instrument=["nautilus_trader"]) as otel:
        with_failures, _ = run(BARS)
        closes = len(without.closed_positions)
        assert otel.value(FAILURES, where="nautilus_trader event") == closes
        assert otel.value("trading.trades") == 0
    assert with_failures.comparable() == without.comparable()


def test_the_actor_added_by_hand_records_the_same() -> None:
    with capture() as otel:  # no automatic instrumentation
        report, _engine = run(BARS, actor=OtelTradingActor())
        _assert_matches(otel, report)


def test_an_actor_added_by_hand_replaces_the_automatic_one() -> None:
    with capture(instrument=["nautilus_trader"]) as otel:
        mine = OtelTradingActor()
        report, _engine = run(BARS, actor=mine)
        _assert_matches(otel, report)  # recorded once, not twice
        assert not mine.automatic


def test_uninstrument_stops_attaching() -> None:
    from otel_trading.instrumentation.nautilus_trader import NautilusTraderInstrumentor

    with capture(instrument=["nautilus_trader"]) as otel:
        NautilusTraderInstrumentor().uninstrument()
        run(BARS)
        assert otel.value("trading.fills") == 0
    with capture(instrument=["nautilus_trader"]) as otel:
        run(BARS)
        assert otel.value("trading.fills") > 0


_STORE_SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {helpers!r})
    import otel_trading
    from nautilus_backtest import run
    if {configure!r}:
        otel_trading.configure(service_name="nt-backtest", store_dir={store!r}, traces_exporter="local",
                               metrics_exporter="none", logs_exporter="none", log_console="off",
                               instrument=["nautilus_trader"])
    report, _ = run({bars})
    print(len(report.closed_positions), repr(report.realized_pnl))
    otel_trading.shutdown()
""")


@pytest.mark.parametrize("how", ["configure", "opentelemetry-instrument"])
def test_the_report_of_the_store_agrees_with_nautilus(tmp_path: Path, how: str) -> None:
    """In-code ``configure(instrument=...)``, and zero-code: the user's script unchanged under
    ``opentelemetry-instrument`` with OTEL_TRADING_INSTRUMENT (our distro configures otel-trading)."""
    store = tmp_path / "store"
    script = _STORE_SCRIPT.format(helpers=str(Path(__file__).parent), store=str(store), bars=BARS,
                                  configure=how == "configure")
    binaries = Path(sys.executable).parent
    command = [sys.executable, "-c", script]
    environment = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    if how != "configure":
        command = [str(binaries / "opentelemetry-instrument"), "--", *command]
        environment |= {"OTEL_PYTHON_DISTRO": "otel_trading", "OTEL_TRADING_INSTRUMENT": "nautilus_trader",
                        "OTEL_TRADING_STORE_DIR": str(store), "OTEL_TRADING_LOG_CONSOLE": "off",
                        "OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none"}
    backtest = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False, env=environment)
    assert backtest.returncode == 0, backtest.stderr
    closed, realized = backtest.stdout.split()
    result = subprocess.run([str(binaries / "otel-trading"), "report", "--store", str(store), "--format", "json"],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    performance = json.loads(result.stdout)["performance"]
    assert performance["trades"] == int(closed)
    assert performance["total_pnl"] == pytest.approx(float(realized), abs=0.01)
    assert performance["not_closed"] == 0


def test_without_nautilus_the_actor_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import otel_trading.instrumentation.nautilus_trader as integration

    monkeypatch.delitem(sys.modules, "otel_trading.instrumentation.nautilus_trader._actor")
    monkeypatch.setitem(sys.modules, "nautilus_trader.common.actor", None)  # "not installed"
    with pytest.raises(ImportError, match=r"pip install 'otel-trading\[nautilus_trader\]'"):
        integration.OtelTradingActor  # noqa: B018 - the attribute access is the test


def test_a_position_still_open_at_dispose_ends_its_trade_unclosed() -> None:
    with capture(instrument=["nautilus_trader"]) as otel:
        report, _ = run(BARS, close_on_stop=False)
        closed = len(report.closed_positions)
        assert int(report.positions["ts_closed"].isna().sum()) == 1  # one position left open
        trades = _trade_spans(otel)  # every span ended, so exported: the open one too
        assert len(trades) == closed + 1
        (unclosed,) = [span for span in trades if "trading.exit_reason" not in span.attributes]
        assert not any(event.name == "position.closed" for event in unclosed.events)
        assert unclosed.end_time == max(span.end_time for span in otel.spans)  # at the last event's time, simulated
        assert unclosed.end_time < 1_704_067_200_000_000_000 + 10 * 86_400 * 10**9
        assert otel.value("trading.trades") == closed
