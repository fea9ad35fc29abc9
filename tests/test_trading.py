"""trade()/Trade/Order: one trace per trade, lifecycle events, metrics, event-driven resume."""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import urllib.request
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.metrics.export import HistogramDataPoint
from opentelemetry.trace import StatusCode

import otel_trading
from otel_trading import get_logger, traced
from otel_trading.testing import TelemetryCapture, capture, isolated_state
from otel_trading.trading import _registry


@pytest.fixture(autouse=True)
def _fresh_trading_state() -> Iterator[None]:
    with isolated_state():  # open trades, rolling statistics, value guards: fresh for each test
        yield


@traced
def fetch_ticker(symbol: str) -> float:
    return 100.0


def test_a_trade_is_one_trace_and_its_id_is_the_correlation_id(otel_capture: TelemetryCapture) -> None:
    log = get_logger("bot")
    with otel_trading.trade("BTC/USDT", "buy", strategy="breakout", exchange="binance", regime="trend") as t:
        t.signal("long", confidence=0.8, model="xgb")
        t.risk_check(approved=True)
        fetch_ticker("BTC/USDT")
        order = t.submit_order(1.0, order_type="limit", price=100.0, client_order_id="c-1")
        order.accepted("v-1")
        order.fill(1.0, 100.0)
        log.info("filled")
        trade_id = t.trade_id

    root = otel_capture.span("trade")
    assert root.parent is None
    assert root.attributes is not None
    assert {
        "trading.trade_id": trade_id, "trading.symbol": "BTC/USDT", "trading.side": "buy",
        "trading.strategy": "breakout", "trading.exchange": "binance", "regime": "trend", "correlation_id": trade_id,
    }.items() <= dict(root.attributes).items()
    assert [e.name for e in root.events] == ["signal", "risk_check"]
    assert dict(root.events[0].attributes or {}) == {
        "trading.signal.direction": "long", "trading.signal.confidence": 0.8, "trading.signal.model": "xgb",
    }
    trace_id = root.context.trace_id
    assert {s.context.trace_id for s in otel_capture.spans} == {trace_id}
    for child in (otel_capture.span("order"), otel_capture.span("fetch_ticker")):
        assert child.parent is not None and child.parent.span_id == root.context.span_id
        assert child.attributes is not None and child.attributes["correlation_id"] == trade_id
    records = [r.log_record for r in otel_capture.logs if r.log_record.body == "filled"]
    assert len(records) == 1
    assert records[0].trace_id == trace_id
    assert records[0].attributes is not None
    assert records[0].attributes["correlation_id"] == trade_id == records[0].attributes["trade_id"]


def test_a_trade_started_inside_a_span_gets_its_own_trace_linked_to_it(otel_capture: TelemetryCapture) -> None:
    with otel_trading.span("strategy.tick"), otel_trading.trade("ETH/USDT", "sell"):
        pass
    tick, root = otel_capture.span("strategy.tick"), otel_capture.span("trade")
    assert root.context.trace_id != tick.context.trace_id
    assert [link.context.span_id for link in root.links] == [tick.context.span_id]


