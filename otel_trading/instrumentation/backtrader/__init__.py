"""backtrader: every Cerebro's orders and trades as otel-trading trades, orders and a portfolio.

    otel_trading.configure(instrument=["backtrader"])   # every Cerebro.run() gets TradeTelemetry
    # or, explicitly, on one Cerebro:
    from otel_trading.instrumentation.backtrader import TradeTelemetry
    cerebro.addanalyzer(TradeTelemetry)

The instrumentor wraps ``Cerebro.run``: before the run it adds the :class:`TradeTelemetry`
Analyzer (unless the Cerebro has one already), after the run it takes it off the Cerebro's
list again, so ``uninstrument()`` leaves every Cerebro as it was. See docs/frameworks/backtrader.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from typing import Any, Final

import backtrader as bt  # type: ignore[import-untyped]  # no type information
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from otel_trading.instrumentation._hooks import MethodPatch, guarded, wrap_method
from otel_trading.instrumentation.backtrader._analyzer import EXCHANGE, TradeTelemetry, in_worker

_INSTRUMENTS: Final = ("backtrader >= 1.9.78",)
ANALYZER_NAME: Final = "otel_trading"
_LOG: Final = logging.getLogger("otel_trading.instrumentation.backtrader")


class BacktraderInstrumentor(BaseInstrumentor):  # type: ignore[misc]  # BaseInstrumentor is Any to mypy
    """Adds :class:`TradeTelemetry` to every ``Cerebro.run()`` (a process-wide singleton)."""

    _patch: MethodPatch | None

    def instrumentation_dependencies(self) -> Collection[str]:
        return _INSTRUMENTS

    def _instrument(self, **_kwargs: Any) -> None:
        self._patch = wrap_method(bt.Cerebro, "run", _run_with_telemetry)

    def _uninstrument(self, **_kwargs: Any) -> None:
        patch = self.__dict__.pop("_patch", None)
        if patch is not None:
            patch.undo()


def _run_with_telemetry(original: Callable[..., Any]) -> Callable[..., Any]:
    def run(cerebro: Any, *args: Any, **kwargs: Any) -> Any:
        added = _add_analyzer(cerebro)
        try:
            return original(cerebro, *args, **kwargs)
        finally:
            if added is not None:
                _remove_analyzer(cerebro, added)

    return run


@guarded("backtrader add analyzer")
def _add_analyzer(cerebro: Any) -> object | None:
    """Adds TradeTelemetry to ``cerebro`` unless it has one; returns the entry added (None: none)."""
    if any(isinstance(entry[0], type) and issubclass(entry[0], TradeTelemetry) for entry in cerebro.analyzers):
        return None
    if in_worker(cerebro):
        _LOG.warning("backtrader optstrategy with maxcpus=%s runs the strategies in worker processes: "
                     "otel-trading records no trades there (maxcpus=1 records them)", cerebro.p.maxcpus)
    cerebro.addanalyzer(TradeTelemetry, _name=ANALYZER_NAME)
    added: object = cerebro.analyzers[-1]
    return added


@guarded("backtrader remove analyzer")
def _remove_analyzer(cerebro: Any, entry: object) -> None:
    cerebro.analyzers[:] = [existing for existing in cerebro.analyzers if existing is not entry]


__all__ = ["ANALYZER_NAME", "EXCHANGE", "BacktraderInstrumentor", "TradeTelemetry"]
