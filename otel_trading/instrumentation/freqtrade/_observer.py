"""freqtrade trades as trading-API trades: one trace per freqtrade trade, its orders as ``order`` spans.

freqtrade calls its strategy callbacks and ``LocalTrade.close`` in a different order in
backtesting (the exit order fills, then the trade closes) and in dry-run/live (the trade closes,
then ``order_filled`` reports the exit order). So nothing here relies on the order of the calls:
every hook *synchronises* our trade with the freqtrade trade it is given, as it is at that moment
(:meth:`FreqtradeTrades.sync`) — start the trace if needed, record the fills of its orders not
recorded yet, close the position once freqtrade closed the trade. A late hook for a trade already
closed finds nothing left to record.

Duck-typed on freqtrade's ``Trade``/``Order`` attributes: this module imports no freqtrade.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from otel_trading._state import Slot
from otel_trading.trading._order import Order
from otel_trading.trading._portfolio import Portfolio
from otel_trading.trading._status import TradingState, set_trading_state
from otel_trading.trading._trade import Trade, trade

ENTRY_TAG: Final = "trading.entry_tag"
POSITION_SIDE: Final = "trading.position.side"
LEVERAGE: Final = "trading.leverage"
ORDER_TAG: Final = "freqtrade.order_tag"
_CLOSED_REMEMBERED: Final = 1024  # closed trades whose late hooks (dry-run exit fill) are ignored
# freqtrade's bot states (``State.name.lower()``, sent in RPC status messages) as trading states.
BOT_STATES: Final[Mapping[str, TradingState]] = {
    "running": TradingState.ACTIVE,
    "paused": TradingState.REDUCING,  # freqtrade: no new entries, exits go on
    "stopped": TradingState.HALTED,
}


@dataclass
class RunContext:
    """What a trade does not carry itself: the strategy and venue of the run (``bot_start``)."""

    strategy: str = ""
    exchange: str | None = None
    stake_currency: str = "USDT"
    portfolio: Portfolio | None = None


@dataclass
class _Recorded:
    """One freqtrade order and the amount of it already recorded as fills."""

    order: Order
    filled: float = 0.0


@dataclass
class _Followed:
    """Our trade for one freqtrade trade."""

    trade: Trade
    orders: dict[str, _Recorded] = field(default_factory=dict)
    position_opened: bool = False


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


class FreqtradeTrades:
    """The freqtrade trades followed in this process, by (strategy, freqtrade trade id)."""

    def __init__(self) -> None:
        self.context = RunContext()
        self._bot: TradingState | None = None  # from freqtrade's status messages
        self._locked = False  # a protection locks every pair (no new entries)
        self._applied: TradingState | None = None
        self._open: dict[tuple[str, str], _Followed] = {}
        self._closed: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._lock = threading.RLock()

    # -- the run --------------------------------------------------------------------------------

    def start_run(self, strategy: str, config: Mapping[str, Any], starting_balance: Any = None) -> None:
        """A strategy starts (``bot_start``): its name, venue, stake currency and wallet.

        The wallet is ``dry_run_wallet`` in backtesting and dry-run (freqtrade's own "starting
        balance"), else ``starting_balance``: freqtrade's wallet's (its tradable share).
        """
        exchange = config.get("exchange")
        stake = config.get("stake_currency")
        wallet = _number(config.get("dry_run_wallet")) if config.get("dry_run") else None
        if wallet is None:
            wallet = _number(starting_balance)
        currency = stake if isinstance(stake, str) and stake else "USDT"
        with self._lock:
            self.context = RunContext(
                strategy=strategy,
                exchange=str(exchange.get("name")) if isinstance(exchange, Mapping) and exchange.get("name") else None,
                stake_currency=currency,
                portfolio=Portfolio(f"freqtrade:{strategy}", base_currency=currency, cash=wallet or 0.0),
            )

    def bot_state(self, state: str) -> None:
        """freqtrade's bot state from its RPC status message: running, paused or stopped."""
        trading_state = BOT_STATES.get(state)
        if trading_state is not None:
            with self._lock:
                self._bot = trading_state
                self._apply()

    def global_lock(self, locked: bool) -> None:
        """Whether a protection (StoplossGuard, MaxDrawdown, ...) locks all pairs now: entries stop."""
        if locked != self._locked:
            with self._lock:
                self._locked = locked
                self._apply()

    def _apply(self) -> None:
        state = self._bot
        if state is TradingState.ACTIVE and self._locked:
            state = TradingState.REDUCING
        if state is not None and state is not self._applied:
            self._applied = state
            reason = "freqtrade protection lock" if self._locked else "freqtrade bot state"
            set_trading_state(state, reason=reason)

    # -- trades ----------------------------------------------------------------------------------

    def sync(self, ft_trade: Any) -> None:
        """Brings our trade up to what ``ft_trade`` says now (any hook, in any order)."""
        key = (self.context.strategy, str(ft_trade.id))
        with self._lock:
            if key in self._closed:
                return
            followed = self._open.get(key)
            if followed is None:
                followed = self._open[key] = _Followed(self._start(ft_trade))
            self._record_orders(followed, ft_trade)
            if ft_trade.is_open:
                return
            del self._open[key]
            self._closed[key] = None
            while len(self._closed) > _CLOSED_REMEMBERED:
                self._closed.popitem(last=False)
        self._close(followed, ft_trade)

    def _start(self, ft_trade: Any) -> Trade:
        context = self.context
        is_short = bool(ft_trade.is_short)
        attributes: dict[str, Any] = {POSITION_SIDE: "short" if is_short else "long"}
        if ft_trade.enter_tag:
            attributes[ENTRY_TAG] = str(ft_trade.enter_tag)
        leverage = _number(ft_trade.leverage)
        if leverage is not None:
            attributes[LEVERAGE] = leverage
        started = trade(
            ft_trade.pair, "sell" if is_short else "buy",
            strategy=ft_trade.strategy or context.strategy or None,
            exchange=ft_trade.exchange or context.exchange,
            trade_id=str(ft_trade.id), portfolio=context.portfolio, start_time=ft_trade.open_date_utc,
            **attributes,
        )
        return started.start()

    def _record_orders(self, followed: _Followed, ft_trade: Any) -> None:
        entry_side = ft_trade.entry_side
        for ft_order in sorted(ft_trade.orders, key=lambda o: o.order_date_utc):
            filled = _number(ft_order.safe_filled) or 0.0
            key = str(ft_order.order_id)
            recorded = followed.orders.get(key)
            if recorded is None:
                if filled <= 0 and ft_order.ft_is_open:
                    continue  # not filled yet: recorded with its first fill (or its cancel)
                recorded = followed.orders[key] = _Recorded(self._submit(followed.trade, ft_order))
            fee_rate = ft_trade.fee_open if ft_order.ft_order_side == entry_side else ft_trade.fee_close
            self._record_fill(recorded, ft_order, filled, _number(fee_rate) or 0.0)
            if not ft_order.ft_is_open and recorded.order.is_open:
                self._finish(recorded.order, ft_order)
        if not followed.position_opened and ft_trade.nr_of_successful_entries > 0:
            followed.position_opened = True
            followed.trade.position_opened(_number(ft_trade.amount) or 0.0, _number(ft_trade.open_rate) or 0.0,
                                           timestamp=ft_trade.open_date_utc)

    @staticmethod
    def _submit(our_trade: Trade, ft_order: Any) -> Order:
        amount = _number(ft_order.safe_amount) or 0.0
        reference = _number(ft_order.ft_price)
        price = _number(ft_order.price) if ft_order.order_type == "limit" else None
        return our_trade.submit_order(
            amount, order_type=str(ft_order.order_type or "market"), side=str(ft_order.ft_order_side),
            price=price, reference_price=reference, client_order_id=str(ft_order.order_id),
            timestamp=ft_order.order_date_utc, **({ORDER_TAG: ft_order.ft_order_tag}
                                                  if ft_order.ft_order_tag else {}),
        )

    def _record_fill(self, recorded: _Recorded, ft_order: Any, filled: float, fee_rate: float) -> None:
        increment = filled - recorded.filled
        if increment <= filled * 1e-12:
            return
        price = _number(ft_order.safe_price)
        if price is None or price <= 0:
            return
        recorded.filled = filled
        # freqtrade keeps the fee as a rate of the trade (its orders carry none): cost times rate, in stake.
        recorded.order.fill(increment, price, fee=increment * price * fee_rate,
                            fee_currency=self.context.stake_currency,
                            timestamp=ft_order.order_filled_utc or ft_order.order_date_utc)

    @staticmethod
    def _finish(order: Order, ft_order: Any) -> None:
        status = str(ft_order.status or "")
        if status in ("canceled", "cancelled"):
            order.cancelled(timestamp=ft_order.order_update_date)
        elif status == "expired":
            order.expired(timestamp=ft_order.order_update_date)
        elif status == "rejected":
            order.rejected("venue_rejected", timestamp=ft_order.order_update_date)
        elif order.filled_amount > 0:
            order.completed(timestamp=ft_order.order_filled_utc)

    @staticmethod
    def _close(followed: _Followed, ft_trade: Any) -> None:
        pnl = _number(ft_trade.close_profit_abs)
        if pnl is None:
            pnl = _number(ft_trade.realized_profit)
        ended = ft_trade.close_date_utc
        followed.trade.position_closed(pnl, exit_reason=str(ft_trade.exit_reason or "unknown"),
                                       exit_price=_number(ft_trade.close_rate), timestamp=ended)
        followed.trade.close(end_time=ended)

    def open_count(self) -> int:
        return len(self._open)


TRADES: Final = Slot("freqtrade trades", FreqtradeTrades)

__all__ = ["BOT_STATES", "ENTRY_TAG", "LEVERAGE", "ORDER_TAG", "POSITION_SIDE", "TRADES", "FreqtradeTrades",
           "RunContext"]
