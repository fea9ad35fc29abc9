"""Builds the exporters named in the settings for each signal."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, MetricExporter
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SpanExporter, SpanExportResult

from otel_trading._otel_compat import (
    ConsoleLogRecordExporter,
    LogRecordExporter,
    LogRecordExportResult,
    otlp_log_exporter_class,
)
from otel_trading.config._entry_points import load_exporter
from otel_trading.config._settings import ConfigurationError, OtlpSettings, Settings, Signal
from otel_trading.export._local_store import LocalStoreWriter
from otel_trading.export._metric_store import LocalMetricExporter, metrics_to_json_line
from otel_trading.export._otlp_json import logs_to_json_line, spans_to_json_line
from otel_trading.export._otlp_span_exporters import direct_span_exporter

_HTTP_PATHS = {"traces": "/v1/traces", "metrics": "/v1/metrics", "logs": "/v1/logs"}


def _otlp_kwargs(signal: Signal, otlp: OtlpSettings) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if otlp.endpoint:
        endpoint = otlp.endpoint.rstrip("/")
        if otlp.protocol == "http/protobuf" and not endpoint.endswith(_HTTP_PATHS[signal]):
            endpoint += _HTTP_PATHS[signal]
        kwargs["endpoint"] = endpoint
    if otlp.headers is not None:
        # gRPC metadata keys must be lower case (HTTP/2); HTTP headers are case-insensitive anyway.
        kwargs["headers"] = {name.lower(): value for name, value in otlp.headers.items()}
    if otlp.timeout_s is not None:
        kwargs["timeout"] = otlp.timeout_s
    if otlp.certificate_file is not None:
        root_certificates = _read_certificate(otlp.certificate_file)  # unreadable: said now, not on every export
        if otlp.protocol == "grpc":
            # The gRPC exporters take no certificate_file argument (a TypeError), only credentials.
            from grpc import ssl_channel_credentials

            kwargs["credentials"] = ssl_channel_credentials(root_certificates=root_certificates)
        else:
            kwargs["certificate_file"] = otlp.certificate_file
    if otlp.compression is not None:
        if otlp.protocol == "grpc":
            from grpc import Compression as GrpcCompression

            kwargs["compression"] = (
                GrpcCompression.Gzip if otlp.compression == "gzip" else GrpcCompression.NoCompression
            )
        else:
            from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression

            # Resolved from the argument or the variables and checked per protocol (config._otlp_env).
            kwargs["compression"] = HttpCompression(otlp.compression)
    if otlp.insecure is not None and otlp.protocol == "grpc":
        kwargs["insecure"] = otlp.insecure
    return kwargs


def _read_certificate(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise ConfigurationError(f"otlp_certificate_file: {path!r} cannot be read ({error.strerror}); expected a "
                                 "PEM file of the CA certificates that verify the collector") from None


def otlp_exporter(signal: Signal, otlp: OtlpSettings) -> Any:
    kwargs = _otlp_kwargs(signal, otlp)
    if signal == "traces":
        # Our own encoder and transport (lean spans, no ReadableSpan, no proto messages), unless a
        # setting only the SDK exporter can honour is in use.
        direct = direct_span_exporter(otlp, kwargs.get("endpoint"))
        if direct is not None:
            return direct
    if otlp.protocol == "grpc":
        if signal == "traces":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            return OTLPSpanExporter(**kwargs)
        if signal == "metrics":
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

            return OTLPMetricExporter(**kwargs)
        return otlp_log_exporter_class("grpc")(**kwargs)
    if signal == "traces":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpans

        return HttpSpans(**kwargs)
    if signal == "metrics":
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetrics

        return HttpMetrics(**kwargs)
    return otlp_log_exporter_class("http/protobuf")(**kwargs)


class LocalSpanExporter(SpanExporter):
    # The store's encoder reads otel-trading's lean spans as they are (no ReadableSpan built for it).
    accepts_lean_spans = True

    def __init__(self, writer: LocalStoreWriter[ReadableSpan]) -> None:
        self.writer = writer

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.writer.export(spans)
        return SpanExportResult.SUCCESS


class LocalLogExporter(LogRecordExporter):
    # Reads LeanLogRecord as well (export/_pipeline.py): the same fields, encoded to the same line.
    accepts_lean_logs = True

    def __init__(self, writer: LocalStoreWriter[Any]) -> None:
        self.writer = writer

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        self.writer.export(batch)
        return LogRecordExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:  # noqa: ARG002 - SDK interface
        return True  # every export() is written through

    def shutdown(self) -> None:
        self.writer.shutdown()


def _named_exporters(settings: Settings, signal: Signal) -> list[tuple[str, Any]]:
    """The exporters named for ``signal`` in the settings, built, with their names."""
    result: list[tuple[str, Any]] = []
    for name in settings.exporters[signal]:
        if name == "otlp":
            result.append((name, otlp_exporter(signal, settings.otlp[signal])))
        elif name == "console":
            console = {"traces": ConsoleSpanExporter, "logs": ConsoleLogRecordExporter,
                       "metrics": ConsoleMetricExporter}[signal]
            result.append((name, console(out=sys.stderr)))
        elif name == "local":
            encode: Any = {"traces": spans_to_json_line, "logs": logs_to_json_line,
                           "metrics": metrics_to_json_line}[signal]
            writer: LocalStoreWriter[Any] = LocalStoreWriter(
                settings.store_dir, signal, encode,
                max_file_bytes=settings.store_max_file_bytes, max_total_bytes=settings.store_max_total_bytes,
            )
            local = {"traces": LocalSpanExporter, "logs": LocalLogExporter, "metrics": LocalMetricExporter}[signal]
            result.append((name, local(writer)))
        elif name != "prometheus":  # the endpoint is started by configure() itself
            result.append((name, _registered_exporter(signal, name)))
    return result


def _registered_exporter(signal: Signal, name: str) -> Any:
    """An exporter of another package, from the standard entry points, built with no arguments
    as the SDK's auto-configuration builds it (it reads its own variables)."""
    source = f"{signal}_exporter / OTEL_{signal.upper()}_EXPORTER"
    try:
        return load_exporter(signal, name, source)()
    except ConfigurationError:
        raise
    except Exception as exc:  # noqa: BLE001 - a plugin's constructor may raise anything
        raise ConfigurationError(f"{source}: exporter {name!r} could not be created: {type(exc).__name__}: {exc}") \
            from None


def span_exporters(settings: Settings) -> list[tuple[str, SpanExporter]]:
    return _named_exporters(settings, "traces")


def log_exporters(settings: Settings) -> list[tuple[str, LogRecordExporter]]:
    return _named_exporters(settings, "logs")


def metric_exporters(settings: Settings) -> list[tuple[str, MetricExporter]]:
    return _named_exporters(settings, "metrics")
