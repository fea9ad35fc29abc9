"""Orders from ccxt responses: the unified order and trade structures drive the order lifecycle.

``create_order`` (and ``create_orders``, and every ``create_*_order`` helper, which all call
``create_order``) opens an ``Order`` of the trading API before the request goes out: inside an
active ``trade()`` of the same symbol through ``trade.submit_order()``, otherwise in a
``StandaloneTrade`` (the order span is the root of its own trace). The returned ``id`` is the
acknowledgement, an exception a rejection with the ccxt error class as its reason. Every later
response carrying the order (``fetch_order(s)``, ``fetch_open_orders``, ``fetch_closed_orders``,
``fetch_my_trades``, ``cancel_*``, ``edit_order``, ccxt.pro ``watch_orders``/``watch_my_trades``)
advances it. See docs/instrumentation.md, "Orders from ccxt responses".

What the venue reports is cumulative (``filled``, ``cost``, ``fee``) or itemised (``trades``,
``fetch_my_trades``), and the two may arrive in any order. Each tracked order keeps the largest
totals either source has reported, and what of it was already recorded: each response records
the difference, once, at the price that difference was traded at.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from otel_trading._state import STATE, Slot
from otel_trading.context._correlation import CURRENT_CORRELATION
from otel_trading.instrumentation.ccxt._methods import identifier, number, text
from otel_trading.metrics._names import TELEMETRY_DROPPED
from otel_trading.tracing._operation import report_instrumentation_failure
from otel_trading.trading._metrics import TradingMetrics
from otel_trading.trading._order import Order
from otel_trading.trading._registry import find_order, resume_trade
from otel_trading.trading._standalone import StandaloneTrade
from otel_trading.trading._trade import Trade

MAX_TRACKED: Final = 1000
"""Orders followed per exchange instance; beyond it finished ones go first, then the oldest open."""
_MAX_SYMBOLS: Final = 256
VENUE_REJECTED: Final = "venue_rejected"
"""``trading.order.reason`` of an order whose ccxt ``status`` became ``rejected``."""
# ccxt's unified status -> the trading API's terminal status.
_TERMINAL: Final = {"closed": "filled", "canceled": "cancelled", "cancelled": "cancelled", "expired": "expired",
                    "rejected": "rejected"}
# Amounts arrive as floats: a difference below this share of the order is rounding, not a fill.
_TOLERANCE: Final = 1e-9


class Switch:
    """Whether ccxt responses drive orders (``CcxtInstrumentor().instrument(orders=False)`` turns it off)."""

    on = True


SWITCH: Final = Switch()


def _argument(args: tuple[Any, ...], kwargs: Mapping[str, Any], position: int, name: str) -> Any:
    return args[position] if position < len(args) else kwargs.get(name)


def _fees(structure: Mapping[str, Any]) -> Iterable[tuple[str, float]]:
    """(currency, cost) of the ``fees`` list, else of the ``fee`` of an order or trade structure."""
    fees = structure.get("fees")
    entries = fees if isinstance(fees, list) and fees else [structure.get("fee")]
    for entry in entries:
        if isinstance(entry, Mapping):
            cost = number(entry.get("cost"))
            if cost is not None and math.isfinite(cost):
                yield text(entry.get("currency")) or "", cost


def _larger(first: float | None, second: float | None) -> float:
    """The larger in size of two reported fee totals (a rebate is negative)."""
    return max(first or 0.0, second or 0.0, key=abs)


class TrackedOrder:
    """One order followed through ccxt responses: what the venue reported, and what was recorded."""

    __slots__ = ("implicit", "order", "order_fees", "order_filled", "order_notional", "recorded_fees",
                 "recorded_filled", "recorded_notional", "symbol", "trade_fees", "trade_filled", "trade_ids",
                 "trade_notional")

    def __init__(self, order: Order, symbol: str | None, implicit: bool) -> None:
        self.order = order
        self.symbol = symbol
        self.implicit = implicit  # its trade is a StandaloneTrade, closed with it
        self.order_filled = 0.0  # the order structure's ``filled``
        self.order_notional: float | None = None  # and what it cost (average x filled, or ``cost``)
        self.order_fees: dict[str, float] = {}
        self.trade_ids: set[str] = set()  # trades (fills) seen, itemised
        self.trade_filled = 0.0
        self.trade_notional = 0.0
        self.trade_fees: dict[str, float] = {}
        self.recorded_filled = 0.0
        self.recorded_notional = 0.0
        self.recorded_fees: dict[str, float] = {}

    # -- what the venue reports ---------------------------------------------------------------

    def take_order(self, structure: Mapping[str, Any]) -> None:
        """A unified order structure of this order: its trades, totals, fees, then its status."""
        with self.order.trade.lock:
            for trade in structure.get("trades") or ():
                if isinstance(trade, Mapping):
                    self._take_trade(trade)
            filled = number(structure.get("filled"))
            if filled is not None and math.isfinite(filled) and filled > self.order_filled:
                self.order_filled = filled
                average, cost = number(structure.get("average")), number(structure.get("cost"))
                self.order_notional = average * filled if average else cost or None
            for currency, cost in _fees(structure):
                self.order_fees[currency] = _larger(self.order_fees.get(currency), cost)
            status = text(structure.get("status"))
            terminal = _TERMINAL.get(status or "")
            self.record()
            if status == "open":
                self.order.accepted()
            elif terminal is not None:
                self.finish(terminal)

    def take_trade(self, trade: Mapping[str, Any]) -> None:
        """A unified trade structure (one fill) of this order."""
        with self.order.trade.lock:
            if self._take_trade(trade):
                self.record()

    def _take_trade(self, trade: Mapping[str, Any]) -> bool:
        trade_id = identifier(trade.get("id"))
        if trade_id is None or trade_id in self.trade_ids:
            return False  # without an id a trade cannot be told from one seen before: the totals cover it
        amount, price = number(trade.get("amount")), number(trade.get("price"))
        if amount is None or price is None or not (0 < amount < math.inf and 0 < price < math.inf):
            return False
        self.trade_ids.add(trade_id)
        self.trade_filled += amount
        self.trade_notional += amount * price
        for currency, cost in _fees(trade):
            self.trade_fees[currency] = self.trade_fees.get(currency, 0.0) + cost
        return True

    # -- what is recorded ---------------------------------------------------------------------

    def record(self) -> None:
        """Records what the venue reported beyond what was recorded: one fill, and fees."""
        fees = self._fee_increments()
        known_notional: float | None
        if self.trade_filled >= self.order_filled:
            known_filled, known_notional = self.trade_filled, self.trade_notional
        else:
            known_filled, known_notional = self.order_filled, self.order_notional
        increment = known_filled - self.recorded_filled
        price = None
        if increment > _TOLERANCE * max(known_filled, self.order.amount):
            if known_notional is not None:
                # (average_new * filled_new - average_old * filled_old) / (filled_new - filled_old)
                price = (known_notional - self.recorded_notional) / increment
                if not 0 < price < math.inf:  # inconsistent totals: the average of all is the best guess
                    price = known_notional / known_filled
            if price is None or not 0 < price < math.inf:
                price = self.order.price  # no price reported (yet): the limit price, if any
        if price is not None:  # else recorded from a later response that carries a price
            fee, currency = fees.pop(0) if fees else (0.0, "")
            self.order.fill(increment, price, fee=fee, fee_currency=currency or None)
            self.recorded_filled = known_filled
            self.recorded_notional = (known_notional if known_notional is not None
                                      else self.recorded_notional + increment * price)
        for fee, currency in fees:  # reported apart from a fill (a trade list read after it)
            self.order.fee_charged(fee, fee_currency=currency or None)

    def _fee_increments(self) -> list[tuple[float, str]]:
        """The fees reported beyond those recorded, per currency; counted as recorded from now on."""
        increments = []
        for currency in {**self.order_fees, **self.trade_fees}:
            known = _larger(self.order_fees.get(currency), self.trade_fees.get(currency))
            increment = known - self.recorded_fees.get(currency, 0.0)
            if increment:
                self.recorded_fees[currency] = known
                increments.append((increment, currency))
        return increments

    def finish(self, status: str, reason: str | None = None) -> None:
        """Ends the order with a terminal status (no-op once it has one), and its implicit trade."""
        order = self.order
        if status == "cancelled":
            order.cancelled(reason)
        elif status == "expired":
            order.expired(reason)
        elif status == "rejected":
            order.rejected(reason or VENUE_REJECTED)
        elif status == "filled":
            order.completed()  # a no-op when the fills reaching its amount ended it already
        if self.implicit:
            order.trade.close()

    def drop(self) -> None:
        """No longer followed while open: its implicit trade ends it with its last status."""
        if self.implicit:
            self.order.trade.close()


class OrderBook:
    """The orders of one exchange instance by venue id, finished ones first (evicted first)."""

    def __init__(self, max_tracked: int = MAX_TRACKED) -> None:
        self.max_tracked = max_tracked
        self._orders: OrderedDict[str, TrackedOrder] = OrderedDict()
        self._lock = threading.Lock()
        self._metrics: dict[str, TradingMetrics] = {}  # of standalone orders, per symbol

    def metrics(self, symbol: str, exchange_id: str) -> TradingMetrics:
        """The metrics of this exchange's standalone orders of ``symbol``: bound once, not per order."""
        metrics = self._metrics.get(symbol)
        if metrics is None:
            if len(self._metrics) >= _MAX_SYMBOLS:
                self._metrics.clear()
            metrics = self._metrics[symbol] = TradingMetrics(symbol, exchange=exchange_id)
        return metrics

    def __len__(self) -> int:
        return len(self._orders)

    def get(self, venue_id: str | None) -> TrackedOrder | None:
        return None if venue_id is None else self._orders.get(venue_id)

    def add(self, venue_id: str, tracked: TrackedOrder) -> None:
        evicted: list[TrackedOrder] = []
        with self._lock:
            self._orders[venue_id] = tracked
            while len(self._orders) > self.max_tracked:
                evicted.append(self._orders.popitem(last=False)[1])
        for old in evicted:
            if old.order.is_open:
                _count_evicted()
                old.drop()

    def finished(self, venue_id: str) -> None:
        """Moves a finished order to the front: the first to go when the book is full."""
        with self._lock:
            if venue_id in self._orders:
                self._orders.move_to_end(venue_id, last=False)

    def rename(self, old_id: str, new_id: str) -> None:
        with self._lock:
            tracked = self._orders.pop(old_id, None)
            if tracked is not None:
                self._orders[new_id] = tracked

    def open_orders(self, symbol: str | None) -> list[TrackedOrder]:
        with self._lock:
            return [tracked for tracked in self._orders.values()
                    if tracked.order.is_open and (symbol is None or tracked.symbol == symbol)]

    def abandon(self) -> None:
        """The exchange is gone: its open orders can no longer be followed."""
        for tracked in self.open_orders(None):
            tracked.drop()


