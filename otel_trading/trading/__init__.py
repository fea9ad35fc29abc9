"""The trading layer: trade lifecycle traces, trading metrics, portfolio accounting, trading state.

    import otel_trading

    with otel_trading.trade("BTC/USDT", "buy", strategy="breakout", exchange="binance") as t:
        t.signal("long", confidence=0.72)
        t.risk_check(approved=True)
        order = t.submit_order(0.1, order_type="limit", price=50_000.0, reference_price=49_990.0)
        order.accepted("venue-123")
        order.fill(0.1, 50_000.0, fee=0.5)
"""

from otel_trading.trading import _feeds  # noqa: F401 - registers the market-data staleness gauge
from otel_trading.trading._inputs import Timestamp
from otel_trading.trading._metrics import TradingMetrics, slippage_bps
from otel_trading.trading._model import record_model_metrics
from otel_trading.trading._order import Order
from otel_trading.trading._portfolio import Portfolio, PortfolioSnapshot, Position
from otel_trading.trading._registry import find_order, open_trades, resume_trade
from otel_trading.trading._rolling import set_performance_window
from otel_trading.trading._status import (
    HookHandle,
    StateChange,
    TradingState,
    on_trading_state_change,
    set_trading_state,
    trading_state,
    trading_state_details,
)
from otel_trading.trading._trade import Trade, trade

__all__ = [
    "HookHandle",
    "Order",
    "Portfolio",
    "PortfolioSnapshot",
    "Position",
    "StateChange",
    "Timestamp",
    "Trade",
    "TradingMetrics",
    "TradingState",
    "find_order",
    "on_trading_state_change",
    "open_trades",
    "record_model_metrics",
    "resume_trade",
    "set_performance_window",
    "set_trading_state",
    "slippage_bps",
    "trade",
    "trading_state",
    "trading_state_details",
]
