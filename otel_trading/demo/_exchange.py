"""``SimulatedExchange``: a venue with ccxt's async unified API, instrumented like a ccxt class.

Same method names and signatures as ``ccxt.async_support`` exchanges, ccxt-shaped results
(orders, tickers, balances) and ccxt-named exceptions (``_errors``), so that
``otel_trading.instrumentation.ccxt.instrument_class`` gives its calls the very spans and
metrics a real exchange's get, and the bot using it reads like a ccxt bot.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from otel_trading.demo import _errors as errors
from otel_trading.demo._account import SimOrder, SimulatedAccount
from otel_trading.demo._market import SimulatedMarket
from otel_trading.demo._scenario import QUOTE_CURRENCY, DemoOptions
from otel_trading.demo._venue import VenueConditions

NO_PARAMS: Final[Mapping[str, Any]] = MappingProxyType({})  # ccxt's ``params={}``, read-only


class SimulatedExchange:
    """A ccxt-compatible (async) exchange on a ``SimulatedMarket``."""

    id = "simulated"
    name = "Simulated Exchange"
    rateLimit = 50  # ms between requests, as ccxt exchanges declare it
    enableRateLimit = True

    def __init__(self, market: SimulatedMarket, options: DemoOptions) -> None:
        self._market = market
        self._latency_scale = options.latency_scale
        self._venue = VenueConditions(market, options.scenario, options.seed, error_rate=options.error_rate,
                                      reject_rate=options.reject_rate)
        self._account = SimulatedAccount(market, options.seed, options.starting_cash, options.partial_fill_rate)
        self.markets: dict[str, dict[str, Any]] = {}

    async def _request(self, method: str, symbol: str | None = None) -> None:
        """One round trip: its failure is decided when it is sent, the answer comes after the latency."""
        error = self._venue.transport_error(method, self.id)
        await asyncio.sleep(self._venue.latency_s(method, error) * self._latency_scale)
        if error is not None:
            raise error
        if symbol is not None and symbol not in self._market.prices:
            raise errors.BadSymbol(f"{self.id} does not have market symbol {symbol}")

    async def load_markets(self, reload: bool = False, params: Mapping[str, Any] = NO_PARAMS) -> dict[str, Any]:  # noqa: ARG002 - ccxt's signature
        if not self.markets or reload:
            await self._request("load_markets")
            self.markets = {
                symbol: {"id": symbol.replace("/", ""), "symbol": symbol, "base": symbol.split("/")[0],
                         "quote": QUOTE_CURRENCY, "spot": True, "active": True, "taker": 0.001}
                for symbol in self._market.symbols
            }
        return self.markets

    async def fetch_ticker(self, symbol: str, params: Mapping[str, Any] = NO_PARAMS) -> dict[str, Any]:  # noqa: ARG002
        await self._request("fetch_ticker", symbol)
        quote = self._market.quote(symbol)
        return {"symbol": symbol, **self._stamp(), "bid": quote.bid, "ask": quote.ask, "last": quote.last,
                "close": quote.last, "info": {}}

    async def fetch_balance(self, params: Mapping[str, Any] = NO_PARAMS) -> dict[str, Any]:  # noqa: ARG002
        await self._request("fetch_balance")
        account = self._account
        currencies = sorted(set(account.free) | set(account.used))
        free = {c: account.free.get(c, 0.0) for c in currencies}
        used = {c: account.used.get(c, 0.0) for c in currencies}
        total = {c: free[c] + used[c] for c in currencies}
        per_currency = {c: {"free": free[c], "used": used[c], "total": total[c]} for c in currencies}
        return {**per_currency, "free": free, "used": used, "total": total, **self._stamp(), "info": {}}

    async def create_order(  # noqa: PLR0917 - ccxt's signature
        self, symbol: str, type: str, side: str, amount: float, price: float | None = None,
        params: Mapping[str, Any] = NO_PARAMS,
    ) -> dict[str, Any]:
        await self._request("create_order", symbol)
        if side == "buy":
            reject = self._venue.entry_reject(self.id)
            if reject is not None:
                raise reject
        client_id = params.get("clientOrderId")
        order = self._account.place(
            symbol, type, side, float(amount), price=None if price is None else float(price),
            client_id=client_id if isinstance(client_id, str) else None, exchange_id=self.id,
        )
        return self._order(order)

    async def fetch_order(self, id: str, symbol: str | None = None,
                          params: Mapping[str, Any] = NO_PARAMS) -> dict[str, Any]:  # noqa: ARG002
        await self._request("fetch_order", symbol)
        order = self._find(id)
        self._account.match(order)
        return self._order(order)

    async def cancel_order(self, id: str, symbol: str | None = None,
                           params: Mapping[str, Any] = NO_PARAMS) -> dict[str, Any]:  # noqa: ARG002
        await self._request("cancel_order", symbol)
        order = self._find(id)
        if order.status != "open":
            raise errors.OrderNotFound(f'{self.id} {{"code":-2011,"msg":"Unknown order sent."}}')
        self._account.cancel(order)
        return self._order(order)

    async def fetch_open_orders(self, symbol: str | None = None, since: int | None = None, limit: int | None = None,  # noqa: ARG002
                                params: Mapping[str, Any] = NO_PARAMS) -> list[dict[str, Any]]:  # noqa: ARG002
        await self._request("fetch_open_orders", symbol)
        return [self._order(o) for o in self._account.orders.values()
                if o.status == "open" and symbol in (None, o.symbol)]

    async def close(self) -> None:
        """Releases the (simulated) HTTP session, as ccxt's async exchanges must be closed."""

    def _find(self, order_id: str) -> SimOrder:
        order = self._account.orders.get(order_id)
        if order is None:
            raise errors.OrderNotFound(f'{self.id} {{"code":-2013,"msg":"Order does not exist."}}')
        return order

    def _stamp(self) -> dict[str, Any]:
        milliseconds = int(self._market.time * 1000)
        moment = dt.datetime.fromtimestamp(milliseconds / 1000, dt.timezone.utc)
        return {"timestamp": milliseconds, "datetime": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")}

    def _order(self, order: SimOrder) -> dict[str, Any]:
        """The order as ccxt's unified structure (a copy: the caller cannot change the venue's books)."""
        filled = order.filled
        cost = sum(fill["cost"] for fill in order.fills)
        return {
            "id": order.id, "clientOrderId": order.client_id, "timestamp": order.timestamp_ms,
            "symbol": order.symbol, "type": order.type, "timeInForce": "GTC", "side": order.side,
            "price": order.price, "amount": order.amount, "filled": filled, "remaining": order.remaining,
            "average": cost / filled if filled else None, "cost": cost, "status": order.status,
            "fee": {"cost": sum(fill["fee"]["cost"] for fill in order.fills), "currency": QUOTE_CURRENCY},
            "trades": [{**fill, "fee": dict(fill["fee"])} for fill in order.fills], "info": {},
        }
