"""The bot's market-data subscription: the prices that arrived this tick, gaps logged and
their ends counted as websocket reconnects, and every arrival marked for the staleness
gauge and the ``market_data_fresh()`` health check."""

from __future__ import annotations

from otel_trading import TradingMetrics, get_logger
from otel_trading.demo._market import SimulatedMarket
from otel_trading.demo._stats import DemoStats
from otel_trading.health import mark_market_data

_LOG = get_logger("demo.feed")


class MarketFeed:
    def __init__(self, market: SimulatedMarket, exchange_id: str, strategy: str, stats: DemoStats) -> None:
        self._market = market
        self._stats = stats
        self._metrics = {symbol: TradingMetrics(symbol, exchange=exchange_id, strategy=strategy)
                         for symbol in market.symbols}
        self._silent: set[str] = set()

    def receive(self) -> dict[str, float]:
        """The last price of each symbol whose data arrived this tick, in the order of the symbols."""
        prices: dict[str, float] = {}
        for symbol in self._market.symbols:
            if not self._market.has_data(symbol):
                if symbol not in self._silent:
                    self._silent.add(symbol)
                    self._stats.feed_gaps += 1
                    _LOG.warning("market data gap", symbol=symbol)
                continue
            if symbol in self._silent:
                self._silent.discard(symbol)
                self._metrics[symbol].websocket_reconnect("ticker")
                _LOG.info("market data feed reconnected", symbol=symbol)
            mark_market_data(symbol)
            prices[symbol] = self._market.quote(symbol).last
        return prices
