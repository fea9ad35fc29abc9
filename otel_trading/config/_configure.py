"""``configure()`` and the ``Telemetry`` object it returns."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any, cast

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace import Tracer as SdkTracer
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import Sampler
from typing_extensions import Unpack

# Their process gauges (trading state, open trades, portfolios, market-data staleness, health
# status) are exported from the first configuration, whether or not the bot imported them yet
# (``import otel_trading`` loads its names lazily).
import otel_trading.health
import otel_trading.trading  # noqa: F401
from otel_trading._otel_compat import LoggerProvider, LogRecordExporter
from otel_trading._state import STATE
from otel_trading._version import __version__
from otel_trading.config._entry_points import SAMPLER_GROUP, load_registered, registered_names
from otel_trading.config._globals import GLOBALS
from otel_trading.config._lifecycle import ExitHooks, bounded_timeout, run_bounded
from otel_trading.config._resource import build_resource
from otel_trading.config._secrets import build_redactor
from otel_trading.config._settings import (
    SDK_LOG_LEVELS,
    BatchSettings,
    ConfigurationError,
    ConfigureOptions,
    Settings,
    resolve_settings,
)
from otel_trading.console._server import ConsoleServer, start_live_console, stop_live_console
from otel_trading.context._propagation import install_propagator
from otel_trading.export._batch import BatchExporter
from otel_trading.export._compact import LogCodec, SpanCodec
from otel_trading.export._exporters import log_exporters, metric_exporters, span_exporters
from otel_trading.export._pipeline import (
    FinishedSpan,
    LogItem,
    LogMaterializer,
    LogPipeline,
    SpanPipeline,
    log_export_fn,
    span_export_fn,
)
from otel_trading.instrumentation._registry import instrument, uninstrument
from otel_trading.logs._logger import StdlibBridge
from otel_trading.logs._processors import CONSOLE, LEVELS
from otel_trading.metrics._hook import hook_reader
from otel_trading.metrics._local import LocalMetrics
from otel_trading.metrics._names import METRIC_OVERFLOW, TELEMETRY_QUEUE_SIZE
from otel_trading.metrics._prometheus import PrometheusEndpoint
from otel_trading.metrics._system import register_process_metrics, start_system_metrics
from otel_trading.tracing._lean import LeanTracer

_LOG = logging.getLogger("otel_trading")
_lock = threading.RLock()
_current: Telemetry | None = None


class Telemetry:
    """What ``configure()`` set up: providers, exporters and where telemetry goes."""

    def __init__(self, settings: Settings, resource: Resource | None = None) -> None:
        self.settings = settings
        self.resource = resource
        self.tracer_provider: TracerProvider | None = None
        self.meter_provider: MeterProvider | None = None
        self.logger_provider: LoggerProvider | None = None
        self.prometheus: PrometheusEndpoint | None = None
        self.console: ConsoleServer | None = None  # configure(console=True): the live web console
        self._span_exporters: list[tuple[BatchExporter[FinishedSpan], SpanExporter]] = []
        self._log_exporters: list[tuple[BatchExporter[LogItem], LogRecordExporter]] = []
        self._stdlib_bridge: StdlibBridge | None = None
        self._system_metrics: Any = None
        self._instrumentors: list[Any] = []  # the ones this configuration switched on
        self._push_readers: list[MetricReader] = []
        # Collected only when something asks (the alert engine): costs nothing otherwise.
        self.metrics_reader = InMemoryMetricReader()
        self._root_level: int | None = None
        self._sdk_logger_level: int | None = None  # the OpenTelemetry loggers' level before OTEL_LOG_LEVEL
        self._is_shutdown = False

    def _exporter_pairs(self) -> list[tuple[BatchExporter[Any], Any]]:
        return [*self._span_exporters, *self._log_exporters]

    def _batches(self) -> list[BatchExporter[Any]]:
        return [batch for batch, _ in self._exporter_pairs()]

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    @property
    def store_dir(self) -> Path | None:
        """The local store directory, when traces, metrics or logs are written there."""
        uses_store = any("local" in exporters for exporters in self.settings.exporters.values())
        return self.settings.store_dir if self.enabled and uses_store else None

    @property
    def prometheus_url(self) -> str | None:
        return self.prometheus.url if self.prometheus is not None else None

    def force_flush(self, timeout: float | None = None) -> bool:
        """Exports everything recorded so far; False if it did not finish within ``timeout`` s."""
        if not self.enabled or self._is_shutdown:
            return True
        timeout_s = self.settings.shutdown_timeout_s if timeout is None else bounded_timeout(timeout)
        tasks: list[tuple[str, Any]] = [
            (f"{batch.signal}/{batch.exporter_name}", partial(batch.force_flush, timeout_s))
            for batch in self._batches()
        ]
        # Only push readers: a flush of the Prometheus (pull) reader would queue a snapshot
        # that the next scrape serves twice.
        tasks.extend(
            ("metrics", partial(reader.force_flush, int(timeout_s * 1000))) for reader in self._push_readers
        )
        return run_bounded(tasks, timeout_s)

    def shutdown(self, timeout: float | None = None) -> bool:
        """Flushes and stops all three signals within ``timeout`` seconds, whatever the backend does.

        Returns True only if everything recorded was exported; what was lost is counted in
        ``otel_trading.telemetry.dropped``.
        """
        with _lock:
            if self._is_shutdown:
                return True
            self._is_shutdown = True
            global _current
            if _current is self:
                _current = None
                STATE.enabled = False
                STATE.log_sink = None
            GLOBALS.release(self.tracer_provider, self.meter_provider, self.logger_provider)
        if not self.enabled:
            return True
        timeout_s = self.settings.shutdown_timeout_s if timeout is None else bounded_timeout(timeout)
        if self._stdlib_bridge is not None:
            root = logging.getLogger()
            root.removeHandler(self._stdlib_bridge)
            if self._root_level is not None:
                root.setLevel(self._root_level)
        if self._sdk_logger_level is not None:
            logging.getLogger("opentelemetry").setLevel(self._sdk_logger_level)
        if self._system_metrics is not None:
            self._system_metrics.uninstrument()
        uninstrument(self._instrumentors)
        deadline = time.monotonic() + timeout_s
        tasks: list[tuple[str, Any]] = [
            (f"{batch.signal}/{batch.exporter_name}", _stop(batch, exporter, timeout_s))
            for batch, exporter in self._exporter_pairs()
        ]
        complete = run_bounded(tasks, timeout_s)
        # Metrics last, so their final export includes what the trace/log flush counted.
        remaining = max(0.1, deadline - time.monotonic())
        final: list[tuple[str, Any]] = []
        if self.meter_provider is not None:
            provider = self.meter_provider
            final.append(("metrics", lambda: provider.shutdown(timeout_millis=remaining * 1000)))
        if self.prometheus is not None:
            final.append(("prometheus-endpoint", self.prometheus.close))
        if self.console is not None:
            final.append(("console", partial(stop_live_console, self.console)))
        return run_bounded(final, remaining) and complete


def _stop(batch: BatchExporter[Any], exporter: Any, timeout_s: float) -> Any:
    def stop() -> bool:
        complete = batch.shutdown(timeout_s)
        exporter.shutdown()
        return complete

    return stop


_RATIO_SAMPLERS = ("traceidratio", "parentbased_traceidratio")


def build_sampler(settings: Settings) -> Sampler | None:
    """The sampler registered as ``settings.sampler`` in the ``opentelemetry_traces_sampler``
    entry points (the SDK registers its own six there), called with the sampler argument as
    the SDK's auto-configuration calls it: a ratio for the two ratio samplers, else the text."""
    name = settings.sampler
    if name is None:
        return None
    source = "sampler / OTEL_TRACES_SAMPLER"
    name = name.strip().lower()
    if name not in registered_names(SAMPLER_GROUP):
        raise ConfigurationError(f"{source}: unknown sampler {settings.sampler!r}; "
                                 f"expected one of {sorted(registered_names(SAMPLER_GROUP))}")
    factory = load_registered(SAMPLER_GROUP, name, source)
    argument: float | str | None = settings.sampler_arg
    if name in _RATIO_SAMPLERS:
        try:
            argument = float(settings.sampler_arg) if settings.sampler_arg is not None else 1.0
        except ValueError:
            argument = math.nan
        if not 0.0 <= argument <= 1.0:
            raise ConfigurationError(
                f"sampler_arg / OTEL_TRACES_SAMPLER_ARG: expected a ratio from 0 to 1, got {settings.sampler_arg!r}"
            )
    try:
        sampler = factory(argument)  # type: ignore[operator]  # checked below
    except Exception as exc:  # noqa: BLE001 - a plugin factory may raise anything: reported at configure()
        raise ConfigurationError(
            f"{source}: sampler {name!r} could not be created with sampler_arg / OTEL_TRACES_SAMPLER_ARG "
            f"{settings.sampler_arg!r}: {type(exc).__name__}: {exc}"
        ) from None
    if not isinstance(sampler, Sampler):
        raise ConfigurationError(f"{source}: the entry point {name!r} returned {sampler!r}, not a Sampler")
    return sampler


