"""One order of a trade: a child span from submission to its terminal status.

The span is never made current, so submission and fills may come from different callbacks,
tasks or threads; every transition is an event on it and a metric update.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Final

from opentelemetry.trace import Span, Status, StatusCode

from otel_trading.trading import _names as n
from otel_trading.trading._guard import never_raises
from otel_trading.trading._inputs import UNKNOWN_SIDE, Timestamp, finite_or_zero, positive_number
from otel_trading.trading._metrics import slippage_bps
from otel_trading.trading._time import Instant, end_span

if TYPE_CHECKING:
    from otel_trading.trading._trade import Trade

_LOG = logging.getLogger("otel_trading.trading")
TERMINAL_STATUSES: Final = frozenset({"filled", "cancelled", "rejected", "expired"})
# Fill amounts arrive as floats from venues: a remainder below this share of the order is "filled".
_FILLED_TOLERANCE: Final = 1e-9


class Order:
    """Handle of one order. Obtain it from :meth:`Trade.submit_order`; look it up again with
    :meth:`Trade.order` or :func:`otel_trading.find_order` by client or venue id.

    Each transition takes an optional ``timestamp=`` (int Unix nanoseconds or a datetime): its
    event's time, and the latencies are measured between the times given.
    """

    def __init__(self, trade: Trade, *, amount: float, side: str, order_type: str, price: float | None,
                 reference_price: float | None, client_order_id: str | None, attributes: dict[str, Any],
                 submitted: Instant) -> None:
        where = "Trade.submit_order"
        checked_amount = positive_number(amount, "amount", where, "the order is complete at its first fill")
        self.trade = trade
        self.amount = checked_amount or 0.0
        """The ordered amount; 0.0 when the one given was not a finite number > 0 (unknown size)."""
        self.side = side
        self.order_type = order_type
        self.price = None if price is None else positive_number(price, "price", where, "it is left out")
        self.reference_price = None if reference_price is None else positive_number(
            reference_price, "reference_price", where, "the order gets no slippage")
        self.client_order_id = client_order_id
        self.venue_order_id: str | None = None
        self.status = "submitted"
        self.filled_amount = 0.0
        self.fees = 0.0
        self._notional = 0.0
        self._submitted = submitted
        self._accepted = False
        span_attributes: dict[str, Any] = {
            n.TRADE_ID: trade.trade_id, n.SYMBOL: trade.symbol, n.SIDE: side, n.ORDER_TYPE: order_type,
            n.ORDER_STATUS: "submitted", **attributes,
        }
        if checked_amount is not None:
            span_attributes[n.ORDER_AMOUNT] = checked_amount
        if client_order_id is not None:
            span_attributes[n.ORDER_CLIENT_ID] = client_order_id
        if self.price is not None:
            span_attributes[n.ORDER_PRICE] = self.price
        if self.reference_price is not None:
            span_attributes[n.ORDER_REFERENCE_PRICE] = self.reference_price
        self.span: Span = trade.start_child_span(n.ORDER_SPAN, span_attributes, submitted)
        trade.metrics.order("submitted", side=side, order_type=order_type)

    @property
    def is_open(self) -> bool:
        return self.status not in TERMINAL_STATUSES

    @property
    def remaining(self) -> float:
        return max(self.amount - self.filled_amount, 0.0)

    @property
    def average_price(self) -> float | None:
        """Volume-weighted average price of the fills so far."""
        return self._notional / self.filled_amount if self.filled_amount else None

    @never_raises
    def accepted(self, venue_order_id: str | None = None, *, timestamp: Timestamp | None = None) -> None:
        """The venue acknowledged the order; records the ack latency (to ``timestamp``, if given)."""
        at = self.trade.time_of(timestamp, "Order.accepted")
        with self.trade.lock:
            if venue_order_id is not None:
                self._set_venue_id(venue_order_id)
            if self._accepted or not self.is_open:
                return
            self._accept(at)

    def _accept(self, at: Instant) -> None:
        self._accepted = True
        self.status = "accepted"
        self.trade.metrics.ack_latency(at.seconds_since(self._submitted), order_type=self.order_type)
        self.trade.metrics.order("accepted", side=self.side, order_type=self.order_type)
        if self.span.is_recording():
            attributes: dict[str, Any] = {n.ORDER_STATUS: "accepted"}
            if self.venue_order_id is not None:
                attributes[n.ORDER_VENUE_ID] = self.venue_order_id
            self.span.add_event(n.ORDER_ACCEPTED_EVENT, attributes, timestamp=at.event_ns)
            self.span.set_attributes(attributes)

    def _set_venue_id(self, venue_order_id: str) -> None:
        self.venue_order_id = str(venue_order_id)
        self.trade.index_order(self, self.venue_order_id)
        if self.span.is_recording():
            self.span.set_attribute(n.ORDER_VENUE_ID, self.venue_order_id)

    @never_raises
    def fill(self, amount: float, price: float, *, fee: float = 0.0, fee_currency: str | None = None,
             liquidity: str | None = None, timestamp: Timestamp | None = None) -> None:
        """A (partial) fill. The order becomes ``filled`` when the filled amount reaches its amount.

        A fill before any acknowledgement counts as the acknowledgement (venues answer market
        orders with their fills). With the trade's ``portfolio``, the fill is applied to it.
        A fill whose amount or price is not a finite number > 0 is logged once and ignored.
        """
        ignored = "the fill is ignored"
        checked_amount = positive_number(amount, "amount", "Order.fill", ignored)
        checked_price = positive_number(price, "price", "Order.fill", ignored)
        if checked_amount is None or checked_price is None:
            return
        amount, price = checked_amount, checked_price
        fee = finite_or_zero(fee, "fee", "Order.fill")
        at = self.trade.time_of(timestamp, "Order.fill")
        with self.trade.lock:
            if not self._accepted and self.is_open:
                self._accept(at)
            self.filled_amount += amount
            self._notional += amount * price
            self.fees += fee
            self.trade.metrics.fill(side=self.side, amount=amount, price=price, fee=fee, fee_currency=fee_currency)
            self.trade.apply_fill(self, amount, price, fee=fee, fee_currency=fee_currency, at=at)
            if self.span.is_recording():
                event: dict[str, Any] = {n.FILL_AMOUNT: amount, n.FILL_PRICE: price}
                if fee:
                    event[n.FILL_FEE] = fee
                if fee_currency:
                    event[n.FEE_CURRENCY] = fee_currency
                if liquidity:
                    event[n.FILL_LIQUIDITY] = liquidity
                self.span.add_event(n.ORDER_FILL_EVENT, event, timestamp=at.event_ns)
            if not self.is_open:
                return  # a late fill after cancel: counted above, status stays
            if self.remaining <= self.amount * _FILLED_TOLERANCE:
                self.trade.metrics.fill_latency(at.seconds_since(self._submitted), order_type=self.order_type)
                self._finish("filled", None, at)
            elif self.status != "partially_filled":
                self.status = "partially_filled"
                self.trade.metrics.order("partially_filled", side=self.side, order_type=self.order_type)

    @never_raises
    def rejected(self, reason: str, *, timestamp: Timestamp | None = None) -> None:
        """The venue (or a local check after submission) refused the order. ``reason`` is a
        short fixed code (``insufficient_funds``, ``invalid_order``, ...), used as a metric attribute."""
        at = self.trade.time_of(timestamp, "Order.rejected")
        with self.trade.lock:
            if self.is_open:
                self.trade.metrics.reject(reason)
                self._finish("rejected", reason, at)

    @never_raises
    def cancelled(self, reason: str | None = None, *, timestamp: Timestamp | None = None) -> None:
        at = self.trade.time_of(timestamp, "Order.cancelled")
        with self.trade.lock:
            if self.is_open:
                self._finish("cancelled", reason, at)

    @never_raises
    def expired(self, reason: str | None = None, *, timestamp: Timestamp | None = None) -> None:
        at = self.trade.time_of(timestamp, "Order.expired")
        with self.trade.lock:
            if self.is_open:
                self._finish("expired", reason, at)

    @never_raises
    def modified(self, *, amount: float | None = None, price: float | None = None,
                 timestamp: Timestamp | None = None) -> None:
        """The order was amended (edit/replace) to a new amount and/or price."""
        if amount is not None:
            amount = positive_number(amount, "amount", "Order.modified", "the amount is left unchanged")
        if price is not None:
            price = positive_number(price, "price", "Order.modified", "the price is left unchanged")
        at = self.trade.time_of(timestamp, "Order.modified")
        with self.trade.lock:
            if amount is not None:
                self.amount = amount
            if price is not None:
                self.price = price
            if self.span.is_recording():
                attributes = {key: value for key, value in ((n.ORDER_AMOUNT, amount), (n.ORDER_PRICE, price))
                              if value is not None}
                self.span.add_event(n.ORDER_MODIFIED_EVENT, attributes, timestamp=at.event_ns)
                self.span.set_attributes(attributes)

    @never_raises
    def fee_charged(self, fee: float, *, fee_currency: str | None = None, timestamp: Timestamp | None = None) -> None:
        """A fee the venue reported apart from a fill (a trade list read after the order's fills).

        Counted in ``trading.fees`` and :attr:`fees`, an ``order.fee`` event while the order is
        open. Not applied to the trade's portfolio: a fee known with its fill belongs in ``fill()``.
        """
        fee = finite_or_zero(fee, "fee", "Order.fee_charged")
        if not fee:
            return
        at = self.trade.time_of(timestamp, "Order.fee_charged")
        with self.trade.lock:
            self.fees += fee
            self.trade.metrics.fee(fee, fee_currency=fee_currency)
            if self.span.is_recording():
                event: dict[str, Any] = {n.FILL_FEE: fee}
                if fee_currency:
                    event[n.FEE_CURRENCY] = fee_currency
                self.span.add_event(n.ORDER_FEE_EVENT, event, timestamp=at.event_ns)

    @never_raises
    def completed(self, *, timestamp: Timestamp | None = None) -> None:
        """The venue reports the order done although its fills add up to less than its amount
        (a venue that rounds or caps the amount): it ends ``filled`` at the amount filled.
        No-op for an order that is not open or has no fill."""
        at = self.trade.time_of(timestamp, "Order.completed")
        with self.trade.lock:
            if not self.is_open or not self.filled_amount:
                return
            self.amount = self.filled_amount
            self.trade.metrics.fill_latency(at.seconds_since(self._submitted), order_type=self.order_type)
            self._finish("filled", None, at)

    def _finish(self, status: str, reason: str | None, at: Instant) -> None:
        self.status = status
        metrics = self.trade.metrics
        metrics.order(status, side=self.side, order_type=self.order_type)
        average = self.average_price
        slippage = None
        if average is not None and self.reference_price is not None and self.side != UNKNOWN_SIDE:
            slippage = slippage_bps(self.side, average, self.reference_price)
            cost = slippage / 1e4 * self.reference_price * self.filled_amount
            metrics.slippage(slippage, side=self.side, cost=cost)
        span = self.span
        if span.is_recording():
            attributes: dict[str, Any] = {n.ORDER_STATUS: status, n.ORDER_FILLED: self.filled_amount}
            if average is not None:
                attributes[n.ORDER_AVERAGE_PRICE] = average
            if self.fees:
                attributes[n.ORDER_FEE] = self.fees
            if slippage is not None:
                attributes[n.ORDER_SLIPPAGE] = slippage
            if reason:
                attributes[n.ORDER_REASON] = reason
            span.set_attributes(attributes)
            span.add_event(f"order.{status}", {n.ORDER_REASON: reason} if reason else None, timestamp=at.event_ns)
            if status == "rejected":
                span.set_status(Status(StatusCode.ERROR, f"order rejected: {reason}"))
        end_span(span, at, self._submitted, "Order.fill" if status == "filled" else f"Order.{status}")
        level = logging.WARNING if status == "rejected" else logging.INFO
        self.trade.log(level, f"order {status}", span=span, at_ns=at.event_ns, status=status, reason=reason,
                       client_order_id=self.client_order_id, venue_order_id=self.venue_order_id,
                       filled=self.filled_amount, average_price=average)

    def end_unfinished(self, end: Instant) -> None:
        """Ends the span of an order still open when its trade closes (at ``end``), keeping its last status."""
        if self.span.is_recording():
            self.span.set_attributes({n.ORDER_STATUS: self.status, n.ORDER_FILLED: self.filled_amount})
            self.span.add_event("order.open_at_trade_close", timestamp=end.event_ns)
        end_span(self.span, end, self._submitted, "Trade.close")

    def __repr__(self) -> str:
        return (f"Order(client_order_id={self.client_order_id!r}, venue_order_id={self.venue_order_id!r}, "
                f"status={self.status!r}, filled={self.filled_amount}/{self.amount})")
