"""When market data last arrived, per symbol.

One store behind both the ``market_data_fresh()`` health check and the
``trading.market_data.staleness`` gauge. Marking is a hot-path call (every tick, book or
trade message): a clock read and a dict store, no lock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Final

from otel_trading._state import Slot

_LOG = logging.getLogger("otel_trading.health")

# A symbol universe is bounded; a cap keeps a bug (an order id passed as the symbol) from
# growing the store, and the staleness gauge built on it, without end.
MAX_SYMBOLS: Final = 10_000
# Above this a timestamp is in milliseconds (ccxt's ``timestamp`` fields): 1e11 s is year 5138.
_MILLISECONDS_ABOVE: Final = 1e11



class _Arrivals:
    def __init__(self) -> None:
        self.last_seen: dict[str, float] = {}
        self.warned_full = False
        self.max_symbols = MAX_SYMBOLS  # a test lowers it for its isolated state only


_ARRIVALS: Final = Slot("market data arrivals", _Arrivals)


def mark_market_data(symbol: str, ts: float | None = None) -> None:
    """Records that market data for ``symbol`` arrived.

    ``ts`` is the Unix time the data is from (default: now, the time it was received);
    milliseconds, as in ccxt's ``timestamp`` fields, are recognised and converted.
    """
    arrivals = _ARRIVALS.get()
    seen = arrivals.last_seen
    if len(seen) >= arrivals.max_symbols and symbol not in seen:
        _full(symbol)
        return
    if ts is None:
        seen[symbol] = time.time()
    else:
        seen[symbol] = ts / 1000.0 if ts > _MILLISECONDS_ABOVE else float(ts)


def _full(symbol: str) -> None:
    arrivals = _ARRIVALS.get()
    if not arrivals.warned_full:
        arrivals.warned_full = True
        _LOG.warning("market data is tracked for %d symbols already; %r and further new symbols are ignored",
                     arrivals.max_symbols, symbol)


def ages(now: float | None = None) -> dict[str, float]:
    """Seconds since market data last arrived, by symbol (never negative)."""
    current = time.time() if now is None else now
    return {symbol: max(0.0, current - seen) for symbol, seen in list(_ARRIVALS.get().last_seen.items())}


def forget(symbols: Iterable[str] | None = None) -> None:
    """Stops tracking ``symbols`` (all when None), e.g. after unsubscribing from them."""
    arrivals = _ARRIVALS.get()
    if symbols is None:
        arrivals.last_seen.clear()
    else:
        for symbol in symbols:
            arrivals.last_seen.pop(symbol, None)
    if len(arrivals.last_seen) < arrivals.max_symbols:
        arrivals.warned_full = False
