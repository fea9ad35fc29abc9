"""Standard OTEL_* settings mean what the OpenTelemetry SDK says they mean (issue 13, section 2)."""

from __future__ import annotations

import logging
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from plugins import install_distribution, uninstall_modules

import otel_trading
from otel_trading import ConfigurationError, get_logger, span, traced
from otel_trading.config._settings import resolve_settings
from otel_trading.testing import capture

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("configures_in_tmp")]

PLUGIN = "otel_trading_test_plugin"
PLUGIN_SOURCE = '''
import threading

from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricExporter, MetricExportResult
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult

SPANS = []
LOGS = []
METRICS = []
RELEASE = threading.Event()


class ListSpanExporter(SpanExporter):
    def export(self, spans):
        SPANS.extend(spans)
        return SpanExportResult.SUCCESS


class HangingSpanExporter(SpanExporter):
    def export(self, spans):
        RELEASE.wait(30)
        return SpanExportResult.SUCCESS


class ListLogExporter(LogRecordExporter):
    def export(self, batch):
        LOGS.extend(batch)
        return LogRecordExportResult.SUCCESS

    def force_flush(self, timeout_millis=30_000):
        return True

    def shutdown(self):
        pass


class ListMetricExporter(MetricExporter):
    def __init__(self):
        super().__init__(preferred_temporality={})

    def export(self, metrics_data, timeout_millis=10_000, **kwargs):
        METRICS.append(metrics_data)
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis=10_000):
        return True

    def shutdown(self, timeout_millis=30_000, **kwargs):
        pass


class PullReader(InMemoryMetricReader):
    INSTANCES = []

    def __init__(self):
        super().__init__()
        PullReader.INSTANCES.append(self)


class DropByPrefix(Sampler):
    """Drops the spans whose name starts with the sampler argument."""

    def __init__(self, prefix):
        self.prefix = prefix or "drop"

    def should_sample(self, parent_context, trace_id, name, kind=None, attributes=None, links=None):
        return SamplingResult(Decision.DROP if name.startswith(self.prefix) else Decision.RECORD_AND_SAMPLE)

    def get_description(self):
        return "DropByPrefix"


def drop_by_prefix(argument):
    return DropByPrefix(argument)
'''


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A real distribution registering exporters and a sampler in the standard entry points."""
    site = install_distribution(
        tmp_path / "site", "otel-trading-test-plugin",
        modules={f"{PLUGIN}/__init__.py": PLUGIN_SOURCE},
        entry_points={
            "opentelemetry_traces_exporter": {"listspans": f"{PLUGIN}:ListSpanExporter",
                                              "hangingspans": f"{PLUGIN}:HangingSpanExporter",
                                              "brokenspans": f"{PLUGIN}_missing:Nothing"},
            "opentelemetry_logs_exporter": {"listlogs": f"{PLUGIN}:ListLogExporter"},
            "opentelemetry_metrics_exporter": {"listmetrics": f"{PLUGIN}:ListMetricExporter",
                                               "pullreader": f"{PLUGIN}:PullReader"},
            "opentelemetry_traces_sampler": {"drop_by_prefix": f"{PLUGIN}:drop_by_prefix"},
        },
    )
    monkeypatch.syspath_prepend(str(site))
    module = __import__(PLUGIN)
    yield module
    module.RELEASE.set()
    otel_trading.shutdown(timeout=2)
    uninstall_modules(PLUGIN)


def quiet(**options: Any) -> dict[str, Any]:
    return {"log_console": "off", "install_signal_handlers": False, "system_metrics": False,
            "metrics_exporter": "none", **options}


def wait_for(condition: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


# -- OTEL_SDK_DISABLED ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["true", "TRUE", " True "])
def test_only_true_disables(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", value)
    assert not resolve_settings({}).enabled


@pytest.mark.parametrize("value", ["1", "yes", "foo"])
def test_other_values_keep_telemetry_enabled_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, value: str
) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", value)
    with caplog.at_level(logging.WARNING, logger="otel_trading"):
        telemetry = otel_trading.configure(**quiet(traces_exporter="none", logs_exporter="none"))
    assert telemetry.enabled
    warned = [r.getMessage() for r in caplog.records if "OTEL_SDK_DISABLED" in r.getMessage()]
    assert len(warned) == 1 and repr(value) in warned[0]


def test_false_is_enabled_without_a_warning(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "False")
    with caplog.at_level(logging.WARNING, logger="otel_trading"):
        assert resolve_settings({}).enabled
    assert not [r for r in caplog.records if "OTEL_SDK_DISABLED" in r.getMessage()]


# -- exporters and samplers from the standard entry points ---------------------------------------


def test_exporters_registered_through_entry_points_receive_every_signal(
    monkeypatch: pytest.MonkeyPatch, plugin: Any
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "listspans")
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", "listlogs")
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "listmetrics")
    telemetry = otel_trading.configure(log_console="off", install_signal_handlers=False, system_metrics=False)
    assert telemetry.settings.exporters == {"traces": ("listspans",), "metrics": ("listmetrics",),
                                            "logs": ("listlogs",)}
    with span("via-plugin"):
        get_logger("bot").info("through the plugin")
    assert telemetry.force_flush(timeout=5)
    assert [s.name for s in plugin.SPANS] == ["via-plugin"]
    assert [r.log_record.body for r in plugin.LOGS] == ["through the plugin"]
    exported = {m.name for data in plugin.METRICS for rm in data.resource_metrics
                for sm in rm.scope_metrics for m in sm.metrics}
    assert "otel_trading.telemetry.exported" in exported


def test_a_pull_metric_reader_registered_through_an_entry_point_is_read(
    monkeypatch: pytest.MonkeyPatch, plugin: Any
) -> None:
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "pullreader")
    otel_trading.configure(**{**quiet(), "metrics_exporter": "pullreader", "traces_exporter": "listspans"})
    with span("counted"):
        pass
    assert otel_trading.current().force_flush(timeout=5)  # type: ignore[union-attr]
    [reader] = plugin.PullReader.INSTANCES
    data = reader.get_metrics_data()
    names = {m.name for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    assert "otel_trading.telemetry.exported" in names


def test_sampler_registered_through_an_entry_point_is_used(monkeypatch: pytest.MonkeyPatch, plugin: Any) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "drop_by_prefix")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "noise")
    with capture(ambient_environment=True) as otel:
        with span("noise.tick"):
            pass
        with span("order.submit"):
            pass
        assert [s.name for s in otel.spans] == ["order.submit"]


def test_an_unknown_exporter_lists_ours_and_the_registered_ones(
    monkeypatch: pytest.MonkeyPatch, plugin: Any
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin")
    with pytest.raises(ConfigurationError, match=r"OTEL_TRACES_EXPORTER: unknown exporter 'zipkin'; expected one "
                                                 r"of \[.*'listspans'.*'local'.*\]"):
        otel_trading.configure(**quiet())
    assert otel_trading.current() is None


def test_a_broken_entry_point_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch, plugin: Any) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "brokenspans")
    with pytest.raises(ConfigurationError, match=r"OTEL_TRACES_EXPORTER: the 'opentelemetry_traces_exporter' entry "
                                                 r"point 'brokenspans' .* could not be loaded: ModuleNotFoundError"):
        otel_trading.configure(**quiet())


# -- OTEL_BSP_* / OTEL_BLRP_* --------------------------------------------------------------------


def test_blrp_variables_configure_the_log_queue_and_bsp_the_span_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"OTEL_BSP_MAX_QUEUE_SIZE": "100", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "10",
                        "OTEL_BSP_EXPORT_TIMEOUT": "250",
                        "OTEL_BLRP_MAX_QUEUE_SIZE": "50", "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE": "5",
                        "OTEL_BLRP_SCHEDULE_DELAY": "20", "OTEL_BLRP_EXPORT_TIMEOUT": "1500"}.items():
        monkeypatch.setenv(name, value)
    settings = resolve_settings({})
    assert (settings.span_batch.max_queue_size, settings.span_batch.export_timeout_s) == (100, 0.25)
    assert settings.span_batch.schedule_delay_s == 1.0
    assert (settings.log_batch.max_queue_size, settings.log_batch.max_export_batch_size) == (50, 5)
    assert (settings.log_batch.schedule_delay_s, settings.log_batch.export_timeout_s) == (0.02, 1.5)
    # An argument applies to both signals.
    both = resolve_settings({"max_queue_size": 10, "max_export_batch_size": 2})
    assert both.span_batch.max_queue_size == both.log_batch.max_queue_size == 10


def test_log_records_are_exported_on_the_blrp_schedule(monkeypatch: pytest.MonkeyPatch, plugin: Any) -> None:
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "86400000")
    monkeypatch.setenv("OTEL_BLRP_SCHEDULE_DELAY", "10")
    otel_trading.configure(**quiet(traces_exporter="listspans", logs_exporter="listlogs"))
    with span("waits-a-day"):
        get_logger("bot").info("exported within milliseconds")
    assert wait_for(lambda: plugin.LOGS, timeout=5)  # no flush: the 10 ms log schedule did it
    time.sleep(0.2)
    assert plugin.SPANS == []


@pytest.mark.parametrize(("variable", "value"), [("OTEL_BLRP_EXPORT_TIMEOUT", "0"), ("OTEL_BSP_EXPORT_TIMEOUT", "nan"),
                                                 ("OTEL_BLRP_MAX_QUEUE_SIZE", "-1")])
def test_bad_queue_variables_name_the_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=rf"^{variable}: expected"):
        resolve_settings({})


def test_an_export_overrunning_the_export_timeout_is_counted_lost_at_the_deadline(
    monkeypatch: pytest.MonkeyPatch, plugin: Any
) -> None:
    monkeypatch.setenv("OTEL_BSP_EXPORT_TIMEOUT", "200")
    with capture(ambient_environment=True, traces_exporter="hangingspans", schedule_delay=0.01) as otel:
        with span("stuck"):
            pass
        assert wait_for(lambda: otel.value("otel_trading.telemetry.dropped", reason="export_timeout",
                                           exporter="hangingspans") == 1, timeout=3)
        plugin.RELEASE.set()
        with span("after"):
            pass
        assert [s.name for s in otel.spans] == ["stuck", "after"]  # the in-memory exporter kept going


# -- OTEL_LOG_LEVEL ------------------------------------------------------------------------------


def test_otel_log_level_is_the_sdk_diagnostic_level_not_the_application_level(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sdk_logger = logging.getLogger("opentelemetry")
    before = sdk_logger.level
    monkeypatch.setenv("OTEL_LOG_LEVEL", "error")
    with capture(ambient_environment=True) as otel:
        assert otel.telemetry.settings.log_level == "info"
        assert sdk_logger.level == logging.ERROR
        get_logger("bot").info("still exported")
        assert [r.log_record.body for r in otel.logs] == ["still exported"]
    assert sdk_logger.level == before


def test_a_bad_otel_log_level_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_LOG_LEVEL", "loud")
    with pytest.raises(ConfigurationError, match=r"^OTEL_LOG_LEVEL \(level of the OpenTelemetry SDK's own logs\)"):
        resolve_settings({})


# -- attribute value length limits ---------------------------------------------------------------


@traced(capture=["note"])
def decorated_before_configure(note: str) -> None:
    """Decorated at import, long before any configure()."""


def test_the_limit_in_force_when_recording_applies_to_functions_decorated_earlier() -> None:
    with capture(max_attribute_length=16) as otel:
        decorated_before_configure("x" * 100)
        assert otel.span("decorated_before_configure").attributes["note"] == "x" * 16


@pytest.mark.parametrize("limit", [1, 5, 15])
def test_the_generic_variable_is_a_plain_cut_at_any_positive_length(monkeypatch: pytest.MonkeyPatch,
                                                                    limit: int) -> None:
    monkeypatch.setenv("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", str(limit))
    with capture(ambient_environment=True) as otel:
        with span("s", text="abcdefghijklmnopqrstuvwxyz"):
            get_logger("bot").info("l", text="abcdefghijklmnopqrstuvwxyz")
        assert otel.span("s").attributes["text"] == "abcdefghijklmnopqrstuvwxyz"[:limit]
        assert otel.logs[0].log_record.attributes["text"] == "abcdefghijklmnopqrstuvwxyz"[:limit]


def test_span_and_log_record_variables_win_for_their_signal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "10")
    monkeypatch.setenv("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "8")
    monkeypatch.setenv("OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT", "3")
    with capture(ambient_environment=True) as otel:
        with span("s", text="abcdefghijkl"):
            get_logger("bot").info("l", text="abcdefghijkl")
        assert otel.span("s").attributes["text"] == "abcdefgh"
        assert otel.logs[0].log_record.attributes["text"] == "abc"


def test_default_is_a_plain_cut_at_4096_for_every_span_and_none_lifts_it() -> None:
    with capture() as otel:
        with span("ours", text="y" * 5000):
            pass
        other = otel.telemetry.tracer_provider.get_tracer("another.instrumentation")  # type: ignore[union-attr]
        other.start_span("theirs", attributes={"text": "z" * 5000}).end()
        assert otel.span("ours").attributes["text"] == "y" * 4096
        assert otel.span("theirs").attributes["text"] == "z" * 4096
    with capture(max_attribute_length=None) as otel:
        with span("unlimited", text="y" * 5000):
            pass
        assert otel.span("unlimited").attributes["text"] == "y" * 5000


@pytest.mark.parametrize("value", ["0", "-1", "ten"])
def test_a_non_positive_limit_names_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", value)
    with pytest.raises(ConfigurationError, match=r"^OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT: expected an integer >= 1"):
        resolve_settings({})


# -- log records: exception.* and code.* as the SDK's LoggingHandler emits them ------------------


def _sdk_handler_attributes(record: logging.LogRecord) -> dict[str, Any]:
    """What the SDK's own LoggingHandler exports for ``record``."""
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

    exporter = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        handler = LoggingHandler(logger_provider=provider)
    handler.emit(record)
    [exported] = exporter.get_finished_logs()
    return dict(exported.log_record.attributes or {})


