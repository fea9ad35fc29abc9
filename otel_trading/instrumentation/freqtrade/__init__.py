"""freqtrade integration: every freqtrade trade is a trade of the trading API, with no change to the strategy.

    otel_trading.configure(instrument=["freqtrade"])          # in-process, before freqtrade's main()
    OTEL_TRADING_INSTRUMENT=freqtrade opentelemetry-instrument -- freqtrade trade ...

Each freqtrade trade is one trace: a ``trade`` root (``trading.trade_id`` = freqtrade's trade id,
pair, side, strategy, exchange, ``trading.position.side``, ``trading.entry_tag``,
``trading.leverage``), its entry, exit, stoploss and adjustment orders as ``order`` spans with
their fills, fees and slippage against the proposed rate, closed by ``position_closed`` with
freqtrade's exit reason and realised profit. Backtests carry the simulated times. See
docs/frameworks/freqtrade.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from typing import Any, Final

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from otel_trading.tracing._operation import report_instrumentation_failure

SUPPORTED: Final = ("freqtrade >= 2026.9, < 2027",)
"""freqtrade versions this integration is tested with (it wraps ``LocalTrade.close`` and ``Exchange.__init__``)."""

_LOG: Final = logging.getLogger(__name__)


class FreqtradeInstrumentor(BaseInstrumentor):  # type: ignore[misc]  # BaseInstrumentor is Any to mypy
    """Attaches to freqtrade's strategy loading, trade closing, RPC messages and exchange (a singleton)."""

    _undo: list[Callable[[], None]]

    def instrumentation_dependencies(self) -> Collection[str]:
        return SUPPORTED

    def _instrument(self, **_kwargs: Any) -> None:
        try:
            from otel_trading.instrumentation.freqtrade._hooks import install

            self._undo = install()
        except Exception:  # noqa: BLE001 - an unknown freqtrade runs uninstrumented, never stopped
            self._undo = []
            report_instrumentation_failure("freqtrade instrument()")
            _LOG.warning("otel-trading: freqtrade is not instrumented (supported: %s)", ", ".join(SUPPORTED))

    def _uninstrument(self, **_kwargs: Any) -> None:
        for undo in reversed(self.__dict__.pop("_undo", [])):
            undo()


__all__ = ["SUPPORTED", "FreqtradeInstrumentor"]