def configure(**options: Unpack[ConfigureOptions]) -> Telemetry:
    """Sets up traces, metrics and logs once for the process and returns the ``Telemetry``.

    Calling it again with the same arguments (and environment) returns the same object;
    with different ones, the previous setup is flushed and replaced. Arguments win over the
    ``OTEL_*`` environment; see docs/configuration.md for every option.
    """
    return configure_with(options)


def configure_with(
    options: ConfigureOptions,
    *,
    extra_span_exporters: Sequence[SpanExporter] = (),
    extra_log_exporters: Sequence[LogRecordExporter] = (),
    extra_metric_readers: Sequence[MetricReader] = (),
    id_generator: IdGenerator | None = None,
) -> Telemetry:
    """configure() with additional destinations and trace/span ids (used by otel_trading.testing)."""
    global _current
    settings = resolve_settings(options)
    sampler = build_sampler(settings)  # validated before anything in force is touched
    with _lock:
        extras = bool(extra_span_exporters or extra_log_exporters or extra_metric_readers or id_generator)
        if _current is not None:
            if _current.settings == settings and not extras:
                return _current
            _current.shutdown()
        telemetry = _build(settings, sampler, extra_span_exporters, extra_log_exporters, extra_metric_readers,
                           id_generator=id_generator)
        _current = telemetry
        _EXIT_HOOKS.install(signals=settings.install_signal_handlers)
        return telemetry