def _count_evicted() -> None:
    STATE.local_metrics.counter(TELEMETRY_DROPPED, "{item}", "Telemetry items lost before export").add(
        1, {"signal": "traces", "reason": "order_evicted"}
    )


class OrderBooks:
    """One ``OrderBook`` per live exchange instance, held weakly."""

    def __init__(self) -> None:
        self._books: dict[int, tuple[weakref.ref[Any], OrderBook]] = {}
        self._lock = threading.Lock()
        self.max_tracked = MAX_TRACKED  # of each book made from now on (a test lowers it in its capture)

    def of(self, exchange: Any) -> OrderBook:
        entry = self._books.get(id(exchange))
        if entry is not None and entry[0]() is exchange:
            return entry[1]
        with self._lock:
            entry = self._books.get(id(exchange))
            if entry is not None and entry[0]() is exchange:
                return entry[1]
            book = OrderBook(self.max_tracked)
            key = id(exchange)
            self._books[key] = (weakref.ref(exchange, lambda _ref: self._gone(key, book)), book)
            return book

    def _gone(self, key: int, book: OrderBook) -> None:
        try:
            with self._lock:
                entry = self._books.get(key)
                if entry is not None and entry[1] is book:
                    del self._books[key]
            book.abandon()
        except Exception:  # noqa: BLE001 - runs in the garbage collector
            report_instrumentation_failure("ccxt order book release")


