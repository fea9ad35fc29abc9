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

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from otel_trading.health import _check_types, _market_data, _registry
from otel_trading.health._check_types import CheckResult
from otel_trading.health._checks import exchange_reachable, heartbeat_fresh, market_data_fresh
from otel_trading.health._heartbeat import heartbeat
from otel_trading.health._market_data import mark_market_data
from otel_trading.health._server import DEFAULT_PORT, HealthServer, serve


def add_check(
    name: str,
    check: Callable[[], Any],
    *,
    timeout: float = _check_types.DEFAULT_TIMEOUT_S,
    interval: float = _check_types.DEFAULT_INTERVAL_S,
    critical: bool = True,
    kind: _check_types.Kind = "readiness",
    loop: asyncio.AbstractEventLoop | None = None,
) -> None:
    """Registers (or replaces) the health check ``name``; it first runs right away, in the background.

    ``check`` is a sync or async callable taking no argument. It passes when it returns None,
    True, a string or a mapping (shown as the detail), and fails when it returns False or
    ``CheckResult(False, detail)``, raises, or runs past ``timeout`` seconds. It runs every
    ``interval`` seconds, never twice at once. A failing non-``critical`` check makes the
    probes report ``degraded`` without failing them. ``kind="liveness"`` checks count for
    ``/healthz`` (failure means "restart me") and ``/readyz``; ``"readiness"`` checks only
    for ``/readyz``. Async checks run on the health thread's own event loop, or on ``loop``
    (for objects bound to the bot's loop, such as a ``ccxt.async_support`` exchange).
    """
    _registry.REGISTRY.get().add(name, check, timeout=timeout, interval=interval, critical=critical, kind=kind,
                                 loop=loop)


def remove_check(name: str) -> bool:
    """Unregisters the check ``name``; False if there was none."""
    return _registry.REGISTRY.get().remove(name)


def clear_checks() -> None:
    """Unregisters every check and stops the background runner (until the next ``add_check``)."""
    _registry.REGISTRY.get().clear()


def report(probe: _check_types.Kind = "readiness") -> dict[str, Any]:
    """The JSON body ``/readyz`` (or ``/healthz`` for ``"liveness"``) would answer now."""
    if probe not in _check_types.KINDS:
        raise ValueError(f"probe must be 'readiness' or 'liveness', got {probe!r}")
    return _registry.REGISTRY.get().evaluate(probe)[1]


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