def test_stdlib_records_carry_the_exception_and_code_attributes_of_the_sdk_handler() -> None:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("bot.stdlib")
    keep = Keep()
    logger.addHandler(keep)
    try:
        with capture() as otel:
            try:
                raise LookupError("exchange did not answer", 504)
            except LookupError:
                logger.exception("order failed")
            [ours] = otel.logs
    finally:
        logger.removeHandler(keep)
    expected = _sdk_handler_attributes(records[0])
    keys = ("exception.type", "exception.message", "code.file.path", "code.function.name", "code.line.number")
    attributes = ours.log_record.attributes or {}
    assert {k: attributes[k] for k in keys} == {k: expected[k] for k in keys}
    assert attributes["exception.message"] == "exchange did not answer"
    assert "LookupError: ('exchange did not answer', 504)" in attributes["exception.stacktrace"]


def test_structlog_events_carry_exception_and_call_site_attributes() -> None:
    with capture() as otel:
        log = get_logger("bot")
        try:
            raise ValueError("bad price")
        except ValueError:
            line = sys._getframe().f_lineno + 1
            log.exception("rejected")
        attributes = otel.logs[0].log_record.attributes or {}
    assert attributes["exception.type"] == "ValueError" and attributes["exception.message"] == "bad price"
    assert "ValueError: bad price" in attributes["exception.stacktrace"]
    assert attributes["code.file.path"] == __file__
    assert attributes["code.function.name"] == "test_structlog_events_carry_exception_and_call_site_attributes"
    assert attributes["code.line.number"] == line