BOOKS: Final = Slot("ccxt order books", OrderBooks)
# Exchange instances whose orders the code placing them records itself (a framework integration
# that owns its orders, e.g. freqtrade's): their calls keep their spans, but open no order here.
OWNED_ELSEWHERE: Final[Slot[weakref.WeakSet[Any]]] = Slot("ccxt exchanges with orders recorded elsewhere",
                                                          weakref.WeakSet)


def leave_orders_to_caller(exchange: Any) -> None:
    """The orders ``exchange`` (one ccxt instance) places are recorded by its caller, not from its responses."""
    OWNED_ELSEWHERE.get().add(exchange)


# -- opening orders -------------------------------------------------------------------------------


def _active_trade(symbol: str | None) -> Trade | None:
    """The trade active in this context, when the order is of its symbol."""
    trade_id = CURRENT_CORRELATION.get()  # a trade sets its id as it is: a lazy one is no trade's
    trade = resume_trade(trade_id) if isinstance(trade_id, str) else None
    if trade is None or trade.closed or (symbol is not None and trade.symbol != symbol):
        return None
    return trade


def _open(book: OrderBook, exchange_id: str, request: Mapping[str, Any]) -> TrackedOrder | None:
    """An order for a create request (symbol, type, side, amount, price, params), before it is sent."""
    symbol = text(request.get("symbol"))
    params = request.get("params")
    client_id = identifier(params.get("clientOrderId")) if isinstance(params, Mapping) else None
    if client_id is not None:
        submitted = find_order(client_id)
        if submitted is not None and submitted.is_open and submitted.venue_order_id is None:
            return None  # submitted by hand with this client id, not sent yet: the bot records it itself
    side = text(request.get("side")) or "unknown"
    order_type = text(request.get("type")) or "unknown"
    trade = _active_trade(symbol)
    implicit = trade is None
    if trade is None:
        trade = StandaloneTrade(symbol or "unknown", side, exchange=exchange_id,
                                metrics=book.metrics(symbol or "unknown", exchange_id))
    price = number(request.get("price")) if order_type == "limit" else None
    amount = number(request.get("amount"))  # ccxt takes numeric strings too
    order = trade.submit_order(0.0 if amount is None else amount, order_type=order_type, side=side, price=price,
                               reference_price=price, client_order_id=client_id)
    return TrackedOrder(order, symbol, implicit)


