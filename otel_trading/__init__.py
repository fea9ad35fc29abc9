"""otel-trading: OpenTelemetry-native instrumentation for Python trading bots.

    import otel_trading

    otel_trading.configure(service_name="my-bot")

    @otel_trading.traced(capture=["symbol", "amount"])
    def place_order(symbol: str, amount: float) -> str: ...
"""

from otel_trading._version import __version__
from otel_trading.config import (
    ConfigurationError,
    ConfigureOptions,
    Telemetry,
    configure,
    current,
    shutdown,
)
from otel_trading.context import (
    ContextExecutor,
    bound,
    bound_context,
    correlation_id,
    run_in_context,
    with_context,
)
from otel_trading.health import heartbeat
from otel_trading.logs import get_logger
from otel_trading.tracing import span, traced
from otel_trading.trading import (
    Order,
    Portfolio,
    Trade,
    TradingMetrics,
    TradingState,
    find_order,
    open_trades,
    record_model_metrics,
    resume_trade,
    set_trading_state,
    trade,
    trading_state,
)

__all__ = [
    "ConfigurationError",
    "ConfigureOptions",
    "ContextExecutor",
    "Order",
    "Portfolio",
    "Telemetry",
    "Trade",
    "TradingMetrics",
    "TradingState",
    "__version__",
    "bound",
    "bound_context",
    "configure",
    "correlation_id",
    "current",
    "find_order",
    "get_logger",
    "heartbeat",
    "open_trades",
    "record_model_metrics",
    "resume_trade",
    "run_in_context",
    "set_trading_state",
    "shutdown",
    "span",
    "traced",
    "trade",
    "trading_state",
    "with_context",
]
