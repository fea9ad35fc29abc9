"""The Analyzer that turns backtrader's order and trade notifications into trades of the trading API.

backtrader tells an Analyzer about every order (``notify_order``: submitted, accepted, partial,
completed, cancelled, ...) and every trade (``notify_trade``: opened, updated, closed) of its
strategy, on the data feed's simulated datetimes. Each backtrader trade becomes one trade of
``otel_trading.trade()`` (one trace), its orders ``order`` spans with their fills and
commissions, and the broker's value feeds a :class:`~otel_trading.Portfolio`.

An order carries no trade reference, and its ``Completed`` notification comes *before* the
``notify_trade`` that opens the trade. Orders of a data feed and ``tradeid`` with no open trade
are therefore held until the trade opens (then recorded into it with their own times), or
recorded as standalone orders when they end without a fill.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import logging
from dataclasses import dataclass
from itertools import islice
from typing import Any, Final

import backtrader as bt  # type: ignore[import-untyped]  # no type information

from otel_trading.instrumentation._hooks import guarded
from otel_trading.trading import Order, Portfolio, Trade, TradingMetrics
from otel_trading.trading._standalone import StandaloneTrade

_LOG: Final = logging.getLogger("otel_trading.instrumentation.backtrader")
EXCHANGE: Final = "backtrader"
_STOPS: Final = frozenset({bt.Order.Stop, bt.Order.StopLimit, bt.Order.StopTrail, bt.Order.StopTrailLimit})
_PRICED: Final = _STOPS | {bt.Order.Limit}
_TERMINAL: Final = frozenset({bt.Order.Completed, bt.Order.Canceled, bt.Order.Expired, bt.Order.Margin,
                              bt.Order.Rejected})


def exit_reason(exectype: int | None) -> str:
    """The exit reason of a trade from the type of the order that closed it (backtrader knows no other)."""
    if exectype in _STOPS:
        return "stop_loss"
    if exectype == bt.Order.Limit:
        return "take_profit"
    return "signal"


def _opens_from_flat(bit: Any) -> bool:
    """An execution that closed nothing and left the position at its own size: it opened a trade."""
    return bool(bit.closed == 0 and bit.psize == bit.opened)


@functools.lru_cache(maxsize=1024)  # a bar's time is asked for by every event of the bar
def simulated_time(number: float) -> int:
    """A backtrader datetime number in Unix nanoseconds: its naive datetime taken as UTC (the feed's
    own time when the feed sets no tz)."""
    moment: dt.datetime = bt.num2date(number)
    return calendar.timegm(moment.timetuple()) * 10**9 + moment.microsecond * 1000


@dataclass
class _OpenTrade:
    trade: Trade
    exit_type: int | None = None  # exectype of the order that filled last: the closing one, at close
    exit_price: float | None = None


@dataclass
class _OrderState:
    """What was recorded of one backtrader order (by its ``ref``)."""

    recorded: Order | None = None
    trade: _OpenTrade | None = None  # the trade it was recorded in
    bits: int = 0  # execution bits already recorded as fills
    accepted_at: int | None = None  # Unix ns


class TradeTelemetry(bt.Analyzer):  # type: ignore[misc]  # backtrader ships no type information
    """Records its strategy's orders and trades as otel-trading trades, orders and a portfolio.

    ``cerebro.addanalyzer(TradeTelemetry)`` (``configure(instrument=["backtrader"])`` adds it to
    every Cerebro). Parameters: ``exchange`` (``trading.exchange``, default ``"backtrader"``),
    ``portfolio`` (a :class:`~otel_trading.Portfolio` to feed; default a new one named after the
    strategy, with the broker's starting cash) and ``base_currency`` of that portfolio.
    ``get_analysis()`` returns ``{"closed": n, "pnl_net": total}``: the closed trades recorded.
    """

    params = (("exchange", EXCHANGE), ("portfolio", None), ("base_currency", "USD"))

    def __init__(self) -> None:
        self._active = False
        self._closed = 0
        self._pnl_net = 0.0

    @guarded("backtrader start")
    def start(self) -> None:
        cerebro = self.strategy.env
        # optstrategy with maxcpus != 1 runs every strategy, and this analyzer, in a process pool:
        # a forked worker's telemetry would be lost at its exit, and the results travel back pickled.
        if in_worker(cerebro):
            return  # the Cerebro.run wrapper warned in the parent
        self._strategy_name = type(self.strategy).__name__
        self._portfolio: Portfolio = self.p.portfolio or Portfolio(
            self._strategy_name, base_currency=self.p.base_currency, cash=self.strategy.broker.getvalue())
        self._orders: dict[int, _OrderState] = {}
        self._trades: dict[tuple[int, int], _OpenTrade] = {}
        self._metrics: dict[str, TradingMetrics] = {}
        self._held: dict[tuple[int, int], dict[int, Any]] = {}  # orders waiting for their trade to open
        self._symbols: dict[int, str] = {
            id(data): data._name or f"data{index}" for index, data in enumerate(self.strategy.datas)}
        # The band of the broker's value the portfolio was synchronised within: its high, the low since.
        self._high = self._low = float(self.strategy.broker.getvalue())
        self._active = True

    def _now(self) -> int:
        return simulated_time(self.strategy.datetime[0])

    @guarded("backtrader notify_order")
    def notify_order(self, order: Any) -> None:
        if not self._active:
            return
        state = self._orders.setdefault(order.ref, _OrderState())
        if order.status == bt.Order.Accepted and state.accepted_at is None:
            # The simulated broker accepts an order on submission; the news reaches us a bar later.
            state.accepted_at = simulated_time(order.created.dt)
        if state.trade is not None:
            self._record(state.trade, state, order)
            return
        # An order is placed in a trade once it is known which one: at its first fill (an order
        # submitted while a trade is open may be the entry of the next one, after a close()) or
        # when it ends unfilled. Its submission and acceptance keep their own times.
        key = (id(order.data), order.tradeid)
        open_trade = self._trades.get(key)
        if order.executed.p2 == 0:
            if order.status in _TERMINAL:
                if open_trade is not None:
                    self._record(open_trade, state, order)
                else:
                    self._record_standalone(state, order)
        elif open_trade is not None and key not in self._held and not _opens_from_flat(order.executed.exbits[0]):
            self._record(open_trade, state, order)
        else:  # its fill opens a trade, or adds to one opened in this bar: notify_trade comes next
            self._held.setdefault(key, {})[order.ref] = order

    def _record(self, open_trade: _OpenTrade, state: _OrderState, order: Any) -> None:
        if state.recorded is None:
            state.trade, state.recorded = open_trade, self._submit(open_trade.trade, state, order)
        elif order.status == bt.Order.Accepted:
            state.recorded.accepted(str(order.ref), timestamp=state.accepted_at)
        recorded = state.recorded
        new_bits = list(islice(order.executed.exbits, state.bits, order.executed.p2))
        for bit in new_bits:
            recorded.fill(abs(bit.size), bit.price, fee=bit.comm, timestamp=simulated_time(bit.dt))
        if new_bits:
            self._low = self._high + 1.0  # the portfolio moved: resynchronise it at the bar's end
            state.bits += len(new_bits)
            open_trade.exit_type, open_trade.exit_price = order.exectype, new_bits[-1].price
        if order.status in _TERMINAL:
            self._end(recorded, order)
            del self._orders[order.ref]

    def _submit(self, trade: Trade, state: _OrderState, order: Any) -> Order:
        created = order.created
        priced = order.exectype in _PRICED and created.price
        recorded = trade.submit_order(
            abs(created.size), order_type=order.getordername().lower(), side="buy" if order.isbuy() else "sell",
            price=created.price if priced else None, reference_price=created.price or None,
            timestamp=simulated_time(created.dt))
        if state.accepted_at is not None:
            recorded.accepted(str(order.ref), timestamp=state.accepted_at)
        return recorded

    def _end(self, recorded: Order, order: Any) -> None:
        status, now = order.status, self._now()
        if status == bt.Order.Completed:
            recorded.completed(timestamp=now)  # a no-op once its fills add up to the order's size
        elif status == bt.Order.Canceled:
            recorded.cancelled(timestamp=now)
        elif status == bt.Order.Expired:
            recorded.expired(timestamp=now)
        else:
            recorded.rejected("margin" if status == bt.Order.Margin else "rejected", timestamp=now)

    def _record_standalone(self, state: _OrderState, order: Any) -> None:
        """An order that ended without a fill and without a trade: an order span of its own."""
        carrier = StandaloneTrade(self._symbols.get(id(order.data), "data"), "buy" if order.isbuy() else "sell",
                                  exchange=self.p.exchange)
        recorded = self._submit(carrier, state, order)
        self._end(recorded, order)
        carrier.close(end_time=self._now())
        del self._orders[order.ref]

    @guarded("backtrader notify_trade")
    def notify_trade(self, trade: Any) -> None:
        if not self._active:
            return
        key = (id(trade.data), trade.tradeid)
        if trade.isclosed:
            self._close(key, trade)
        elif key not in self._trades and trade.isopen:
            self._open(key, trade)

    def _open(self, key: tuple[int, int], trade: Any) -> None:
        held = self._held.pop(key, {})
        started = min((order.created.dt for order in held.values()), default=trade.dtopen)
        recorded = Trade(self._symbols.get(id(trade.data), "data"), "buy" if trade.size > 0 else "sell",
                         strategy=self._strategy_name, exchange=self.p.exchange, trade_id=str(trade.ref),
                         portfolio=self._portfolio, start_time=simulated_time(started))
        # One symbol's trades share their metric handles (bound once, not per trade), as standalone orders do.
        recorded.metrics = self._metrics.setdefault(recorded.symbol, recorded.metrics)
        open_trade = self._trades[key] = _OpenTrade(recorded)
        for order in held.values():
            self._record(open_trade, self._orders.setdefault(order.ref, _OrderState()), order)
        recorded.position_opened(abs(trade.size), trade.price, timestamp=simulated_time(trade.dtopen))

    def _close(self, key: tuple[int, int], trade: Any) -> None:
        open_trade = self._trades.pop(key, None)
        if open_trade is None:
            return
        closed_at = simulated_time(trade.dtclose)
        open_trade.trade.position_closed(trade.pnlcomm, exit_reason=exit_reason(open_trade.exit_type),
                                         exit_price=open_trade.exit_price, timestamp=closed_at)
        open_trade.trade.close(end_time=closed_at)
        self._closed += 1
        self._pnl_net += trade.pnlcomm

    @guarded("backtrader notify_cashvalue")
    def notify_cashvalue(self, cash: float, value: float) -> None:  # noqa: ARG002 - backtrader's signature
        """Each bar: the portfolio follows the broker's value where it matters (see :meth:`_sync`)."""
        if self._active and not self._low <= value <= self._high:
            self._sync(value)

    def _sync(self, value: float) -> None:
        """Marks the open positions and makes the portfolio's equity the broker's ``value``.

        Done after each fill, at the end, and on the bars where the value leaves the band between
        its last high and the low since: so equity, its peak and the drawdown are exact, for a
        fraction of the cost of updating the portfolio on every bar.
        """
        if not len(self.strategy):
            return
        if value > self._high:
            self._high = self._low = value
        else:
            self._low = min(self._low, value)
        now = self._now()
        positions = 0.0
        for data in self.strategy.datas:
            size = self.strategy.broker.getposition(data).size
            if size:
                price = data.close[0]
                self._portfolio.mark(self._symbols[id(data)], price, timestamp=now)
                positions += size * price
        # The broker's value is the truth (margin, multipliers, interest): cash is what makes it so.
        self._portfolio.set_cash(value - positions, timestamp=now)

    @guarded("backtrader stop")
    def stop(self) -> None:
        if not self._active:
            return
        self._sync(self.strategy.broker.getvalue())
        now = self._now() if len(self.strategy) else None
        for open_trade in self._trades.values():  # still open at the end: not closed trades
            open_trade.trade.close(end_time=now)
        self._trades.clear()
        self._held.clear()
        self._orders.clear()

    def get_analysis(self) -> dict[str, Any]:
        return {"closed": self._closed, "pnl_net": self._pnl_net}

    def __getstate__(self) -> dict[str, Any]:
        # optstrategy returns analyzers pickled; the telemetry objects stay in this process.
        private = ("_portfolio", "_orders", "_trades", "_held", "_symbols", "_metrics")
        return {key: value for key, value in self.__dict__.items() if key not in private}


def in_worker(cerebro: Any) -> bool:
    """True when ``cerebro.run()`` runs its strategies in a multiprocessing pool (optstrategy, maxcpus != 1)."""
    return bool(cerebro._dooptimize and cerebro.p.maxcpus != 1)


__all__ = ["EXCHANGE", "TradeTelemetry", "exit_reason", "in_worker", "simulated_time"]