def test_order_lifecycle_events_status_and_latency(otel_capture: TelemetryCapture) -> None:
    with otel_trading.trade("BTC/USDT", "buy", exchange="binance") as t:
        order = t.submit_order(2.0, order_type="limit", price=101.0, reference_price=100.0, client_order_id="c-9")
        order.accepted("v-9")
        order.fill(0.5, 100.0, fee=0.1, fee_currency="USDT", liquidity="maker")
        assert order.status == "partially_filled"
        order.modified(price=102.0)
        order.fill(1.5, 102.0, fee=0.3, fee_currency="USDT")
        assert order.status == "filled" and not order.is_open
        order.fill(1.0, 99.0)  # a duplicate fill report after completion: counted, status unchanged
    span = otel_capture.span("order")
    assert [e.name for e in span.events] == [
        "order.accepted", "order.fill", "order.modified", "order.fill", "order.filled",
    ]
    attributes = dict(span.attributes or {})
    vwap = (0.5 * 100.0 + 1.5 * 102.0) / 2.0
    assert attributes["trading.order.status"] == "filled"
    assert attributes["trading.order.venue_id"] == "v-9"
    assert attributes["trading.order.average_price"] == pytest.approx(vwap)
    assert attributes["trading.order.slippage_bps"] == pytest.approx((vwap - 100.0) / 100.0 * 1e4)
    assert attributes["trading.order.fee"] == pytest.approx(0.4)
    assert attributes["trading.order.price"] == 102.0
    for status in ("submitted", "accepted", "partially_filled", "filled"):
        assert otel_capture.value("trading.orders", **{"trading.order.status": status}) == 1
    assert otel_capture.value("trading.fills") == 3
    assert otel_capture.value("trading.fees", **{"trading.fee.currency": "USDT"}) == pytest.approx(0.4)
    assert otel_capture.value("trading.order.ack.latency") == 1
    assert otel_capture.value("trading.order.fill.latency") == 1
    (slippage,) = otel_capture.points("trading.slippage.bps")
    assert isinstance(slippage, HistogramDataPoint)
    assert slippage.sum == pytest.approx((vwap - 100.0) / 100.0 * 1e4)
    assert otel_capture.value("trading.slippage.cost") == pytest.approx((vwap - 100.0) * 2.0)


def test_sell_below_reference_is_positive_slippage_and_rejects_count_by_reason(otel_capture: TelemetryCapture) -> None:
    assert otel_trading.TradingMetrics.__module__.startswith("otel_trading.trading")
    with otel_trading.trade("BTC/USDT", "sell") as t:
        t.submit_order(1.0, reference_price=100.0).fill(1.0, 99.5)
        rejected = t.submit_order(1.0)
        rejected.rejected("insufficient_funds")
        rejected.fill(1.0, 1.0)  # nothing is filled on a rejected order's span
    (slippage,) = otel_capture.points("trading.slippage.bps")
    assert isinstance(slippage, HistogramDataPoint) and slippage.sum == pytest.approx(50.0)
    assert otel_capture.value("trading.order.rejects", **{"trading.order.reason": "insufficient_funds"}) == 1
    spans = [s for s in otel_capture.spans if s.name == "order"]
    rejected_span = next(s for s in spans if (s.attributes or {})["trading.order.status"] == "rejected")
    assert rejected_span.status.status_code is StatusCode.ERROR
    assert (rejected_span.attributes or {})["trading.order.reason"] == "insufficient_funds"


def test_cancel_and_expiry_keep_partial_fills(otel_capture: TelemetryCapture) -> None:
    with otel_trading.trade("SOL/USDT", "buy") as t:
        first = t.submit_order(10.0, order_type="limit", price=20.0)
        first.fill(4.0, 20.0)
        first.cancelled("user")
        second = t.submit_order(10.0, order_type="limit", price=19.0)
        second.expired()
        second.cancelled("too late")  # already terminal: ignored
    statuses = sorted((s.attributes or {})["trading.order.status"] for s in otel_capture.spans if s.name == "order")
    assert statuses == ["cancelled", "expired"]
    cancelled = next(s for s in otel_capture.spans if (s.attributes or {}).get("trading.order.status") == "cancelled")
    assert (cancelled.attributes or {})["trading.order.filled_amount"] == 4.0
    assert otel_capture.value("trading.orders", **{"trading.order.status": "cancelled"}) == 1
    assert otel_capture.value("trading.order.fill.latency") == 0


def test_order_ids_are_span_attributes_never_metric_attributes(otel_capture: TelemetryCapture) -> None:
    with otel_trading.trade("BTC/USDT", "buy", trade_id="trade-unique-77") as t:
        order = t.submit_order(1.0, client_order_id="client-unique-55")
        order.accepted("venue-unique-66")
        order.fill(1.0, 10.0)
        t.position_closed(5.0, exit_reason="take_profit")
    values = {
        str(value)
        for metric in otel_capture.metrics().values()
        for point in metric.data.data_points
        for value in (point.attributes or {}).values()
    }
    assert not {v for v in values if "unique" in v}
    assert otel_trading.find_order("client-unique-55") is None  # the trade closed: the index forgot it


