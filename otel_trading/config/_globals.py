"""Our providers as the OTel globals: proxies installed once, whose delegate each configure() swaps.

The OTel API lets each global provider be set once per process, and ``configure()`` may run
again (new settings, test captures, shutdown). So the first configure() installs a proxy
provider of our own as each global (through the public setters), and every configuration
after that only swaps the proxy's delegate behind our own handle. Tracers, meters, loggers
and instruments that other code obtained from the globals earlier keep working and follow
each swap; after shutdown they record nothing. A global provider installed by someone else
is never replaced.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Any

from opentelemetry import metrics, trace

from otel_trading._otel_compat import logs_api

_LOG = logging.getLogger("otel_trading")
_NO_TRACING = trace.NoOpTracerProvider()
_NO_METRICS = metrics.NoOpMeterProvider()
_NO_LOGS = logs_api.NoOpLoggerProvider()


class _Delegating:
    """What a proxy tracer/logger forwards to: the delegate's, fetched again after each swap."""

    def __init__(self, provider: _ProxyProvider, args: tuple[Any, ...]) -> None:
        self._provider = provider
        self._args = args
        self._cached: tuple[Any, Any] = (None, None)  # (delegate provider, its tracer/logger)

    def _current(self) -> Any:
        delegate = self._provider.delegate
        cached_for, real = self._cached  # one tuple: read atomically while another thread swaps
        if cached_for is not delegate:
            real = self._provider.obtain(delegate, self._args)
            self._cached = (delegate, real)
        return real


class _ProxyProvider:
    def __init__(self, no_op: Any, getter: str) -> None:
        self.delegate: Any = no_op
        self.no_op = no_op
        self._getter = getter

    def obtain(self, delegate: Any, args: tuple[Any, ...]) -> Any:
        return getattr(delegate, self._getter)(*args)

    def swap(self, delegate: Any) -> None:
        self.delegate = delegate


class _ProxyTracer(_Delegating, trace.Tracer):
    def start_span(self, *args: Any, **kwargs: Any) -> trace.Span:
        span: trace.Span = self._current().start_span(*args, **kwargs)
        return span

    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Any:
        return self._current().start_as_current_span(*args, **kwargs)


class ProxyTracerProvider(_ProxyProvider, trace.TracerProvider):
    """The global tracer provider while otel-trading owns it."""

    def __init__(self) -> None:
        _ProxyProvider.__init__(self, _NO_TRACING, "get_tracer")

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return _ProxyTracer(self, _positional(args, kwargs, _PROVIDER_ARGS))


class _ProxyLogger(_Delegating, logs_api.Logger):
    def emit(self, *args: Any, **kwargs: Any) -> None:
        self._current().emit(*args, **kwargs)

    def enabled(self, *args: Any, **kwargs: Any) -> bool:
        real = self._current()
        return bool(real.enabled(*args, **kwargs)) if hasattr(real, "enabled") else True


class ProxyLoggerProvider(_ProxyProvider, logs_api.LoggerProvider):
    """The global logger provider while otel-trading owns it."""

    def __init__(self) -> None:
        _ProxyProvider.__init__(self, _NO_LOGS, "get_logger")

    def get_logger(self, *args: Any, **kwargs: Any) -> logs_api.Logger:
        return _ProxyLogger(self, _positional(args, kwargs, _PROVIDER_ARGS))


_PROVIDER_ARGS = ("name", "version", "schema_url", "attributes")
_INSTRUMENT_ARGS = ("name", "unit", "description")


def _positional(args: tuple[Any, ...], kwargs: dict[str, Any], names: tuple[str, ...]) -> tuple[Any, ...]:
    """get_tracer(name, version, ...) arguments as one positional tuple (keywords differ by signal)."""
    values = list(args) + [None] * (len(names) - len(args))
    for index, name in enumerate(names):
        for key in (name, f"instrumenting_module_{name}", f"instrumenting_library_{name}"):
            if key in kwargs:
                values[index] = kwargs[key]
    return tuple(values)


