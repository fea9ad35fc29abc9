"""nautilus_trader: every order, fill and position of every strategy, with no change to them.

    otel_trading.configure(instrument=["nautilus_trader"])   # before building the engine/node
    engine = BacktestEngine(...)                              # gets an OtelTradingActor

or, for a node assembled by hand, ``engine.add_actor(OtelTradingActor())``. A position cycle is
a trade, orders are ``order`` spans with their fills, rejections and cancels, each at nautilus'
``ts_event`` time (docs/frameworks/nautilus_trader.md).

Importing this package does not import nautilus_trader (``opentelemetry-instrument`` loads every
entry point's module): ``OtelTradingActor`` is imported on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Collection
from typing import Any, Final

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from otel_trading.tracing._operation import report_instrumentation_failure

_INSTRUMENTS: Final = ("nautilus_trader >= 1.221",)
_LAZY: Final = {"OtelTradingActor": "_actor", "OtelTradingActorConfig": "_actor"}


class NautilusTraderInstrumentor(BaseInstrumentor):  # type: ignore[misc]  # BaseInstrumentor is Any to mypy
    """Adds an :class:`OtelTradingActor` to every ``BacktestEngine`` and ``TradingNode`` built from now on."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return _INSTRUMENTS

    def _instrument(self, **_kwargs: Any) -> None:
        try:
            self._patches = importlib.import_module(f"{__name__}._attach").patch()
        except Exception:  # noqa: BLE001 - a nautilus we cannot patch must not stop the bot from starting
            self._patches = []
            report_instrumentation_failure("nautilus_trader instrument()")

    def _uninstrument(self, **_kwargs: Any) -> None:
        for done in self.__dict__.pop("_patches", []):
            done.undo()


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        try:
            module = importlib.import_module(f"{__name__}.{_LAZY[name]}")
        except ModuleNotFoundError as missing:
            if missing.name is None or not missing.name.startswith("nautilus_trader"):
                raise
            raise ImportError(f"otel_trading.instrumentation.nautilus_trader.{name} needs the 'nautilus_trader' "
                              f"package, which is not installed; install it with: "
                              f"pip install 'otel-trading[nautilus_trader]'") from None
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["NautilusTraderInstrumentor", "OtelTradingActor", "OtelTradingActorConfig"]