class OrderCall:
    """The order side of one instrumented call: opened before the request, advanced by its result."""

    __slots__ = ("args", "book", "handle", "kwargs", "opened")

    def __init__(self, book: OrderBook, handle: Callable[[OrderCall, Any], None], args: tuple[Any, ...],
                 kwargs: dict[str, Any], opened: list[TrackedOrder | None]) -> None:
        self.book = book
        self.handle = handle
        self.args = args
        self.kwargs = kwargs
        self.opened = opened

    def succeed(self, result: Any) -> None:
        try:
            self.handle(self, result)
        except Exception:  # noqa: BLE001 - the caller gets its result whatever happens here
            report_instrumentation_failure("ccxt order tracking")

    def fail(self, error_type: str | None) -> None:
        """The create call raised: its orders were rejected, with the ccxt error class as the reason."""
        try:
            for tracked in self.opened:
                if tracked is None:
                    continue
                if error_type is None:  # the process is exiting: the order's fate is unknown
                    tracked.drop()
                else:
                    tracked.finish("rejected", error_type)
        except Exception:  # noqa: BLE001 - the caller gets its exception whatever happens here
            report_instrumentation_failure("ccxt order rejection")

    def argument(self, position: int, name: str) -> Any:
        return _argument(self.args, self.kwargs, position, name)

    # -- applying results -----------------------------------------------------------------------

    def acknowledge(self, tracked: TrackedOrder | None, structure: Any) -> None:
        """A create call's returned order: its id is the acknowledgement."""
        if tracked is None:
            return
        if not isinstance(structure, Mapping):
            tracked.drop()  # no answer about it (create_orders answering fewer): its fate is unknown
            return
        if text(structure.get("status")) == "rejected":
            tracked.finish("rejected")  # refused in the answer itself: never acknowledged
            return
        venue_id = identifier(structure.get("id"))
        if venue_id is None:
            # Nothing to follow it by (a venue that answers without an id): acknowledged, then left.
            tracked.order.accepted()
            tracked.take_order(structure)
            tracked.drop()
            return
        tracked.order.accepted(venue_id)
        self.book.add(venue_id, tracked)
        self.apply(structure)

    def apply(self, structure: Any) -> TrackedOrder | None:
        """An order structure: advances the tracked order with its id, if any."""
        if not isinstance(structure, Mapping):
            return None
        venue_id = identifier(structure.get("id"))
        tracked = self.book.get(venue_id)
        if tracked is not None:
            tracked.take_order(structure)
            self._forget_if_done(venue_id, tracked)
        return tracked

    def apply_all(self, structures: Any) -> list[TrackedOrder]:
        if not isinstance(structures, list):
            return []
        return [tracked for tracked in map(self.apply, structures) if tracked is not None]

    def apply_trades(self, trades: Any) -> None:
        if not isinstance(trades, list):
            return
        for trade in trades:
            if isinstance(trade, Mapping):
                venue_id = identifier(trade.get("order"))
                tracked = self.book.get(venue_id)
                if tracked is not None:
                    tracked.take_trade(trade)
                    self._forget_if_done(venue_id, tracked)

    def _forget_if_done(self, venue_id: str | None, tracked: TrackedOrder) -> None:
        """A finished order leaves the book (first to go when it is full)."""
        if not tracked.order.is_open and venue_id is not None:
            self.book.finished(venue_id)

    def cancel(self, venue_id: str | None) -> None:
        tracked = self.book.get(venue_id)
        if tracked is not None and tracked.order.is_open and venue_id is not None:
            tracked.finish("cancelled")
            self.book.finished(venue_id)