def test_exceptions_are_recorded_on_the_trade_and_reraised_unchanged(otel_capture: TelemetryCapture) -> None:
    boom = RuntimeError("exchange exploded")
    def failing_trade() -> None:
        with otel_trading.trade("BTC/USDT", "buy") as t:
            t.submit_order(1.0)
            raise boom

    with pytest.raises(RuntimeError) as raised:
        failing_trade()
    assert raised.value is boom
    root = otel_capture.span("trade")
    assert root.status.status_code is StatusCode.ERROR
    assert (root.attributes or {})["error.type"] == "RuntimeError"
    order = otel_capture.span("order")
    assert [e.name for e in order.events] == ["order.open_at_trade_close"]
    assert otel_trading.open_trades() == []


async def test_async_trade_spans_tasks(otel_capture: TelemetryCapture) -> None:
    async def watch_fill(order: otel_trading.Order) -> None:
        await asyncio.sleep(0)
        order.fill(1.0, 10.0)

    async with otel_trading.trade("BTC/USDT", "buy") as t:
        order = t.submit_order(1.0)
        await asyncio.gather(watch_fill(order), asyncio.sleep(0))
        assert otel_trading.correlation_id() == t.trade_id
    assert otel_capture.span("order").events[-1].name == "order.filled"
    assert otel_trading.correlation_id() is None


def test_event_driven_trade_resumed_from_other_threads_and_tasks(otel_capture: TelemetryCapture) -> None:
    log = get_logger("bot")
    started = otel_trading.trade("BTC/USDT", "buy", strategy="mm").start()
    started.submit_order(1.0, order_type="limit", client_order_id="cid-1")
    trade_id = started.trade_id
    del started

    def on_ack() -> None:  # an exchange callback thread knows only the client order id
        order = otel_trading.find_order("cid-1")
        assert order is not None
        order.accepted("vid-1")

    def on_fill() -> None:  # the user-data stream knows only the venue order id
        order = otel_trading.find_order("vid-1")
        assert order is not None
        with order.trade.activate():
            log.info("fill received")
        order.fill(1.0, 50.0)

    for callback in (on_ack, on_fill):
        thread = threading.Thread(target=callback)
        thread.start()
        thread.join()

    async def close_later() -> None:
        resumed = otel_trading.resume_trade(trade_id)
        assert resumed is not None
        resumed.position_closed(3.0, exit_reason="signal")
        resumed.close()

    asyncio.run(close_later())
    assert otel_trading.resume_trade(trade_id) is None
    root, order = otel_capture.span("trade"), otel_capture.span("order")
    assert order.context.trace_id == root.context.trace_id
    assert [e.name for e in order.events] == ["order.accepted", "order.fill", "order.filled"]
    (record,) = [r.log_record for r in otel_capture.logs if r.log_record.body == "fill received"]
    assert record.trace_id == root.context.trace_id
    assert (record.attributes or {})["trade_id"] == trade_id


def test_position_closed_feeds_trade_counts_and_rolling_statistics(otel_capture: TelemetryCapture) -> None:
    for pnl, reason in ((10.0, "take_profit"), (-5.0, "stop_loss"), (20.0, "take_profit"), (0.0, "manual")):
        with otel_trading.trade("BTC/USDT", "buy", strategy="s") as t:
            t.position_closed(pnl, exit_reason=reason)
            t.position_closed(99.0, exit_reason="twice")  # only the first close counts
    assert otel_capture.value("trading.trades", **{"trading.trade.outcome": "win"}) == 2
    assert otel_capture.value("trading.trades", **{"trading.trade.outcome": "loss"}) == 1
    assert otel_capture.value("trading.trades", **{"trading.exit_reason": "manual"}) == 1
    assert otel_capture.value("trading.trades", **{"trading.exit_reason": "twice"}) == 0
    assert otel_capture.value("trading.performance.win_rate", **{"trading.strategy": "s"}) == 0.5
    assert otel_capture.value("trading.performance.profit_factor", **{"trading.strategy": "s"}) == 6.0
    assert otel_capture.value("trading.performance.expectancy", **{"trading.strategy": "s"}) == 6.25
    assert otel_capture.value("trading.trade.duration") == 4
    otel_trading.trading.set_performance_window(2)
    try:
        assert otel_capture.value("trading.performance.win_rate", **{"trading.strategy": "s"}) == 0.5
        with pytest.raises(ValueError, match="trades: expected at least 1"):
            otel_trading.trading.set_performance_window(0)
    finally:
        otel_trading.trading.set_performance_window(100)


