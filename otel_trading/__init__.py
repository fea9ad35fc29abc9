"""otel-trading: OpenTelemetry-native instrumentation for Python trading bots.

    import otel_trading

    otel_trading.configure(service_name="my-bot")

    @otel_trading.traced(capture=["symbol", "amount"])
    def place_order(symbol: str, amount: float) -> str: ...
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from otel_trading._lazy import lazy_attributes
from otel_trading._version import __version__

if TYPE_CHECKING:
    from otel_trading.config import (
        ConfigurationError,
        ConfigureOptions,
        Telemetry,
        configure,
        current,
        shutdown,
    )
    from otel_trading.console import ConsoleServer, current_console, serve_store
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
        on_trading_state_change,
        open_trades,
        record_model_metrics,
        resume_trade,
        set_trading_state,
        trade,
        trading_state,
        trading_state_details,
    )

# Loaded when first used: ``import otel_trading`` alone (done by the pytest plugin in every
# test run of a project that installs otel-trading) must not import the OpenTelemetry SDK.
_WHERE = {
    "ConfigurationError": "otel_trading.config",
    "ConfigureOptions": "otel_trading.config",
    "ConsoleServer": "otel_trading.console",
    "ContextExecutor": "otel_trading.context",
    "Order": "otel_trading.trading",
    "Portfolio": "otel_trading.trading",
    "Telemetry": "otel_trading.config",
    "Trade": "otel_trading.trading",
    "TradingMetrics": "otel_trading.trading",
    "TradingState": "otel_trading.trading",
    "bound": "otel_trading.context",
    "bound_context": "otel_trading.context",
    "configure": "otel_trading.config",
    "correlation_id": "otel_trading.context",
    "current": "otel_trading.config",
    "current_console": "otel_trading.console",
    "find_order": "otel_trading.trading",
    "get_logger": "otel_trading.logs",
    "heartbeat": "otel_trading.health",
    "on_trading_state_change": "otel_trading.trading",
    "open_trades": "otel_trading.trading",
    "record_model_metrics": "otel_trading.trading",
    "resume_trade": "otel_trading.trading",
    "run_in_context": "otel_trading.context",
    "serve_store": "otel_trading.console",
    "set_trading_state": "otel_trading.trading",
    "shutdown": "otel_trading.config",
    "span": "otel_trading.tracing",
    "traced": "otel_trading.tracing",
    "trade": "otel_trading.trading",
    "trading_state": "otel_trading.trading",
    "trading_state_details": "otel_trading.trading",
    "with_context": "otel_trading.context",
}


__getattr__, __dir__ = lazy_attributes(globals(), _WHERE)


__all__ = [
    "ConfigurationError",
    "ConfigureOptions",
    "ConsoleServer",
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
    "current_console",
    "find_order",
    "get_logger",
    "heartbeat",
    "on_trading_state_change",
    "open_trades",
    "record_model_metrics",
    "resume_trade",
    "run_in_context",
    "serve_store",
    "set_trading_state",
    "shutdown",
    "span",
    "traced",
    "trade",
    "trading_state",
    "trading_state_details",
    "with_context",
]
