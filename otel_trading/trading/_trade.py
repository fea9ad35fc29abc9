"""``trade()``: one trade = one trace, from signal to closed position.

The root span ``trade`` carries the symbol, side, strategy, exchange and trade id; the trade
id is the correlation id of every span and log made while the trade is active. Orders are
child spans; signals, risk checks and position changes are events on the root.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from contextvars import Token
from types import TracebackType
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanKind

from otel_trading._state import STATE
from otel_trading.context._correlation import (
    CORRELATION_KEY,
    CURRENT_BOUND,
    CURRENT_CORRELATION,
    LazyCorrelationId,
    new_correlation_id,
)
from otel_trading.export._sanitize import coerce_attributes
from otel_trading.logs import get_logger
from otel_trading.tracing._operation import record_error, report_instrumentation_failure
from otel_trading.trading import _names as n
from otel_trading.trading._guard import never_raises
from otel_trading.trading._inputs import Timestamp, canonical_side, finite_number, unix_nanos
from otel_trading.trading._metrics import TradingMetrics
from otel_trading.trading._order import Order
from otel_trading.trading._registry import REGISTRY
from otel_trading.trading._time import Instant, TradeClock, end_span, wall_now

if TYPE_CHECKING:
    from otel_trading.trading._portfolio import Portfolio

_LOG = get_logger("otel_trading.trading")
# What Trade._attach returns: the OTel context token (None when the trade has no context), the
# correlation id's and the bound fields' tokens.
_Tokens = tuple["Token[otel_context.Context] | None", "Token[str | LazyCorrelationId | None]",
                "Token[Mapping[str, Any]]"]


def _detach(tokens: _Tokens) -> None:
    context_token, cid_token, bound_token = tokens
    CURRENT_BOUND.reset(bound_token)
    CURRENT_CORRELATION.reset(cid_token)
    if context_token is not None:
        otel_context.detach(context_token)


def _clean(attributes: dict[str, Any]) -> dict[str, Any]:
    return coerce_attributes(STATE.redactor.scrub_mapping(attributes), STATE.max_attribute_length)


class Trade:
    """Handle of one trade. Use it as ``with``/``async with`` (started on entry, closed on exit)
    or, for event-driven bots, ``start()`` it, ``activate()`` it in each callback, look it up
    with :func:`otel_trading.resume_trade` and ``close()`` it when done.

    Every call takes an optional time (docs/trading.md, "Backtests and replays"): a trade
    started at a given time (``start_time=``) runs on given time throughout.
    """

    def __init__(self, symbol: str, side: str, *, strategy: str | None = None, exchange: str | None = None,
                 trade_id: str | None = None, portfolio: Portfolio | None = None,
                 attributes: dict[str, Any] | None = None, start_time: Timestamp | None = None) -> None:
        self.symbol = symbol
        self.side = canonical_side(side, "trade()")
        """``buy`` or ``sell`` (long/short/bid/ask folded in), ``unknown`` for anything else."""
        self.strategy = strategy
        self.exchange = exchange
        self.trade_id = trade_id or new_correlation_id()
        self.portfolio = portfolio
        self.lock = threading.RLock()
        self.metrics = TradingMetrics(symbol, exchange=exchange, strategy=strategy)
        self.realized_pnl = 0.0
        self.closed = False
        self._attributes = attributes or {}
        self._span: Span = trace.INVALID_SPAN
        self._context: otel_context.Context | None = None
        self._start_ns = None if start_time is None else unix_nanos(start_time, "start_time", "trade()")
        self._clock = TradeClock()
        self._start: Instant | None = None
        """When the trade started; None until it does."""
        self._orders: list[Order] = []
        self._order_ids: dict[str, Order] = {}
        self._position_closed = False
        self._activations: list[AbstractContextManager[Trade]] = []  # one per open ``with`` block

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, start_time: Timestamp | None = None) -> Trade:
        """Opens the trade's root span (a new trace, linked to the span current here, if any).

        ``start_time``: when the trade started (default: the ``start_time`` given to ``trade()``,
        else now); a trade started at a given time runs on given time. Idempotent.
        """
        given = None if start_time is None else unix_nanos(start_time, "start_time", "Trade.start")
        self._start_at(given)
        return self

    def _start_at(self, given_ns: int | None) -> None:
        """Starts the trade at ``trade(start_time=)``, else at ``given_ns``, else now (once)."""
        with self.lock:
            if self._start is not None:
                return
            self._start = self._clock.start(self._start_ns if self._start_ns is not None else given_ns)
            try:
                self._open_span()
            except Exception:  # noqa: BLE001 - a trade without a span still trades
                report_instrumentation_failure("trade start")
            evicted = REGISTRY.get().add(self)
        if evicted is not None:
            evicted.evict()

    def time_of(self, timestamp: Timestamp | None, where: str) -> Instant:
        """The time of a lifecycle call given ``timestamp`` (checked here); starts the trade there if
        it has not started yet."""
        given = None if timestamp is None else unix_nanos(timestamp, "timestamp", where)
        if self._start is None:
            self._start_at(given)  # not under the lock: starting may evict (close) another trade
        if given is None and not self._clock.given:
            return wall_now()  # a live trade's call: no lock needed
        with self.lock:
            return self._clock.at(given)

    def _open_span(self) -> None:
        attributes: dict[str, Any] = {
            n.TRADE_ID: self.trade_id, n.SYMBOL: self.symbol, n.SIDE: self.side, CORRELATION_KEY: self.trade_id,
        }
        if self.strategy:
            attributes[n.STRATEGY] = self.strategy
        if self.exchange:
            attributes[n.EXCHANGE] = self.exchange
        if self._attributes:
            attributes.update(_clean(self._attributes))
        parent = trace.get_current_span().get_span_context()
        links = [Link(parent)] if parent.is_valid else None
        start = self._start.ns if self._start is not None else None
        # An empty parent context makes the trade the root of its own trace.
        self._span = STATE.tracer.start_span(n.TRADE_SPAN, otel_context.Context(), SpanKind.INTERNAL,
                                             attributes, links, start_time=start)
        self._context = trace.set_span_in_context(self._span)

    @contextmanager
    def activate(self) -> Iterator[Trade]:
        """Makes the trade current in this block: child spans join its trace, logs carry its ids."""
        tokens = self._attach()
        try:
            yield self
        finally:
            _detach(tokens)

    def _attach(self, span: Span | None = None) -> _Tokens:
        """Starts the trade and makes it current (``span`` of it current, if given) until ``_detach``."""
        self.start()
        context = self._context
        if span is not None:
            context = trace.set_span_in_context(span, context)  # None: in the caller's context
        return (otel_context.attach(context) if context is not None else None,
                CURRENT_CORRELATION.set(self.trade_id),
                CURRENT_BOUND.set({**CURRENT_BOUND.get(), "trade_id": self.trade_id}))

    @never_raises
    def close(self, error: BaseException | None = None, *, end_time: Timestamp | None = None) -> None:
        """Ends the trade: open orders' spans end with their last status, the root span ends.

        Idempotent. ``error`` (an exception that aborted the trade) is recorded on the root span.
        ``end_time``: when it ended (default: now; on given time, the latest time the trade was given).
        """
        given = None if end_time is None else unix_nanos(end_time, "end_time", "Trade.close")
        with self.lock:
            if self.closed or self._start is None:
                return
            self.closed = True
            end = self._clock.at(given)
            for order in self._orders:
                if order.is_open:
                    order.end_unfinished(end)
            span = self._span
            if error is not None:
                record_error(span, error)
            if span.is_recording() and self.realized_pnl:
                span.set_attribute(n.PNL_REALIZED_ATTR, self.realized_pnl)
            end_span(span, end, self._start, "Trade.close")
            order_ids = list(self._order_ids)
        REGISTRY.get().remove(self, order_ids)

    def evict(self) -> None:
        if self._span.is_recording():
            self._span.set_attribute(n.TRADE_EVICTED, True)
        self.metrics.evicted()
        self.close()

    def __enter__(self) -> Trade:
        activation = self.activate()
        activation.__enter__()
        self._activations.append(activation)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._activations:
            self._activations.pop().__exit__(None, None, None)
        self.close(exc if isinstance(exc, Exception) else None)

    async def __aenter__(self) -> Trade:
        return self.__enter__()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        traceback: TracebackType | None) -> None:
        self.__exit__(exc_type, exc, traceback)

    # -- what happens during the trade ---------------------------------------------------------

    @never_raises
    def signal(self, direction: str, *, confidence: float | None = None, model: str | None = None,
               timestamp: Timestamp | None = None, **attributes: Any) -> None:
        """The strategy's decision: ``direction`` (long/short/flat/...), optional confidence and model."""
        at = self.time_of(timestamp, "Trade.signal")
        self.metrics.signal(direction)
        event: dict[str, Any] = {n.SIGNAL_DIRECTION: direction}
        if confidence is not None:
            event[n.SIGNAL_CONFIDENCE] = confidence
        if model is not None:
            event[n.SIGNAL_MODEL] = model
        self._event(n.SIGNAL_EVENT, event, attributes, at)

    @never_raises
    def risk_check(self, approved: bool, reason: str | None = None, *, timestamp: Timestamp | None = None,
                   **attributes: Any) -> None:
        """A pre-trade risk decision; a denial marks the trade (``trading.risk.denied``) and is logged."""
        at = self.time_of(timestamp, "Trade.risk_check")
        self.metrics.risk_check(approved, reason)
        event: dict[str, Any] = {n.RISK_DECISION: "approved" if approved else "denied"}
        if reason:
            event[n.RISK_REASON] = reason
        self._event(n.RISK_EVENT, event, attributes, at)
        if not approved:
            if self._span.is_recording():
                self._span.set_attribute(n.RISK_DENIED, True)
            self.log(logging.WARNING, "risk check denied", at_ns=at.event_ns, reason=reason)

    def submit_order(self, amount: float, *, order_type: str = "market", side: str | None = None,
                     price: float | None = None, reference_price: float | None = None,
                     client_order_id: str | None = None, timestamp: Timestamp | None = None,
                     **attributes: Any) -> Order:
        """Records an order sent to the venue (at ``timestamp``: its span's start) and returns its handle.

        ``side`` defaults to the trade's (pass the opposite side for an exit order);
        ``reference_price`` (arrival mid or decision price) enables slippage. Never raises: a bad
        side, amount, price or time is logged once and recorded as docs/trading.md describes.
        """
        submitted = self.time_of(timestamp, "Trade.submit_order")
        with self.lock:
            order_side = self.side if side is None else canonical_side(side, "Trade.submit_order")
            order = Order(self, amount=amount, side=order_side, order_type=order_type, price=price,
                          reference_price=reference_price, client_order_id=client_order_id,
                          attributes=_clean(attributes) if attributes else {}, submitted=submitted)
            self._orders.append(order)
            if client_order_id is not None:
                self.index_order(order, client_order_id)
        return order

    def order(self, order_id: str) -> Order | None:
        """This trade's order with the given client or venue id."""
        return self._order_ids.get(order_id)

    @property
    def orders(self) -> list[Order]:
        with self.lock:
            return list(self._orders)

    @never_raises
    def position_opened(self, quantity: float, entry_price: float, *, timestamp: Timestamp | None = None,
                        **attributes: Any) -> None:
        at = self.time_of(timestamp, "Trade.position_opened")
        self._event(n.POSITION_OPENED_EVENT, {n.POSITION_QUANTITY: quantity, n.POSITION_ENTRY_PRICE: entry_price},
                    attributes, at)

    @never_raises
    def position_closed(self, pnl: float | None = None, *, exit_reason: str, exit_price: float | None = None,
                        timestamp: Timestamp | None = None, **attributes: Any) -> None:
        """The position is flat again. ``exit_reason``: stop_loss, take_profit, signal, liquidation,
        manual, ... (a short fixed code). ``pnl`` defaults to the realized PnL of this trade's
        fills in its ``portfolio``. Feeds the closed-trade count and the rolling win rate; the trade's
        duration runs from its start to ``timestamp``."""
        at = self.time_of(timestamp, "Trade.position_closed")
        with self.lock:
            if self._position_closed:
                return
            self._position_closed = True
            given = None if pnl is None else finite_number(
                pnl, "pnl", "Trade.position_closed", "the PnL this trade's fills realized is used instead")
            realized = self.realized_pnl if given is None else given
            self.realized_pnl = realized
            event: dict[str, Any] = {n.PNL_REALIZED_ATTR: realized, n.EXIT_REASON: exit_reason}
            if exit_price is not None:
                event[n.POSITION_EXIT_PRICE] = exit_price
            self._event(n.POSITION_CLOSED_EVENT, event, attributes, at)
            if self._span.is_recording():
                outcome = "win" if realized > 0 else "loss" if realized < 0 else "breakeven"
                self._span.set_attributes({n.PNL_REALIZED_ATTR: realized, n.EXIT_REASON: exit_reason,
                                           n.TRADE_OUTCOME: outcome})
                if self.portfolio is not None:  # the equity curve, readable back from traces alone
                    self._span.set_attributes({n.PORTFOLIO: self.portfolio.name,
                                               n.PORTFOLIO_EQUITY: self.portfolio.equity})
            duration = at.seconds_since(self._start) if self._start is not None else None
            self.metrics.trade_closed(realized, exit_reason=exit_reason, duration_s=duration)
        self.log(logging.INFO, "position closed", at_ns=at.event_ns, pnl=realized, exit_reason=exit_reason)

    @never_raises
    def set_attribute(self, key: str, value: Any) -> None:
        if self._span.is_recording():
            self._span.set_attributes(_clean({key: value}))

    # -- used by Order ---------------------------------------------------------------------------

    def start_child_span(self, name: str, attributes: dict[str, Any], start: Instant) -> Span:
        attributes[CORRELATION_KEY] = self.trade_id
        return STATE.tracer.start_span(name, self._context, SpanKind.INTERNAL, attributes, start_time=start.ns)

    def index_order(self, order: Order, order_id: str) -> None:
        self._order_ids[order_id] = order
        REGISTRY.get().index_order(order, order_id)

    def apply_fill(self, order: Order, amount: float, price: float, *, fee: float, fee_currency: str | None,
                   at: Instant) -> None:
        if self.portfolio is not None:
            self.realized_pnl += self.portfolio._apply_trade_fill(self, order.side, amount, price, fee=fee,
                                                                  fee_currency=fee_currency, at_ns=at.event_ns)

    def log(self, level: int, event: str, *, span: Span | None = None, at_ns: int | None = None,
            **fields: Any) -> None:
        """A log line tied to this trade (or to ``span`` of it) and its correlation id, from anywhere.

        ``at_ns``: the time of the event it reports (Unix ns; None: now), as on the event's span.
        """
        try:
            fields.update(symbol=self.symbol, strategy=self.strategy)
            if at_ns is not None:
                fields["_time_ns"] = at_ns  # the log processors' record time (logs/_processors.py)
            # Not ``with self.activate()``: a log line is on every order's path, and the
            # generator-based context manager cost a tenth of it.
            tokens = self._attach(span)
            try:
                _LOG.log(level, event, **{k: v for k, v in fields.items() if v is not None})
            finally:
                _detach(tokens)
        except Exception:  # noqa: BLE001 - a log line must not stop a trade
            report_instrumentation_failure("trade log")

    def _event(self, name: str, event: dict[str, Any], attributes: dict[str, Any], at: Instant) -> None:
        if self._span.is_recording():
            if attributes:
                event.update(_clean(attributes))
            self._span.add_event(name, event, timestamp=at.event_ns)

    def __repr__(self) -> str:
        return (f"Trade(trade_id={self.trade_id!r}, symbol={self.symbol!r}, side={self.side!r}, "
                f"strategy={self.strategy!r}, closed={self.closed})")


def trade(symbol: str, side: str, *, strategy: str | None = None, exchange: str | None = None,
          trade_id: str | None = None, portfolio: Portfolio | None = None, start_time: Timestamp | None = None,
          **attributes: Any) -> Trade:
    """A trade of ``symbol`` on ``side`` (buy/sell): ``with``/``async with`` it, or ``start()`` it.

    ``attributes`` are added to the root span (scrubbed of secrets), never to metrics.
    ``start_time`` (int Unix nanoseconds or a datetime): a backtest's or replay's time; the trade
    then runs on given time (docs/trading.md, "Backtests and replays").
    """
    return Trade(symbol, side, strategy=strategy, exchange=exchange, trade_id=trade_id, portfolio=portfolio,
                 attributes=attributes, start_time=start_time)
