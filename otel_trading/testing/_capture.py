"""``capture()``: otel-trading configured to record into memory for a block, then put back."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry.sdk.metrics.export import (
    HistogramDataPoint,
    InMemoryMetricReader,
    Metric,
    NumberDataPoint,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from typing_extensions import Unpack

from otel_trading._otel_compat import InMemoryLogRecordExporter, ReadableLogRecord
from otel_trading._state import STATE
from otel_trading.config._configure import Telemetry, configure_with, resume, shutdown, suspend
from otel_trading.config._settings import ConfigureOptions
from otel_trading.context._correlation import CORRELATION_RANDOM
from otel_trading.testing._deterministic import IncrementingClock, SequentialIdGenerator
from otel_trading.testing._snapshot import Clock, instants, log_as_dict, metric_as_dict, span_as_dict

_CAPTURE_DEFAULTS: ConfigureOptions = {
    "traces_exporter": "none",
    "metrics_exporter": "none",
    "logs_exporter": "none",
    "log_console": "off",
    "install_signal_handlers": False,
    "capture_stdlib_logging": True,
    "schedule_delay": 0.05,
}
_AMBIENT_PREFIX = "OTEL_"


class TelemetryCapture:
    """Finished spans, log records and metrics recorded while the capture was active.

    Reading ``spans``/``logs`` flushes first, so what you see is what would have been
    exported - after redaction and attribute coercion.
    """

    def __init__(self, telemetry: Telemetry, spans: InMemorySpanExporter, logs: InMemoryLogRecordExporter,
                 reader: InMemoryMetricReader, *, deterministic: bool = False) -> None:
        self.telemetry = telemetry
        self.deterministic = deterministic
        self._spans = spans
        self._logs = logs
        self._reader = reader

    @property
    def spans(self) -> list[ReadableSpan]:
        self.telemetry.force_flush()
        return list(self._spans.get_finished_spans())

    @property
    def logs(self) -> list[ReadableLogRecord]:
        self.telemetry.force_flush()
        return list(self._logs.get_finished_logs())

    def span(self, name: str) -> ReadableSpan:
        """The one finished span called ``name`` (AssertionError if none or several)."""
        found = [s for s in self.spans if s.name == name]
        assert len(found) == 1, f"expected one span named {name!r}, found {[s.name for s in self.spans]}"
        return found[0]

    def metrics(self) -> dict[str, Metric]:
        """Collects now and returns every metric by name."""
        data = self._reader.get_metrics_data()
        result: dict[str, Metric] = {}
        if data is None:
            return result
        for resource_metrics in data.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    result[metric.name] = metric
        return result

    def points(self, name: str, **attributes: Any) -> list[NumberDataPoint | HistogramDataPoint]:
        """Data points of metric ``name`` whose attributes include ``attributes``."""
        metric = self.metrics().get(name)
        if metric is None:
            return []
        return [
            p for p in metric.data.data_points  # type: ignore[misc]  # every data kind has data_points
            if all((p.attributes or {}).get(k) == v for k, v in attributes.items())
        ]

    def value(self, name: str, **attributes: Any) -> float:
        """Sum of the matching counter/gauge points (count for histograms); 0 if none."""
        total: float = 0
        for point in self.points(name, **attributes):
            total += point.count if isinstance(point, HistogramDataPoint) else point.value
        return total

    def spans_as_dicts(self) -> list[dict[str, Any]]:
        """Every finished span as a plain dict, in the order they ended (see docs/testing.md)."""
        spans, logs = self.spans, self.logs
        clock = self._clock(spans, logs)
        return [span_as_dict(span, clock) for span in spans]

    def logs_as_dicts(self) -> list[dict[str, Any]]:
        """Every log record as a plain dict, in the order they were emitted."""
        spans, logs = self.spans, self.logs
        clock = self._clock(spans, logs)
        return [log_as_dict(log, clock) for log in logs]

    def metrics_as_dict(self, *names: str) -> dict[str, dict[str, Any]]:
        """Collects now; ``{metric name: plain dict}`` of the metrics named (all when none are)."""
        return {name: metric_as_dict(metric) for name, metric in sorted(self.metrics().items())
                if not names or name in names}

    def _clock(self, spans: list[ReadableSpan], logs: list[ReadableLogRecord]) -> Clock:
        if self.deterministic:
            return IncrementingClock(instants(spans, logs))
        return lambda instant: instant

    def clear(self) -> None:
        self.telemetry.force_flush()
        self._spans.clear()
        self._logs.clear()


@contextmanager
def isolated_state() -> Iterator[None]:
    """Fresh process state (open trades, portfolios, rolling statistics, trading state, value
    guards, health marks and checks, alert engines, ccxt order books...) for the block; the
    previous state afterwards (the full list: ``otel_trading._state``)."""
    with STATE.isolated():
        yield


@contextmanager
def _ambient_environment(use: bool) -> Iterator[None]:
    """Hides the process's ``OTEL_*`` variables while configuring, unless asked to use them.

    The OpenTelemetry SDK reads some of them itself (``OTEL_SDK_DISABLED`` in each provider,
    the ``OTEL_SPAN_*`` limits, the resource detectors), so they are taken out of
    ``os.environ`` for the duration of the configure() call and put back right after.
    """
    if use:
        yield
        return
    hidden = {name: value for name, value in os.environ.items() if name.startswith(_AMBIENT_PREFIX)}
    for name in hidden:
        del os.environ[name]
    try:
        yield
    finally:
        os.environ.update(hidden)


@contextmanager
def capture(*, ambient_environment: bool = False, deterministic: bool = False,
            **options: Unpack[ConfigureOptions]) -> Iterator[TelemetryCapture]:
    """Records into memory for the block; afterwards, the configuration and state in force before.

    Options are those of ``configure()``; by default nothing leaves the process, the console
    stays quiet and the ``OTEL_*`` environment is ignored (``ambient_environment=True`` reads
    it). ``deterministic=True``: sequential trace/span ids, seeded correlation ids and an
    incrementing clock in the ``*_as_dict(s)`` snapshots.
    """
    spans = InMemorySpanExporter()
    logs = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]  # untyped in the SDK
    reader = InMemoryMetricReader()
    merged: ConfigureOptions = {**_CAPTURE_DEFAULTS, **options}
    suspended = suspend()
    try:
        with STATE.isolated():
            if deterministic:
                CORRELATION_RANDOM.set(random.Random(0))  # noqa: S311 - test ids, not secrets
            with _ambient_environment(ambient_environment):
                telemetry = configure_with(merged, extra_span_exporters=[spans], extra_log_exporters=[logs],
                                           extra_metric_readers=[reader],
                                           id_generator=SequentialIdGenerator() if deterministic else None)
            try:
                yield TelemetryCapture(telemetry, spans, logs, reader, deterministic=deterministic)
            finally:
                telemetry.shutdown()
                shutdown()  # a configuration the code under test made inside the block
    finally:
        resume(suspended)
