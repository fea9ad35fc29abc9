"""The demo bot: the market, the exchange and the traders, moved in lockstep, one tick at a time.

Each tick the market moves, the feed delivers prices, the risk manager looks at the book,
then each symbol's trader does its work, in the order of ``symbols``, awaiting the
exchange's (real-latency) answers. Nothing of the next tick happens before a tick is done,
so asyncio's scheduling cannot change an outcome: the seed and the options decide them all.
Wall-clock pacing only spreads the ticks out (``--speed`` simulated seconds per second).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Final

import otel_trading
from otel_trading import TradingState, get_logger
from otel_trading.demo._calls import ExchangeCalls
from otel_trading.demo._desk import Desk
from otel_trading.demo._exchange import SimulatedExchange
from otel_trading.demo._feed import MarketFeed
from otel_trading.demo._market import SimulatedMarket
from otel_trading.demo._progress import Progress, Status
from otel_trading.demo._risk import RiskManager
from otel_trading.demo._scenario import QUOTE_CURRENCY, TICK_SECONDS, DemoOptions
from otel_trading.demo._stats import DemoResult, DemoStats
from otel_trading.demo._strategy import STRATEGY, EmaCrossover, Signal
from otel_trading.demo._trader import SymbolTrader
from otel_trading.trading import trading_state_details

_RECONCILE_TICKS: Final = 10  # balance and open orders are checked against the book this often
_MAX_CLOSING_TICKS: Final = 300  # flattening at the end gives up after this many ticks
_LOG = get_logger("demo.bot")


class ReconcileFailed(Exception):
    """The balance could not be fetched to check the book against the venue."""


class DemoBot:
    def __init__(self, options: DemoOptions, progress: Progress) -> None:
        self.options = options
        self.progress = progress
        self.market = SimulatedMarket(options.symbols, options.seed, options.scenario, options.gap_rate)
        self.exchange = SimulatedExchange(self.market, options)
        self.stats = DemoStats()
        market = self.market
        # The book's clock is market time: its daily PnL resets at the simulated midnight.
        self.book = otel_trading.Portfolio("demo", base_currency=QUOTE_CURRENCY, cash=options.starting_cash,
                                           clock=lambda: market.time, returns_period=60.0, periods_per_year=525_600)
        self.risk = RiskManager()
        self._manual_seen: TradingState | None = None
        self.strategy = EmaCrossover()
        desk = Desk(self.exchange, ExchangeCalls(self.stats, options.latency_scale), self.book, self.risk,
                    self.stats, options.seed)
        self.calls = desk.calls
        self.traders = [SymbolTrader(symbol, desk) for symbol in options.symbols]
        self.feed = MarketFeed(self.market, self.exchange.id, STRATEGY, self.stats)

    async def run(self, stop: asyncio.Event) -> DemoResult:
        """Trades until ``trades`` positions have been opened and closed, ``duration_s`` has passed
        (open positions are then flattened) or ``stop`` is set (they are left as they are)."""
        started = time.perf_counter()
        manual = otel_trading.on_trading_state_change(self.risk.state_changed)  # the console's kill switch
        state, _, source, _, _ = trading_state_details()
        if source != "bot" and state is not TradingState.ACTIVE:
            self.risk.manual = state  # halted on the console before the first tick: it stays so
        else:
            otel_trading.set_trading_state(TradingState.ACTIVE, reason="demo_start")
        try:
            return await self._run(stop, started)
        finally:
            manual.remove()

    async def _run(self, stop: asyncio.Event, started: float) -> DemoResult:
        await self.exchange.load_markets()
        tick_s = TICK_SECONDS / self.options.speed
        due = time.perf_counter()
        closing: str | None = None
        closing_ticks = 0
        while not stop.is_set():
            duration = self.options.duration_s
            if closing is None and duration is not None and time.perf_counter() - started >= duration:
                closing = "shutdown"
            busy = any(trader.trade is not None for trader in self.traders)
            if not busy and (closing is not None or not self._may_enter()):
                break
            closing_ticks += closing is not None
            if closing_ticks > _MAX_CLOSING_TICKS:
                break
            await self._tick(closing)
            due = max(due + tick_s, time.perf_counter())  # after a stall (slow exchange), no rush to catch up
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, due - time.perf_counter()))
        for trader in self.traders:
            trader.abandon()
        return self._result(time.perf_counter() - started, interrupted=stop.is_set())

    def _may_enter(self) -> bool:
        limit = self.options.trades
        pending = sum(trader.entering for trader in self.traders)
        return limit is None or self.stats.trades_opened + pending < limit

    async def _tick(self, closing: str | None) -> None:
        market = self.market
        market.advance()
        note = self.options.scenario.narration(market.tick, self.options.symbols)
        if note is not None:
            self.progress.event(market.time, f"scenario: {note}")
        prices = self.feed.receive()
        signals: dict[str, Signal | None] = {}
        for symbol, price in prices.items():
            self.book.mark(symbol, price)
            self.risk.observe(symbol, price)
            signals[symbol] = self.strategy.update(symbol, price)
        change = self.risk.evaluate(market.tick, market.time, self.book.snapshot().equity)
        if change is not None:
            self._breaker_changed(change.state, change.reason, change.until_tick)
        if self.risk.manual is not self._manual_seen:
            self._manual_seen = self.risk.manual
            what = "resumed by hand" if self._manual_seen is None else f"{self._manual_seen.value} by hand"
            self.progress.event(self.market.time, f"trading {what} (kill switch)")
        flatten = closing or ("circuit_breaker" if self.risk.halted else
                              "manual_halt" if self.risk.manually_halted else None)
        for trader in self.traders:
            symbol = trader.symbol
            await trader.step(market.tick, prices.get(symbol), signals.get(symbol),
                              may_enter=closing is None and self._may_enter(), flatten=flatten)
        if market.tick % _RECONCILE_TICKS == 0:
            try:
                await self._reconcile()
            except ReconcileFailed as exc:  # recorded on its span and in the function metrics
                _LOG.warning("reconcile skipped", reason=str(exc))
        otel_trading.heartbeat()
        self.progress.update(self._status())

    def _breaker_changed(self, state: TradingState, reason: str, until_tick: int | None) -> None:
        if state is TradingState.HALTED:
            self.stats.breaker_trips[reason] += 1
            halted_for = "" if until_tick is None else f", halted for {until_tick - self.market.tick} s"
            self.progress.event(self.market.time, f"circuit breaker tripped: {reason}{halted_for}; flattening")
        else:
            self.stats.breaker_resumes += 1
            again = "trading again" if state is TradingState.ACTIVE else f"still {state.value} by hand"
            self.progress.event(self.market.time, f"circuit breaker reset ({reason}): {again}")

    @otel_trading.traced(name="reconcile", record_metrics=True)
    async def _reconcile(self) -> None:
        """Balance and open orders, fetched together. No retries here: each call draws its
        failure when it starts, in the order of the gather, so the outcome stays deterministic."""
        exchange = self.exchange
        balance, _ = await asyncio.gather(
            self.calls("fetch_balance", exchange.fetch_balance, retries=0),
            self.calls("fetch_open_orders", exchange.fetch_open_orders, retries=0),
            return_exceptions=True,
        )
        if isinstance(balance, BaseException):
            raise ReconcileFailed(f"fetch_balance failed: {type(balance).__name__}") from balance
        if isinstance(balance, dict):
            venue_cash, book_cash = balance["total"][QUOTE_CURRENCY], self.book.snapshot().cash
            if abs(venue_cash - book_cash) > 0.01:
                _LOG.warning("balance mismatch", venue=round(venue_cash, 2), book=round(book_cash, 2))

    def _status(self) -> Status:
        snapshot, stats = self.book.snapshot(), self.stats
        return Status(self.market.time, stats.trades_closed, stats.wins, stats.losses, stats.realized_pnl,
                      snapshot.equity, snapshot.drawdown, stats.latency_ms(0.5), stats.latency_ms(0.99),
                      sum(stats.exchange_errors.values()), otel_trading.trading_state().value,
                      sum(stats.breaker_trips.values()))

    def _result(self, elapsed_s: float, *, interrupted: bool) -> DemoResult:
        snapshot = self.book.snapshot()
        return DemoResult(self.options.seed, self.options.symbols, self.stats, snapshot.equity,
                          self.options.starting_cash, snapshot.max_drawdown, len(snapshot.positions),
                          self.market.tick, elapsed_s, interrupted)
