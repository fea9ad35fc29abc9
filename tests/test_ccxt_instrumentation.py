"""ccxt auto-instrumentation, driving real ``ccxt.binance`` classes against a loopback Binance.

Nothing of ccxt is mocked: requests are signed with canary credentials, sent over HTTP to
``fake_exchange.FakeBinance`` and its answers (including error bodies and status codes)
go through ccxt's own error mapping.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import logging
import os
import re
import subprocess
import sys
import time
import timeit
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ccxt
import ccxt.async_support as ccxt_async
import pytest
from fake_exchange import FakeBinance, Received, binance_config
from opentelemetry.trace import SpanKind, StatusCode
from otlp_receiver import closed_port

import otel_trading
from otel_trading import ConfigurationError, span
from otel_trading.instrumentation import INSTRUMENTATIONS, Instrumentation
from otel_trading.instrumentation._names import (
    EXCHANGE_ERRORS,
    EXCHANGE_RATE_LIMIT_INTERVAL,
    EXCHANGE_RATE_LIMIT_QUEUED,
    EXCHANGE_REQUEST_DURATION,
    EXCHANGE_REQUESTS,
)
from otel_trading.instrumentation.ccxt import ERROR_CLASSES, METHODS, OTHER, CcxtInstrumentor
from otel_trading.instrumentation.ccxt._errors import ErrorClassifier
from otel_trading.instrumentation.ccxt._methods import STREAMS
from otel_trading.instrumentation.ccxt._metrics import TRACKER
from otel_trading.instrumentation.ccxt._patch import exchange_classes, is_wrapper
from otel_trading.testing import TelemetryCapture, capture

pytestmark = [pytest.mark.timeout(30), pytest.mark.usefixtures("ccxt_uninstrumented_after")]
# ``ccxt.base.errors`` the attribute is a list of names; the module is this one.
ERRORS = importlib.import_module("ccxt.base.errors")

API_KEY = "CANARY-CCXT-API-KEY-7f3a9c"
SECRET = "CANARY-CCXT-SECRET-51d0e2"
PASSWORD = "CANARY-CCXT-PASSWORD-88b4"
CANARIES = (API_KEY, SECRET, PASSWORD)
UNREDACTED_SIGNATURE = re.compile(r"signature=(?!\[REDACTED\])", re.IGNORECASE)
METRIC_KEYS = {"trading.exchange", "ccxt.method", "error.type"}
INSUFFICIENT = {"code": -2010, "msg": "Account has insufficient balance for requested action."}


@pytest.fixture
def venue() -> Iterator[FakeBinance]:
    with FakeBinance() as server:
        yield server


@pytest.fixture
def otel() -> Iterator[TelemetryCapture]:
    with capture(system_metrics=False, instrument=["ccxt"]) as captured:
        yield captured


def binance(venue: FakeBinance, **config: Any) -> Any:
    return venue.point(ccxt.binance(binance_config(apiKey=API_KEY, secret=SECRET, password=PASSWORD, **config)))


def async_binance(venue: FakeBinance, **config: Any) -> Any:
    return venue.point(ccxt_async.binance(binance_config(apiKey=API_KEY, secret=SECRET, password=PASSWORD, **config)))


def ccxt_classes() -> list[type]:
    return exchange_classes([ccxt.Exchange, ccxt_async.Exchange])


def own_methods() -> dict[tuple[type, str], Any]:
    names = [*METHODS, *STREAMS]  # the spans' methods, and the ccxt.pro streams that only advance orders
    return {(cls, name): cls.__dict__[name] for cls in ccxt_classes() for name in names if name in cls.__dict__}


def spans_named(otel: TelemetryCapture, name: str) -> list[Any]:
    return [s for s in otel.spans if s.name == name]


# --- patching ---


def test_every_exchange_class_is_covered_and_uninstrument_restores_the_very_same_functions() -> None:
    before = own_methods()
    assert len(before) > 2000  # every concrete exchange overrides most unified methods
    instrumentor = CcxtInstrumentor()
    assert instrumentor.instrumentation_dependencies() == ("ccxt >= 4.0",)
    for _ in range(2):  # instrument, uninstrument, and again
        instrumentor.instrument()
        assert instrumentor.patched_methods == len(before)
        assert all(is_wrapper(cls.__dict__[name]) for cls, name in before)
        for module in (ccxt, ccxt_async):
            for exchange_id in module.exchanges:
                cls = getattr(module, exchange_id)
                assert is_wrapper(cls.create_order) and is_wrapper(cls.fetch_ticker), exchange_id
        assert inspect.iscoroutinefunction(ccxt_async.binance.create_order)
        assert not inspect.iscoroutinefunction(ccxt.binance.create_order)
        assert ccxt.binance.create_order.__name__ == "create_order"
        instrumentor.uninstrument()
        assert instrumentor.patched_methods == 0
        assert own_methods() == before
        assert all(cls.__dict__[name] is original for (cls, name), original in before.items())


def test_uninstrument_leaves_a_later_patch_by_someone_else_in_place() -> None:
    original = ccxt.binance.__dict__["fetch_ticker"]
    CcxtInstrumentor().instrument()

    def theirs(self: Any, symbol: str, params: Any = None) -> Any:
        return original(self, symbol, params or {})

    ccxt.binance.fetch_ticker = theirs
    try:
        CcxtInstrumentor().uninstrument()
        assert ccxt.binance.__dict__["fetch_ticker"] is theirs
        assert ccxt.binance.__dict__["create_order"] is not None and not is_wrapper(ccxt.binance.create_order)
    finally:
        ccxt.binance.fetch_ticker = original


def test_ccxt_pro_classes_are_covered_when_imported_first() -> None:
    import ccxt.pro

    original = ccxt.pro.kraken.__dict__["load_markets"]  # the one REST method ccxt.pro overrides
    CcxtInstrumentor().instrument()
    assert is_wrapper(ccxt.pro.kraken.load_markets) and is_wrapper(ccxt.pro.binance.create_order)
    CcxtInstrumentor().uninstrument()
    assert ccxt.pro.kraken.__dict__["load_markets"] is original


# --- spans and metrics of successful calls ---


def test_sync_calls_are_client_spans_with_trading_attributes(venue: FakeBinance, otel: TelemetryCapture) -> None:
    exchange = binance(venue)
    assert len(exchange.load_markets()) == 2
    order = exchange.create_order("BTC/USDT", "limit", "buy", 0.001, 60000)
    exchange.fetch_order(order["id"], "BTC/USDT")
    exchange.cancel_order(order["id"], symbol="BTC/USDT")
    exchange.fetch_open_orders("BTC/USDT")
    exchange.fetch_orders("BTC/USDT")
    exchange.fetch_closed_orders("BTC/USDT")
    exchange.fetch_my_trades("BTC/USDT")
    exchange.cancel_all_orders("BTC/USDT")
    exchange.fetch_balance()
    exchange.fetch_ticker("BTC/USDT")
    exchange.fetch_tickers()
    exchange.fetch_order_book("BTC/USDT", 5)
    exchange.fetch_ohlcv("BTC/USDT", "1m")
    exchange.fetch_trades("BTC/USDT")

    names = [s.name for s in otel.spans if s.name != "order"]  # orders: tests/test_ccxt_orders.py
    assert [s.name for s in otel.spans].count("order") == 1
    assert names == [
        "ccxt.load_markets", "ccxt.create_order", "ccxt.fetch_order", "ccxt.cancel_order", "ccxt.fetch_open_orders",
        "ccxt.fetch_orders", "ccxt.fetch_closed_orders", "ccxt.fetch_my_trades", "ccxt.cancel_all_orders",
        "ccxt.fetch_balance", "ccxt.fetch_ticker", "ccxt.fetch_tickers", "ccxt.fetch_order_book", "ccxt.fetch_ohlcv",
        "ccxt.fetch_trades",
    ]
    assert all(s.kind is SpanKind.CLIENT and s.status.status_code is StatusCode.UNSET
               for s in otel.spans if s.name != "order")
    created = otel.span("ccxt.create_order")
    assert dict(created.attributes) == {
        "trading.exchange": "binance",
        "ccxt.method": "create_order",
        "trading.symbol": "BTC/USDT",
        "trading.order.type": "limit",
        "trading.side": "buy",
        "trading.order.amount": 0.001,
        "trading.order.price": 60000.0,
        "trading.order.venue_id": "28",
        "trading.order.client_id": order["clientOrderId"],
        "trading.order.status": "open",
        "correlation_id": created.attributes["correlation_id"],
    }
    cancelled = otel.span("ccxt.cancel_order").attributes
    assert cancelled["trading.order.venue_id"] == "28" and cancelled["trading.order.status"] == "canceled"
    assert otel.span("ccxt.fetch_order").attributes["trading.order.status"] == "closed"
    assert otel.span("ccxt.fetch_orders").attributes["ccxt.result.count"] == 2
    assert otel.span("ccxt.load_markets").attributes["ccxt.result.count"] == 2
    assert otel.span("ccxt.fetch_ohlcv").attributes["ccxt.timeframe"] == "1m"
    assert otel.span("ccxt.fetch_balance").attributes["trading.exchange"] == "binance"

    assert otel.value(EXCHANGE_REQUESTS, **{"ccxt.method": "create_order", "trading.exchange": "binance"}) == 1
    assert otel.value(EXCHANGE_REQUESTS) == 15
    [duration] = otel.points(EXCHANGE_REQUEST_DURATION, **{"ccxt.method": "fetch_ticker"})
    assert duration.count == 1 and 0 < duration.sum < 5  # type: ignore[union-attr]
    assert duration.explicit_bounds[0] == 0.001 and duration.explicit_bounds[-1] == 60.0  # type: ignore[union-attr]
    assert otel.value(EXCHANGE_ERRORS) == 0
    # Order ids and symbols are span attributes only: metric attributes are bounded keys.
    for metric in otel.metrics().values():
        if metric.name.startswith("trading.exchange."):
            for point in metric.data.data_points:
                assert set(point.attributes) <= METRIC_KEYS
                assert "28" not in point.attributes.values()


def test_nested_calls_make_one_span(venue: FakeBinance, otel: TelemetryCapture) -> None:
    exchange = binance(venue)
    # Markets are not loaded yet: create_order loads them first; create_limit_order calls create_order.
    exchange.create_limit_order("ETH/USDT", "sell", 0.5, 3000)
    assert [s.name for s in otel.spans] == ["ccxt.create_order"]
    attributes = otel.span("ccxt.create_order").attributes
    assert attributes["trading.order.type"] == "limit" and attributes["trading.side"] == "sell"
    assert [r.path for r in venue.requests] == ["/api/v3/exchangeInfo", "/api/v3/order"]
    assert otel.value(EXCHANGE_REQUESTS, **{"ccxt.method": "load_markets"}) == 0


def test_spans_nest_under_the_callers_span_and_share_its_correlation_id(
    venue: FakeBinance, otel: TelemetryCapture
) -> None:
    exchange = binance(venue)
    with span("rebalance"):
        exchange.fetch_balance()
        exchange.fetch_ticker("BTC/USDT")
    parent = otel.span("rebalance")
    for name in ("ccxt.fetch_balance", "ccxt.fetch_ticker"):
        child = otel.span(name)
        assert child.parent is not None and child.parent.span_id == parent.context.span_id
        assert child.attributes["correlation_id"] == parent.attributes["correlation_id"]


def test_threads_and_unsampled_traces(venue: FakeBinance) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with capture(system_metrics=False, instrument=["ccxt"], sampler="always_off") as otel:
        exchange = binance(venue)
        exchange.load_markets()
        with ThreadPoolExecutor(4) as pool:
            prices = list(pool.map(lambda _: exchange.fetch_ticker("BTC/USDT")["last"], range(12)))
        assert prices == [63120.5] * 12
        assert otel.spans == []  # not sampled: no span exported ...
        assert otel.value(EXCHANGE_REQUESTS, **{"ccxt.method": "fetch_ticker"}) == 12  # ... every call counted
    with capture(system_metrics=False, instrument=["ccxt"]) as otel:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda _: exchange.fetch_ticker("BTC/USDT"), range(8)))
        fetched = spans_named(otel, "ccxt.fetch_ticker")
        assert len(fetched) == 8 and len({s.context.trace_id for s in fetched}) == 8  # one root span each


async def test_async_exchange(venue: FakeBinance, otel: TelemetryCapture) -> None:
    exchange = async_binance(venue)
    try:
        await exchange.load_markets()
        with span("strategy"):
            tickers = await asyncio.gather(*(exchange.fetch_ticker(s) for s in ("BTC/USDT", "ETH/USDT")))
            order = await exchange.create_order("BTC/USDT", "market", "buy", "0.002")
        assert [t["symbol"] for t in tickers] == ["BTC/USDT", "ETH/USDT"]
        venue.fail("/api/v3/order", 400, {"code": -2013, "msg": "Order does not exist."})
        with pytest.raises(ccxt.OrderNotFound):
            await exchange.cancel_order(order["id"], "BTC/USDT")
    finally:
        await exchange.close()
    strategy = otel.span("strategy")
    fetched = spans_named(otel, "ccxt.fetch_ticker")
    assert sorted(s.attributes["trading.symbol"] for s in fetched) == ["BTC/USDT", "ETH/USDT"]
    assert all(s.parent.span_id == strategy.context.span_id for s in fetched)
    created = otel.span("ccxt.create_order").attributes
    assert created["trading.order.amount"] == 0.002 and created["trading.order.type"] == "market"
    assert "trading.order.price" not in created
    cancel = otel.span("ccxt.cancel_order")
    assert cancel.status.status_code is StatusCode.ERROR and cancel.attributes["error.type"] == "OrderNotFound"
    assert otel.value(EXCHANGE_ERRORS, **{"ccxt.method": "cancel_order", "error.type": "OrderNotFound"}) == 1
    assert otel.value(EXCHANGE_REQUESTS) == 5


async def test_rate_limit_state_is_a_gauge(venue: FakeBinance, otel: TelemetryCapture) -> None:
    exchange = async_binance(venue, enableRateLimit=True, rateLimit=20)
    sync_exchange = binance(venue)
    try:
        await exchange.load_markets()
        sync_exchange.fetch_time()  # not instrumented: no span, and the exchange is not tracked
        sync_exchange.fetch_ticker("BTC/USDT")
        burst = [asyncio.ensure_future(exchange.fetch_ticker("BTC/USDT")) for _ in range(4)]
        await asyncio.sleep(0.005)
        queued_during_burst = otel.value(EXCHANGE_RATE_LIMIT_QUEUED, **{"trading.exchange": "binance"})
        await asyncio.gather(*burst)
        assert queued_during_burst >= 1  # requests were waiting for the limiter
        assert otel.value(EXCHANGE_RATE_LIMIT_QUEUED, **{"trading.exchange": "binance"}) == 0
        # Sync binance has enableRateLimit off here; the async one spaces requests by 20 ms.
        assert otel.value(EXCHANGE_RATE_LIMIT_INTERVAL, **{"trading.exchange": "binance"}) == pytest.approx(0.02)
    finally:
        await exchange.close()
    assert "ccxt.fetch_time" not in [s.name for s in otel.spans]


# --- errors ---


ERROR_CASES = [
    pytest.param(400, INSUFFICIENT, "InsufficientFunds", id="insufficient-funds"),
    pytest.param(400, {"code": -2013, "msg": "Order does not exist."}, "OrderNotFound", id="order-not-found"),
    pytest.param(400, {"code": -1013, "msg": "Filter failure: LOT_SIZE"}, "InvalidOrder", id="invalid-order"),
    pytest.param(400, {"code": -1100, "msg": "Illegal characters found in parameter 'side'."}, "ExchangeError",
                 id="bad-request-is-an-exchange-error"),
    pytest.param(401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."},
                 "AuthenticationError", id="authentication"),
    pytest.param(429, {"code": -1003, "msg": "Too many requests; current limit is 6000 per minute."},
                 "DDoSProtection", id="http-429"),
    pytest.param(400, {"code": -1003, "msg": "Too much request weight used; current limit is 6000 per 1 MINUTE."},
                 "RateLimitExceeded", id="rate-limit"),
    pytest.param(503, "<html><body><h1>503 Service Unavailable</h1></body></html>", "ExchangeNotAvailable",
                 id="http-503"),
]


@pytest.mark.parametrize(("status", "body", "expected"), ERROR_CASES)
def test_venue_errors_map_to_bounded_error_types(
    venue: FakeBinance, otel: TelemetryCapture, status: int, body: Any, expected: str
) -> None:
    exchange = binance(venue)
    exchange.load_markets()
    venue.fail("/api/v3/order", status, body)
    with pytest.raises(ccxt.BaseError) as raised:
        exchange.create_order("BTC/USDT", "limit", "buy", 0.001, 60000)
    assert ErrorClassifier(ERRORS)(raised.value) == expected
    failed = otel.span("ccxt.create_order")
    assert failed.attributes["error.type"] == expected
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.status.description.startswith(type(raised.value).__name__ + ": binance")
    [event] = failed.events
    assert event.attributes["exception.type"] == f"ccxt.base.errors.{type(raised.value).__name__}"
    labels = {"ccxt.method": "create_order", "error.type": expected, "trading.exchange": "binance"}
    assert otel.value(EXCHANGE_ERRORS, **labels) == 1
    assert otel.value(EXCHANGE_REQUESTS, **{"ccxt.method": "create_order"}) == 1


def test_timeouts_and_unreachable_venues(venue: FakeBinance, otel: TelemetryCapture) -> None:
    exchange = binance(venue, timeout=50)
    exchange.load_markets()
    venue.fail("/api/v3/order", 200, {}, delay=0.5)
    with pytest.raises(ccxt.RequestTimeout):
        exchange.fetch_order("28", "BTC/USDT")
    unreachable = binance(venue, timeout=500)
    venue.point(unreachable, f"http://127.0.0.1:{closed_port()}")
    unreachable.set_markets(list(exchange.markets.values()))
    with pytest.raises(ccxt.NetworkError) as raised:
        unreachable.fetch_open_orders("BTC/USDT")
    network = ErrorClassifier(ERRORS)(raised.value)
    assert network in ("NetworkError", "ExchangeNotAvailable")
    assert otel.span("ccxt.fetch_order").attributes["error.type"] == "RequestTimeout"
    assert otel.span("ccxt.fetch_open_orders").attributes["error.type"] == network
    assert otel.value(EXCHANGE_ERRORS, **{"error.type": "RequestTimeout"}) == 1


async def test_async_timeout(venue: FakeBinance, otel: TelemetryCapture) -> None:
    exchange = async_binance(venue, timeout=50)
    try:
        await exchange.load_markets()
        venue.fail("/api/v3/account", 200, {}, delay=0.5)
        with pytest.raises(ccxt.RequestTimeout):
            await exchange.fetch_balance()
    finally:
        await exchange.close()
    assert otel.span("ccxt.fetch_balance").attributes["error.type"] == "RequestTimeout"


def test_error_classes_follow_the_ccxt_hierarchy() -> None:
    classify = ErrorClassifier(ERRORS)
    expected = {
        "OnMaintenance": "ExchangeNotAvailable",
        "InvalidNonce": "NetworkError",
        "PermissionDenied": "AuthenticationError",
        "AccountSuspended": "AuthenticationError",
        "ContractUnavailable": "InvalidOrder",
        "OrderNotFound": "OrderNotFound",
        "BadSymbol": "ExchangeError",
        "NotSupported": "ExchangeError",
        "BadResponse": OTHER,
        "NullResponse": OTHER,
        "OperationFailed": OTHER,
        "BaseError": OTHER,
        **{name: name for name in ERROR_CLASSES},
    }
    for name, error_type in expected.items():
        assert classify(getattr(ERRORS, name)("x")) == error_type, name
    assert classify(KeyError("x")) == OTHER
    # Every ccxt error lands in the fixed set.
    for value in vars(ERRORS).values():
        if isinstance(value, type) and issubclass(value, ccxt.BaseError):
            assert classify(value("x")) in (*ERROR_CLASSES, OTHER)


def test_the_callers_exception_is_the_same_object(venue: FakeBinance, otel: TelemetryCapture) -> None:
    exchange = binance(venue)
    exchange.load_markets()
    boom = RuntimeError("signing device unplugged")

    def sign(*args: Any, **kwargs: Any) -> Any:
        raise boom

    exchange.sign = sign  # an instance attribute: the class and ccxt are untouched
    with pytest.raises(RuntimeError) as raised:
        exchange.fetch_balance()
    assert raised.value is boom
    assert raised.value.__traceback__ is not None
    assert otel.span("ccxt.fetch_balance").attributes["error.type"] == OTHER


async def test_cancellation_is_recorded_and_propagates(venue: FakeBinance, otel: TelemetryCapture) -> None:
    exchange = async_binance(venue)
    try:
        await exchange.load_markets()
        venue.fail("/api/v3/ticker/24hr", 200, {}, delay=1.0)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(exchange.fetch_ticker("BTC/USDT"), 0.05)
    finally:
        await exchange.close()
    cancelled = otel.span("ccxt.fetch_ticker")
    assert cancelled.attributes["error.type"] == OTHER
    assert cancelled.events[0].attributes["exception.type"].endswith("CancelledError")


# --- secrets ---


def _exported_text(otel: TelemetryCapture) -> str:
    spans = [s.to_json() for s in otel.spans]
    logs = [r.to_json() for r in otel.logs]
    metrics = [m.to_json() for m in otel.metrics().values()]
    return "\n".join([*spans, *logs, *metrics])


def _echo_request(received: Received) -> dict[str, Any]:
    # A venue that echoes what it received: the signed query and the key, with no '=' to match.
    return {"code": -1022, "msg": f"Signature for this request is not valid. Request {received.method} "
                                  f"{received.query or received.body} with key {received.headers['X-MBX-APIKEY']}"}


def test_credentials_and_signatures_appear_nowhere(venue: FakeBinance, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="ccxt")  # ccxt logs every request, headers included, at DEBUG
    with capture(system_metrics=False, instrument=["ccxt"], log_level="debug") as otel:
        exchange = binance(venue, timeout=200)
        exchange.load_markets()
        exchange.create_order("BTC/USDT", "limit", "buy", 0.001, 60000)  # signed POST body
        exchange.fetch_open_orders("BTC/USDT")  # signed GET query
        venue.fail("/api/v3/order", 400, _echo_request)
        with pytest.raises(ccxt.AuthenticationError) as echoed:
            exchange.fetch_order("28", "BTC/USDT")
        venue.fail("/api/v3/account", 503, "<html>down</html>")
        with pytest.raises(ccxt.ExchangeNotAvailable):
            exchange.fetch_balance()
        venue.fail("/api/v3/openOrders", 200, [], delay=0.5)
        with pytest.raises(ccxt.RequestTimeout) as timed_out:
            exchange.fetch_open_orders("BTC/USDT")
        venue.point(exchange, f"http://127.0.0.1:{closed_port()}")
        with pytest.raises(ccxt.NetworkError):
            exchange.fetch_my_trades("BTC/USDT")
        exported = _exported_text(otel)
        ccxt_logs = [str(r.log_record.body) for r in otel.logs if "Request:" in str(r.log_record.body)]

    # The canaries really were used and really are in what ccxt raised and logged ...
    assert all(r.headers.get("X-MBX-APIKEY") == API_KEY for r in venue.requests if r.path != "/api/v3/exchangeInfo")
    assert "signature=" in venue.requests[1].body and "signature=" in venue.requests[2].query
    assert API_KEY in str(echoed.value) and "signature=" in str(timed_out.value)
    # ccxt logged each signed request with its headers; while instrumented, the key is cut out at the source.
    logged = [r.getMessage() for r in caplog.records if r.name == "ccxt.base.exchange"]
    assert sum("'X-MBX-APIKEY': '[REDACTED]'" in m for m in logged) >= 6
    assert not any(API_KEY in m for m in logged)
    # ... and in nothing exported: spans, events, status descriptions, logs, metrics.
    assert "ccxt.fetch_order" in exported and len(ccxt_logs) >= 6
    assert "'X-MBX-APIKEY': '[REDACTED]'" in ccxt_logs[1]
    for canary in CANARIES:
        assert canary not in exported
    assert not UNREDACTED_SIGNATURE.search(exported)
    assert "signature=[REDACTED]" in exported


def test_redactor_scrubs_quoted_secret_pairs() -> None:
    from otel_trading.redaction import Redactor

    scrub = Redactor().scrub_text
    headers = "Request: {'X-MBX-APIKEY': 'k-123', 'OK-ACCESS-PASSPHRASE': 'p-456', 'Content-Type': 'json'}"
    assert scrub(headers) == (
        "Request: {'X-MBX-APIKEY': '[REDACTED]', 'OK-ACCESS-PASSPHRASE': '[REDACTED]', 'Content-Type': 'json'}"
    )
    body = '{"apiKey":"k\\"1","secret": "s-2", "sign": "abc", "symbol": "BTC/USDT", "amount": 1}'
    assert scrub(body) == (
        '{"apiKey":"[REDACTED]","secret": "[REDACTED]", "sign": "[REDACTED]", "symbol": "BTC/USDT", "amount": 1}'
    )
    assert scrub("{'Authorization': \"it's me\"}") == "{'Authorization': \"[REDACTED]\"}"
    clean = '{"symbol": "BTC/USDT", "side": "buy"}'
    assert scrub(clean) is clean


# --- never hurt the bot ---


def test_disabled_or_unconfigured_records_nothing_and_costs_next_to_nothing(venue: FakeBinance) -> None:
    exchange = binance(venue)
    exchange.load_markets()

    def cached() -> None:  # markets already loaded: a pure in-process call, ~0.2 us
        exchange.load_markets()  # looked up at each call: the class's method, wrapped or not

    def per_call() -> float:
        return min(timeit.repeat(cached, number=5000, repeat=5)) / 5000

    baseline = per_call()
    CcxtInstrumentor().instrument()
    unconfigured = per_call()
    with capture(enabled=False) as otel:
        exchange.fetch_ticker("BTC/USDT")
        disabled = per_call()
        assert otel.spans == [] and otel.metrics() == {}
    assert exchange not in TRACKER.alive()  # no side effect at all
    # A generous bound, for noisy CI machines: the wrapper measured ~0.1 us.
    assert unconfigured - baseline < 2e-6 and disabled - baseline < 2e-6, (baseline, unconfigured, disabled)


def test_instrumentation_failures_are_logged_once_and_never_raised(
    venue: FakeBinance, otel: TelemetryCapture, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from otel_trading.instrumentation.ccxt import _call, _metrics
    from otel_trading.tracing import _operation

    # "once per place": the capture's own process state has reported nothing yet
    exchange = binance(venue)
    exchange.load_markets()

    def broken(*args: Any, **kwargs: Any) -> None:
        raise ValueError("telemetry bug")

    monkeypatch.setattr(_metrics.METRICS, "record", broken)
    with caplog.at_level(logging.ERROR, logger="otel_trading.tracing"):
        assert exchange.fetch_ticker("BTC/USDT")["last"] == 63120.5
        assert exchange.fetch_ticker("BTC/USDT")["last"] == 63120.5
        venue.fail("/api/v3/order", 400, INSUFFICIENT)
        with pytest.raises(ccxt.InsufficientFunds):
            exchange.create_order("BTC/USDT", "limit", "buy", 0.001, 60000)
    monkeypatch.undo()
    _operation._REPORTED_FAILURES.set(set())  # in the capture's own process state: gone with it
    monkeypatch.setattr(_call, "Operation", broken)
    with caplog.at_level(logging.ERROR, logger="otel_trading.tracing"):
        assert exchange.fetch_order_book("BTC/USDT")["bids"]
        assert exchange.fetch_order_book("BTC/USDT")["bids"]
    failures = [r.getMessage() for r in caplog.records if "instrumentation failed" in r.getMessage()]
    assert sorted(failures) == sorted(
        f"otel-trading instrumentation failed in {where}; the call itself was not affected"
        for where in ("ccxt call finish", "ccxt call error", "ccxt call start")
    )
    assert len(spans_named(otel, "ccxt.fetch_ticker")) == 2  # spans still ended before the metric failed


# --- configure(instrument=...) and opentelemetry-instrument ---


def test_configure_instrument_switches_on_and_off(monkeypatch: pytest.MonkeyPatch) -> None:
    original = ccxt.binance.__dict__["create_order"]
    telemetry = otel_trading.configure(instrument=["ccxt"], metrics_exporter="none", traces_exporter="none",
                                       logs_exporter="none", log_console="off", system_metrics=False)
    assert telemetry.settings.instrument == ("ccxt",)
    assert is_wrapper(ccxt.binance.create_order)
    # Reconfiguring without it takes the wrappers off; shutting down too.
    otel_trading.configure(metrics_exporter="none", traces_exporter="none", logs_exporter="none", log_console="off",
                           system_metrics=False)
    assert ccxt.binance.__dict__["create_order"] is original
    monkeypatch.setenv("OTEL_TRADING_INSTRUMENT", " ccxt ")
    otel_trading.configure(metrics_exporter="none", traces_exporter="none", logs_exporter="none", log_console="off",
                           system_metrics=False)
    assert is_wrapper(ccxt.binance.create_order)
    otel_trading.shutdown()
    assert ccxt.binance.__dict__["create_order"] is original


def test_configure_leaves_an_instrumentor_it_did_not_switch_on() -> None:
    CcxtInstrumentor().instrument()
    with capture(instrument=["ccxt"], system_metrics=False):
        pass
    assert CcxtInstrumentor().is_instrumented_by_opentelemetry and is_wrapper(ccxt.binance.create_order)


def test_instrument_option_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    # ccxt, and the opentelemetry_instrumentor entry points installed here (system_metrics...)
    unknown = r"^instrument: unknown instrumentation 'cxt'; expected one of \[('\w+', )*'ccxt'(, '\w+')*\]$"
    with pytest.raises(ConfigurationError, match=unknown):
        otel_trading.configure(instrument=["cxt"])
    monkeypatch.setenv("OTEL_TRADING_INSTRUMENT", "ccxt,requests")
    with pytest.raises(ConfigurationError, match=r"^OTEL_TRADING_INSTRUMENT: unknown instrumentation 'requests'"):
        otel_trading.configure()
    monkeypatch.delenv("OTEL_TRADING_INSTRUMENT")
    with pytest.raises(ConfigurationError, match=r"^instrument: expected a list of library names"):
        otel_trading.configure(instrument=[1])  # type: ignore[list-item]
    missing = Instrumentation("ccxt", "ccxt_is_not_installed_here", "ccxt", "otel_trading.instrumentation.ccxt:X")
    monkeypatch.setitem(INSTRUMENTATIONS, "ccxt", missing)  # type: ignore[index]
    with pytest.raises(ConfigurationError, match=re.escape("pip install 'otel-trading[ccxt]'")):
        otel_trading.configure(instrument="ccxt")
    assert otel_trading.current() is None


BOT = """
import sys
import ccxt
sys.path.insert(0, {tests!r})
from fake_exchange import binance_config

