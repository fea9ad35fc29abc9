"""The strategy: an EMA crossover whose confidence comes from the z-score of the EMA gap.

Long while the fast EMA is above the slow one, flat otherwise. The gap between the EMAs is
a z-score: divided by the standard deviation it would have if prices were a random walk
at the recent volatility. The confidence is the chance a normal variable stays within that
many standard deviations: 0 for a gap lost in the noise, near 1 for a trend far beyond it.
Weak signals are not traded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

MODEL: Final = "ema-3/8"
STRATEGY: Final = "ema-crossover"
_FAST: Final = 3
_SLOW: Final = 8
_VOLATILITY_HALF_LIFE: Final = 20  # ticks
_WARM_UP: Final = _SLOW
MIN_CONFIDENCE: Final = 0.4


@dataclass(frozen=True)
class Signal:
    direction: str
    """``long`` or ``flat``."""
    confidence: float
    zscore: float
    volatility: float
    """Recent standard deviation of one tick's log return: what exits are sized with."""
    fresh: bool = False
    """The first confident ``long`` since the last ``flat`` (a new crossover)."""

    @property
    def tradable(self) -> bool:
        return self.direction == "long" and self.confidence >= MIN_CONFIDENCE


@dataclass
class _State:
    fast: float
    slow: float
    last: float
    variance: float = 0.0
    ticks: int = 0
    armed: bool = False


class EmaCrossover:
    """One EMA pair per symbol, updated with each price the feed delivers."""

    def __init__(self) -> None:
        self._states: dict[str, _State] = {}
        self._alpha_fast = 2 / (_FAST + 1)
        self._alpha_slow = 2 / (_SLOW + 1)
        self._alpha_variance = 1 - 0.5 ** (1 / _VOLATILITY_HALF_LIFE)
        # Standard deviation of log(fast / slow), in units of the per-tick volatility, for a random
        # walk: the gap is a weighted sum of past returns, with weights (1 - a_slow)^k - (1 - a_fast)^k.
        keep_fast, keep_slow = 1 - self._alpha_fast, 1 - self._alpha_slow
        self._gap_scale = math.sqrt(sum((keep_slow**k - keep_fast**k) ** 2 for k in range(400)))

    def update(self, symbol: str, price: float) -> Signal | None:
        """The signal after this price, None while the averages warm up."""
        state = self._states.get(symbol)
        if state is None:
            self._states[symbol] = _State(fast=price, slow=price, last=price)
            return None
        change = math.log(price / state.last)
        state.variance += self._alpha_variance * (change * change - state.variance)
        state.fast += self._alpha_fast * (price - state.fast)
        state.slow += self._alpha_slow * (price - state.slow)
        state.last = price
        state.ticks += 1
        if state.ticks < _WARM_UP or state.variance <= 0:
            return None
        zscore = math.log(state.fast / state.slow) / (math.sqrt(state.variance) * self._gap_scale)
        confidence = round(math.erf(abs(zscore) / math.sqrt(2)), 3)
        volatility = math.sqrt(state.variance)
        if zscore <= 0:
            state.armed = True
            return Signal("flat", confidence, round(zscore, 3), volatility)
        fresh = state.armed and confidence >= MIN_CONFIDENCE
        state.armed = state.armed and not fresh
        return Signal("long", confidence, round(zscore, 3), volatility, fresh)