# -- per method -----------------------------------------------------------------------------------


def _created(call: OrderCall, result: Any) -> None:
    call.acknowledge(call.opened[0], result)


def _created_many(call: OrderCall, result: Any) -> None:
    results = result if isinstance(result, list) else []
    for index, tracked in enumerate(call.opened):
        call.acknowledge(tracked, results[index] if index < len(results) else None)


def _edited(call: OrderCall, result: Any) -> None:
    old_id = identifier(call.argument(0, "id"))
    tracked = call.book.get(old_id)
    if tracked is None or old_id is None:
        return
    amount, price = number(call.argument(4, "amount")), number(call.argument(5, "price"))
    if amount is not None or price is not None:
        tracked.order.modified(amount=amount, price=price)
    new_id = identifier(result.get("id")) if isinstance(result, Mapping) else None
    if new_id is not None and new_id != old_id:  # a venue that edits by cancel-and-replace
        call.book.rename(old_id, new_id)
        tracked.order.accepted(new_id)
    call.apply(result)


def _cancelled(call: OrderCall, result: Any) -> None:
    call.apply(result)
    call.cancel(identifier(call.argument(0, "id")))


def _cancelled_many(call: OrderCall, result: Any) -> None:
    call.apply_all(result)
    ids = call.argument(0, "ids")
    for venue_id in ids if isinstance(ids, list) else ():
        call.cancel(identifier(venue_id))


def _cancelled_all(call: OrderCall, result: Any) -> None:
    if call.apply_all(result):
        return  # the venue listed what it cancelled
    symbol = text(call.argument(0, "symbol"))
    for tracked in call.book.open_orders(symbol):
        tracked.finish("cancelled")


def _fetched(call: OrderCall, result: Any) -> None:
    call.apply(result)


def _fetched_many(call: OrderCall, result: Any) -> None:
    call.apply_all(result)


def _fetched_trades(call: OrderCall, result: Any) -> None:
    call.apply_trades(result)


_CREATE: Final = ("symbol", "type", "side", "amount", "price", "params")
_HANDLERS: Final[Mapping[str, Callable[[OrderCall, Any], None]]] = {
    "create_order": _created,
    "create_orders": _created_many,
    "edit_order": _edited,
    "cancel_order": _cancelled,
    "cancel_orders": _cancelled_many,
    "cancel_all_orders": _cancelled_all,
    "fetch_order": _fetched,
    "fetch_orders": _fetched_many,
    "fetch_open_orders": _fetched_many,
    "fetch_closed_orders": _fetched_many,
    "fetch_my_trades": _fetched_trades,
    "watch_orders": _fetched_many,
    "watch_my_trades": _fetched_trades,
}
ORDER_METHODS: Final = frozenset(_HANDLERS)


def _requests(method: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if method == "create_order":
        return [{name: _argument(args, kwargs, i, name) for i, name in enumerate(_CREATE)}]
    if method == "create_orders":
        orders = _argument(args, kwargs, 0, "orders")
        return [entry if isinstance(entry, Mapping) else {} for entry in orders] if isinstance(orders, list) else []
    return []


def begin(exchange: Any, exchange_id: str, method: str, args: tuple[Any, ...],
          kwargs: dict[str, Any]) -> OrderCall | None:
    """The order side of a call of ``method``, or None (not an order method, or nothing to record to)."""
    handle = _HANDLERS.get(method)
    if handle is None or not SWITCH.on or not STATE.enabled or exchange in OWNED_ELSEWHERE.get():
        return None
    try:
        book = BOOKS.get().of(exchange)
        opened = [_open(book, exchange_id, request) for request in _requests(method, args, kwargs)]
        return OrderCall(book, handle, args, kwargs, opened)
    except Exception:  # noqa: BLE001 - the call goes on without order tracking
        report_instrumentation_failure("ccxt order start")
        return None