class _ProxyInstrument:
    """An instrument created again on each delegate's meter; measurements go to the current one."""

    def __init__(self, factory: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self._factory = factory
        self._args = args
        self._kwargs = kwargs
        self._real: Any = None
        self.name = args[0] if args else kwargs.get("name", "")

    def bind(self, meter: metrics.Meter) -> None:
        self._real = getattr(meter, self._factory)(*self._args, **self._kwargs)

    def add(self, *args: Any, **kwargs: Any) -> None:
        self._real.add(*args, **kwargs)

    def record(self, *args: Any, **kwargs: Any) -> None:
        self._real.record(*args, **kwargs)

    def set(self, *args: Any, **kwargs: Any) -> None:
        self._real.set(*args, **kwargs)


class _ProxyMeter(metrics.Meter):
    def __init__(self, provider: ProxyMeterProvider, args: tuple[Any, ...]) -> None:
        super().__init__(args[0], args[1], args[2])
        self._provider = provider
        self._args = args
        self._instruments: list[_ProxyInstrument] = []
        self._real: metrics.Meter = provider.delegate.get_meter(*args)

    def rebind(self, delegate: metrics.MeterProvider) -> None:
        # Observable instruments must be registered on the new meter for their callbacks to run.
        self._real = delegate.get_meter(*self._args)
        for instrument in self._instruments:
            instrument.bind(self._real)

    def _create(self, factory: str, *args: Any, **kwargs: Any) -> Any:
        instrument = _ProxyInstrument(factory, args, kwargs)
        with self._provider.lock:
            instrument.bind(self._real)
            self._instruments.append(instrument)
        return instrument

    def create_counter(self, *args: Any, **kwargs: Any) -> Any:
        return self._create("create_counter", *args, **kwargs)

    def create_up_down_counter(self, *args: Any, **kwargs: Any) -> Any:
        return self._create("create_up_down_counter", *args, **kwargs)

    def create_histogram(self, *args: Any, **kwargs: Any) -> Any:
        return self._create("create_histogram", *args, **kwargs)

    def create_gauge(self, *args: Any, **kwargs: Any) -> Any:
        return self._create("create_gauge", *args, **kwargs)

    def create_observable_counter(self, *args: Any, **kwargs: Any) -> Any:
        return self._create("create_observable_counter", *args, **kwargs)

    def create_observable_up_down_counter(self, *args: Any, **kwargs: Any) -> Any:
        return self._create("create_observable_up_down_counter", *args, **kwargs)

    def create_observable_gauge(self, *args: Any, **kwargs: Any) -> Any:
        return self._create("create_observable_gauge", *args, **kwargs)


class ProxyMeterProvider(_ProxyProvider, metrics.MeterProvider):
    """The global meter provider while otel-trading owns it."""

    def __init__(self) -> None:
        _ProxyProvider.__init__(self, _NO_METRICS, "get_meter")
        self.lock = threading.Lock()
        # Weakly: a meter its library dropped (and its instruments) follows no further swap.
        self._meters: weakref.WeakSet[_ProxyMeter] = weakref.WeakSet()

    def get_meter(self, *args: Any, **kwargs: Any) -> metrics.Meter:
        with self.lock:
            meter = _ProxyMeter(self, _positional(args, kwargs, _PROVIDER_ARGS))
            self._meters.add(meter)
        return meter

    def swap(self, delegate: Any) -> None:
        with self.lock:
            self.delegate = delegate
            for meter in list(self._meters):
                meter.rebind(delegate)


class GlobalProviders:
    """Our handle on the three global providers: installed once, delegates swapped after."""

    def __init__(self) -> None:
        self.tracer = ProxyTracerProvider()
        self.meter = ProxyMeterProvider()
        self.logger = ProxyLoggerProvider()
        self._lock = threading.Lock()
        self._owned: dict[str, bool] = {}  # decided once per signal, at the first install

    def install(self, tracer_provider: Any, meter_provider: Any, logger_provider: Any) -> None:
        """Makes these providers the ones behind the globals (where the globals are ours)."""
        with self._lock:
            for (kind, proxy, setter, getter), provider in zip(
                self._signals(), (tracer_provider, meter_provider, logger_provider), strict=True
            ):
                if self._ours(kind, proxy, setter, getter):
                    proxy.swap(provider)

    def release(self, tracer_provider: Any, meter_provider: Any, logger_provider: Any) -> None:
        """After a shutdown: the globals record nothing, unless a newer configuration took them."""
        with self._lock:
            for (_, proxy, _, _), provider in zip(
                self._signals(), (tracer_provider, meter_provider, logger_provider), strict=True
            ):
                if provider is not None and proxy.delegate is provider:
                    proxy.swap(proxy.no_op)

    def _signals(self) -> list[tuple[str, _ProxyProvider, Any, Any]]:
        return [
            ("tracer", self.tracer, trace.set_tracer_provider, trace.get_tracer_provider),
            ("meter", self.meter, metrics.set_meter_provider, metrics.get_meter_provider),
            ("logger", self.logger, logs_api.set_logger_provider, logs_api.get_logger_provider),
        ]

    def _ours(self, kind: str, proxy: _ProxyProvider, setter: Any, getter: Any) -> bool:
        """Whether the global is our proxy; the first time, installs it unless one is set already."""
        owned = self._owned.get(kind)
        if owned is None:
            if getter() is not proxy:
                setter(proxy)  # refused by the API (with its own warning) when another is set
            owned = self._owned[kind] = getter() is proxy
            if not owned:
                _LOG.warning(
                    "a global %s provider was installed by other code; otel-trading uses its own "
                    "for its telemetry and leaves the global one alone", kind,
                )
        return owned


GLOBALS = GlobalProviders()
