"""Rolling win rate, profit factor and expectancy per strategy over its last closed trades.

Closing a trade appends to a bounded deque; the statistics are computed only when a
metric reader collects, off the trading thread.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Final

from otel_trading._state import Slot
from otel_trading.analytics import expectancy, profit_factor, win_rate
from otel_trading.metrics._local import Attributes, observe_process_gauge
from otel_trading.trading import _names as n

DEFAULT_WINDOW: Final = 100


class RollingTradeStats:
    def __init__(self, window: int = DEFAULT_WINDOW) -> None:
        self._window = window
        self._pnls: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    @property
    def window(self) -> int:
        return self._window

    def set_window(self, trades: int) -> None:
        if trades < 1:
            raise ValueError(f"trades: expected at least 1, got {trades}")
        with self._lock:
            self._window = trades
            self._pnls = {strategy: deque(pnls, maxlen=trades) for strategy, pnls in self._pnls.items()}

    def record(self, strategy: str, pnl: float) -> None:
        with self._lock:
            pnls = self._pnls.get(strategy)
            if pnls is None:
                pnls = self._pnls[strategy] = deque(maxlen=self._window)
            pnls.append(pnl)

    def snapshot(self) -> dict[str, list[float]]:
        with self._lock:
            return {strategy: list(pnls) for strategy, pnls in self._pnls.items()}

    def clear(self) -> None:
        with self._lock:
            self._pnls.clear()


def _observer(statistic: Callable[[Sequence[float]], float | None]) -> Callable[[], Iterator[tuple[Attributes, float]]]:
    def observe() -> Iterator[tuple[Attributes, float]]:
        for strategy, pnls in ROLLING.get().snapshot().items():  # the statistics in force, read when collected
            value = statistic(pnls)
            if value is not None:
                yield ({n.STRATEGY: strategy} if strategy else {}), value

    return observe


def _count(pnls: Sequence[float]) -> float:
    return float(len(pnls))


ROLLING: Final = Slot("rolling trade statistics", RollingTradeStats)
for _name, _statistic, _unit, _description in (
    (n.WIN_RATE, win_rate, "1", "Winning share of the last closed trades"),
    (n.PROFIT_FACTOR, profit_factor, "", "Gross profit / gross loss of the last closed trades"),
    (n.EXPECTANCY, expectancy, "{quote}", "Expected PnL per trade over the last closed trades"),
    (n.WINDOW_TRADES, _count, "{trade}", "Closed trades the rolling statistics cover"),
):
    observe_process_gauge(_name, _observer(_statistic), _unit, _description)


def set_performance_window(trades: int) -> None:
    """How many of each strategy's last closed trades the rolling win rate / profit factor / expectancy cover."""
    ROLLING.get().set_window(trades)
