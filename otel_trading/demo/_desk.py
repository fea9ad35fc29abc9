"""What the traders of every symbol share: the exchange, the book, the risk manager, the
counters, and the translation of the venue's answers into the SDK's ``Order`` lifecycle."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

from otel_trading import Order, Portfolio
from otel_trading.demo import _errors as errors
from otel_trading.demo._calls import ExchangeCalls
from otel_trading.demo._exchange import SimulatedExchange
from otel_trading.demo._risk import RiskManager
from otel_trading.demo._stats import DemoStats

_REJECT_REASONS: Final = (  # most specific first; short fixed codes, as they become metric attributes
    (errors.InsufficientFunds, "insufficient_funds"), (errors.InvalidOrder, "invalid_order"),
    (errors.RateLimitExceeded, "rate_limited"), (errors.NetworkError, "network_error"),
)
Response = dict[str, Any]


@dataclass
class Desk:
    exchange: SimulatedExchange
    calls: ExchangeCalls
    book: Portfolio
    risk: RiskManager
    stats: DemoStats
    seed: int
    _orders: int = field(default=0, init=False)
    _fills_seen: dict[str, int] = field(default_factory=dict, init=False)  # venue id -> fills applied
    _partial: set[str] = field(default_factory=set, init=False)

    def next_client_id(self) -> str:
        self._orders += 1
        return f"demo-{self.seed}-{self._orders:05d}"

    async def place(self, order: Order, create: Callable[[], Awaitable[Response]]) -> bool:
        """Sends ``order`` (``create`` calls ``create_order``) and applies the answer; a refusal
        or a failure after retries rejects it with a reason code (False)."""
        try:
            response = await self.calls("create_order", create)
        except errors.BaseError as exc:
            reason = next((code for kind, code in _REJECT_REASONS if isinstance(exc, kind)), "exchange_error")
            order.rejected(reason)
            self.stats.rejects[reason] += 1
            self.stats.orders["rejected"] += 1
            return False
        self.apply(order, response)
        return True

    async def follow(self, order: Order, symbol: str, *, cancel: bool) -> bool:
        """Asks the venue for the order's news (or cancels its rest) and applies it; a failure
        leaves it as it is, for the next tick. Whether the order is still open."""
        venue_id, exchange = order.venue_order_id, self.exchange
        assert venue_id is not None, "followed orders were acknowledged"
        try:
            if cancel:
                response = await self.calls("cancel_order", lambda: exchange.cancel_order(venue_id, symbol))
            else:
                response = await self.calls("fetch_order", lambda: exchange.fetch_order(venue_id, symbol))
        except errors.BaseError:
            return order.is_open  # logged and counted by the calls
        self.apply(order, response)
        return order.is_open

    def apply(self, order: Order, response: Response) -> None:
        """The venue's view of the order, applied to our handle: acknowledgement, new fills, cancel."""
        venue_id = str(response["id"])
        was_open = order.is_open
        order.accepted(venue_id)
        fills = response["trades"]
        for fill in fills[self._fills_seen.get(venue_id, 0):]:
            fee = fill["fee"]
            order.fill(fill["amount"], fill["price"], fee=fee["cost"], fee_currency=fee["currency"],
                       liquidity=fill["takerOrMaker"])
            self.stats.fees += fee["cost"]
        self._fills_seen[venue_id] = len(fills)
        if response["status"] == "canceled":
            order.cancelled("unfilled_timeout")
        if order.status == "partially_filled" and venue_id not in self._partial:
            self._partial.add(venue_id)
            self.stats.partial_fills += 1
        if was_open and not order.is_open:
            self.stats.orders[order.status] += 1
            self._fills_seen.pop(venue_id, None)
            self._partial.discard(venue_id)
