"""The local web console: the bot's trades, traces, logs, metrics and alerts in a browser.

    otel-trading console                    # read-only, over the local store
    otel_trading.configure(console=True)    # live, from inside the bot (with the kill switch)

See docs/console.md (pages and the JSON API behind them).
"""

from otel_trading.console._server import ConsoleServer, current_console, serve_store

__all__ = ["ConsoleServer", "current_console", "serve_store"]
