"""Trading metrics behind bound handles: the per-order and per-tick hot path.

``TradingMetrics`` is bound to one symbol (and venue and strategy). Each method looks its
handle up in a small dict keyed by the few values that vary per call (status, side, order
type), so an update costs a dict lookup and a locked addition - the price of a
prometheus_client child ``inc()`` - instead of an OTel SDK ``Counter.add``.
"""

from __future__ import annotations

import threading
from typing import Any, Final

from otel_trading._state import STATE, Slot
from otel_trading.metrics._local import BoundCounter, BoundHistogram, LocalMetrics
from otel_trading.metrics._names import METRIC_OVERFLOW
from otel_trading.trading import _names as n
from otel_trading.trading._rolling import ROLLING

_Key = tuple[str, ...]


class ValueGuard:
    """Caps the distinct values each attribute key may take; later values become ``other``.

    The per-instrument series cap stops an explosion; this keeps one runaway key (a symbol
    list generated from a scanner, an error text used as a reason) from crowding out the
    rest. Folded values are counted in ``otel_trading.metric.overflow``.
    """

    def __init__(self, max_values: int = n.MAX_VALUES_PER_KEY) -> None:
        self.max_values = max_values
        self._seen: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def admit(self, key: str, value: str) -> str:
        with self._lock:
            seen = self._seen.setdefault(key, set())
            if value in seen:
                return value
            if len(seen) < self.max_values:
                seen.add(value)
                return value
        STATE.local_metrics.counter(METRIC_OVERFLOW, "{series}", "Series folded into the overflow series").add(
            1, {"metric": "trading.*", "attribute": key}
        )
        return n.OTHER_VALUE


GUARD: Final = Slot("trading attribute values", ValueGuard)


class SharedHandles:
    """The bound handles of every ``TradingMetrics`` with the same symbol, venue and strategy.

    ``trade()`` makes a TradingMetrics per trade: sharing its handles with the trades before it
    spares each trade's first order, fill and close from building attributes and binding a
    series again (a dict lookup instead). Emptied when ``configure()`` replaces the metrics.
    """

    def __init__(self) -> None:
        self._generation = STATE.generation
        self._by_base: dict[tuple[tuple[str, str], ...], dict[tuple[str, _Key], Any]] = {}

    def handles(self, base: dict[str, str]) -> dict[tuple[str, _Key], Any]:
        if self._generation != STATE.generation:
            self._by_base = {}  # a new dict: instances holding the old one keep their own
            self._generation = STATE.generation
        key = tuple(base.items())
        handles = self._by_base.get(key)
        if handles is None:
            handles = self._by_base.setdefault(key, {})
        return handles


SHARED_HANDLES: Final = Slot("trading metric handles", SharedHandles)

_COUNTERS: Final[dict[str, tuple[str, str]]] = {
    n.SIGNALS: ("{signal}", "Trading signals emitted"),
    n.RISK_CHECKS: ("{check}", "Pre-trade risk checks by decision"),
    n.ORDERS: ("{order}", "Orders reaching each status"),
    n.ORDER_REJECTS: ("{order}", "Orders rejected, by reason"),
    n.FILLS: ("{fill}", "Fills (partial or final)"),
    n.FILL_NOTIONAL: ("{quote}", "Filled notional (amount x price) in the quote currency"),
    n.FEES: ("{fee_currency}", "Fees paid, in the fee currency"),
    n.TRADES: ("{trade}", "Closed trades by outcome and exit reason"),
    n.WEBSOCKET_RECONNECTS: ("{reconnect}", "Websocket reconnections"),
    n.MODEL_PREDICTIONS: ("{prediction}", "Model predictions by label"),
    n.CIRCUIT_BREAKER_TRIPS: ("{trip}", "Transitions into the halted trading state"),
    n.TRADES_EVICTED: ("{trade}", "Open trades closed by the SDK because too many were open"),
}
# Signed sums: price improvement lowers the slippage cost.
_UP_DOWN_COUNTERS: Final[dict[str, tuple[str, str]]] = {
    n.SLIPPAGE_COST: ("{quote}", "Slippage cost in the quote currency; negative = saved"),
}
_HISTOGRAMS: Final[dict[str, tuple[tuple[float, ...], str, str]]] = {
    n.ORDER_ACK_LATENCY: (n.LATENCY_BUCKETS_SECONDS, "s", "Order submitted to accepted by the venue"),
    n.ORDER_FILL_LATENCY: (n.LATENCY_BUCKETS_SECONDS, "s", "Order submitted to completely filled"),
    n.SLIPPAGE: (n.SLIPPAGE_BUCKETS_BPS, "{bp}", "Fill VWAP against the reference price; positive = cost"),
    n.TRADE_DURATION: (n.TRADE_DURATION_BUCKETS_SECONDS, "s", "Trade open to close"),
}