def _build(
    settings: Settings,
    sampler: Sampler | None,
    extra_span_exporters: Sequence[SpanExporter],
    extra_log_exporters: Sequence[LogRecordExporter],
    extra_metric_readers: Sequence[MetricReader],
    *,
    id_generator: IdGenerator | None = None,
) -> Telemetry:
    # Secrets learnt at run time (exchange credentials, channel tokens) stay secret after reconfiguring.
    redactor = build_redactor(settings, inherited=STATE.redactor.secret_values)
    CONSOLE.mode = settings.log_console
    CONSOLE.min_level = LEVELS[settings.log_level]
    CONSOLE.pretty = None
    local = LocalMetrics(redactor)
    if not settings.enabled:
        STATE.reset(enabled=False, tracer=STATE.tracer, redactor=redactor,
                    max_attribute_length=settings.span_attribute_length, local_metrics=local)
        STATE.log_sink = None
        return Telemetry(settings)

    resource = build_resource(settings, redactor)
    telemetry = Telemetry(settings, resource)
    local.overflow_counter = local.counter(METRIC_OVERFLOW, "{series}", "Series folded into the overflow series")

    def batch(signal: str, name: str, export: Any) -> BatchExporter[Any]:
        return _batch_exporter(signal, name, export, local,
                               settings.span_batch if signal == "traces" else settings.log_batch)

    named_spans = [*span_exporters(settings), *(("extra", e) for e in extra_span_exporters)]
    for name, span_exporter in named_spans:
        telemetry._span_exporters.append((batch("traces", name, span_export_fn(span_exporter, redactor)),
                                          span_exporter))
    tracer_provider = _tracer_provider(settings, resource, sampler, id_generator)
    tracer_provider.add_span_processor(span_pipeline := SpanPipeline([b for b, _ in telemetry._span_exporters]))
    telemetry.tracer_provider = tracer_provider

    materialize = LogMaterializer(resource, redactor, settings.log_attribute_length)
    named_logs = [*log_exporters(settings), *(("extra", e) for e in extra_log_exporters)]
    for name, log_exporter in named_logs:
        telemetry._log_exporters.append((batch("logs", name, log_export_fn(log_exporter, materialize)),
                                         log_exporter))
    log_pipeline = LogPipeline([b for b, _ in telemetry._log_exporters])
    logger_provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
    logger_provider.add_log_record_processor(log_pipeline)
    telemetry.logger_provider = logger_provider

    readers: list[MetricReader] = list(extra_metric_readers)
    if "prometheus" in settings.exporters["metrics"]:
        elsewhere = ["the local store" if e == "local" else e
                     for e in settings.exporters["metrics"] if e != "prometheus"]
        elsewhere += ["the extra metric readers"] if extra_metric_readers else []
        telemetry.prometheus = PrometheusEndpoint.start(settings.prometheus_host, settings.prometheus_port, elsewhere)
        if telemetry.prometheus is not None:
            readers.append(telemetry.prometheus.reader)
    pull, telemetry._push_readers = _metric_readers(settings)
    readers.extend([*pull, *telemetry._push_readers])
    readers.append(telemetry.metrics_reader)
    meter_provider = MeterProvider(resource=resource, metric_readers=readers, shutdown_on_exit=False)
    for reader in readers:
        hook_reader(reader, local, resource)
    telemetry.meter_provider = meter_provider
    register_process_metrics(local)
    if settings.system_metrics:
        telemetry._system_metrics = start_system_metrics(meter_provider)
    exporters = telemetry._batches()
    local.observe_gauge(
        TELEMETRY_QUEUE_SIZE,
        lambda: [({"signal": b.signal, "exporter": b.exporter_name}, b.queue_size) for b in exporters],
        "{item}", "Telemetry items waiting for export",
    )

    GLOBALS.install(tracer_provider, meter_provider, logger_provider)
    install_propagator()
    STATE.reset(
        enabled=True,
        # Lean spans while only our pipeline is on the provider (otel_trading/tracing/_lean.py).
        tracer=LeanTracer(tracer_provider, cast("SdkTracer", tracer_provider.get_tracer("otel_trading", __version__)),
                          span_pipeline.exporters),
        redactor=redactor,
        max_attribute_length=settings.span_attribute_length,
        local_metrics=local,
    )
    _apply_sdk_log_level(telemetry)
    STATE.log_sink = log_pipeline.sink()
    if settings.capture_stdlib_logging:
        _install_stdlib_bridge(telemetry)
    # Last: the wrappers record through the providers and state set up above.
    telemetry._instrumentors = instrument(settings.instrument)
    return _with_console(telemetry)


