"""Open trades and their orders by id, so an event-driven bot can resume them anywhere.

Bounded: beyond ``MAX_OPEN_TRADES`` the oldest open trade is closed (marked evicted and
counted) rather than letting a bot that forgets to close trades grow without limit.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Final

from otel_trading._state import Slot
from otel_trading.metrics._local import Attributes, observe_process_gauge
from otel_trading.trading import _names as n

if TYPE_CHECKING:
    from otel_trading.trading._order import Order
    from otel_trading.trading._trade import Trade

MAX_OPEN_TRADES: Final = 10_000


class TradeRegistry:
    def __init__(self, max_open: int = MAX_OPEN_TRADES) -> None:
        self.max_open = max_open
        self._trades: dict[str, Trade] = {}
        self._orders: dict[str, Order] = {}
        self._lock = threading.Lock()
        self._strategies: set[str] = set()  # of every trade so far: a handful per bot

    def add(self, trade: Trade) -> Trade | None:
        """Registers ``trade``; returns the oldest open trade when one must be evicted."""
        with self._lock:
            self._trades[trade.trade_id] = trade
            self._strategies.add(trade.strategy or "")
            if len(self._trades) <= self.max_open:
                return None
            return next(iter(self._trades.values()))

    def remove(self, trade: Trade, order_ids: Iterable[str]) -> None:
        with self._lock:
            if self._trades.get(trade.trade_id) is trade:
                del self._trades[trade.trade_id]
            for order_id in order_ids:
                order = self._orders.get(order_id)
                if order is not None and order.trade is trade:
                    del self._orders[order_id]

    def index_order(self, order: Order, order_id: str) -> None:
        with self._lock:
            if order.trade.trade_id in self._trades:
                self._orders[order_id] = order

    def trade(self, trade_id: str) -> Trade | None:
        return self._trades.get(trade_id)

    def order(self, order_id: str) -> Order | None:
        return self._orders.get(order_id)

    def open_trades(self) -> list[Trade]:
        """The open trades, without the implicit ones that only carry an order placed outside a trade."""
        with self._lock:
            return [trade for trade in self._trades.values() if not getattr(trade, "implicit", False)]

    def _open_by_strategy(self) -> Iterator[tuple[Attributes, float]]:
        counts = Counter(trade.strategy or "" for trade in self.open_trades())
        with self._lock:
            strategies = tuple(self._strategies)
        # A strategy with no open trade reads 0 rather than vanishing, as a closed position does.
        for strategy in strategies:
            yield ({n.STRATEGY: strategy} if strategy else {}), counts.get(strategy, 0)


REGISTRY: Final = Slot("open trades", TradeRegistry)
observe_process_gauge(n.TRADES_OPEN, lambda: REGISTRY.get()._open_by_strategy(), "{trade}",
                      "Trades started and not closed")


def resume_trade(trade_id: str) -> Trade | None:
    """The open trade with this id (from ``Trade.trade_id``), from any task or thread; None if closed or unknown."""
    return REGISTRY.get().trade(trade_id)


def find_order(order_id: str) -> Order | None:
    """The order of an open trade with this client or venue order id; None if unknown."""
    return REGISTRY.get().order(order_id)


def open_trades() -> list[Trade]:
    """The trades started and not yet closed."""
    return REGISTRY.get().open_trades()
