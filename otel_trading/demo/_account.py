"""The simulated venue's books: balances, orders and their matching against the market.

A marketable limit order fills at once, in full or (at ``partial_fill_rate``) in part, the
rest on later ticks; a market order fills at once in one or two pieces. Matching happens
when the order is placed or queried, at most once per tick, so it depends on ticks alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from otel_trading.demo import _errors as errors
from otel_trading.demo._market import SimulatedMarket
from otel_trading.demo._scenario import QUOTE_CURRENCY, derived_rng

FEE_RATE: Final = 0.00075  # 0.075% taker fee (a major venue with its fee discount), in the quote currency
MIN_NOTIONAL: Final = 10.0
_SLIPPAGE_BPS: Final = 2.0
_REST_FILL_CHANCE: Final = 0.5  # per tick, that a resting remainder fills


@dataclass
class SimOrder:
    id: str
    client_id: str | None
    symbol: str
    type: str
    side: str
    amount: float
    price: float | None
    timestamp_ms: int
    status: str = "open"
    fills: list[dict[str, Any]] = field(default_factory=list)
    matched_tick: int = -1

    @property
    def filled(self) -> float:
        return float(sum(fill["amount"] for fill in self.fills))

    @property
    def remaining(self) -> float:
        return max(self.amount - self.filled, 0.0)


class SimulatedAccount:
    def __init__(self, market: SimulatedMarket, seed: int, cash: float, partial_fill_rate: float) -> None:
        self._market = market
        self._rng = derived_rng(seed, "venue/fills")
        self._partial_fill_rate = partial_fill_rate
        self.free: dict[str, float] = {QUOTE_CURRENCY: cash}
        self.used: dict[str, float] = {QUOTE_CURRENCY: 0.0}
        self.orders: dict[str, SimOrder] = {}
        self._next_id = 700_000_001

    def place(self, symbol: str, kind: str, side: str, amount: float, *, price: float | None,
              client_id: str | None, exchange_id: str) -> SimOrder:
        quote = self._market.quote(symbol)
        reference = price if price is not None else (quote.ask if side == "buy" else quote.bid)
        if kind not in ("market", "limit") or side not in ("buy", "sell") or (kind == "limit" and not price):
            raise errors.InvalidOrder(f"{exchange_id} createOrder() needs a market or limit buy/sell order")
        if amount <= 0 or amount * reference < MIN_NOTIONAL:
            raise errors.InvalidOrder(f'{exchange_id} {{"code":-1013,"msg":"Filter failure: NOTIONAL"}}')
        base = symbol.split("/", maxsplit=1)[0]
        needed = amount * reference * (1 + FEE_RATE) if side == "buy" else amount
        if needed > self.free.get(QUOTE_CURRENCY if side == "buy" else base, 0.0) + 1e-9:
            raise errors.InsufficientFunds(
                f'{exchange_id} {{"code":-2010,"msg":"Account has insufficient balance for requested action."}}'
            )
        order = SimOrder(str(self._next_id), client_id, symbol, kind, side, amount, price,
                         int(self._market.time * 1000))
        self._next_id += 1
        self.orders[order.id] = order
        if side == "buy" and price is not None:  # a resting buy holds its cost until it fills
            self._move(QUOTE_CURRENCY, amount * price * (1 + FEE_RATE))
        self.match(order)
        return order

    def match(self, order: SimOrder) -> None:
        tick = self._market.tick
        if order.status != "open" or order.matched_tick == tick:
            return
        first = order.matched_tick < 0
        order.matched_tick = tick
        quote = self._market.quote(order.symbol)
        touch = quote.ask if order.side == "buy" else quote.bid
        if order.price is not None and (touch > order.price if order.side == "buy" else touch < order.price):
            return  # not marketable now
        partial, fraction, slip = self._rng.random(), self._rng.uniform(0.3, 0.8), self._rng.uniform(0, 1)
        pieces: list[float | None]  # None: whatever remains
        if order.type == "market":
            pieces = [round(order.remaining * fraction, 8), None] if partial < 0.5 else [None]
        elif (first and partial < self._partial_fill_rate) or (not first and partial >= _REST_FILL_CHANCE):
            pieces = [round(order.remaining * fraction, 8)]
        else:
            pieces = [None]
        sign = 1 if order.side == "buy" else -1
        price = touch * (1 + sign * slip * _SLIPPAGE_BPS / 1e4)
        if order.price is not None:
            price = min(price, order.price) if order.side == "buy" else max(price, order.price)
        for piece in pieces:
            self._fill(order, order.remaining if piece is None else piece, price)
        if order.remaining <= order.amount * 1e-9:
            order.status = "closed"

    def _fill(self, order: SimOrder, amount: float, price: float) -> None:
        cost = amount * price
        fee = cost * FEE_RATE
        base = order.symbol.split("/", maxsplit=1)[0]
        if order.side == "buy":
            if order.price is not None:
                self._move(QUOTE_CURRENCY, -amount * order.price * (1 + FEE_RATE))
            self.free[QUOTE_CURRENCY] -= cost + fee
            self.free[base] = self.free.get(base, 0.0) + amount
        else:
            self.free[base] -= amount
            self.free[QUOTE_CURRENCY] += cost - fee
        order.fills.append({
            "id": f"{order.id}-{len(order.fills) + 1}", "order": order.id, "symbol": order.symbol,
            "timestamp": int(self._market.time * 1000), "side": order.side, "price": price, "amount": amount,
            "cost": cost, "fee": {"cost": fee, "currency": QUOTE_CURRENCY}, "takerOrMaker": "taker",
        })

    def cancel(self, order: SimOrder) -> None:
        if order.side == "buy" and order.price is not None:
            self._move(QUOTE_CURRENCY, -order.remaining * order.price * (1 + FEE_RATE))
        order.status = "canceled"

    def _move(self, currency: str, amount: float) -> None:
        """Reserves ``amount`` (releases a negative one) of ``currency`` for a resting order."""
        self.free[currency] = self.free.get(currency, 0.0) - amount
        self.used[currency] = self.used.get(currency, 0.0) + amount
