"""The implicit trade of an order placed outside any ``trade()``.

Automatic orders (the ccxt instrumentation's, see docs/instrumentation.md) need a ``Trade``
for their ``Order`` machinery: lock, metrics, logs. Placed outside a trade, an order gets one
of these. It opens no span, so the order's span is the root of its own trace; it is not an
open trade (``open_trades()``, ``trading.trades.open``); it closes with its order.
"""

from __future__ import annotations

from typing import Final

from opentelemetry import context as otel_context

from otel_trading.trading._metrics import TradingMetrics
from otel_trading.trading._trade import Trade


class StandaloneTrade(Trade):
    """A trade that only carries one order: no root span, not counted as an open trade.

    ``metrics``: the ``TradingMetrics`` of the symbol and exchange, shared by such trades so
    that each order does not bind its metric handles anew.
    """

    implicit: Final = True  # read by the registry's open-trade count

    def __init__(self, symbol: str, side: str, *, exchange: str | None, metrics: TradingMetrics | None = None
                 ) -> None:
        super().__init__(symbol, side, exchange=exchange)
        if metrics is not None:
            self.metrics = metrics

    def _open_span(self) -> None:
        # An empty context as the parent of the order span: a trace of its own.
        self._context = otel_context.Context()
