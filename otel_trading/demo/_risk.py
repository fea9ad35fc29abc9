"""Pre-trade limits and the circuit breaker.

The breaker trips (``set_trading_state(HALTED, reason=...)``) on any of three conditions,
checked at each tick: the day's loss beyond ``daily_loss_limit`` of the day's starting
equity (halted until the next daily reset, 00:00 UTC market time, at most
``max_daily_halt_ticks``, after which the day's loss counts from there), ``max_consecutive_losses``
losing trades in a row, or a market crash (a symbol down ``crash_move`` within
``crash_lookback`` ticks); the last two halt for ``cooldown_ticks`` after the condition clears.
While halted no position is opened and the bot flattens the open ones; then it is ``active`` again.

A person's change (the console's kill switch: any source but ``bot``) wins over the breaker until
a person resumes: ``halted`` flattens and opens nothing, ``reducing`` only lets positions close;
when the breaker's own halt ends it goes back to the person's state, not to ``active``.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Final

import otel_trading
from otel_trading import TradingState
from otel_trading.demo._scenario import MARKET_START, TICK_SECONDS
from otel_trading.trading import PortfolioSnapshot

_DAY: Final = 86_400.0


@dataclass(frozen=True)
class RiskLimits:
    position_fraction: float = 0.2
    """Notional of one position, as a share of equity."""
    max_exposure_fraction: float = 0.65
    """Notional of all positions together."""
    daily_loss_limit: float = 0.015
    """Inside the default pack's -2 % DailyLossLimit on purpose: the breaker acts first; the alert
    fires when the loss goes past it anyway (the crash's gap). docs/alerts.md explains the layers."""
    max_daily_halt_ticks: int = 120
    max_consecutive_losses: int = 5
    crash_move: float = 0.07
    crash_lookback: int = 10
    cooldown_ticks: int = 30


@dataclass(frozen=True)
class BreakerChange:
    state: TradingState
    reason: str
    until_tick: int | None = None


class RiskManager:
    def __init__(self, limits: RiskLimits | None = None) -> None:
        self.limits = limits or RiskLimits()
        self.loss_streak = 0
        self.halted_until: int | None = None
        self._halt_reason = ""  # the trigger holding the halt the longest
        self._day = -1
        self._day_start_equity = 0.0
        self._daily_halt_until: int | None = None  # fixed when the daily limit trips: never extended
        self._recent: dict[str, deque[float]] = {}
        self.manual: TradingState | None = None
        """The state a person set (halted or reducing) until they resume; None: the breaker decides."""

    def state_changed(self, previous: TradingState, state: TradingState, reason: str | None,  # noqa: ARG002
                      source: str) -> None:
        """``on_trading_state_change`` hook: remembers a person's halt or reduce-only until their resume."""
        if source != "bot":
            self.manual = None if state is TradingState.ACTIVE else state

    @property
    def manually_halted(self) -> bool:
        return self.manual is TradingState.HALTED

    @property
    def halted(self) -> bool:
        return self.halted_until is not None

    def observe(self, symbol: str, price: float) -> None:
        """A price from the feed, for the crash detector."""
        self._recent.setdefault(symbol, deque(maxlen=self.limits.crash_lookback + 1)).append(price)

    def position_notional(self, equity: float) -> float:
        return equity * self.limits.position_fraction

    def check_entry(self, notional: float, snapshot: PortfolioSnapshot) -> tuple[bool, str | None]:
        """Whether a new position of ``notional`` may be opened now: (approved, reason if denied)."""
        if self.halted or otel_trading.trading_state() is not TradingState.ACTIVE:
            return False, "trading_halted"
        if snapshot.exposure + notional > snapshot.equity * self.limits.max_exposure_fraction:
            return False, "exposure_limit"
        return True, None

    def trade_closed(self, pnl: float) -> None:
        if not self.halted:  # the breaker's own flattening does not extend the halt
            self.loss_streak = self.loss_streak + 1 if pnl < 0 else 0

    def evaluate(self, tick: int, market_time: float, equity: float) -> BreakerChange | None:
        """Trips, extends or lifts the halt for this tick; the change of state, if any."""
        day = math.floor(market_time / _DAY)
        new_day = day != self._day
        if new_day:
            self._day, self._day_start_equity, self._daily_halt_until = day, equity, None
        elif self._daily_halt_until is not None and tick >= self._daily_halt_until:
            # Past the longest daily halt the day's losses count from here, or it would trip again.
            self._day_start_equity, self._daily_halt_until = equity, None
        trigger = self._trigger(tick, market_time, equity)
        if trigger is not None:
            reason, until = trigger
            was_halted = self.halted
            if self.halted_until is None or until >= self.halted_until:
                self.halted_until, self._halt_reason = until, reason
            if was_halted:
                return None
            self.loss_streak = 0
            otel_trading.set_trading_state(TradingState.HALTED, reason=reason)
            return BreakerChange(TradingState.HALTED, reason, self.halted_until)
        if self.halted_until is not None and tick >= self.halted_until:
            self.halted_until = None
            self.loss_streak = 0
            reason = "new_trading_day" if new_day and self._halt_reason == "daily_loss_limit" else "cooldown_elapsed"
            resumed = self.manual or TradingState.ACTIVE  # a person's halt or reduce-only outlasts the breaker's
            otel_trading.set_trading_state(resumed, reason=reason)
            return BreakerChange(resumed, reason)
        return None

    def _trigger(self, tick: int, market_time: float, equity: float) -> tuple[str, int] | None:
        limits = self.limits
        if equity <= self._day_start_equity * (1 - limits.daily_loss_limit):
            if self._daily_halt_until is None:
                next_day = (math.floor(market_time / _DAY) + 1) * _DAY
                next_day_tick = math.ceil((next_day - MARKET_START) / TICK_SECONDS)
                self._daily_halt_until = min(next_day_tick, tick + limits.max_daily_halt_ticks)
            return "daily_loss_limit", self._daily_halt_until
        if self.loss_streak >= limits.max_consecutive_losses:
            return "consecutive_losses", tick + limits.cooldown_ticks
        for prices in self._recent.values():
            if len(prices) > 1 and prices[-1] <= max(prices) * (1 - limits.crash_move):
                return "market_crash", tick + limits.cooldown_ticks
        return None
