"""Trading metric handles shared by every TradingMetrics of the same symbol, venue and strategy
(trading/_metrics.py): a trade's first order and fill find their series bound by the trades
before it, and what is counted is what per-instance handles counted."""

from __future__ import annotations

import otel_trading
from otel_trading.testing import TelemetryCapture, capture
from otel_trading.trading import _names as n


def _orders_handle(metrics: otel_trading.TradingMetrics) -> object:
    return metrics._handle(n.ORDERS, (n.ORDER_STATUS, n.SIDE, n.ORDER_TYPE), ("filled", "buy", "market"))


def test_a_new_trade_finds_the_series_bound_by_the_trades_before_it(otel_capture: TelemetryCapture) -> None:
    first = otel_trading.TradingMetrics("BTC/USDT", exchange="kraken", strategy="sma")
    second = otel_trading.TradingMetrics("BTC/USDT", exchange="kraken", strategy="sma")
    other_venue = otel_trading.TradingMetrics("BTC/USDT", exchange="binance", strategy="sma")
    first.order("filled", side="buy", order_type="market")
    series = (n.ORDERS, ("filled", "buy", "market"))
    assert series in second._handles  # bound before the second instance's first update: no bind on it
    assert series not in other_venue._handles
    assert _orders_handle(second) is _orders_handle(first)
    assert _orders_handle(other_venue) is not _orders_handle(first)
    for metrics in (second, other_venue):
        metrics.order("filled", side="buy", order_type="market")
    assert otel_capture.value("trading.orders", **{"trading.exchange": "kraken"}) == 2
    assert otel_capture.value("trading.orders", **{"trading.exchange": "binance"}) == 1


def test_shared_handles_follow_reconfiguration() -> None:
    with capture() as first:
        otel_trading.TradingMetrics("ETH/USDT").order("submitted", side="buy", order_type="market")
        assert first.value("trading.orders") == 1
    with capture() as second:
        otel_trading.TradingMetrics("ETH/USDT").order("submitted", side="buy", order_type="market")
        assert second.value("trading.orders") == 1
    assert first.value("trading.orders") == 1


def test_each_instance_still_counts_its_folded_values(otel_capture: TelemetryCapture) -> None:
    from otel_trading.trading._metrics import GUARD

    GUARD.get().max_values = 1  # the capture's own guard: one reason, the next ones fold
    for _ in range(3):
        metrics = otel_trading.TradingMetrics("BTC/USDT")
        metrics.reject("insufficient_funds")
        metrics.reject("free text error 1")
        metrics.reject("free text error 1")  # the same instance: its handle, no second fold
    reasons = {p.attributes["trading.order.reason"] for p in otel_capture.points("trading.order.rejects")
               if p.attributes}
    assert reasons == {"insufficient_funds", "other"}
    assert otel_capture.value("trading.order.rejects", **{"trading.order.reason": "other"}) == 6
    assert otel_capture.value("otel_trading.metric.overflow", attribute="trading.order.reason") == 3
