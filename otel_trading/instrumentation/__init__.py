"""Auto-instrumentation of trading libraries, on OpenTelemetry's ``BaseInstrumentor`` pattern.

``configure(instrument=["ccxt"])`` (or ``OTEL_TRADING_INSTRUMENT=ccxt``) turns one on for
the life of that configuration; ``otel_trading.instrumentation.ccxt.CcxtInstrumentor``
can also be used directly, and ``opentelemetry-instrument`` finds it through the
``opentelemetry_instrumentor`` entry point. This module imports no instrumented library.
"""

from otel_trading.instrumentation._registry import INSTRUMENTATIONS, Instrumentation

__all__ = ["INSTRUMENTATIONS", "Instrumentation"]
