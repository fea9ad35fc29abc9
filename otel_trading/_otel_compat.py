"""The only module that touches OpenTelemetry names that are not public API.

otel-trading supports every OpenTelemetry release from 1.39 (contrib 0.60b0) to 1.45 (0.66b0),
tested at both ends (``make test``). What OTel publishes we import where it is used; what it
does not publish yet - and only that - is imported here, so a new OTel release that moves one
of these names breaks this file alone, and the rest of the package never reaches into the SDK:

- the logs SDK and logs API still live in private modules (``opentelemetry.sdk._logs``,
  ``opentelemetry._logs``), and so do the OTLP log exporters;
- the Python SDK has no ``MetricProducer`` yet (opentelemetry-python#4768), so the locally
  aggregated instruments reach every reader through the reader's collect callback, in the
  temporality and aggregation the reader resolved for the SDK's instruments (no accessor);
- ``PrometheusMetricReader`` takes ``registry=`` only in recent contrib releases; older ones
  register on prometheus_client's global registry;
- the system-metrics instrumentation's default set of metrics, the configurator base class
  and the entry-point type of ``opentelemetry-instrument``;
- the patterns the OTLP exporters split and accept ``OTEL_EXPORTER_OTLP_*HEADERS`` items with
  (so configure() rejects exactly what they would drop);
- whether a global tracer / meter provider is installed, without the API's ``os.environ``
  look-up on every call (the ccxt instrumentation asks on every exchange call);
- a tracer provider's span processors and span limits, and a tracer's scope: the lean spans of
  ``otel_trading/tracing/_lean.py`` honour the limits and scope, and step aside for the SDK span
  as soon as a processor other than otel-trading's is on the provider.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

# The logs API and SDK (stable in use, private in name); what opentelemetry-instrument loads:
# the configurator base class and its entry-point type (importlib_metadata's before OTel 1.40).
from opentelemetry import _logs as logs_api  # the logs API: set/get the global logger provider, its ABCs
from opentelemetry import trace
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.metrics import _internal as _metrics_api
from opentelemetry.sdk._configuration import _BaseConfigurator as BaseConfigurator
from opentelemetry.sdk._logs import LoggerProvider, LogRecordProcessor, ReadableLogRecord, ReadWriteLogRecord
from opentelemetry.sdk._logs.export import (
    ConsoleLogRecordExporter,
    InMemoryLogRecordExporter,
    LogRecordExporter,
    LogRecordExportResult,
)
from opentelemetry.sdk.metrics import Counter, Histogram, UpDownCounter
from opentelemetry.sdk.metrics.export import AggregationTemporality, MetricReader, MetricsData
from opentelemetry.sdk.metrics.view import Aggregation
from opentelemetry.util._importlib_metadata import EntryPoint
from opentelemetry.util.re import _DELIMITER_PATTERN as HEADER_DELIMITER
from opentelemetry.util.re import _LIBERAL_HEADER_PATTERN as LIBERAL_HEADER

if TYPE_CHECKING:
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.sdk.trace import SpanLimits, SpanProcessor, Tracer, TracerProvider
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from prometheus_client import CollectorRegistry

__all__ = [
    "HEADER_DELIMITER",
    "LIBERAL_HEADER",
    "BaseConfigurator",
    "ConsoleLogRecordExporter",
    "EntryPoint",
    "InMemoryLogRecordExporter",
    "LogRecord",
    "LogRecordExportResult",
    "LogRecordExporter",
    "LogRecordProcessor",
    "LoggerProvider",
    "ReadWriteLogRecord",
    "ReadableLogRecord",
    "SeverityNumber",
    "extend_collection",
    "installed_global_providers",
    "logs_api",
    "otlp_log_exporter_class",
    "prometheus_reader",
    "reader_preferences",
    "span_limits",
    "span_processors",
    "system_metrics_default_config",
    "tracer_scope",
]

Collect = Callable[..., Any]


def extend_collection(reader: MetricReader, extend: Callable[[MetricsData | None], MetricsData | None]) -> None:
    """Passes every collection of ``reader`` through ``extend`` before the reader sees it.

    What a ``MetricProducer`` registered on the reader would do, once the Python SDK has one.
    ``reader`` must be registered on a MeterProvider already (that is what sets its callback).
    """
    original: Collect | None = reader._collect
    if original is None:
        raise RuntimeError("extend_collection() needs a reader already registered on a MeterProvider")
    collect = original

    def extended(reader_: MetricReader, *args: Any, **kwargs: Any) -> Any:
        # The SDK types the callback as returning MetricsData; it returns None before any instrument exists.
        return extend(collect(reader_, *args, **kwargs))

    reader._set_collect_callback(extended)


SYNCHRONOUS_KINDS = (Counter, UpDownCounter, Histogram)


def reader_preferences(
    reader: MetricReader,
) -> tuple[dict[type, AggregationTemporality], dict[type, Aggregation]]:
    """The temporality and aggregation ``reader`` uses for each synchronous SDK instrument class.

    Keyed by the public classes ``Counter``, ``UpDownCounter`` and ``Histogram``: what the
    reader resolved from its own arguments or its exporter's (the OTLP exporters read
    ``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`` / ``..._DEFAULT_HISTOGRAM_AGGREGATION``),
    exactly as the SDK applies it to its instruments; the SDK publishes no accessor.
    """

    def by_kind(resolved: Mapping[Any, Any]) -> dict[type, Any]:
        return {kind: value for cls, value in resolved.items() for kind in SYNCHRONOUS_KINDS if issubclass(cls, kind)}

    return by_kind(reader._instrument_class_temporality), by_kind(reader._instrument_class_aggregation)


class _Undescribed:
    """A collector that describes no series up front: a registry that auto-describes would
    otherwise collect it while registering, before the reader is on its MeterProvider."""

    def __init__(self, collector: Any) -> None:
        self._collector = collector

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Any:
        return self._collector.collect()


def prometheus_reader(registry: CollectorRegistry) -> PrometheusMetricReader:
    """A ``PrometheusMetricReader`` whose series are served from ``registry`` only."""
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from prometheus_client import REGISTRY

    if "registry" in inspect.signature(PrometheusMetricReader.__init__).parameters:
        return PrometheusMetricReader(registry=registry)  # type: ignore[call-arg,unused-ignore]  # contrib >= 0.6xb0

    class OwnRegistryReader(PrometheusMetricReader):
        # Older contrib releases register their collector on the global registry (and unregister
        # it there at shutdown): moved to ours, so reconfiguring (or a test) never collides there.
        def __init__(self) -> None:
            super().__init__()
            REGISTRY.unregister(self._collector)
            self._registered = _Undescribed(self._collector)
            registry.register(self._registered)

        def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:  # noqa: ARG002 - the reader API
            registry.unregister(self._registered)

    return OwnRegistryReader()


def otlp_log_exporter_class(protocol: str) -> type[LogRecordExporter]:
    """The OTLP log exporter for ``grpc`` or ``http/protobuf`` (imported when chosen: each pulls in its transport)."""
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogs

        return GrpcLogs
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogs

    return HttpLogs


def system_metrics_default_config() -> Mapping[str, Any]:
    """The system-metrics instrumentation's default choice of metrics (it publishes no accessor)."""
    from opentelemetry.instrumentation.system_metrics import _DEFAULT_CONFIG

    return dict(_DEFAULT_CONFIG)