def test_trade_with_portfolio_realizes_pnl_from_its_fills(otel_capture: TelemetryCapture) -> None:
    portfolio = otel_trading.Portfolio("book", cash=1_000.0)
    with otel_trading.trade("ETH/USDT", "buy", portfolio=portfolio) as t:
        t.submit_order(2.0).fill(2.0, 100.0, fee=1.0)
        t.submit_order(2.0, side="sell").fill(2.0, 110.0, fee=1.0)
        t.position_closed(exit_reason="take_profit")
    assert t.realized_pnl == pytest.approx(18.0)
    assert (otel_capture.span("trade").attributes or {})["trading.pnl.realized"] == pytest.approx(18.0)
    assert otel_capture.value("trading.pnl.realized", **{"trading.portfolio": "book"}) == pytest.approx(18.0)


def test_lifecycle_calls_never_raise_into_the_bot(otel_capture: TelemetryCapture) -> None:
    with otel_trading.trade("BTC/USDT", "sideways") as t:
        order = t.submit_order(1.0, reference_price=10.0)
        order.fill("lots", 10.0)  # type: ignore[arg-type]
        order.fill(1.0, 10.0)  # the unknown side only costs the slippage figure
        t.position_closed("much", exit_reason="x")  # type: ignore[arg-type]
        t.signal("long", confidence=object())  # type: ignore[arg-type]
    assert otel_capture.span("order").attributes is not None
    assert otel_capture.points("trading.slippage.bps") == []


def test_too_many_open_trades_evicts_the_oldest(otel_capture: TelemetryCapture) -> None:
    _registry.REGISTRY.get().max_open = 2  # the capture's own registry: gone with it
    trades = [otel_trading.trade("BTC/USDT", "buy").start() for _ in range(3)]
    assert trades[0].closed and not trades[1].closed
    assert otel_capture.value("trading.trades.evicted") == 1
    assert otel_capture.value("trading.trades.open") == 2
    evicted = [s for s in otel_capture.spans if (s.attributes or {}).get("trading.trade.evicted")]
    assert [(s.attributes or {})["trading.trade_id"] for s in evicted] == [trades[0].trade_id]


def test_trading_metrics_survive_reconfiguration() -> None:
    metrics = otel_trading.TradingMetrics("BTC/USDT", exchange="kraken")
    with capture() as first:
        metrics.order("submitted", side="buy", order_type="market")
        assert first.value("trading.orders") == 1
    with capture() as second:
        metrics.order("submitted", side="buy", order_type="market")
        metrics.websocket_reconnect("ticker")
        assert second.value("trading.orders", **{"trading.exchange": "kraken"}) == 1
        assert second.value("trading.websocket.reconnects", **{"trading.stream": "ticker"}) == 1


def test_disabled_sdk_trades_silently() -> None:
    with capture(enabled=False) as otel, otel_trading.trade("BTC/USDT", "buy") as t:
        t.submit_order(1.0).fill(1.0, 1.0)
    assert otel.spans == []


def test_attribute_values_beyond_the_cap_fold_into_other(otel_capture: TelemetryCapture) -> None:
    from otel_trading.trading._metrics import GUARD

    GUARD.get().max_values = 3  # the capture's own guard, which has seen no value yet
    for index in range(5):
        otel_trading.TradingMetrics(f"COIN{index}/USDT").signal("long")
    symbols = {p.attributes["trading.symbol"] for p in otel_capture.points("trading.signals") if p.attributes}
    assert symbols == {"COIN0/USDT", "COIN1/USDT", "COIN2/USDT", "other"}
    assert otel_capture.value("otel_trading.metric.overflow", attribute="trading.symbol") == 2


