"""nautilus_trader's order and position events, as trades, orders and portfolios of the trading API.

One nautilus *position cycle* is one trade: it opens with the fill that takes the position
from flat, and closes with ``PositionClosed``. Under NETTING nautilus reuses the position id
for every cycle, so the trade id is ``<position id>-<opening client order id>``.

An order is recorded from its first fill, because only a fill names the position (and so the
trade) it belongs to: its ``OrderInitialized`` / ``OrderSubmitted`` / ``OrderAccepted`` are kept
until then (a small record per order, no span yet), and replayed onto the trade with their own
times. An order that ends without any fill (denied by the risk engine, rejected, cancelled,
expired) has no position: it is a standalone order, the root of its own trace.

Times are nautilus' ``ts_event`` (Unix nanoseconds; the simulated time in a backtest). The
per-event work is kept lean: a dict lookup on the event's type, identifiers used as dict keys
as they are (no ``str()`` on the hot path), names converted once and cached.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from otel_trading.instrumentation._hooks import guarded
from otel_trading.trading import Order, Portfolio, Trade, TradingMetrics, trade
from otel_trading.trading._standalone import StandaloneTrade

# nautilus' OrderSide / LiquiditySide enum values (nautilus_trader.model.enums), the same since 1.100.
_SIDES: Final = {1: "buy", 2: "sell"}
_LIQUIDITY: Final = {1: "maker", 2: "taker"}
# What the order that closed a position says about why: a stop is a stop loss; a market or
# limit order is the strategy's own decision (its signal). nautilus has no exit reason of its own.
_STOP_EXITS: Final = {"stop_market": "stop_loss", "stop_limit": "stop_loss",
                      "trailing_stop_market": "trailing_stop_loss", "trailing_stop_limit": "trailing_stop_loss"}
SIGNAL_EXIT: Final = "signal"
POSITION_ID_ATTRIBUTE: Final = "nautilus.position_id"
WHERE: Final = "nautilus_trader event"


@dataclass
class _Pending:
    """An order seen before its first fill: what its span will be opened with."""

    amount: float
    side: str
    order_type: str
    price: float | None
    submitted_ns: int
    instrument_id: Any
    strategy_id: Any
    venue_order_id: str | None = None
    accepted_ns: int | None = None


class EventRecorder:
    """Turns one trader's events into the trading API. ``cache`` is the actor's nautilus cache
    (for account starting balances); state is per run (:meth:`finish` ends it)."""

    def __init__(self, cache: Any) -> None:
        self._cache = cache
        self._pending: dict[Any, _Pending] = {}  # ClientOrderId -> order not filled yet
        self._orders: dict[Any, Order] = {}  # ClientOrderId -> open order of a trade
        self._open: dict[Any, Trade] = {}  # PositionId -> the trade of its current cycle
        self._portfolios: dict[Any, Portfolio | None] = {}  # AccountId -> its portfolio (None: not single-currency)
        self._metrics: dict[tuple[Any, Any], TradingMetrics] = {}  # (instrument, strategy) -> handles
        self._names: dict[Any, str] = {}  # instrument, venue, strategy ids and enums -> their text (a bounded set)
        self._last_ns = 0
        self._handlers: dict[str, Callable[[Any], None]] = {
            "OrderInitialized": self._initialized, "OrderSubmitted": self._submitted,
            "OrderAccepted": self._accepted, "OrderUpdated": self._updated, "OrderFilled": self._filled,
            "OrderDenied": self._refused, "OrderRejected": self._refused,
            "OrderCanceled": self._cancelled, "OrderExpired": self._expired,
            "PositionOpened": self._position_opened, "PositionClosed": self._position_closed,
        }
        self._by_type: dict[type, Callable[[Any], None] | None] = {}

    # -- the message bus handler -----------------------------------------------------------------

    @guarded(WHERE)
    def on_event(self, event: Any) -> None:
        """The handler subscribed to ``events.order.*`` and ``events.position.*``."""
        kind = type(event)
        try:
            handler = self._by_type[kind]
        except KeyError:  # the first event of this class: its handler is looked up once
            handler = self._by_type[kind] = self._handlers.get(kind.__name__)
        if handler is not None:
            self._last_ns = event.ts_event
            handler(event)

    def open_trades(self) -> int:
        return len(self._open)

    @guarded("nautilus_trader finish")
    def finish(self, *, new_run: bool = False) -> None:
        """The run is over (actor disposed, or reset for ``new_run``): open trades end at the last
        event's time; orders never filled nor ended become standalone orders left open. The
        portfolios keep reporting the run's final equity, until a new run starts its own."""
        end = self._last_ns or None
        for pending_id, pending in list(self._pending.items()):
            self._standalone(pending_id, pending).close(end_time=end)
        for open_trade in self._open.values():
            open_trade.close(end_time=end)
        self._pending.clear()
        self._orders.clear()
        self._open.clear()
        if new_run:
            self._portfolios.clear()

    # -- names -----------------------------------------------------------------------------------

    def _name(self, value: Any) -> str:
        name = self._names.get(value)
        if name is None:
            name = self._names[value] = str(value)
        return name

    def _order_type(self, value: Any) -> str:
        name = self._names.get(("order_type", value))
        if name is None:
            from nautilus_trader.model.enums import order_type_to_str

            name = self._names[("order_type", value)] = order_type_to_str(value).lower()
        return name

    # -- orders ------------------------------------------------------------------------------------

    def _initialized(self, event: Any) -> None:
        price = event.options.get("price")
        self._pending[event.client_order_id] = _Pending(
            amount=event.quantity.as_double(), side=_SIDES.get(int(event.side), "unknown"),
            order_type=self._order_type(event.order_type), price=None if price is None else float(price),
            submitted_ns=event.ts_event, instrument_id=event.instrument_id, strategy_id=event.strategy_id)

    def _submitted(self, event: Any) -> None:
        pending = self._pending.get(event.client_order_id)
        if pending is not None:
            pending.submitted_ns = event.ts_event

    def _accepted(self, event: Any) -> None:
        order = self._orders.get(event.client_order_id)
        if order is not None:
            order.accepted(str(event.venue_order_id), timestamp=event.ts_event)
            return
        pending = self._pending.get(event.client_order_id)
        if pending is not None:
            pending.venue_order_id = str(event.venue_order_id)
            pending.accepted_ns = event.ts_event

    def _updated(self, event: Any) -> None:
        price = None if event.price is None else event.price.as_double()
        order = self._orders.get(event.client_order_id)
        if order is not None:
            order.modified(amount=event.quantity.as_double(), price=price, timestamp=event.ts_event)
            return
        pending = self._pending.get(event.client_order_id)
        if pending is not None:
            pending.amount = event.quantity.as_double()
            pending.price = price if price is not None else pending.price

    def _filled(self, event: Any) -> None:
        client_id = event.client_order_id
        position_trade = self._open.get(event.position_id)
        if position_trade is None:
            side = _SIDES.get(int(event.order_side), "unknown")
            position_trade = self._open_trade(event.position_id, client_id, side, event, event.ts_event)
        order = self._orders.get(client_id)
        if order is None or order.trade is not position_trade:
            order = self._submit(position_trade, client_id, event)
        commission = event.commission
        order.fill(event.last_qty.as_double(), event.last_px.as_double(), fee=commission.as_double(),
                   fee_currency=commission.currency.code, liquidity=_LIQUIDITY.get(int(event.liquidity_side)),
                   timestamp=event.ts_event)
        if not order.is_open:
            del self._orders[client_id]

    def _submit(self, position_trade: Trade, client_id: Any, fill: Any) -> Order:
        """The order's span on its trade, from what was seen before its first fill."""
        pending = self._pending.pop(client_id, None)
        if pending is None:  # its earlier events were before this actor started, or it continues on a new cycle
            pending = _Pending(amount=fill.last_qty.as_double(), side=_SIDES.get(int(fill.order_side), "unknown"),
                               order_type=self._order_type(fill.order_type), price=None, submitted_ns=fill.ts_event,
                               instrument_id=fill.instrument_id, strategy_id=fill.strategy_id)
        order = position_trade.submit_order(
            pending.amount, order_type=pending.order_type, side=pending.side, price=pending.price,
            reference_price=pending.price, client_order_id=str(client_id), timestamp=pending.submitted_ns)
        if pending.accepted_ns is not None:
            order.accepted(pending.venue_order_id, timestamp=pending.accepted_ns)
        self._orders[client_id] = order
        return order

    def _refused(self, event: Any) -> None:
        """OrderDenied (the risk engine, before the venue) and OrderRejected (the venue)."""
        code = "denied" if type(event).__name__ == "OrderDenied" else "rejected"
        order = self._orders.pop(event.client_order_id, None)
        if order is not None:
            order.rejected(code, timestamp=event.ts_event)
            return
        pending = self._pending.pop(event.client_order_id, None)
        if pending is not None:
            standalone = self._standalone(event.client_order_id, pending)
            standalone.orders[0].rejected(code, timestamp=event.ts_event)
            standalone.close(end_time=event.ts_event)

    def _cancelled(self, event: Any) -> None:
        self._ended(event, expired=False)

    def _expired(self, event: Any) -> None:
        self._ended(event, expired=True)

    def _ended(self, event: Any, *, expired: bool) -> None:
        order = self._orders.pop(event.client_order_id, None)
        if order is None:
            pending = self._pending.pop(event.client_order_id, None)
            if pending is None:
                return
            standalone = self._standalone(event.client_order_id, pending)
            order = standalone.orders[0]
            if expired:
                order.expired(timestamp=event.ts_event)
            else:
                order.cancelled(timestamp=event.ts_event)
            standalone.close(end_time=event.ts_event)
        elif expired:
            order.expired(timestamp=event.ts_event)
        else:
            order.cancelled(timestamp=event.ts_event)

    def _standalone(self, client_id: Any, pending: _Pending) -> StandaloneTrade:
        """An order that never reached a position: the root of its own trace."""
        metrics = self._metrics_of(pending.instrument_id, pending.strategy_id)  # its strategy's label too
        standalone = StandaloneTrade(self._name(pending.instrument_id.symbol), pending.side,
                                     exchange=self._name(pending.instrument_id.venue), metrics=metrics)
        order = standalone.submit_order(pending.amount, order_type=pending.order_type, side=pending.side,
                                        price=pending.price, reference_price=pending.price,
                                        client_order_id=str(client_id), timestamp=pending.submitted_ns)
        if pending.accepted_ns is not None:
            order.accepted(pending.venue_order_id, timestamp=pending.accepted_ns)
        return standalone

    def _metrics_of(self, instrument_id: Any, strategy_id: Any) -> TradingMetrics:
        """The metric handles of an instrument and strategy, shared by all their trades: a new
        trade would otherwise bind every handle anew (a third of the per-event cost)."""
        key = (instrument_id, strategy_id)
        metrics = self._metrics.get(key)
        if metrics is None:
            metrics = self._metrics[key] = TradingMetrics(
                self._name(instrument_id.symbol), exchange=self._name(instrument_id.venue),
                strategy=self._name(strategy_id))
        return metrics

    # -- positions ---------------------------------------------------------------------------------

    def _open_trade(self, position_id: Any, opening_order_id: Any, side: str, event: Any, ts: int) -> Trade:
        instrument_id = event.instrument_id
        position_name = str(position_id)
        opened = trade(self._name(instrument_id.symbol), side, strategy=self._name(event.strategy_id),
                       exchange=self._name(instrument_id.venue), trade_id=f"{position_name}-{opening_order_id}",
                       portfolio=self._portfolio(event), start_time=ts,
                       **{POSITION_ID_ATTRIBUTE: position_name})
        opened.metrics = self._metrics_of(instrument_id, event.strategy_id)
        opened.start()
        self._open[position_id] = opened
        return opened

    def _portfolio(self, event: Any) -> Portfolio | None:
        """The account's portfolio, when the event is in the account's base currency."""
        account_id = event.account_id
        if account_id not in self._portfolios:
            self._portfolios[account_id] = self._new_portfolio(account_id)
        book = self._portfolios[account_id]
        if book is None or event.currency.code != book.base_currency:
            return None
        return book

    def _new_portfolio(self, account_id: Any) -> Portfolio | None:
        account = self._cache.account(account_id)
        base = None if account is None else account.base_currency
        if base is None:  # a multi-currency account: one Portfolio has one base currency
            return None
        start = account.starting_balances().get(base)
        return Portfolio(f"nautilus {account_id}", base_currency=base.code,
                         cash=0.0 if start is None else start.as_double())

    def _position_opened(self, event: Any) -> None:
        opened = self._open.get(event.position_id)
        if opened is None:  # opened by the remainder of a fill that flipped the position (NETTING)
            opened = self._open_trade(event.position_id, event.opening_order_id,
                                      _SIDES.get(int(event.entry), "unknown"), event, event.ts_event)
        opened.position_opened(event.quantity.as_double(), event.avg_px_open, timestamp=event.ts_event)

    def _position_closed(self, event: Any) -> None:
        closed = self._open.pop(event.position_id, None)
        if closed is None:
            return
        exit_reason = SIGNAL_EXIT
        closing_id = str(event.closing_order_id)
        for order in closed.orders:
            if order.client_order_id == closing_id:
                exit_reason = _STOP_EXITS.get(order.order_type, SIGNAL_EXIT)
        closed.position_closed(event.realized_pnl.as_double(), exit_reason=exit_reason,
                               exit_price=event.avg_px_close, timestamp=event.ts_event)
        closed.close(end_time=event.ts_event)


__all__ = ["EventRecorder"]