def installed_global_providers() -> tuple[trace.TracerProvider | None, Any]:
    """The global tracer and meter providers installed so far, ``None`` for each that is not.

    ``get_tracer_provider()`` / ``get_meter_provider()`` look ``OTEL_PYTHON_*_PROVIDER`` up in
    ``os.environ`` on every call while nothing is installed (0.6 us each): the API's own module
    globals answer in two attribute reads. Call the public getters once first, so that those
    variables take effect.
    """
    return trace._TRACER_PROVIDER, _metrics_api._METER_PROVIDER


def span_processors(provider: TracerProvider) -> tuple[SpanProcessor, ...]:
    """The span processors added to ``provider`` so far.

    The same tuple object until the next ``add_span_processor()`` (the SDK replaces it then),
    so comparing identities tells whether a processor was added: two attribute reads a span.
    """
    processors: tuple[SpanProcessor, ...] = provider._active_span_processor._span_processors
    return processors


def span_limits(provider: TracerProvider) -> SpanLimits:
    """The span limits ``provider`` gives its spans (its argument or the OTEL_SPAN_* variables)."""
    limits: SpanLimits = provider._span_limits
    return limits


def tracer_scope(tracer: Tracer) -> InstrumentationScope:
    """The instrumentation scope of an SDK tracer, as its spans carry it."""
    scope: InstrumentationScope = tracer._instrumentation_scope
    return scope
