"""The simulated venue's weather: how long each call takes and whether it fails in transit.

Latencies are real milliseconds (lognormal, 5 to 150 ms), never compressed by ``--speed``,
so the recorded spans and latency histograms look like a real venue's. They are drawn from
a stream of their own and decide nothing, so the run's outcome does not depend on them.
"""

from __future__ import annotations

import math
from typing import Final

from otel_trading.demo import _errors as errors
from otel_trading.demo._market import SimulatedMarket
from otel_trading.demo._scenario import Scenario, derived_rng

_MEDIAN_LATENCY_MS: Final = {
    "create_order": 28.0, "cancel_order": 24.0, "fetch_order": 16.0, "fetch_open_orders": 18.0,
    "fetch_ticker": 12.0, "fetch_balance": 20.0, "load_markets": 45.0,
}
_LATENCY_SPREAD: Final = 0.55  # sigma of the log: p99 is about 3.6 times the median
_LATENCY_BOUNDS_MS: Final = (5.0, 150.0)
_STRESSED_SLOWDOWN: Final = 1.6  # a venue is slower while the market is wild
_TIMEOUT_MS: Final = 120.0  # the client gives up: short, a trading bot cannot wait
_FAST_REFUSAL_MS: Final = (5.0, 12.0)  # a 429 or a reset connection comes back quickly
_ENDPOINT: Final = "https://api.simulated.exchange/api/v3"


class VenueConditions:
    """Draws each call's latency and transport failure (rate limit, timeout, network error),
    and the random venue rejects of entry orders, at the configured rates plus the scripted
    error burst."""

    def __init__(self, market: SimulatedMarket, scenario: Scenario, seed: int, *, error_rate: float,
                 reject_rate: float) -> None:
        self._market = market
        self._scenario = scenario
        self._error_rate = error_rate
        self._reject_rate = reject_rate
        self._latency = derived_rng(seed, "venue/latency")
        self._faults = derived_rng(seed, "venue/faults")
        self._burst_calls = 0
        # Rejects are spread out by error diffusion rather than drawn independently: every
        # 1/reject_rate entry orders one is rejected (where, the seed decides), so that even
        # a short run shows its share.
        self._reject_debt = self._faults.random()

    def transport_error(self, method: str, exchange_id: str) -> errors.NetworkError | None:
        """The failure of this call, if it fails before reaching the matching engine."""
        tick = self._market.tick
        fails, kind = self._faults.random(), self._faults.random()  # both drawn on every call
        where = f"{exchange_id} POST {_ENDPOINT}/{method}"
        if self._scenario.phase(tick) in self._scenario.error_burst:
            self._burst_calls += 1
            if not self._scenario.is_network_phase(tick):
                return _rate_limited(exchange_id)
            kind = 0.9 if self._burst_calls % 2 else 0.6
        elif fails >= self._error_rate:
            return None
        if kind < 0.5:
            return _rate_limited(exchange_id)
        if kind < 0.8:
            return errors.RequestTimeout(f"{where} request timeout ({_TIMEOUT_MS:.0f} ms)")
        return errors.NetworkError(f"{where} failed: [Errno 104] Connection reset by peer")

    def entry_reject(self, exchange_id: str) -> errors.ExchangeError | None:
        """A refusal of an entry order (the venue's own risk checks, filters), at ``reject_rate``."""
        kind = self._faults.random()
        self._reject_debt += self._reject_rate
        if self._reject_debt < 1.0:
            return None
        self._reject_debt -= 1.0
        if kind < 0.6:
            return errors.InsufficientFunds(
                f'{exchange_id} {{"code":-2010,"msg":"Account has insufficient balance for requested action."}}'
            )
        return errors.InvalidOrder(f'{exchange_id} {{"code":-1013,"msg":"Filter failure: PRICE_FILTER"}}')

    def latency_s(self, method: str, error: BaseException | None) -> float:
        """Seconds this call takes; a timeout takes the whole timeout."""
        draw = self._latency.gauss(0.0, 1.0)  # drawn on every call, so the stream stays aligned
        if isinstance(error, errors.RequestTimeout):
            return _TIMEOUT_MS / 1000
        if error is not None:
            low, high = _FAST_REFUSAL_MS
            return (low + (high - low) * (0.5 + math.atan(draw) / math.pi)) / 1000
        median = _MEDIAN_LATENCY_MS.get(method, 25.0) * (_STRESSED_SLOWDOWN if self._market.stressed else 1.0)
        low, high = _LATENCY_BOUNDS_MS
        return min(max(median * math.exp(_LATENCY_SPREAD * draw), low), high) / 1000


def _rate_limited(exchange_id: str) -> errors.RateLimitExceeded:
    return errors.RateLimitExceeded(
        f'{exchange_id} {{"code":-1003,"msg":"Too many requests; current limit is 1200 request weight per minute."}}'
    )
