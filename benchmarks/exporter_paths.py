"""Total-CPU rows: a traced call on every exporter path, the non-sampled call, a log line into
the local store; each against the raw OTel SDK doing the same job with the same exporter.

CPU is the whole process's (``time.process_time_ns``: the calling thread, our exporter
threads, the gRPC core's threads), and every timed loop ends with a flush, so a row is what a
CPU-bound bot pays per operation. The OTLP receivers run in a subprocess (loopback_sink.py):
their CPU is not counted on either side.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import partial
from pathlib import Path
from typing import Any, TextIO

import structlog
from harness import CPU, DELAY_S, QUEUE_SIZE, DiscardSpans, Loop, Pair, calls, repeated, then
from loopback_sink import LOOPBACK, Sink, running_sink
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, Sampler
from opentelemetry.util.types import AttributeValue

import otel_trading
from otel_trading.config import ConfigureOptions
from otel_trading.config._configure import configure_with
from otel_trading.export._exporters import LocalSpanExporter
from otel_trading.export._local_store import LocalStoreWriter
from otel_trading.export._otlp_json_encode import spans_to_json_line
from otel_trading.logs import _processors

CAPTURE = ["symbol", "side", "amount", "price"]
PATHS = ("discard", "OTLP gRPC", "OTLP HTTP", "local store")
SPAN_TARGET = 0.5
NOT_SAMPLED_TARGET = 0.2
LOG_TARGET = 1.5


def quiet(**options: Any) -> ConfigureOptions:
    """Nothing exported but what a case asks for; queues larger than a loop, drained on flush."""
    base: dict[str, Any] = {
        "service_name": "bench", "traces_exporter": "none", "metrics_exporter": "none", "logs_exporter": "none",
        "log_console": "off", "install_signal_handlers": False, "capture_stdlib_logging": False,
        "max_queue_size": QUEUE_SIZE, "max_export_batch_size": QUEUE_SIZE, "schedule_delay": DELAY_S,
    }
    return {**base, **options}  # type: ignore[typeddict-item]


def raw_sdk(exporter: SpanExporter, sampler: Sampler | None = None) -> tuple[TracerProvider, Callable[..., float]]:
    """The hand-written baseline: a raw SDK provider with a BatchSpanProcessor and a 4-attribute span."""
    provider = TracerProvider(resource=Resource.create({"service.name": "bench"}), sampler=sampler,
                              shutdown_on_exit=False)
    provider.add_span_processor(BatchSpanProcessor(
        exporter, max_queue_size=QUEUE_SIZE, max_export_batch_size=QUEUE_SIZE, schedule_delay_millis=DELAY_S * 1000,
    ))
    tracer = provider.get_tracer("bench")

    def hand_written(symbol: str, side: str, amount: float, price: float) -> float:
        attributes: dict[str, AttributeValue] = {"symbol": symbol, "side": side, "amount": amount, "price": price}
        with tracer.start_as_current_span("place_order", attributes=attributes):
            return amount * price if symbol and side else 0.0

    return provider, hand_written


def _path_setup(path: str, sink: Sink | None, workdir: Path) -> tuple[dict[str, Any], list[SpanExporter],
                                                                      SpanExporter]:
    """(our configure() options, our extra exporters, the raw SDK's exporter) for ``path``."""
    if path == "discard":
        return {}, [DiscardSpans()], DiscardSpans()
    if path == "local store":
        writer: LocalStoreWriter[Any] = LocalStoreWriter(workdir / "raw", "traces", spans_to_json_line)
        return {"traces_exporter": "local", "store_dir": str(workdir / "ours")}, [], LocalSpanExporter(writer)
    assert sink is not None
    if path == "OTLP gRPC":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpans

        options = {"traces_exporter": "otlp", "otlp_protocol": "grpc", "otlp_endpoint": sink.grpc_endpoint,
                   "otlp_insecure": True}
        return options, [], GrpcSpans(endpoint=f"{LOOPBACK}:{sink.grpc_port}", insecure=True)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpans

    options = {"traces_exporter": "otlp", "otlp_protocol": "http/protobuf", "otlp_endpoint": sink.http_endpoint}
    return options, [], HttpSpans(endpoint=f"{sink.http_endpoint}/v1/traces")


@contextmanager
def traced_on_path(path: str) -> Iterator[list[Pair]]:
    """@traced(capture=4 args) + RED metrics vs the raw SDK span, both to ``path``, total CPU."""
    with tempfile.TemporaryDirectory(prefix="otel-trading-bench-") as tmp, \
            (running_sink() if path.startswith("OTLP") else _no_sink()) as sink:
        options, extra, raw_exporter = _path_setup(path, sink, Path(tmp))
        telemetry = configure_with(quiet(**options), extra_span_exporters=extra)
        decorated = otel_trading.traced(capture=CAPTURE)(otel_trading_place_order)
        provider, hand_written = raw_sdk(raw_exporter)
        assert telemetry.tracer_provider is not None
        flush = telemetry.tracer_provider.force_flush
        try:
            yield [Pair(f"traced call (4 args + RED), total CPU, {path}", f"raw SDK span + BSP, {path}",
                        then(calls(decorated), flush), then(calls(hand_written), provider.force_flush),
                        SPAN_TARGET, clock=CPU)]
        finally:
            telemetry.shutdown()
            provider.shutdown()


def otel_trading_place_order(symbol: str, side: str, amount: float, price: float) -> float:
    return amount * price if symbol and side else 0.0


@contextmanager
def _no_sink() -> Iterator[None]:
    yield None


@contextmanager
def not_sampled() -> Iterator[list[Pair]]:
    """sampler always_off on both sides: what a dropped span costs."""
    telemetry = configure_with(quiet(sampler="always_off"), extra_span_exporters=[DiscardSpans()])
    decorated = otel_trading.traced(capture=CAPTURE)(otel_trading_place_order)
    provider, hand_written = raw_sdk(DiscardSpans(), ALWAYS_OFF)
    try:
        yield [Pair("traced call (4 args + RED), not sampled (always_off), total CPU",
                    "raw SDK span, not sampled (ALWAYS_OFF)", calls(decorated), calls(hand_written),
                    NOT_SAMPLED_TARGET, clock=CPU)]
    finally:
        telemetry.shutdown()
        provider.shutdown()


@contextmanager
def log_line_local_store() -> Iterator[list[Pair]]:
    """A log line in a span, JSON console to a file and the local store on, vs structlog JSON to a file."""
    with tempfile.TemporaryDirectory(prefix="otel-trading-bench-") as tmp:
        telemetry = configure_with(quiet(log_console="json", logs_exporter="local", store_dir=tmp))
        assert telemetry.logger_provider is not None
        flush = telemetry.logger_provider.force_flush
        ours_file: TextIO = open(os.path.join(tmp, "ours.log"), "w")  # noqa: SIM115 - closed below
        plain_file: TextIO = open(os.path.join(tmp, "plain.log"), "w")  # noqa: SIM115 - closed below
        saved, _processors.CONSOLE.stream = _processors.CONSOLE.stream, ours_file
        ours = otel_trading.get_logger("bench")
        plain = structlog.wrap_logger(
            structlog.WriteLogger(plain_file),
            processors=[structlog.processors.add_log_level, structlog.processors.TimeStamper(fmt="iso", utc=True),
                        structlog.processors.JSONRenderer()],
        ).bind(logger="bench")

        def event(logger: Any) -> Loop:
            return repeated(lambda: logger.info("order placed", symbol="BTC/USDT", qty=1))

        def truncate() -> None:  # untimed: keeps the files (and the store) from growing without bound
            flush()
            for file in (ours_file, plain_file):
                file.seek(0)
                file.truncate()

        try:
            with otel_trading.span("bench"):
                yield [Pair("get_logger().info in a span, JSON to a file + local store, total CPU",
                            "structlog JSON to a file", then(event(ours), flush), event(plain), LOG_TARGET,
                            truncate, clock=CPU)]
        finally:
            _processors.CONSOLE.stream = saved
            telemetry.shutdown()
            ours_file.close()
            plain_file.close()


CASES: tuple[Callable[[], AbstractContextManager[list[Pair]]], ...] = (
    *(partial(traced_on_path, path) for path in PATHS), not_sampled, log_line_local_store,
)