def _with_console(telemetry: Telemetry) -> Telemetry:
    """Serves the live console (``console=True``) once everything it reads is set up."""
    settings = telemetry.settings
    if settings.console:
        telemetry.console = start_live_console(settings.console_host, settings.console_port, telemetry.store_dir,
                                               settings.service_name)
    return telemetry


def _metric_readers(settings: Settings) -> tuple[list[MetricReader], list[MetricReader]]:
    """Readers of the named metric exporters: (pull readers of other packages, push readers)."""
    pull: list[MetricReader] = []
    push: list[MetricReader] = []
    for _, exporter in metric_exporters(settings):
        if isinstance(exporter, MetricReader):
            pull.append(exporter)  # a pull reader registered in the entry points by another package
        else:
            push.append(PeriodicExportingMetricReader(
                exporter, export_interval_millis=settings.metric_export_interval_s * 1000))
    return pull, push


def _batch_exporter(signal: str, name: str, export: Any, local: LocalMetrics,
                    queue: BatchSettings) -> BatchExporter[Any]:
    return BatchExporter(
        signal=signal, exporter_name=name, export=export, metrics=local,
        max_queue_size=queue.max_queue_size, max_batch_size=queue.max_export_batch_size,
        schedule_delay_s=queue.schedule_delay_s, export_timeout_s=queue.export_timeout_s,
        # A backlog is kept packed (export/_compact.py): one codec per queue (it remembers resources).
        codec=SpanCodec() if signal == "traces" else LogCodec(),
    )


