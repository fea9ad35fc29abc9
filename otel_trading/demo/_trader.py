"""One symbol's trades. Each is one trace from the signal to the flat position, across ticks:
started with ``Trade.start()``, made current with ``activate()`` in every tick that works on
it (so the exchange calls and logs join it), ended with ``close()``."""

from __future__ import annotations

import time
from typing import Final

import otel_trading
from otel_trading import Order, Trade, get_logger
from otel_trading.analytics import ClosedTrade
from otel_trading.demo import _errors as errors
from otel_trading.demo._desk import Desk
from otel_trading.demo._strategy import MIN_CONFIDENCE, MODEL, STRATEGY, Signal

_ENTRY_LIMIT_BPS: Final = 5.0  # a marketable limit: at most 5 bps above the ask
_ENTRY_TIMEOUT_TICKS: Final = 3  # then the unfilled rest is cancelled
# The stop trails the highest price since entry, a few ticks of noise (volatility at entry) below it.
_STOP_VOLATILITIES: Final = 3.0
_MIN_STOP: Final = 0.003
_MAX_HOLD_TICKS: Final = 12
_REENTRY_TICKS: Final = 2  # after a trade ends, before the next on the symbol
_FULL_BOOK_TICKS: Final = 10  # after a denial for exposure: the book will not have room sooner
_LOG = get_logger("demo.bot")


