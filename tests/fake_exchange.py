"""A loopback HTTP server that answers like Binance's spot REST API, for driving real ccxt classes.

    with FakeBinance() as venue:
        exchange = venue.point(ccxt.binance({"apiKey": "...", "secret": "..."}))
        exchange.load_markets()
        venue.fail("/api/v3/order", 400, {"code": -2013, "msg": "Order does not exist."})
        exchange.fetch_order("1", "BTC/USDT")  # raises ccxt.OrderNotFound

Only what the tests need is implemented, with bodies shaped like Binance's documented
responses: exchange info for two symbols, orders, tickers, depth, klines, trades, account.
Every request is kept (method, path, query, headers, body) so tests can check what ccxt
really sent - in particular that requests were signed with the canary credentials.

``FakeBinance(keep_orders=True)`` keeps the orders it is sent (``VenueOrders``): a limit order
stays open until the test fills it (``venue.orders.fill(...)``, partially or fully), expires
it, or ccxt cancels it; a market order fills at once. Orders, open orders, cancels and the
account's trades are then answered from that state, as Binance would.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

LOOPBACK = "127.0.0.1"
NOW_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: fixed, so parsed timestamps are predictable


def _symbol_info(base: str, quote: str, tick: str, step: str) -> dict[str, Any]:
    return {
        "symbol": base + quote, "status": "TRADING", "baseAsset": base, "baseAssetPrecision": 8,
        "quoteAsset": quote, "quotePrecision": 8, "quoteAssetPrecision": 8, "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True, "ocoAllowed": True, "quoteOrderQtyMarketAllowed": True, "allowTrailingStop": True,
        "cancelReplaceAllowed": True, "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": "1000000.00000000", "tickSize": tick},
            {"filterType": "LOT_SIZE", "minQty": step, "maxQty": "9000.00000000", "stepSize": step},
            {"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": True,
             "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5},
        ],
        "permissions": [], "permissionSets": [["SPOT"]], "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


EXCHANGE_INFO: dict[str, Any] = {
    "timezone": "UTC", "serverTime": NOW_MS,
    "rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000}],
    "exchangeFilters": [],
    "symbols": [
        _symbol_info("BTC", "USDT", "0.01000000", "0.00001000"),
        _symbol_info("ETH", "USDT", "0.01000000", "0.00010000"),
    ],
}


def ticker(symbol: str) -> dict[str, Any]:
    return {
        "symbol": symbol, "priceChange": "120.50", "priceChangePercent": "0.190", "weightedAvgPrice": "63210.11",
        "prevClosePrice": "63000.00", "lastPrice": "63120.50", "lastQty": "0.01200", "bidPrice": "63120.40",
        "bidQty": "1.50000", "askPrice": "63120.50", "askQty": "0.80000", "openPrice": "63000.00",
        "highPrice": "63500.00", "lowPrice": "62800.00", "volume": "1234.56700", "quoteVolume": "78031245.10",
        "openTime": NOW_MS - 86_400_000, "closeTime": NOW_MS, "firstId": 100, "lastId": 200, "count": 101,
    }


def order(params: Mapping[str, str], *, order_id: int = 28, status: str = "NEW") -> dict[str, Any]:
    """An order as Binance returns it (``newOrderRespType=FULL`` shape, no fills while NEW)."""
    quantity = params.get("quantity", "0.00100000")
    return {
        "symbol": params.get("symbol", "BTCUSDT"), "orderId": order_id, "orderListId": -1,
        "clientOrderId": params.get("newClientOrderId", "x-R4BD3S82abc123"), "transactTime": NOW_MS,
        "price": params.get("price", "0.00000000"), "origQty": quantity,
        "executedQty": quantity if status == "FILLED" else "0.00000000",
        "cummulativeQuoteQty": "0.00000000", "status": status, "timeInForce": params.get("timeInForce", "GTC"),
        "type": params.get("type", "LIMIT"), "side": params.get("side", "BUY"), "workingTime": NOW_MS,
        "selfTradePreventionMode": "EXPIRE_MAKER", "fills": [],
    }


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: str


@dataclass
class Reply:
    status: int
    # JSON-able, a str sent as is (an HTML error page, say), or a function of the request
    # (a venue echoing what it received).
    body: Any | Callable[[Received], Any]
    delay: float = 0.0


def _route(method: str, path: str, params: Mapping[str, str]) -> Reply:
    symbol = params.get("symbol", "BTCUSDT")
    routes: dict[tuple[str, str], Callable[[], Any]] = {
        ("GET", "/api/v3/exchangeInfo"): lambda: EXCHANGE_INFO,
        ("GET", "/api/v3/time"): lambda: {"serverTime": NOW_MS},
        ("GET", "/api/v3/ticker/24hr"): lambda: (
            ticker(symbol) if "symbol" in params else [ticker("BTCUSDT"), ticker("ETHUSDT")]
        ),
        ("GET", "/api/v3/depth"): lambda: {
            "lastUpdateId": 1027024, "bids": [["63120.40", "1.5"], ["63120.00", "2.0"]],
            "asks": [["63120.50", "0.8"], ["63121.00", "3.1"]],
        },
        ("GET", "/api/v3/klines"): lambda: [
            [NOW_MS - 60_000, "63000.00", "63150.00", "62990.00", "63120.50", "12.5", NOW_MS - 1, "788000.0",
             120, "6.1", "385000.0", "0"],
        ],
        ("GET", "/api/v3/aggTrades"): lambda: [
            {"a": 26129, "p": "63120.50", "q": "0.01200", "f": 27781, "l": 27781, "T": NOW_MS, "m": True, "M": True},
        ],
        ("GET", "/api/v3/account"): lambda: {
            "makerCommission": 10, "takerCommission": 10, "buyerCommission": 0, "sellerCommission": 0,
            "canTrade": True, "canWithdraw": True, "canDeposit": True, "updateTime": NOW_MS,
            "accountType": "SPOT", "permissions": ["SPOT"],
            "balances": [{"asset": "BTC", "free": "0.50000000", "locked": "0.00000000"},
                         {"asset": "USDT", "free": "10000.00000000", "locked": "250.00000000"}],
        },
        ("POST", "/api/v3/order"): lambda: order(params),
        ("GET", "/api/v3/order"): lambda: order(params, order_id=int(params.get("orderId", "28")), status="FILLED"),
        ("DELETE", "/api/v3/order"): lambda: order(params, order_id=int(params.get("orderId", "28")),
                                                   status="CANCELED"),
        ("GET", "/api/v3/openOrders"): lambda: [order(params)],
        ("GET", "/api/v3/allOrders"): lambda: [order(params, status="FILLED"), order(params, order_id=29)],
        ("DELETE", "/api/v3/openOrders"): lambda: [order(params, status="CANCELED")],
        ("GET", "/api/v3/myTrades"): lambda: [
            {"symbol": symbol, "id": 28457, "orderId": 100234, "orderListId": -1, "price": "63120.50",
             "qty": "0.00100000", "quoteQty": "63.12050000", "commission": "0.00000100", "commissionAsset": "BTC",
             "time": NOW_MS, "isBuyer": True, "isMaker": False, "isBestMatch": True},
        ],
    }
    answer = routes.get((method, path))
    if answer is None:
        return Reply(404, {"code": -1, "msg": f"fake exchange has no route {method} {path}"})
    return Reply(200, answer())


ASK = Decimal("63120.50")  # where a market order fills
FEE_RATE = Decimal("0.001")  # charged in the quote asset on every fill
_OPEN_STATUSES = ("NEW", "PARTIALLY_FILLED")


@dataclass
class VenueOrder:
    params: dict[str, str]
    order_id: int
    status: str = "NEW"
    executed: Decimal = Decimal(0)
    quote: Decimal = Decimal(0)  # cumulative quote quantity: Binance's cummulativeQuoteQty
    fills: list[dict[str, Any]] = field(default_factory=list)

    @property
    def quantity(self) -> Decimal:
        return Decimal(self.params.get("quantity", "0"))

    def reply(self, *, with_fills: bool = False) -> dict[str, Any]:
        body = order(self.params, order_id=self.order_id, status=self.status)
        body.update(executedQty=f"{self.executed:.8f}", cummulativeQuoteQty=f"{self.quote:.8f}", updateTime=NOW_MS)
        if with_fills:
            body["fills"] = [{key: fill[key] for key in ("price", "qty", "commission", "commissionAsset", "tradeId")}
                             for fill in self.fills]
        else:
            del body["fills"]  # GET /api/v3/order carries no fills
        return body


class VenueOrders:
    """The orders a ``FakeBinance(keep_orders=True)`` was sent, and their fills."""

    def __init__(self) -> None:
        self._orders: dict[int, VenueOrder] = {}
        self._ids = itertools.count(1000)
        self._trade_ids = itertools.count(5000)
        self._lock = threading.Lock()

    def place(self, params: Mapping[str, str]) -> dict[str, Any]:
        with self._lock:
            placed = VenueOrder(dict(params), next(self._ids))
            self._orders[placed.order_id] = placed
        if params.get("type") == "MARKET":
            self.fill(placed.order_id, str(placed.quantity), str(ASK))
        return placed.reply(with_fills=True)

    def fill(self, order_id: int, quantity: str, price: str) -> None:
        """A (partial) fill of an open order, with its fee in the quote asset."""
        with self._lock:
            placed = self._orders[order_id]
            amount, at = Decimal(quantity), Decimal(price)
            placed.executed += amount
            placed.quote += amount * at
            placed.status = "FILLED" if placed.executed >= placed.quantity else "PARTIALLY_FILLED"
            placed.fills.append({
                "price": f"{at:.8f}", "qty": f"{amount:.8f}", "commission": f"{amount * at * FEE_RATE:.8f}",
                "commissionAsset": "USDT", "tradeId": next(self._trade_ids),
            })

    def replace(self, params: Mapping[str, str]) -> Reply:
        """Binance's cancel-replace (ccxt's ``edit_order``): the order cancelled, a new one placed."""
        cancelled = self.cancel({"orderId": params.get("cancelOrderId", "0")})
        if cancelled.status != 200:
            return cancelled
        placed = self.place(params)
        return Reply(200, {"cancelResult": "SUCCESS", "newOrderResult": "SUCCESS",
                           "cancelResponse": cancelled.body, "newOrderResponse": placed})

    def set_status(self, order_id: int, status: str) -> None:
        """EXPIRED, REJECTED, ...: what the venue did to the order by itself."""
        with self._lock:
            self._orders[order_id].status = status

    def get(self, params: Mapping[str, str]) -> Reply:
        with self._lock:
            placed = self._orders.get(int(params.get("orderId", "0")))
            if placed is None:
                return Reply(400, {"code": -2013, "msg": "Order does not exist."})
            return Reply(200, placed.reply())

    def cancel(self, params: Mapping[str, str]) -> Reply:
        with self._lock:
            placed = self._orders.get(int(params.get("orderId", "0")))
            if placed is None or placed.status not in _OPEN_STATUSES:
                return Reply(400, {"code": -2011, "msg": "Unknown order sent."})
            placed.status = "CANCELED"
            return Reply(200, placed.reply())

    def listed(self, params: Mapping[str, str], *, open_only: bool) -> list[dict[str, Any]]:
        symbol = params.get("symbol")
        with self._lock:
            return [placed.reply() for placed in self._orders.values()
                    if (symbol is None or placed.params.get("symbol") == symbol)
                    and (not open_only or placed.status in _OPEN_STATUSES)]

    def cancel_all(self, params: Mapping[str, str]) -> list[dict[str, Any]]:
        with self._lock:
            cancelled = [placed for placed in self._orders.values()
                         if placed.params.get("symbol") == params.get("symbol") and placed.status in _OPEN_STATUSES]
            for placed in cancelled:
                placed.status = "CANCELED"
            return [placed.reply() for placed in cancelled]

    def trades(self, params: Mapping[str, str]) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {"symbol": placed.params.get("symbol"), "id": fill["tradeId"], "orderId": placed.order_id,
                 "orderListId": -1, "price": fill["price"], "qty": fill["qty"],
                 "quoteQty": f"{Decimal(fill['price']) * Decimal(fill['qty']):.8f}",
                 "commission": fill["commission"], "commissionAsset": fill["commissionAsset"], "time": NOW_MS,
                 "isBuyer": placed.params.get("side") == "BUY", "isMaker": placed.params.get("type") != "MARKET",
                 "isBestMatch": True}
                for placed in self._orders.values() if placed.params.get("symbol") == params.get("symbol")
                for fill in placed.fills
            ]

    def route(self, method: str, path: str, params: Mapping[str, str]) -> Reply | None:
        """The answer from the kept orders, or None for a path they do not serve."""
        routes: dict[tuple[str, str], Callable[[], Reply]] = {
            ("POST", "/api/v3/order"): lambda: Reply(200, self.place(params)),
            ("POST", "/api/v3/order/cancelReplace"): lambda: self.replace(params),
            ("GET", "/api/v3/order"): lambda: self.get(params),
            ("DELETE", "/api/v3/order"): lambda: self.cancel(params),
            ("GET", "/api/v3/openOrders"): lambda: Reply(200, self.listed(params, open_only=True)),
            ("GET", "/api/v3/allOrders"): lambda: Reply(200, self.listed(params, open_only=False)),
            ("DELETE", "/api/v3/openOrders"): lambda: Reply(200, self.cancel_all(params)),
            ("GET", "/api/v3/myTrades"): lambda: Reply(200, self.trades(params)),
        }
        answer = routes.get((method, path))
        return None if answer is None else answer()


def binance_config(**extra: Any) -> dict[str, Any]:
    """Constructor config of a ccxt binance that only needs the spot endpoints served here."""
    options = {"fetchMarkets": {"types": ["spot"]}, "fetchMargins": False, "fetchCurrencies": False}
    return {"enableRateLimit": False, "options": options, **extra}


def _ignore_error(_request: Any, _client_address: Any) -> None:
    """A handler still sleeping (slow reply) when the client gave up writes to a closed socket: expected."""


class FakeBinance:
    """Binance-shaped REST endpoints on 127.0.0.1, an ephemeral port, one thread per request."""

    def __init__(self, *, keep_orders: bool = False) -> None:
        self.requests: list[Received] = []
        self.orders = VenueOrders() if keep_orders else None
        self._scripted: dict[str, deque[Reply]] = {}
        self._lock = threading.Lock()
        venue = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Headers and body are separate writes: without this, Nagle + delayed ACK add ~40 ms.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: tests read ``requests`` instead

            def _handle(self) -> None:
                venue._serve(self)

            do_GET = do_POST = do_DELETE = do_PUT = _handle

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self._server.daemon_threads = True
        self._server.handle_error = _ignore_error  # type: ignore[method-assign]
        self.port = int(self._server.server_address[1])
        self.url = f"http://{LOOPBACK}:{self.port}"
        # A short poll interval: shutdown() waits for the serving loop to notice, once per test.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), name="fake-binance",
                                        daemon=True)

    def __enter__(self) -> FakeBinance:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail(self, path: str, status: int, body: Any, *, delay: float = 0.0, times: int = 1) -> None:
        """The next ``times`` requests to ``path`` get this reply instead of the normal one."""
        with self._lock:
            queue = self._scripted.setdefault(path, deque())
            queue.extend(Reply(status, body, delay) for _ in range(times))

    def point(self, exchange: Any, base_url: str | None = None) -> Any:
        """Rewrites every ``exchange.urls['api']`` entry to this server (or ``base_url``), keeping paths."""
        target = urlsplit(base_url or self.url)
        api = exchange.urls["api"]
        for key, value in list(api.items()):
            if isinstance(value, str):
                parts = urlsplit(value)
                api[key] = urlunsplit((target.scheme, target.netloc, parts.path, parts.query, ""))
        return exchange

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length).decode() if length else ""
        params = dict(parse_qsl(parts.query))
        params.update(parse_qsl(body))
        received = Received(handler.command, parts.path, parts.query, dict(handler.headers), body)
        with self._lock:
            self.requests.append(received)
            scripted = self._scripted.get(parts.path)
            reply = scripted.popleft() if scripted else None
        if reply is None and self.orders is not None:
            reply = self.orders.route(handler.command, parts.path, params)
        if reply is None:
            reply = _route(handler.command, parts.path, params)
        if reply.delay:
            time.sleep(reply.delay)
        content = reply.body(received) if callable(reply.body) else reply.body
        payload = (content if isinstance(content, str) else json.dumps(content)).encode()
        content_type = "text/html" if isinstance(content, str) else "application/json;charset=UTF-8"
        try:
            handler.send_response(reply.status)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
        except OSError:
            pass  # the client timed out and went away