def _tracer_provider(settings: Settings, resource: Resource, sampler: Sampler | None,
                     id_generator: IdGenerator | None) -> TracerProvider:
    # Every span is cut at the same length as our own attributes, whichever instrumentation made it;
    # the other span limits come from their OTEL_SPAN_* variables as usual.
    length = settings.span_attribute_length
    limits = SpanLimits(max_span_attribute_length=SpanLimits.UNSET if length is None else length)
    return TracerProvider(resource=resource, sampler=sampler, shutdown_on_exit=False, span_limits=limits,
                          id_generator=id_generator)


def _apply_sdk_log_level(telemetry: Telemetry) -> None:
    """OTEL_LOG_LEVEL: the level of the SDK's own diagnostics (the ``opentelemetry`` loggers),
    restored at shutdown; the application's level is ``log_level``."""
    level = telemetry.settings.sdk_log_level
    if level is not None:
        sdk_logger = logging.getLogger("opentelemetry")
        telemetry._sdk_logger_level = sdk_logger.level
        sdk_logger.setLevel(SDK_LOG_LEVELS[level])


def _install_stdlib_bridge(telemetry: Telemetry) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, StdlibBridge):
            root.removeHandler(handler)
    if not root.handlers:
        # Nobody configured logging: let INFO records of libraries and the app through
        # (the level in force before is restored at shutdown).
        telemetry._root_level = root.level
        root.setLevel(LEVELS[telemetry.settings.log_level])
    telemetry._stdlib_bridge = StdlibBridge()
    root.addHandler(telemetry._stdlib_bridge)


def current() -> Telemetry | None:
    """The Telemetry in force, or None before configure() / after shutdown()."""
    return _current


def shutdown(timeout: float | None = None) -> bool:
    """Flushes and stops the current configuration (no-op when nothing is configured)."""
    telemetry = _current
    return telemetry.shutdown(timeout) if telemetry is not None else True


class Suspended:
    """A configuration set aside, still running, while another one is in force (``suspend()``)."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry
        self._runtime = (STATE.enabled, STATE.tracer, STATE.redactor, STATE.max_attribute_length,
                         STATE.local_metrics, STATE.log_sink)
        self._console = (CONSOLE.mode, CONSOLE.min_level, CONSOLE.pretty, CONSOLE.stream)

    def restore(self) -> None:
        telemetry = self.telemetry
        enabled, tracer, redactor, max_length, local, log_sink = self._runtime
        # Secrets learnt meanwhile stay secret.
        redactor.add_secret_values(STATE.redactor.secret_values)
        STATE.reset(enabled=enabled, tracer=tracer, redactor=redactor, max_attribute_length=max_length,
                    local_metrics=local)
        STATE.log_sink = log_sink
        CONSOLE.mode, CONSOLE.min_level, CONSOLE.pretty, CONSOLE.stream = self._console
        if not telemetry.enabled:
            return
        GLOBALS.install(telemetry.tracer_provider, telemetry.meter_provider, telemetry.logger_provider)
        bridge = telemetry._stdlib_bridge
        root = logging.getLogger()
        if bridge is not None and bridge not in root.handlers:
            root.addHandler(bridge)
        if telemetry._system_metrics is not None and telemetry.meter_provider is not None:
            # The system-metrics instrumentor is one per process: take it back.
            telemetry._system_metrics = start_system_metrics(telemetry.meter_provider)


def suspend() -> Suspended | None:
    """Sets the configuration in force aside without stopping it; None if there is none.

    Until :func:`resume`, nothing is configured (``current()`` is None) and a new
    configuration does not shut the suspended one down. Used by ``testing.capture()``.
    """
    global _current
    with _lock:
        telemetry = _current
        if telemetry is None:
            return None
        suspended = Suspended(telemetry)
        _current = None
        if telemetry._stdlib_bridge is not None:
            logging.getLogger().removeHandler(telemetry._stdlib_bridge)
        return suspended


def resume(suspended: Suspended | None) -> None:
    """Shuts down what was configured since :func:`suspend` and puts the suspended configuration back."""
    global _current
    with _lock:
        if _current is not None:
            _current.shutdown()
        if suspended is None or suspended.telemetry._is_shutdown:
            return
        suspended.restore()
        _current = suspended.telemetry


_EXIT_HOOKS = ExitHooks(shutdown)