class SymbolTrader:
    def __init__(self, symbol: str, desk: Desk) -> None:
        self.symbol = symbol
        self.desk = desk
        self.trade: Trade | None = None
        self.entry: Order | None = None
        self._entry_age = 0
        self._position = 0.0
        self._entry_price = 0.0
        self._stop = 0.0  # distance below the peak, as a fraction
        self._peak = 0.0
        self._opened_tick = 0
        self._opened_ns = 0
        self._next_entry_tick = 0

    @property
    def entering(self) -> bool:
        return self.entry is not None and self.entry.is_open

    async def step(self, tick: int, price: float | None, signal: Signal | None, *, may_enter: bool,
                   flatten: str | None) -> None:
        """This tick's work: enter on a tradable signal, follow an entry's fills, or exit."""
        if self.trade is None:
            # While halted only a new crossover is tried (and denied): one denial per signal, not per tick.
            wanted = signal is not None and signal.tradable and (signal.fresh or not self.desk.risk.halted)
            if may_enter and wanted and tick >= self._next_entry_tick:
                assert signal is not None
                self._stop = max(_MIN_STOP, _STOP_VOLATILITIES * signal.volatility)
                await self._enter(tick, signal)
            return
        if self.entry is not None and self.entry.is_open:
            self._entry_age += 1
            cancel = flatten is not None or self._entry_age >= _ENTRY_TIMEOUT_TICKS
            with self.trade.activate():
                still_open = await self.desk.follow(self.entry, self.symbol, cancel=cancel)
            if not still_open:
                self._entry_done(tick)
            return
        reason = flatten or self._exit_reason(tick, price, signal)
        if reason is not None:
            await self._exit(tick, reason, price)

    def _exit_reason(self, tick: int, price: float | None, signal: Signal | None) -> str | None:
        if price is None:
            return None  # no fresh price (feed gap): hold
        self._peak = max(self._peak, price)
        if price <= self._peak * (1 - self._stop):
            return "stop_loss" if price < self._entry_price else "trailing_stop"
        if signal is not None and signal.direction == "flat" and signal.confidence >= MIN_CONFIDENCE:
            return "signal"  # a confident reversal only: noise around the crossover does not shake us out
        return "time_stop" if tick - self._opened_tick >= _MAX_HOLD_TICKS else None

    async def _enter(self, tick: int, signal: Signal) -> None:
        desk = self.desk
        snapshot = desk.book.snapshot()
        notional = desk.risk.position_notional(snapshot.equity)
        trade = self.trade = otel_trading.trade(self.symbol, "buy", strategy=STRATEGY, exchange=desk.exchange.id,
                                                portfolio=desk.book).start()
        with trade.activate():
            trade.signal(signal.direction, confidence=signal.confidence, model=MODEL, zscore=signal.zscore)
            approved, reason = desk.risk.check_entry(notional, snapshot)
            trade.risk_check(approved, reason)
            if reason is not None:
                desk.stats.risk_denials[reason] += 1
                self._end(tick, wait=_FULL_BOOK_TICKS if reason == "exposure_limit" else _REENTRY_TICKS)
                return
            try:
                ticker = await desk.calls("fetch_ticker", lambda: desk.exchange.fetch_ticker(self.symbol))
            except errors.BaseError as exc:
                _LOG.warning("entry abandoned: no quote", symbol=self.symbol)
                self._end(tick, exc)
                return
            ask = float(ticker["ask"])
            amount, price = round(notional / ask, 6), ask * (1 + _ENTRY_LIMIT_BPS / 1e4)
            client_id = desk.next_client_id()
            order = self.entry = trade.submit_order(amount, order_type="limit", price=price, reference_price=ask,
                                                    client_order_id=client_id)
            self._entry_age = 0
            placed = await desk.place(order, lambda: desk.exchange.create_order(
                self.symbol, "limit", "buy", amount, price, {"clientOrderId": client_id}))
            if not placed:
                self._end(tick)
            elif not order.is_open:
                self._entry_done(tick)

    def _entry_done(self, tick: int) -> None:
        order, trade = self.entry, self.trade
        assert order is not None
        assert trade is not None
        if order.filled_amount <= 0 or order.average_price is None:
            self._end(tick)
            return
        self._position, self._entry_price, self._opened_tick = order.filled_amount, order.average_price, tick
        self._opened_ns = time.time_ns()
        self._peak = self._entry_price
        trade.position_opened(self._position, self._entry_price)
        self.desk.stats.trades_opened += 1
        with trade.activate():
            _LOG.info("position opened", quantity=self._position, entry_price=round(self._entry_price, 6))

    async def _exit(self, tick: int, reason: str, price: float | None) -> None:
        trade, desk, amount, symbol = self.trade, self.desk, self._position, self.symbol
        assert trade is not None
        with trade.activate():
            client_id = desk.next_client_id()
            order = trade.submit_order(amount, side="sell", order_type="market", reference_price=price,
                                       client_order_id=client_id)
            # Its client id sent along: the ccxt instrumentation leaves the hand-written order alone.
            placed = await desk.place(order, lambda: desk.exchange.create_order(
                symbol, "market", "sell", amount, None, {"clientOrderId": client_id}))
            if not placed or order.is_open:
                return  # the position is still open: tried again next tick
            trade.position_closed(exit_reason=reason, exit_price=order.average_price)
            pnl = trade.realized_pnl
            desk.stats.closed.append(ClosedTrade(
                trace_id=trade.trade_id, symbol=symbol, side=trade.side, strategy=STRATEGY, service=None,
                portfolio=desk.book.name, opened_ns=self._opened_ns, closed_ns=time.time_ns(), pnl=pnl,
                outcome="win" if pnl > 0 else "loss" if pnl < 0 else "breakeven", exit_reason=reason,
                equity=desk.book.equity))
            desk.stats.realized_pnl += pnl
            if pnl > 0:
                desk.stats.wins += 1
            else:
                desk.stats.losses += 1
            desk.risk.trade_closed(pnl)
        self._end(tick)

    def _end(self, tick: int, error: BaseException | None = None, *, wait: int = _REENTRY_TICKS) -> None:
        if self.trade is not None:
            self.trade.close(error)
        self.trade, self.entry, self._position = None, None, 0.0
        self._next_entry_tick = tick + wait

    def abandon(self) -> None:
        """Ends the trade's trace as it stands, without orders (the run was interrupted)."""
        if self.trade is not None:
            self.trade.set_attribute("demo.interrupted", True)
            self.trade.close()
            self.trade = None
