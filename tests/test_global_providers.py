"""The OTel global providers while otel-trading owns them: proxies installed once, whose delegate
each configure() swaps, so that tracers, meters and loggers obtained earlier follow every
reconfiguration (and record nothing after shutdown); a global installed by others is left alone."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation

import otel_trading
from otel_trading._otel_compat import SeverityNumber, logs_api
from otel_trading.testing import capture


def test_a_tracer_obtained_earlier_follows_each_configuration() -> None:
    tracer = trace.get_tracer("early.library")
    with capture() as first:
        global_provider = trace.get_tracer_provider()
        with tracer.start_as_current_span("in-first"):
            pass
        assert [s.name for s in first.spans] == ["in-first"]
    with capture() as second:
        assert trace.get_tracer_provider() is global_provider  # installed once, never replaced
        tracer.start_span("in-second").end()
        assert [s.name for s in second.spans] == ["in-second"]
        assert second.span("in-second").instrumentation_scope.name == "early.library"
    assert [s.name for s in first.spans] == ["in-first"]
    assert not tracer.start_span("after-shutdown").is_recording()


def test_instruments_created_earlier_follow_each_configuration() -> None:
    meter = metrics.get_meter("early.library")
    counter = meter.create_counter("early.orders")
    readings: list[int] = []

    def observe(options: CallbackOptions) -> list[Observation]:
        readings.append(1)
        return [Observation(7.0, {"venue": "x"})]

    meter.create_observable_gauge("early.depth", callbacks=[observe])
    with capture() as first:
        counter.add(2)
        assert first.value("early.orders") == 2
    with capture() as second:
        counter.add(3)
        assert second.value("early.orders") == 3  # a new configuration starts from zero
        assert second.value("early.depth", venue="x") == 7.0
    assert readings  # the gauge callback ran against the new meter provider
    counter.add(1)  # after shutdown: recorded nowhere, and no error


def test_a_global_logger_obtained_earlier_follows_each_configuration() -> None:
    logger = logs_api.get_logger("early.library")
    for body in ("one", "two"):
        with capture() as captured:
            logger.emit(logs_api.LogRecord(body=body, severity_number=SeverityNumber.INFO))
            assert [r.log_record.body for r in captured.logs] == [body]


def test_a_global_provider_installed_by_other_code_is_left_alone() -> None:
    script = textwrap.dedent("""
        import logging
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        import otel_trading

        logging.basicConfig(level=logging.WARNING, format="%(message)s")
        theirs, exported = TracerProvider(), InMemorySpanExporter()
        theirs.add_span_processor(SimpleSpanProcessor(exported))
        trace.set_tracer_provider(theirs)
        for _ in range(2):
            otel_trading.configure(traces_exporter="none", metrics_exporter="none", logs_exporter="none",
                                   log_console="off", system_metrics=False, install_signal_handlers=False,
                                   capture_stdlib_logging=False)
            otel_trading.shutdown()
        assert trace.get_tracer_provider() is theirs
        trace.get_tracer("user").start_span("theirs").end()
        assert [s.name for s in exported.get_finished_spans()] == ["theirs"]
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    assert result.stderr.count("a global tracer provider was installed by other code") == 1


def test_nothing_configured_after_the_last_shutdown() -> None:
    with capture():
        pass
    assert otel_trading.current() is None
    assert not trace.get_tracer("late").start_span("nothing").is_recording()