def local_counter(local: LocalMetrics, name: str) -> Any:
    unit, description = _COUNTERS[name]
    return local.counter(name, unit, description)


def local_histogram(local: LocalMetrics, name: str) -> Any:
    bounds, unit, description = _HISTOGRAMS[name]
    return local.histogram(name, bounds, unit, description)


def side_sign(side: str) -> int:
    """+1 for a buy, -1 for a sell: the sign that makes slippage and position changes a cost/size."""
    lowered = side.lower()
    if lowered in ("buy", "long", "bid"):
        return 1
    if lowered in ("sell", "short", "ask"):
        return -1
    raise ValueError(f"side: expected 'buy' or 'sell', got {side!r}")


def slippage_bps(side: str, fill_price: float, reference_price: float) -> float:
    """``side_sign * (fill - reference) / reference * 1e4``: positive is a cost, negative an improvement."""
    return side_sign(side) * (fill_price - reference_price) / reference_price * 1e4


class TradingMetrics:
    """Trading metrics of one symbol on one venue for one strategy, behind cached bound handles.

    ``trade()`` and ``Order`` use this for you; use it directly when your bot keeps its own
    order state machine. Values passed as ``side``, ``order_type``, ``status`` and reasons
    become metric attributes: keep them to small fixed sets (never ids or free text).
    """

    __slots__ = ("_base", "_folded", "_generation", "_handles")

    def __init__(self, symbol: str, *, exchange: str | None = None, strategy: str | None = None) -> None:
        guard = GUARD.get()
        base = {n.SYMBOL: guard.admit(n.SYMBOL, symbol)}
        if exchange:
            base[n.EXCHANGE] = guard.admit(n.EXCHANGE, exchange)
        if strategy:
            base[n.STRATEGY] = guard.admit(n.STRATEGY, strategy)
        self._base = base
        self._generation = STATE.generation
        self._handles = SHARED_HANDLES.get().handles(base)
        # Handles whose values the guard folded into ``other``: this instance's own, so that each
        # new TradingMetrics counts its folds in the overflow counter as it always has.
        self._folded: dict[tuple[str, _Key], Any] = {}

    def _bind(self, name: str, keys: tuple[str, ...], values: _Key) -> Any:
        if self._generation != STATE.generation:
            self._handles = SHARED_HANDLES.get().handles(self._base)
            self._folded = {}
            self._generation = STATE.generation
        else:
            handle = self._folded.get((name, values))  # (the caller looked in _handles)
            if handle is not None:
                return handle
        attributes: dict[str, Any] = dict(self._base)
        guard = GUARD.get()
        folded = False
        for key, value in zip(keys, values, strict=True):
            attributes[key] = admitted = guard.admit(key, value)
            folded = folded or admitted != value
        local = STATE.local_metrics
        if name in _HISTOGRAMS:
            instrument = local_histogram(local, name)
        elif name in _UP_DOWN_COUNTERS:
            unit, description = _UP_DOWN_COUNTERS[name]
            instrument = local.up_down_counter(name, unit, description)
        else:
            instrument = local_counter(local, name)
        handle = instrument.bind(attributes)
        (self._folded if folded else self._handles)[(name, values)] = handle
        return handle

    def _handle(self, name: str, keys: tuple[str, ...], values: _Key) -> Any:
        handle = self._handles.get((name, values))
        if handle is None or self._generation != STATE.generation:
            handle = self._bind(name, keys, values)
        return handle

    def _counter(self, name: str, keys: tuple[str, ...], values: _Key) -> BoundCounter:
        return self._handle(name, keys, values)  # type: ignore[no-any-return]  # counter names bind counters

    def _histogram(self, name: str, keys: tuple[str, ...], values: _Key) -> BoundHistogram:
        return self._handle(name, keys, values)  # type: ignore[no-any-return]  # histogram names bind histograms

    def signal(self, direction: str) -> None:
        self._counter(n.SIGNALS, (n.SIGNAL_DIRECTION,), (direction,)).add(1)

    def risk_check(self, approved: bool, reason: str | None = None) -> None:
        decision = "approved" if approved else "denied"
        self._counter(n.RISK_CHECKS, (n.RISK_DECISION, n.RISK_REASON), (decision, reason or "none")).add(1)

    def order(self, status: str, *, side: str, order_type: str) -> None:
        """Counts an order reaching ``status`` (submitted, accepted, rejected, filled, cancelled, expired, ...)."""
        self._counter(n.ORDERS, (n.ORDER_STATUS, n.SIDE, n.ORDER_TYPE), (status, side, order_type)).add(1)

    def reject(self, reason: str) -> None:
        self._counter(n.ORDER_REJECTS, (n.ORDER_REASON,), (reason,)).add(1)

    def ack_latency(self, seconds: float, *, order_type: str) -> None:
        self._histogram(n.ORDER_ACK_LATENCY, (n.ORDER_TYPE,), (order_type,)).record(seconds)

    def fill_latency(self, seconds: float, *, order_type: str) -> None:
        self._histogram(n.ORDER_FILL_LATENCY, (n.ORDER_TYPE,), (order_type,)).record(seconds)

    def fill(self, *, side: str, amount: float, price: float, fee: float = 0.0,
             fee_currency: str | None = None) -> None:
        """Counts one fill (partial or final): count, notional and fee."""
        key = (side,)
        self._counter(n.FILLS, (n.SIDE,), key).add(1)
        self._counter(n.FILL_NOTIONAL, (n.SIDE,), key).add(abs(amount * price))
        self.fee(fee, fee_currency=fee_currency)

    def fee(self, fee: float, *, fee_currency: str | None = None) -> None:
        """Counts a fee, of a fill or reported apart from it, in its currency (``quote`` when not given)."""
        if fee:
            self._counter(n.FEES, (n.FEE_CURRENCY,), (fee_currency or "quote",)).add(fee)

    def slippage(self, bps: float, *, side: str, cost: float | None = None) -> None:
        """Records an order's slippage: its fills' VWAP against the reference price (see ``slippage_bps``),
        and, with ``cost`` (``side_sign * (vwap - reference) * filled``), what it cost in the quote currency."""
        self._histogram(n.SLIPPAGE, (n.SIDE,), (side,)).record(bps)
        if cost is not None:
            self._counter(n.SLIPPAGE_COST, (n.SIDE,), (side,)).add(cost)

    def websocket_reconnect(self, stream: str = "default") -> None:
        """Counts a websocket reconnection of ``stream`` (ticker, orderbook, user, ...) on this venue."""
        self._counter(n.WEBSOCKET_RECONNECTS, (n.STREAM,), (stream,)).add(1)

    def evicted(self) -> None:
        self._counter(n.TRADES_EVICTED, (), ()).add(1)

    def trade_closed(self, pnl: float, *, exit_reason: str | None = None, duration_s: float | None = None) -> None:
        """Counts a closed trade by outcome and feeds the strategy's rolling win rate / profit factor / expectancy."""
        ROLLING.get().record(self._base.get(n.STRATEGY, ""), pnl)
        outcome = "win" if pnl > 0 else "loss" if pnl < 0 else "breakeven"
        self._counter(n.TRADES, (n.TRADE_OUTCOME, n.EXIT_REASON), (outcome, exit_reason or "unknown")).add(1)
        if duration_s is not None:
            self._histogram(n.TRADE_DURATION, (), ()).record(duration_s)