exchange = ccxt.binance(binance_config(apiKey="k" * 16, secret="s" * 16))
for key, url in list(exchange.urls["api"].items()):
    exchange.urls["api"][key] = {base!r} + "/" + url.split("/", 3)[3]
print(exchange.fetch_ticker("BTC/USDT")["last"])
"""


def test_opentelemetry_instrument_configures_otel_trading(venue: FakeBinance, tmp_path: Path) -> None:
    script = tmp_path / "momentum_bot.py"
    script.write_text(BOT.format(tests=str(Path(__file__).parent), base=venue.url), encoding="utf-8")
    store = tmp_path / "store"
    environ = {name: value for name, value in os.environ.items() if not name.startswith("OTEL_")}
    environ.update({
        "OTEL_TRADING_STORE_DIR": str(store), "OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none",
        "OTEL_TRADING_LOG_CONSOLE": "off", "OTEL_TRADING_SYSTEM_METRICS": "false",
        # opentelemetry-distro is installed too (the dev extra): ours, chosen by name.
        "OTEL_PYTHON_DISTRO": "otel_trading",
        # Also switched on by configure(): the distro must not instrument it a second time.
        "OTEL_TRADING_INSTRUMENT": "ccxt",
    })
    command = [str(Path(sys.executable).parent / "opentelemetry-instrument"), sys.executable, script.name]
    started = time.monotonic()
    result = subprocess.run(command, cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "63120.5"
    assert "already instrumented" not in result.stderr, result.stderr
    exported = [json.loads(line) for line in (store / "traces.jsonl").read_text().splitlines()]
    resource_spans = [rs for batch in exported for rs in batch["resourceSpans"]]
    spans = [s for rs in resource_spans for scope in rs["scopeSpans"] for s in scope["spans"]]
    assert [s["name"] for s in spans] == ["ccxt.fetch_ticker"]
    resource = {a["key"]: a["value"]["stringValue"] for a in resource_spans[0]["resource"]["attributes"]
                if "stringValue" in a["value"]}
    assert resource["service.name"] == "momentum_bot"
    assert time.monotonic() - started < 20
