"""The instrumentations ``configure(instrument=[...])`` knows, and switching them on and off.

Importing this module imports none of the instrumented libraries: ``configure()`` only pays
for an instrumentation that was asked for.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from otel_trading.tracing._operation import report_instrumentation_failure


@dataclass(frozen=True)
class Instrumentation:
    name: str
    requires: str  # the module that must be importable
    extra: str  # pip install otel-trading[<extra>]
    target: str  # "module:Class" of the BaseInstrumentor

    def is_installed(self) -> bool:
        return importlib.util.find_spec(self.requires) is not None

    def instrumentor(self) -> Any:
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)()


INSTRUMENTATIONS: Final[Mapping[str, Instrumentation]] = {
    "ccxt": Instrumentation("ccxt", "ccxt", "ccxt", "otel_trading.instrumentation.ccxt:CcxtInstrumentor"),
}


def instrument(names: Iterable[str]) -> list[Any]:
    """Instruments each library that is not instrumented yet; returns the instrumentors it switched on.

    An instrumentor that was already on (``opentelemetry-instrument``, or the application
    calling ``instrument()`` itself) is left to whoever switched it on.
    """
    owned: list[Any] = []
    for name in names:
        try:
            instrumentor = INSTRUMENTATIONS[name].instrumentor()
            if instrumentor.is_instrumented_by_opentelemetry:
                continue
            instrumentor.instrument()
            if instrumentor.is_instrumented_by_opentelemetry:
                owned.append(instrumentor)
        except Exception:  # noqa: BLE001 - a library we cannot instrument must not stop the bot
            report_instrumentation_failure(f"instrument {name}")
    return owned


def uninstrument(instrumentors: Iterable[Any]) -> None:
    for instrumentor in instrumentors:
        try:
            if instrumentor.is_instrumented_by_opentelemetry:
                instrumentor.uninstrument()
        except Exception:  # noqa: BLE001 - shutdown goes on; the failure is logged once
            report_instrumentation_failure("uninstrument")
