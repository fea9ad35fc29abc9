"""Simulated prices: a geometric Brownian motion per symbol, market-wide calm/volatile
regimes, the scripted rally and crash on top, and market-data feed gaps."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from otel_trading.demo._scenario import MARKET_START, TICK_SECONDS, Scenario, derived_rng

_START_PRICES: Final = {"BTC": 64_000.0, "ETH": 3_400.0, "SOL": 150.0, "BNB": 580.0, "XRP": 0.6, "DOGE": 0.15}
_OTHER_START_PRICE: Final = 100.0
# Per-tick volatility of log returns: a few times a real market's, so a short demo moves.
_CALM_VOLATILITY: Final = 0.0012
_VOLATILE_VOLATILITY: Final = 0.0035
_TO_VOLATILE: Final = 0.01  # per-tick chance the calm market turns volatile
_TO_CALM: Final = 0.06
_CORRELATION: Final = 0.6  # crypto moves together: one market factor plus each symbol's own noise
_TREND_PERSISTENCE: Final = 0.95  # each symbol's drift wanders (mean-reverting): trends momentum can ride
_TREND_NOISE: Final = 0.0001
_SHAKEOUT_DRIFT: Final = -0.0025
_RALLY_DRIFT: Final = 0.0035
_CRASH_GAP: Final = -0.08  # the crash opens with a gap no stop-loss can get out of
_CRASH_DRIFT: Final = -0.01
_AFTERSHOCK_SWING: Final = 0.01  # legs of 4 ticks up, 4 down: momentum keeps buying the top
_GAP_TICKS: Final = (5, 20)
_SPREAD_BPS: Final = {False: 2.0, True: 6.0}


@dataclass(frozen=True)
class Quote:
    bid: float
    ask: float
    last: float


class SimulatedMarket:
    """Prices of ``symbols``, one step per tick. Each symbol draws from its own seeded stream,
    and every stream is drawn from on every tick whatever happens, so the paths depend on the
    seed and the tick alone."""

    def __init__(self, symbols: tuple[str, ...], seed: int, scenario: Scenario, gap_rate: float) -> None:
        self.symbols = symbols
        self.scenario = scenario
        self.tick = 0
        self.volatile = False
        self._gap_rate = gap_rate
        self._common = derived_rng(seed, "market/common")
        self._regime = derived_rng(seed, "market/regime")
        self._paths = {symbol: derived_rng(seed, f"market/{symbol}") for symbol in symbols}
        self._gaps = {symbol: derived_rng(seed, f"gaps/{symbol}") for symbol in symbols}
        self._gap_until = dict.fromkeys(symbols, 0)
        # Altcoins swing harder than the market factor: beta 1, 1.2, 1.4, ...
        self._beta = {symbol: 1.0 + 0.2 * index for index, symbol in enumerate(symbols)}
        self._trend = dict.fromkeys(symbols, 0.0)
        self.prices = {
            symbol: _START_PRICES.get(symbol.split("/")[0], _OTHER_START_PRICE) * (1 + rng.uniform(-0.02, 0.02))
            for symbol, rng in self._paths.items()
        }

    @property
    def time(self) -> float:
        """Market time (Unix seconds) of the current tick."""
        return MARKET_START + self.tick * TICK_SECONDS

    @property
    def stressed(self) -> bool:
        """Volatile regime or scripted turmoil: wider spreads, slower venue."""
        phase = self.scenario.phase(self.tick)
        return self.volatile or phase in self.scenario.crash or phase in self.scenario.aftershock

    def advance(self) -> None:
        self.tick += 1
        tick = self.tick
        if self._regime.random() < (_TO_CALM if self.volatile else _TO_VOLATILE):
            self.volatile = not self.volatile
        sigma = _VOLATILE_VOLATILITY if self.stressed else _CALM_VOLATILITY
        drift = self._scripted_drift(tick)
        common = self._common.gauss(0.0, 1.0)
        for symbol in self.symbols:
            path = self._paths[symbol]
            own, trend_shock = path.gauss(0.0, 1.0), path.gauss(0.0, 1.0)
            trend = self._trend[symbol] = _TREND_PERSISTENCE * self._trend[symbol] + _TREND_NOISE * trend_shock
            beta = self._beta[symbol]
            shock = _CORRELATION * common + math.sqrt(1 - _CORRELATION**2) * own
            volatility = sigma * beta
            self.prices[symbol] *= math.exp(trend + beta * drift + volatility * shock - volatility**2 / 2)
            self._maybe_start_gap(symbol, tick)

    def _scripted_drift(self, tick: int) -> float:
        scenario = self.scenario
        tick = scenario.phase(tick)
        if tick in scenario.shakeout:
            return _SHAKEOUT_DRIFT
        if tick in scenario.rally:
            return _RALLY_DRIFT
        if tick in scenario.crash:
            return _CRASH_GAP if tick == scenario.crash.start else _CRASH_DRIFT
        if tick in scenario.aftershock:
            leg = (tick - scenario.aftershock.start) // 4
            return _AFTERSHOCK_SWING if leg % 2 == 0 else -_AFTERSHOCK_SWING
        return 0.0

    def _maybe_start_gap(self, symbol: str, tick: int) -> None:
        rng = self._gaps[symbol]
        starts, length = rng.random() < self._gap_rate, rng.randint(*_GAP_TICKS)  # both drawn every tick
        if starts and tick >= self._gap_until[symbol]:
            self._gap_until[symbol] = tick + length

    def has_data(self, symbol: str) -> bool:
        """Whether the feed delivered this tick for ``symbol`` (False during a gap)."""
        if symbol == self.symbols[-1] and self.scenario.phase(self.tick) in self.scenario.feed_gap:
            return False
        return self.tick >= self._gap_until[symbol]

    def quote(self, symbol: str) -> Quote:
        mid = self.prices[symbol]
        half_spread = _SPREAD_BPS[self.stressed] / 2e4
        return Quote(bid=mid * (1 - half_spread), ask=mid * (1 + half_spread), last=mid)