def test_trading_state_is_a_one_hot_gauge_and_halting_counts_a_trip(otel_capture: TelemetryCapture) -> None:
    try:
        assert otel_trading.set_trading_state("halted", reason="daily_loss") is otel_trading.TradingState.ACTIVE
        assert otel_trading.trading_state() is otel_trading.TradingState.HALTED
        assert otel_capture.value("trading.state", **{"trading.state": "halted"}) == 1
        assert otel_capture.value("trading.state", **{"trading.state": "active"}) == 0
        assert otel_capture.value("trading.circuit_breaker.trips", **{"trading.state.reason": "daily_loss"}) == 1
        otel_trading.set_trading_state(otel_trading.TradingState.HALTED)  # no change, no trip
        assert otel_capture.value("trading.circuit_breaker.trips") == 1
        with pytest.raises(ValueError, match="'halt' is not a valid TradingState"):
            otel_trading.set_trading_state("halt")
        changes = [r.log_record for r in otel_capture.logs if r.log_record.body == "trading state changed"]
        assert len(changes) == 1
    finally:
        otel_trading.set_trading_state("active")


def test_model_metrics_helper(otel_capture: TelemetryCapture) -> None:
    otel_trading.record_model_metrics("xgb", accuracy=0.61, drift_score=0.2, predictions={"long": 3, "flat": 1})
    otel_trading.record_model_metrics("xgb", accuracy=0.64, predictions={"long": 2})
    assert otel_capture.value("trading.model.quality", **{"trading.model.metric": "accuracy"}) == 0.64
    assert otel_capture.value("trading.model.quality", **{"trading.model.metric": "drift_score"}) == 0.2
    assert otel_capture.value("trading.model.predictions", **{"trading.model.label": "long"}) == 5


def test_market_data_staleness_per_symbol(otel_capture: TelemetryCapture) -> None:
    import time

    from otel_trading.health._market_data import forget, mark_market_data

    try:
        mark_market_data("BTC/USDT")
        mark_market_data("ETH/USDT", (time.time() - 30) * 1000)  # a ccxt millisecond timestamp
        assert otel_capture.value("trading.market_data.staleness", **{"trading.symbol": "BTC/USDT"}) < 5
        assert 29 <= otel_capture.value("trading.market_data.staleness", **{"trading.symbol": "ETH/USDT"}) < 40
    finally:
        forget(["BTC/USDT", "ETH/USDT"])


def test_order_outcome_logs_belong_to_the_order_span(otel_capture: TelemetryCapture) -> None:
    with otel_trading.trade("BTC/USDT", "buy") as t:
        t.submit_order(1.0, client_order_id="c-log").rejected("invalid_order")
    (record,) = [r.log_record for r in otel_capture.logs if r.log_record.body == "order rejected"]
    order = otel_capture.span("order")
    assert record.span_id == order.context.span_id
    assert record.severity_text == "WARNING"
    assert dict(record.attributes or {}).items() >= {
        "reason": "invalid_order", "client_order_id": "c-log", "symbol": "BTC/USDT", "trade_id": t.trade_id,
    }.items()
    assert "strategy" not in (record.attributes or {})


def _sdk_warnings(caplog: pytest.LogCaptureFixture, needle: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and r.name.startswith("otel_trading") and needle in r.getMessage()]


def test_an_unknown_side_is_recorded_as_unknown_and_logged_once_per_value(
        otel_capture: TelemetryCapture, caplog: pytest.LogCaptureFixture) -> None:
    book = otel_trading.Portfolio("sides", cash=1_000.0)
    for side in ("foo", "foo", "bar"):
        with otel_trading.trade("BTC/USDT", side, portfolio=book) as t:
            t.submit_order(1.0, reference_price=10.0).fill(1.0, 10.0)
            t.position_closed(exit_reason="signal")
    assert t.side == "unknown"
    assert {(s.attributes or {}).get("trading.side") for s in otel_capture.spans} == {"unknown"}
    unknown = {"trading.side": "unknown"}
    assert otel_capture.value("trading.orders", **unknown, **{"trading.order.status": "filled"}) == 3
    assert otel_capture.value("trading.fills", **unknown) == 3
    assert otel_capture.points("trading.orders", **{"trading.side": "foo"}) == []
    assert otel_capture.points("trading.slippage.bps") == []  # no direction, no slippage sign
    assert book.snapshot().positions == {} and book.equity == 1_000.0  # a fill of no direction is not applied
    foo = _sdk_warnings(caplog, "side 'foo' is not 'buy' or 'sell'")
    assert len(foo) == 1 and foo[0].startswith("trade(): ")
    assert len(_sdk_warnings(caplog, "side 'bar'")) == 1


