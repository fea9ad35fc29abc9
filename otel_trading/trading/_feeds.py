"""Market-data staleness per symbol, read from the health module's freshness store."""

from __future__ import annotations

from collections.abc import Iterator

from otel_trading.health._market_data import ages
from otel_trading.metrics._local import Attributes, observe_process_gauge
from otel_trading.trading import _names as n


def _staleness() -> Iterator[tuple[Attributes, float]]:
    for symbol, age in ages().items():
        yield {n.SYMBOL: symbol}, age


observe_process_gauge(n.MARKET_DATA_STALENESS, _staleness, "s",
                      "Seconds since market data last arrived for the symbol (mark_market_data)")
