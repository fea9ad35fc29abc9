"""Bot health: the heartbeat, background health checks, and ``/healthz`` + ``/readyz`` endpoints.

    from otel_trading import health

    health.add_check("exchange", health.exchange_reachable(exchange))
    health.add_check("market_data", health.market_data_fresh(10.0, symbols=["BTC/USDT"]))
    health.add_check("main_loop", health.heartbeat_fresh(60.0), kind="liveness")
    server = health.serve()              # http://127.0.0.1:9465/healthz and /readyz

    # wherever market data arrives (a hot path: a dict store):
    health.mark_market_data("BTC/USDT")

Checks run on a background thread at their interval, with a timeout; the endpoints and the
``otel_trading.health.status`` gauge read their latest results. See docs/health.md.
"""

from collections.abc import Iterable

from otel_trading.health import _market_data
from otel_trading.health._checks import exchange_reachable, heartbeat_fresh, market_data_fresh
from otel_trading.health._heartbeat import heartbeat
from otel_trading.health._market_data import mark_market_data
from otel_trading.health._registry import CheckResult, add_check, clear_checks, remove_check, report
from otel_trading.health._server import DEFAULT_PORT, HealthServer, serve


def market_data_ages() -> dict[str, float]:
    """Seconds since market data last arrived, by symbol marked with ``mark_market_data()``."""
    return _market_data.ages()


def forget_market_data(symbols: Iterable[str] | None = None) -> None:
    """Stops tracking ``symbols`` (every symbol when None), e.g. after unsubscribing from them."""
    _market_data.forget(symbols)


__all__ = [
    "DEFAULT_PORT",
    "CheckResult",
    "HealthServer",
    "add_check",
    "clear_checks",
    "exchange_reachable",
    "forget_market_data",
    "heartbeat",
    "heartbeat_fresh",
    "mark_market_data",
    "market_data_ages",
    "market_data_fresh",
    "remove_check",
    "report",
    "serve",
]
