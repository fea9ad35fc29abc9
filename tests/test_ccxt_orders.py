"""Orders from ccxt responses: real ``ccxt.binance`` classes (sync and async) against a loopback
Binance that keeps its orders (``FakeBinance(keep_orders=True)``), no hand-written lifecycle calls.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import logging
import math
from collections.abc import Iterator
from typing import Any

import ccxt
import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro  # imported before instrumenting: its classes are wrapped too
import pytest
from fake_exchange import ASK, FEE_RATE, FakeBinance, binance_config
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

import otel_trading
from otel_trading.instrumentation.ccxt import CcxtInstrumentor, _orders, instrument_class
from otel_trading.instrumentation.ccxt._patch import is_wrapper
from otel_trading.testing import TelemetryCapture, capture

pytestmark = [pytest.mark.timeout(30), pytest.mark.usefixtures("ccxt_uninstrumented_after")]
ERRORS = importlib.import_module("ccxt.base.errors")
INSUFFICIENT = {"code": -2010, "msg": "Account has insufficient balance for requested action."}
SYMBOL = "BTC/USDT"

API_KEY, API_SECRET = "test-api-key-7c1d", "test-api-secret-7c1d"  # credential-shaped: learnt as secrets


@pytest.fixture
def venue() -> Iterator[FakeBinance]:
    with FakeBinance(keep_orders=True) as server:
        yield server


@pytest.fixture
def otel() -> Iterator[TelemetryCapture]:
    with capture(system_metrics=False, instrument=["ccxt"]) as captured:
        yield captured


def binance(venue: FakeBinance) -> Any:
    exchange = venue.point(ccxt.binance(binance_config(apiKey=API_KEY, secret=API_SECRET)))
    exchange.load_markets()
    return exchange


def orders(otel: TelemetryCapture) -> list[ReadableSpan]:
    return [s for s in otel.spans if s.name == "order"]


def events(span: ReadableSpan) -> list[tuple[str, dict[str, Any]]]:
    return [(e.name, dict(e.attributes or {})) for e in span.events]


def fills(span: ReadableSpan) -> list[tuple[float, float]]:
    return [(a["trading.fill.amount"], a["trading.fill.price"]) for name, a in events(span) if name == "order.fill"]


def status_count(otel: TelemetryCapture, status: str) -> float:
    return otel.value("trading.orders", **{"trading.order.status": status})


def test_a_polled_limit_order_in_a_trade_fills_partly_then_fully(venue: FakeBinance, otel: TelemetryCapture) -> None:
    exchange = binance(venue)
    with otel_trading.trade(SYMBOL, "buy", strategy="breakout", exchange="binance") as trade:
        placed = exchange.create_order(SYMBOL, "limit", "buy", 0.002, 63_000)
        venue_id = placed["id"]
        exchange.fetch_order(venue_id, SYMBOL)  # still open: nothing new
        venue.orders.fill(int(venue_id), "0.0005", "62990")
        exchange.fetch_order(venue_id, SYMBOL)
        venue.orders.fill(int(venue_id), "0.0015", "62980")
        exchange.fetch_open_orders(SYMBOL)  # no longer open: not listed, nothing happens
        exchange.fetch_order(venue_id, SYMBOL)
        exchange.fetch_my_trades(SYMBOL)  # the same fills, itemised, with their fees
        [order] = trade.orders
        assert order.venue_order_id == venue_id and order.status == "filled"
        assert order.filled_amount == pytest.approx(0.002)
    [span] = orders(otel)
    root = otel.span("trade")
    assert span.parent is not None and span.parent.span_id == root.context.span_id
    assert span.context.trace_id == root.context.trace_id
    assert span.attributes["trading.order.venue_id"] == venue_id
    assert span.attributes["trading.order.status"] == "filled"
    assert span.attributes["trading.order.price"] == 63_000
    assert span.attributes["trading.trade_id"] == trade.trade_id
    # The second fill's price is the increment's: (average_new * filled_new - average_old * filled_old) / diff.
    [first, second] = fills(span)
    assert first == pytest.approx((0.0005, 62_990))
    assert second == pytest.approx((0.0015, 62_980))
    names = [name for name, _ in events(span)]
    assert names[:3] == ["order.accepted", "order.fill", "order.fill"] and "order.filled" in names
    assert span.attributes["trading.order.average_price"] == pytest.approx((0.0005 * 62_990 + 0.0015 * 62_980) / 0.002)
    # Slippage of a limit order is measured against its limit price: a buy below it is an improvement.
    assert span.attributes["trading.order.slippage_bps"] < 0
    for status in ("submitted", "accepted", "partially_filled", "filled"):
        assert status_count(otel, status) == 1, status
    assert otel.value("trading.fills") == 2
    assert otel.value("trading.order.ack.latency") == 1
    assert otel.value("trading.order.fill.latency") == 1
    # Binance's order endpoint carries no fees: they came with fetch_my_trades, after the fills.
    fee = float(FEE_RATE) * (0.0005 * 62_990 + 0.0015 * 62_980)
    assert otel.value("trading.fees", **{"trading.fee.currency": "USDT"}) == pytest.approx(fee)
    assert order.fees == pytest.approx(fee)
    points = otel.points("trading.orders", **{"trading.order.status": "filled"})
    assert points[0].attributes["trading.strategy"] == "breakout"
    assert points[0].attributes["trading.exchange"] == "binance"


def test_a_market_order_outside_a_trade_is_a_trace_root_filled_from_its_response(
    venue: FakeBinance, otel: TelemetryCapture,
) -> None:
    exchange = binance(venue)
    with otel_trading.span("rebalance"):
        placed = exchange.create_market_buy_order(SYMBOL, 0.001)  # a helper: through create_order
    assert placed["status"] == "closed"
    exchange.fetch_order(placed["id"], SYMBOL)
    exchange.fetch_my_trades(SYMBOL)  # the fills came with the order: nothing counts twice
    [span] = orders(otel)
    assert span.parent is None  # its own trace
    assert span.context.trace_id != otel.span("rebalance").context.trace_id
    assert span.attributes["trading.symbol"] == SYMBOL and span.attributes["trading.order.type"] == "market"
    assert span.attributes["trading.order.status"] == "filled"
    assert fills(span) == [pytest.approx((0.001, float(ASK)))]
    assert span.attributes["trading.order.fee"] == pytest.approx(0.001 * float(ASK) * 0.001)
    assert "trading.order.slippage_bps" not in span.attributes  # a market order has no reference price
    assert [s.name for s in otel.spans if s.name == "trade"] == []  # no trade span for a standalone order
    assert otel_trading.open_trades() == []
    assert status_count(otel, "submitted") == 1 and status_count(otel, "filled") == 1
    assert otel.value("trading.fills") == 1
    [point] = otel.points("trading.orders", **{"trading.order.status": "filled"})
    assert point.attributes["trading.exchange"] == "binance" and point.attributes["trading.side"] == "buy"


def test_cancel_and_cancel_all_end_open_orders(venue: FakeBinance, otel: TelemetryCapture) -> None:
    exchange = binance(venue)
    first = exchange.create_order(SYMBOL, "limit", "buy", 0.002, 60_000)
    venue.orders.fill(int(first["id"]), "0.0005", "60000")
    exchange.cancel_order(first["id"], SYMBOL)  # the partial fill comes with the cancel's answer
    second = exchange.create_order(SYMBOL, "limit", "sell", 0.001, 70_000)
    third = exchange.create_order(SYMBOL, "limit", "sell", 0.001, 71_000)
    exchange.cancel_all_orders(SYMBOL)
    spans = {s.attributes["trading.order.venue_id"]: s for s in orders(otel)}
    assert set(spans) == {first["id"], second["id"], third["id"]}
    assert all(s.attributes["trading.order.status"] == "cancelled" for s in spans.values())
    assert fills(spans[first["id"]]) == [pytest.approx((0.0005, 60_000))]
    assert spans[first["id"]].attributes["trading.order.filled_amount"] == pytest.approx(0.0005)
    assert status_count(otel, "cancelled") == 3 and status_count(otel, "filled") == 0
    assert otel_trading.find_order(first["id"]) is None  # finished standalone orders are let go


def test_a_venue_expiry_is_an_expired_order(venue: FakeBinance, otel: TelemetryCapture) -> None:
    exchange = binance(venue)
    placed = exchange.create_order(SYMBOL, "limit", "buy", 0.001, 60_000)
    venue.orders.set_status(int(placed["id"]), "EXPIRED")
    exchange.fetch_orders(SYMBOL)
    [span] = orders(otel)
    assert span.attributes["trading.order.status"] == "expired"
    assert status_count(otel, "expired") == 1


def test_a_create_order_exception_is_a_rejected_order(venue: FakeBinance, otel: TelemetryCapture) -> None:
    exchange = binance(venue)
    venue.fail("/api/v3/order", 400, INSUFFICIENT)
    with otel_trading.trade(SYMBOL, "buy") as trade, pytest.raises(ERRORS.InsufficientFunds):
        exchange.create_order(SYMBOL, "limit", "buy", 0.001, 60_000)
    [order] = trade.orders
    assert order.status == "rejected"
    [span] = orders(otel)
    assert span.attributes["trading.order.reason"] == "InsufficientFunds"
    assert span.status.status_code is StatusCode.ERROR
    assert span.parent is not None and span.parent.span_id == otel.span("trade").context.span_id
    assert otel.value("trading.order.rejects", **{"trading.order.reason": "InsufficientFunds"}) == 1
    assert status_count(otel, "rejected") == 1 and otel.value("trading.order.ack.latency") == 0


def test_an_order_of_another_symbol_than_the_trade_is_standalone(venue: FakeBinance, otel: TelemetryCapture) -> None:
    exchange = binance(venue)
    with otel_trading.trade(SYMBOL, "buy") as trade:
        exchange.create_order("ETH/USDT", "market", "buy", 0.01)
    assert trade.orders == []
    [span] = orders(otel)
    assert span.parent is None and span.attributes["trading.symbol"] == "ETH/USDT"


def test_an_order_submitted_by_hand_with_its_client_id_is_not_recorded_twice(
    venue: FakeBinance, otel: TelemetryCapture,
) -> None:
    exchange = binance(venue)
    with otel_trading.trade(SYMBOL, "buy") as trade:
        order = trade.submit_order(0.001, order_type="market", client_order_id="my-order-1", reference_price=63_000)
        placed = exchange.create_order(SYMBOL, "market", "buy", 0.001, params={"clientOrderId": "my-order-1"})
        order.accepted(placed["id"])
        order.fill(0.001, placed["average"])
        exchange.fetch_order(placed["id"], SYMBOL)
    assert trade.orders == [order]
    [span] = orders(otel)
    assert fills(span) == [pytest.approx((0.001, float(ASK)))]
    assert status_count(otel, "submitted") == 1 and otel.value("trading.fills") == 1


def test_orders_false_leaves_orders_to_the_bot(venue: FakeBinance) -> None:
    CcxtInstrumentor().instrument(orders=False)
    with capture(system_metrics=False, instrument=["ccxt"]) as otel:
        exchange = binance(venue)
        placed = exchange.create_order(SYMBOL, "market", "buy", 0.001)
        exchange.fetch_order(placed["id"], SYMBOL)
        assert orders(otel) == [] and status_count(otel, "submitted") == 0
        assert [s.name for s in otel.spans].count("ccxt.create_order") == 1
    CcxtInstrumentor().uninstrument()
    with pytest.raises(TypeError, match=r"instrument\(orders=...\): expected True or False, got str"):
        CcxtInstrumentor().instrument(orders="no")


async def test_async_exchange_orders(venue: FakeBinance, otel: TelemetryCapture) -> None:
    exchange = venue.point(ccxt_async.binance(binance_config(apiKey=API_KEY, secret=API_SECRET)))
    try:
        await exchange.load_markets()
        async with otel_trading.trade(SYMBOL, "sell", strategy="mean-revert") as trade:
            placed = await exchange.create_limit_sell_order(SYMBOL, 0.002, 64_000)
            venue.orders.fill(int(placed["id"]), "0.001", "64000")
            await exchange.fetch_order(placed["id"], SYMBOL)
            await exchange.cancel_order(placed["id"], SYMBOL)
            [order] = trade.orders
    finally:
        await exchange.close()
    assert order.status == "cancelled" and order.filled_amount == pytest.approx(0.001)
    [span] = orders(otel)
    assert span.parent is not None and span.parent.span_id == otel.span("trade").context.span_id
    assert span.attributes["trading.side"] == "sell"
    assert fills(span) == [pytest.approx((0.001, 64_000))]
    for status in ("submitted", "accepted", "partially_filled", "cancelled"):
        assert status_count(otel, status) == 1, status


def test_tracking_is_bounded_per_exchange(venue: FakeBinance, otel: TelemetryCapture) -> None:
    _orders.BOOKS.get().max_tracked = 3  # the capture's own order books: gone with it
    exchange = binance(venue)
    finished = exchange.create_order(SYMBOL, "market", "buy", 0.001)
    opened = [exchange.create_order(SYMBOL, "limit", "buy", 0.001, 60_000 + i) for i in range(3)]
    book = _orders.BOOKS.get().of(exchange)
    assert len(book) == 3
    assert book.get(finished["id"]) is None  # the finished order went first
    assert otel.value("otel_trading.telemetry.dropped", reason="order_evicted") == 0
    exchange.create_order(SYMBOL, "limit", "buy", 0.001, 59_000)  # evicts the oldest open order
    assert book.get(opened[0]["id"]) is None and len(book) == 3
    assert otel.value("otel_trading.telemetry.dropped", reason="order_evicted") == 1
    evicted = next(s for s in orders(otel) if s.attributes["trading.order.venue_id"] == opened[0]["id"])
    assert evicted.attributes["trading.order.status"] == "accepted"  # ended with its last status
    del exchange, book
    gc.collect()  # the exchange gone, its open orders end as they were
    assert len(orders(otel)) == 5
    assert otel_trading.open_trades() == []


def test_edit_order_by_cancel_replace_follows_the_new_id(venue: FakeBinance, otel: TelemetryCapture) -> None:
    exchange = binance(venue)
    with otel_trading.trade(SYMBOL, "buy") as trade:
        placed = exchange.create_order(SYMBOL, "limit", "buy", 0.002, 60_000)
        edited = exchange.edit_order(placed["id"], SYMBOL, "limit", "buy", 0.003, 61_000)
        assert edited["id"] != placed["id"]
        venue.orders.fill(int(edited["id"]), "0.003", "61000")
        exchange.fetch_order(edited["id"], SYMBOL)
        [order] = trade.orders
    assert order.venue_order_id == edited["id"] and order.status == "filled"
    [span] = orders(otel)
    assert ("order.modified", {"trading.order.amount": 0.003, "trading.order.price": 61_000}) in events(span)
    assert span.attributes["trading.order.amount"] == 0.003 and span.attributes["trading.order.price"] == 61_000
    assert fills(span) == [pytest.approx((0.003, 61_000))]
    assert status_count(otel, "submitted") == 1 and status_count(otel, "cancelled") == 0


class StreamingVenue:
    """ccxt.pro-shaped: ``watch_orders``/``watch_my_trades`` return what the venue pushed last.

    Real ccxt.pro classes need a websocket venue; their ``watch_*`` methods are wrapped the same
    way (checked below), so this drives the same wrapper with pushes a test controls.
    """

    id = "streaming"

    def __init__(self) -> None:
        self.pushed: list[dict[str, Any]] = []

    async def create_order(self, *args: Any) -> dict[str, Any]:  # (symbol, type, side, amount, price)
        symbol, order_type, side, amount, price = args
        return {"id": "s-1", "symbol": symbol, "type": order_type, "side": side, "amount": amount, "price": price,
                "status": "open", "filled": 0.0, "trades": []}

    async def watch_orders(self, *_args: Any) -> list[dict[str, Any]]:
        return self.pushed

    async def watch_my_trades(self, *_args: Any) -> list[dict[str, Any]]:
        return self.pushed


async def test_watch_orders_and_watch_my_trades_advance_orders(otel: TelemetryCapture) -> None:
    for name in ("watch_orders", "watch_my_trades"):
        assert is_wrapper(ccxt_pro.binance.__dict__[name]), name
    undo = instrument_class(StreamingVenue, ERRORS)
    try:
        venue = StreamingVenue()
        await venue.create_order(SYMBOL, "limit", "sell", 1.0, 100.0)
        venue.pushed = [{"id": "t-1", "order": "s-1", "amount": 0.4, "price": 101.0,
                         "fee": {"cost": 0.04, "currency": "USDT"}}]
        await venue.watch_my_trades(SYMBOL)
        await venue.watch_my_trades(SYMBOL)  # the same trade pushed again: counted once
        venue.pushed = [{"id": "s-1", "symbol": SYMBOL, "status": "closed", "amount": 1.0, "filled": 1.0,
                         "average": 100.5, "fee": {"cost": 0.1, "currency": "USDT"}}]
        await venue.watch_orders(SYMBOL)
    finally:
        undo()
    [span] = orders(otel)
    assert span.attributes["trading.order.status"] == "filled"
    assert fills(span) == [pytest.approx((0.4, 101.0)), pytest.approx((0.6, (100.5 - 0.4 * 101.0) / 0.6))]
    assert span.attributes["trading.order.fee"] == pytest.approx(0.1)
    assert [s.name for s in otel.spans if s.name.startswith("ccxt.watch")] == []  # streams make no span
    assert otel.value("trading.fills") == 2


def test_a_venue_closing_an_order_short_of_its_amount_ends_it_filled(
    venue: FakeBinance, otel: TelemetryCapture,
) -> None:
    exchange = binance(venue)
    placed = exchange.create_order(SYMBOL, "limit", "buy", 0.002, 60_000)
    venue.orders.fill(int(placed["id"]), "0.0005", "60000")
    exchange.fetch_order(placed["id"], SYMBOL)
    venue.orders.set_status(int(placed["id"]), "FILLED")  # done at 0.0005, as a venue that caps the amount
    exchange.fetch_order(placed["id"], SYMBOL)
    [span] = orders(otel)
    assert span.attributes["trading.order.status"] == "filled"
    assert span.attributes["trading.order.filled_amount"] == pytest.approx(0.0005)
    assert status_count(otel, "filled") == 1 and otel.value("trading.order.fill.latency") == 1


class BatchVenue:
    """ccxt-shaped ``create_orders``: Binance spot has none; the answer lists one structure per order."""

    id = "batch"

    def create_orders(self, orders: list[dict[str, Any]], params: dict[str, Any] | None = None
                      ) -> list[dict[str, Any]]:
        del params
        return [{"id": "b-1", "status": "open", "amount": orders[0]["amount"], "filled": 0.0},
                {"status": "rejected", "info": {"msg": "price out of range"}}]


def test_create_orders_opens_one_order_each(otel: TelemetryCapture) -> None:
    undo = instrument_class(BatchVenue, ERRORS)
    venue = BatchVenue()  # kept: an exchange object collected ends its open orders
    try:
        venue.create_orders([
            {"symbol": SYMBOL, "type": "limit", "side": "buy", "amount": 0.001, "price": 60_000.0},
            {"symbol": SYMBOL, "type": "limit", "side": "buy", "amount": 0.001, "price": 1.0},
        ])
    finally:
        undo()
    statuses = sorted(s.attributes["trading.order.status"] for s in orders(otel))
    assert statuses == ["rejected"]  # the accepted one is still open: its span has not ended
    assert status_count(otel, "submitted") == 2 and status_count(otel, "accepted") == 1
    assert otel.value("trading.order.rejects", **{"trading.order.reason": "venue_rejected"}) == 1


def test_odd_answers_and_failures_inside_order_tracking_never_reach_the_bot(
    otel: TelemetryCapture, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    undo = instrument_class(StreamingVenue, ERRORS)
    venue = StreamingVenue()
    try:
        placed = asyncio.run(venue.create_order(SYMBOL, "limit", "buy", "0.5", "100"))  # numeric strings
        # Answers no venue should send: each is what the bot gets back, the order is left as it was.
        for pushed in ([{"id": "s-1", "filled": "abc", "trades": [None, {"id": 1}], "fee": {"cost": "x"}}],
                       [{"id": "s-1", "filled": math.nan, "status": 7}], [None, "s-1"], {"id": "s-1"}, None):
            venue.pushed = pushed  # type: ignore[assignment]
            assert asyncio.run(venue.watch_orders(SYMBOL)) is pushed
        with caplog.at_level(logging.ERROR, logger="otel_trading.tracing"):
            def broken(self: Any, structure: Any) -> None:
                raise RuntimeError("bug in order tracking")

            monkeypatch.setattr(_orders.TrackedOrder, "take_order", broken)
            venue.pushed = [{"id": "s-1", "status": "closed", "filled": 0.5, "average": 100.0}]
            assert asyncio.run(venue.watch_orders(SYMBOL)) == venue.pushed
            assert asyncio.run(venue.watch_orders(SYMBOL)) == venue.pushed
        assert [r.getMessage() for r in caplog.records].count(
            "otel-trading instrumentation failed in ccxt order tracking; the call itself was not affected") == 1
    finally:
        undo()
    assert placed["id"] == "s-1"
    assert orders(otel) == []  # still open: nothing the odd answers said moved it
    assert status_count(otel, "submitted") == 1 and status_count(otel, "accepted") == 1
    assert otel.value("trading.fills") == 0