def _log_from_helper(log: Any) -> int:
    line = sys._getframe().f_lineno + 1
    log.info("from the helper")
    return line


def test_the_call_site_follows_each_log_call_whatever_the_depth_and_logger_method() -> None:
    # The call site of the previous line is tried first: calls from another function, another
    # depth and another logger method must each still name their own caller.
    with capture() as otel:
        log = get_logger("bot")
        first = sys._getframe().f_lineno + 1
        log.info("direct")
        helper = _log_from_helper(log)
        second = sys._getframe().f_lineno + 1
        log.log(logging.WARNING, "through log()")
        third = sys._getframe().f_lineno + 1
        from_a_lambda = lambda: log.error("from a lambda")  # noqa: E731 - its code is named <lambda>
        from_a_lambda()
        sites = [(r.log_record.attributes or {}) for r in otel.logs]
    assert [(a["code.function.name"], a["code.line.number"]) for a in sites] == [
        ("test_the_call_site_follows_each_log_call_whatever_the_depth_and_logger_method", first),
        ("_log_from_helper", helper),
        ("test_the_call_site_follows_each_log_call_whatever_the_depth_and_logger_method", second),
        ("<lambda>", third),
    ]
    assert {a["code.file.path"] for a in sites} == {__file__}


# -- resource: the SDK's detectors ---------------------------------------------------------------


def test_os_and_process_attributes_come_from_the_sdk_detectors() -> None:
    from opentelemetry.sdk.resources import OsResourceDetector, ProcessResourceDetector

    with capture() as otel:
        with span("s"):
            pass
        resource = otel.spans[0].resource.attributes
    os_detected = OsResourceDetector().detect().attributes
    assert resource["os.type"] == os_detected["os.type"] and resource["os.version"] == os_detected["os.version"]
    assert resource["os.type"] in ("windows", "linux", "darwin", "freebsd", "netbsd", "openbsd", "solaris", "aix")
    process = ProcessResourceDetector().detect().attributes
    for key in ("process.pid", "process.executable.name", "process.executable.path", "process.runtime.version"):
        assert resource[key] == process[key]
    assert "process.command_args" not in resource and "process.command_line" not in resource