def test_side_spellings_are_folded_to_buy_and_sell(otel_capture: TelemetryCapture) -> None:
    with otel_trading.trade("BTC/USDT", "LONG") as t:
        t.submit_order(1.0, side="Short").fill(1.0, 10.0)
    assert (otel_capture.span("trade").attributes or {})["trading.side"] == "buy"
    assert (otel_capture.span("order").attributes or {})["trading.side"] == "sell"
    assert otel_capture.value("trading.fills", **{"trading.side": "sell"}) == 1


def test_bad_amounts_and_prices_are_logged_and_kept_out_of_the_numbers(
        otel_capture: TelemetryCapture, caplog: pytest.LogCaptureFixture) -> None:
    book = otel_trading.Portfolio("amounts", cash=1_000.0)
    with otel_trading.trade("ETH/USDT", "buy", portfolio=book) as t:
        unsized = t.submit_order(-2.0, price=-1.0, reference_price=math.nan)
        assert unsized.amount == 0.0 and unsized.price is None and unsized.reference_price is None
        for amount, price in ((-1.0, 100.0), (1.0, -100.0), (math.inf, 100.0), (1.0, "100")):
            unsized.fill(amount, price)  # type: ignore[arg-type]
        assert unsized.filled_amount == 0.0 and unsized.status == "submitted"
        unsized.fill(1.0, 100.0)  # an order of unknown size is complete at its first fill
        assert unsized.status == "filled"
        t.position_closed(math.nan, exit_reason="signal")  # falls back to the fills' realized PnL
    order = otel_capture.span("order").attributes or {}
    assert "trading.order.amount" not in order and "trading.order.price" not in order
    assert otel_capture.value("trading.fills") == 1 and otel_capture.value("trading.fill.notional") == 100.0
    assert book.positions["ETH/USDT"].quantity == 1.0
    assert otel_capture.value("trading.trades", **{"trading.trade.outcome": "breakeven"}) == 1
    for needle in ("Trade.submit_order: amount must be a finite number > 0, got -2.0",
                   "Trade.submit_order: price must be a finite number > 0, got -1.0",
                   "Trade.submit_order: reference_price must be a finite number > 0, got nan",
                   "Order.fill: amount must be a finite number > 0, got -1.0; the fill is ignored",
                   "Order.fill: price must be a finite number > 0, got -100.0",
                   "Order.fill: amount must be a finite number > 0, got inf",
                   "Order.fill: price must be a finite number > 0, got '100'",
                   "Trade.position_closed: pnl must be a finite number, got nan"):
        assert len(_sdk_warnings(caplog, needle)) == 1, needle


def test_an_infinite_profit_factor_is_exported_as_plus_inf_to_prometheus() -> None:
    telemetry = otel_trading.configure(prometheus_port=0, log_console="off", install_signal_handlers=False,
                                       traces_exporter="none", logs_exporter="none")
    try:
        for pnl in (10.0, 5.0):  # profits, no losses
            with otel_trading.trade("BTC/USDT", "buy", strategy="no-losses") as t:
                t.position_closed(pnl, exit_reason="take_profit")
        assert telemetry.prometheus_url is not None
        body = urllib.request.urlopen(telemetry.prometheus_url, timeout=5).read().decode()  # noqa: S310
    finally:
        telemetry.shutdown()
    (line,) = [row for row in body.splitlines()
               if row.startswith("trading_performance_profit_factor{") and 'strategy="no-losses"' in row]
    assert line.endswith(" +Inf")
