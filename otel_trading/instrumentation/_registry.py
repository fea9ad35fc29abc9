"""The instrumentations ``configure(instrument=[...])`` knows, and switching them on and off.

Built-in ones (ccxt) are listed here; any other is an OpenTelemetry ``BaseInstrumentor``
registered by an installed package in the standard ``opentelemetry_instrumentor``
entry-point group, the one ``opentelemetry-instrument`` loads, by its entry point name
(``system_metrics``, a contrib ``requests``, a third-party exchange's). The entry points are
listed on first use, and an instrumentor is imported only when asked for.

Importing this module imports none of the instrumented libraries: ``configure()`` only pays
for an instrumentation that was asked for.
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
from collections.abc import Iterable, Iterator, MutableMapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Final

from otel_trading.tracing._operation import report_instrumentation_failure

ENTRY_POINT_GROUP: Final = "opentelemetry_instrumentor"


@dataclass(frozen=True)
class Instrumentation:
    """One instrumentation ``configure(instrument=[name])`` can switch on.

    ``target`` is the ``module:Class`` of its ``BaseInstrumentor``. A built-in one names the
    module it needs (``requires``, checked without importing it) and the extra that installs
    it; one from an entry point names its ``distribution``, and what it needs is what its
    instrumentor's ``instrumentation_dependencies()`` says.
    """

    name: str
    requires: str  # the module that must be importable; "" when the instrumentor says it
    extra: str  # pip install otel-trading[<extra>]; "" for another package's instrumentation
    target: str  # "module:Class" of the BaseInstrumentor
    distribution: str = ""  # the package whose entry point registered it

    def is_installed(self) -> bool:
        return self.unavailable() is None

    def unavailable(self) -> str | None:
        """Why this instrumentation cannot run here (a missing or mismatched library), or None."""
        if self.requires:
            if importlib.util.find_spec(self.requires) is not None:
                return None
            return (f"needs the {self.requires!r} package, which is not installed; install it with: "
                    f"pip install 'otel-trading[{self.extra}]'")
        from opentelemetry.instrumentation.dependencies import get_dependency_conflicts

        origin = f"{self.target} from the package {self.distribution}" if self.distribution else self.target
        try:
            dependencies = self.instrumentor().instrumentation_dependencies()
        except Exception as exc:  # noqa: BLE001 - a plugin failing to import is reported at configure()
            return f"cannot load its instrumentor {origin}: {type(exc).__name__}: {exc}"
        conflict = get_dependency_conflicts(dependencies)
        return None if conflict is None else f"cannot run ({origin}): {_describe(conflict)}"

    def instrumentor(self) -> Any:
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)()


def _describe(conflict: Any) -> str:
    """A dependency conflict in our words (the SDK's own wording changes between releases)."""
    required = conflict.required or " or ".join(getattr(conflict, "required_any", None) or ()) or "?"
    found = conflict.found or ", ".join(getattr(conflict, "found_any", None) or ())
    return f'it needs "{required}", found "{found}"' if found else f'it needs "{required}", which is not installed'


BUILTIN: Final = (
    Instrumentation("ccxt", "ccxt", "ccxt", "otel_trading.instrumentation.ccxt:CcxtInstrumentor"),
    Instrumentation("backtrader", "backtrader", "backtrader",
                    "otel_trading.instrumentation.backtrader:BacktraderInstrumentor"),
    Instrumentation("nautilus_trader", "nautilus_trader", "nautilus_trader",
                    "otel_trading.instrumentation.nautilus_trader:NautilusTraderInstrumentor"),
    Instrumentation("freqtrade", "freqtrade", "freqtrade",
                    "otel_trading.instrumentation.freqtrade:FreqtradeInstrumentor"),
)


class _Instrumentations(MutableMapping[str, Instrumentation]):
    """Built-in instrumentations, then those of the installed packages' entry points (listed on first use).

    A built-in name wins over an entry point of the same name (otel-trading registers ccxt
    there too, for opentelemetry-instrument). Setting a name registers an instrumentation in
    code, for this process.
    """

    def __init__(self, builtin: Iterable[Instrumentation]) -> None:
        self._entries = {instrumentation.name: instrumentation for instrumentation in builtin}
        self._discovered = False
        self._lock = threading.Lock()

    def _all(self) -> dict[str, Instrumentation]:
        with self._lock:
            if not self._discovered:
                for point in entry_points(group=ENTRY_POINT_GROUP):
                    distribution = point.dist.name if point.dist is not None else ""
                    self._entries.setdefault(point.name, Instrumentation(point.name, "", "", point.value,
                                                                         distribution))
                self._discovered = True
            return self._entries

    def __getitem__(self, name: str) -> Instrumentation:
        return self._all()[name]

    def __setitem__(self, name: str, instrumentation: Instrumentation) -> None:
        self._all()[name] = instrumentation

    def __delitem__(self, name: str) -> None:
        del self._all()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._all()))

    def __len__(self) -> int:
        return len(self._all())

    def __repr__(self) -> str:
        return f"INSTRUMENTATIONS({sorted(self)})"


INSTRUMENTATIONS: Final[MutableMapping[str, Instrumentation]] = _Instrumentations(BUILTIN)


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
