"""OpenTelemetry instrumentation of ccxt exchanges (sync ``ccxt`` and ``ccxt.async_support``).

    from otel_trading.instrumentation.ccxt import CcxtInstrumentor

    otel_trading.configure()
    CcxtInstrumentor().instrument()      # or configure(instrument=["ccxt"])
    ...
    CcxtInstrumentor().uninstrument()    # every method is the original function again

Each call of a unified method (``create_order``, ``fetch_ticker``, ... see ``METHODS``) is a
CLIENT span ``ccxt.<method>`` and counts in ``trading.exchange.requests``,
``trading.exchange.request.duration`` and, when it raises, ``trading.exchange.errors``.
Where they are recorded, per OpenTelemetry contrib's contract: the ``tracer_provider`` /
``meter_provider`` passed to ``instrument()``; else otel-trading's pipeline while it is
configured; else the global providers (see ``_route``). Credentials are redacted either way.

While otel-trading is configured, the orders those calls create, fetch and cancel (and the
ccxt.pro ``watch_orders``/``watch_my_trades`` streams report) are orders of the trading API,
with their spans, fills and metrics (``_orders``; ``instrument(orders=False)`` turns that off).
See docs/instrumentation.md.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Collection
from types import FunctionType, ModuleType
from typing import Any, Final

# The module opts out of type checking (a file-level ``# type: ignore``), so mypy sees no names in it.
from opentelemetry import metrics, trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from otel_trading.instrumentation.ccxt._call import async_wrapper, stream_wrapper, sync_wrapper
from otel_trading.instrumentation.ccxt._errors import ERROR_CLASSES, OTHER, ErrorClassifier
from otel_trading.instrumentation.ccxt._methods import METHODS, STREAMS, MethodSpec
from otel_trading.instrumentation.ccxt._metrics import METRICS, TRACKER
from otel_trading.instrumentation.ccxt._orders import SWITCH
from otel_trading.instrumentation.ccxt._patch import Patch, exchange_classes, patch, unpatch
from otel_trading.instrumentation.ccxt._route import DEFAULT_ROUTE, explicit_route, load_global_providers
from otel_trading.instrumentation.ccxt._secrets import CredentialFilter
from otel_trading.tracing._operation import report_instrumentation_failure

_INSTRUMENTS: Final = ("ccxt >= 4.0",)
# The logger every ccxt exchange (sync and async) logs its requests on, unless given another.
_CCXT_LOGGER: Final = "ccxt.base.exchange"
_LOG_FILTER: Final = CredentialFilter(TRACKER.alive)
_WRAPPED: Final = {**METHODS, **STREAMS}


class CcxtInstrumentor(BaseInstrumentor):  # type: ignore[misc]  # BaseInstrumentor is Any to mypy (see above)
    """Instruments the unified REST methods of every ccxt exchange class (a process-wide singleton)."""

    _patches: list[Patch]

    def instrumentation_dependencies(self) -> Collection[str]:
        return _INSTRUMENTS

    def _instrument(self, **kwargs: Any) -> None:
        tracer_provider = _provider(kwargs, "tracer_provider", trace.TracerProvider)
        meter_provider = _provider(kwargs, "meter_provider", metrics.MeterProvider)
        orders = kwargs.get("orders", True)
        if not isinstance(orders, bool):
            raise TypeError(f"CcxtInstrumentor().instrument(orders=...): expected True or False, "
                            f"got {type(orders).__name__}")
        SWITCH.on = orders
        try:
            ccxt = importlib.import_module("ccxt")
            async_support = importlib.import_module("ccxt.async_support")
            classify = ErrorClassifier(importlib.import_module("ccxt.base.errors"))
            route = explicit_route(tracer_provider, meter_provider)
            load_global_providers()

            def wrap(original: FunctionType, spec: MethodSpec, is_async: bool) -> Callable[..., Any]:
                if spec.name in STREAMS:
                    return stream_wrapper(original, spec, is_async)
                return (async_wrapper if is_async else sync_wrapper)(original, spec, classify, route)

            self._patches = patch(exchange_classes([ccxt.Exchange, async_support.Exchange]), _WRAPPED, wrap)
            logging.getLogger(_CCXT_LOGGER).addFilter(_LOG_FILTER)
            METRICS.bind()
        except Exception:  # noqa: BLE001 - a ccxt we cannot patch must not stop the bot from starting
            self._patches = []
            report_instrumentation_failure("ccxt instrument()")

    def _uninstrument(self, **_kwargs: Any) -> None:
        unpatch(self.__dict__.pop("_patches", []))
        logging.getLogger(_CCXT_LOGGER).removeFilter(_LOG_FILTER)

    @property
    def patched_methods(self) -> int:
        """How many exchange methods are wrapped now (0 when not instrumented)."""
        return len(self.__dict__.get("_patches", []))


def _provider(kwargs: dict[str, Any], name: str, kind: type) -> Any:
    """A provider argument of ``instrument()``, checked where it is given (not at the first call)."""
    provider = kwargs.get(name)
    if provider is not None and not isinstance(provider, kind):
        raise TypeError(f"CcxtInstrumentor().instrument({name}=...): expected an {kind.__module__}.{kind.__name__} "
                        f"(or None for the global one), got {type(provider).__name__}")
    return provider


def instrument_class(cls: type, errors: ModuleType) -> Callable[[], None]:
    """Instruments a ccxt-shaped exchange class that is not ccxt's own; returns the undo.

    For a simulated venue or an in-house client that mimics ccxt: async or sync methods with
    ccxt's unified names and signatures (``create_order(symbol, type, side, amount, price=None,
    params={})``, ``fetch_ticker(symbol, params={})``, ... see ``METHODS``), an ``id`` attribute,
    and exceptions named like ccxt's (``RateLimitExceeded``, ``NetworkError``, ``InsufficientFunds``,
    ... see ``ERROR_CLASSES``) in the module ``errors``. Its calls then make the same
    ``ccxt.<method>`` CLIENT spans and ``trading.exchange.*`` metrics as a real ccxt exchange's,
    with ``error.type`` classified by those exception classes (anything else is ``other``).

    Only the methods ``cls`` defines itself are wrapped (inherited ones are left alone, as they
    belong to other classes too). Instrumenting an instrumented class again wraps nothing.
    Calling the returned function puts the original methods back. ccxt need not be installed.
    """
    if not isinstance(cls, type):
        raise TypeError(f"instrument_class: expected a class, got {type(cls).__name__}")
    try:
        classify = ErrorClassifier(errors)

        def wrap(original: FunctionType, spec: MethodSpec, is_async: bool) -> Callable[..., Any]:
            if spec.name in STREAMS:
                return stream_wrapper(original, spec, is_async)
            return (async_wrapper if is_async else sync_wrapper)(original, spec, classify, DEFAULT_ROUTE)

        patches = patch([cls], _WRAPPED, wrap)
    except Exception:  # noqa: BLE001 - a class we cannot patch runs uninstrumented, like ccxt's
        report_instrumentation_failure(f"instrument_class({cls.__qualname__})")
        patches = []
    return lambda: unpatch(patches)


__all__ = ["ERROR_CLASSES", "METHODS", "OTHER", "CcxtInstrumentor", "instrument_class"]
