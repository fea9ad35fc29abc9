"""What the demo simulates: its options, and the scripted events every run goes through.

The script is in market ticks (one tick is one simulated second), so it is the same at any
``--speed`` and for any seed; the random parts (prices, regimes, rejects, errors, gaps)
come on top of it from streams derived from the seed.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Final

DEFAULT_SYMBOLS: Final = ("BTC/USDT", "ETH/USDT", "SOL/USDT")
DEFAULT_TRADES: Final = 16
DEFAULT_SEED: Final = 7
DEFAULT_SPEED: Final = 20.0
QUOTE_CURRENCY: Final = "USDT"
MAX_SYMBOLS: Final = 8
# Market time starts two minutes before a UTC midnight, so the daily loss limit the crash
# trips resets within the run: a breaker halted "until tomorrow" resumes in the demo.
MARKET_START: Final = dt.datetime(2025, 3, 14, 23, 58, tzinfo=dt.timezone.utc).timestamp()
TICK_SECONDS: Final = 1.0


def derived_rng(seed: int, purpose: str) -> random.Random:
    """An independent random stream per purpose, so that changing one rate (or adding a
    symbol) leaves every other stream, and the price paths, exactly as they were."""
    return random.Random(f"otel-trading-demo/{seed}/{purpose}")  # noqa: S311 - a simulation, not security


@dataclass(frozen=True)
class Window:
    """Ticks ``start`` (included) to ``end`` (excluded)."""

    start: int
    end: int

    def __contains__(self, tick: object) -> bool:
        return isinstance(tick, int) and self.start <= tick < self.end


@dataclass(frozen=True)
class Scenario:
    """The scripted events, in ticks from the start of each ``period`` (they repeat, so that a
    long ``--duration`` run keeps tripping and resetting alerts)."""

    period: int = 600

    error_burst: Window = Window(25, 40)
    """Every exchange call fails: rate limits first, then network errors and timeouts."""
    shakeout: Window = Window(40, 47)
    """A dip that turns every symbol's trend signal flat..."""
    rally: Window = Window(47, 55)
    """...then a rally: momentum buys it on every symbol..."""
    crash: Window = Window(55, 61)
    """...and a crash gaps through the stops: a loss beyond the daily limit trips the breaker."""
    aftershock: Window = Window(61, 90)
    """A volatile whipsaw while the bot is halted."""
    feed_gap: Window = Window(130, 147)
    """The last symbol's market-data feed goes silent."""

    def phase(self, tick: int) -> int:
        """Where ``tick`` falls in the script: the tick to look up in the windows."""
        return tick % self.period

    def narration(self, tick: int, symbols: tuple[str, ...]) -> str | None:
        """A line for the progress output when a scripted event starts or ends at ``tick``."""
        events = {
            self.error_burst.start: "exchange starts throttling: rate limits, then network errors",
            self.error_burst.end: "exchange errors over",
            self.shakeout.start: "shakeout: every symbol dips",
            self.rally.start: "rally on every symbol",
            self.crash.start: "market crash",
            self.aftershock.end: "market calms down",
            self.feed_gap.start: f"{symbols[-1]} market data feed stalls",
            self.feed_gap.end: f"{symbols[-1]} market data feed back",
        }
        return events.get(self.phase(tick))

    def is_network_phase(self, tick: int) -> bool:
        """The second half of the burst: timeouts and connection errors instead of rate limits."""
        phase = self.phase(tick)
        return phase in self.error_burst and phase >= (self.error_burst.start + self.error_burst.end) // 2


@dataclass(frozen=True)
class DemoOptions:
    """How the demo runs. ``trades``: stop opening positions after this many (None: no limit);
    ``duration_s``: stop after this much wall-clock time (None: no limit). Rates are
    probabilities: ``reject_rate`` per entry order, ``error_rate`` per exchange call,
    ``gap_rate`` per symbol and tick that its market-data feed stalls."""

    trades: int | None = DEFAULT_TRADES
    duration_s: float | None = None
    seed: int = DEFAULT_SEED
    speed: float = DEFAULT_SPEED
    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    reject_rate: float = 0.08
    error_rate: float = 0.02
    gap_rate: float = 0.004
    partial_fill_rate: float = 0.3
    starting_cash: float = 10_000.0
    progress: bool = True
    latency_scale: float = 1.0
    """Multiplies the simulated exchange latencies; 0 makes calls instant (outcomes are the same)."""
    scenario: Scenario = Scenario()

    def __post_init__(self) -> None:
        if self.trades is None and self.duration_s is None:
            raise ValueError("trades or duration_s: give at least one, or the demo never ends")
        if self.trades is not None and self.trades < 1:
            raise ValueError(f"trades: expected at least 1, got {self.trades}")
        if self.duration_s is not None and self.duration_s <= 0:
            raise ValueError(f"duration_s: expected more than 0 seconds, got {self.duration_s}")
        if not self.speed > 0:
            raise ValueError(f"speed: expected simulated seconds per second > 0, got {self.speed}")
        for name in ("reject_rate", "error_rate", "gap_rate", "partial_fill_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}: expected a probability between 0 and 1, got {value}")
        check_symbols(self.symbols)
        if self.starting_cash <= 0 or self.latency_scale < 0:
            raise ValueError("starting_cash must be > 0 and latency_scale >= 0")


def check_symbols(symbols: tuple[str, ...]) -> None:
    if not 1 <= len(symbols) <= MAX_SYMBOLS:
        raise ValueError(f"symbols: expected 1 to {MAX_SYMBOLS} symbols, got {len(symbols)}")
    if len(set(symbols)) != len(symbols):
        raise ValueError(f"symbols: {', '.join(symbols)} lists a symbol twice")
    for symbol in symbols:
        base, _, quote = symbol.partition("/")
        if not base.isalnum() or quote != QUOTE_CURRENCY:
            raise ValueError(f"symbols: {symbol!r} is not of the form BASE/{QUOTE_CURRENCY} (BTC/{QUOTE_CURRENCY})")
