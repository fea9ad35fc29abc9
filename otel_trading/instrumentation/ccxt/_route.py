"""Where an instrumented exchange call records: otel-trading's pipeline or OpenTelemetry providers.

OpenTelemetry contrib's contract for an instrumentor: the ``tracer_provider`` / ``meter_provider``
passed to ``instrument()`` when given, else the global providers, whether or not anything else
(here: ``otel_trading.configure()``) ran. In that order, per call:

1. providers passed to ``instrument()`` (``Route(explicit=...)``);
2. otel-trading's own pipeline while it is configured: ``STATE.tracer`` and the locally
   aggregated metrics, the fast path;
3. nothing once otel-trading was configured and is no longer (``shutdown()``, or
   ``enabled=False``): its configuration switched telemetry off, and the global providers may
   be its own, shut down;
4. the global providers when otel-trading was never configured in this process
   (``opentelemetry-instrument`` with another configurator, an application's own SDK setup),
   unless none is installed: nothing to record, and the call costs two attribute reads.

Spans and metrics of a provider that is not otel-trading's are not redacted at export, so that
recorder scrubs what it records with the redactor in force (``STATE.redactor``).
"""

from __future__ import annotations

from typing import Any, Final

from opentelemetry import metrics, trace

from otel_trading._otel_compat import installed_global_providers
from otel_trading._state import STATE, Slot
from otel_trading._version import __version__
from otel_trading.instrumentation.ccxt._metrics import METRICS, ProviderMetrics

# The same scope as every otel-trading span and metric: the data looks the same whichever way it goes.
SCOPE: Final = "otel_trading"


class LocalRecorder:
    """otel-trading's configured pipeline (redacted at export)."""

    scrubs = False

    @property
    def tracer(self) -> trace.Tracer:
        return STATE.tracer

    def record(self, exchange: str, method: str, seconds: float, error_type: str | None) -> None:
        METRICS.record(exchange, method, seconds, error_type)


class ProviderRecorder:
    """A tracer and API instruments from the given providers (``None``: the global one)."""

    scrubs = True

    def __init__(self, tracer_provider: trace.TracerProvider | None, meter_provider: metrics.MeterProvider | None
                 ) -> None:
        self.tracer = trace.get_tracer(SCOPE, __version__, tracer_provider)
        self._metrics = ProviderMetrics(metrics.get_meter(SCOPE, __version__, meter_provider))

    def record(self, exchange: str, method: str, seconds: float, error_type: str | None) -> None:
        self._metrics.record(exchange, method, seconds, error_type)


Recorder = LocalRecorder | ProviderRecorder
LOCAL: Final = LocalRecorder()
_NO_TRACING: Final = trace.NoOpTracerProvider()
_NO_METRICS: Final = metrics.NoOpMeterProvider()


def load_global_providers() -> None:
    """Lets the API install providers named by ``OTEL_PYTHON_TRACER_PROVIDER`` / ``..._METER_PROVIDER``."""
    trace.get_tracer_provider()
    metrics.get_meter_provider()


def _real(provider: Any) -> bool:
    return provider is not None and not isinstance(provider, (trace.NoOpTracerProvider, metrics.NoOpMeterProvider))


class Route:
    """Chooses the recorder of each call (see the module doc)."""

    def __init__(self, explicit: ProviderRecorder | None = None) -> None:
        self.explicit = explicit
        # The global providers last seen, and the recorder made for them (None: nothing to record).
        self._global: tuple[Any, Any, ProviderRecorder | None] = (None, None, None)

    def recorder(self) -> Recorder | None:
        if self.explicit is not None:
            return self.explicit
        if STATE.enabled:
            return LOCAL
        if STATE.generation:  # configured once, switched off since
            return None
        tracer_provider, meter_provider = installed_global_providers()
        seen_tracer, seen_meter, recorder = self._global
        if seen_tracer is tracer_provider and seen_meter is meter_provider:
            return recorder
        return self._adopt(tracer_provider, meter_provider)

    def _adopt(self, tracer_provider: Any, meter_provider: Any) -> ProviderRecorder | None:
        traces, meters = _real(tracer_provider), _real(meter_provider)
        recorder = None
        if traces or meters:
            recorder = _recorder_for(tracer_provider if traces else _NO_TRACING,
                                     meter_provider if meters else _NO_METRICS)
        self._global = (tracer_provider, meter_provider, recorder)
        return recorder


# One recorder per provider pair: instruments and gauge callbacks are registered on a provider
# once, however often the instrumentation is switched on and off. The providers of an isolated
# block (``testing.capture()``) are let go with it.
_RECORDERS: Final[Slot[dict[tuple[int, int], tuple[Any, Any, ProviderRecorder]]]] = Slot(
    "ccxt provider recorders", dict)
_MAX_RECORDERS: Final = 16


def _recorder_for(tracer_provider: Any, meter_provider: Any) -> ProviderRecorder:
    recorders = _RECORDERS.get()
    key = (id(tracer_provider), id(meter_provider))
    known = recorders.get(key)
    if known is not None and known[0] is tracer_provider and known[1] is meter_provider:
        return known[2]
    if len(recorders) >= _MAX_RECORDERS:
        recorders.clear()
    recorder = ProviderRecorder(tracer_provider, meter_provider)
    recorders[key] = (tracer_provider, meter_provider, recorder)
    return recorder


def explicit_route(tracer_provider: Any, meter_provider: Any) -> Route:
    """The route of ``instrument(tracer_provider=..., meter_provider=...)``: the default route when
    neither is given, else those providers (the global one for the one not given)."""
    if tracer_provider is None and meter_provider is None:
        return DEFAULT_ROUTE
    return Route(_recorder_for(tracer_provider, meter_provider))


DEFAULT_ROUTE: Final = Route()
