"""Hostile OTEL_* values and configure() arguments: each is a ConfigurationError at configure().

Every case here used to be accepted and misbehave later (spinning or dead export threads,
an exporter exception or traceback, a header silently dropped, telemetry lost with exit 0).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from cli_runner import run_cli
from otlp_receiver import GrpcOtlpReceiver, HttpOtlpReceiver, otlp_options

import otel_trading
from otel_trading import ConfigurationError, span
from otel_trading.config._settings import resolve_settings

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("configures_in_tmp")]

TOKEN = "CANARY-TOKEN-5e1f"  # a canary that must never be echoed


def quiet(**options: Any) -> dict[str, Any]:
    return {"log_console": "off", "install_signal_handlers": False, "metrics_exporter": "none",
            "system_metrics": False, **options}


def otlp_env(monkeypatch: pytest.MonkeyPatch, protocol: str = "grpc") -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)


# -- numbers: nan, inf, out of range -------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("OTEL_BSP_SCHEDULE_DELAY", "nan", r"OTEL_BSP_SCHEDULE_DELAY: expected a number from 1 to 86400000 \(ms\)"),
        ("OTEL_BSP_SCHEDULE_DELAY", "inf", r"OTEL_BSP_SCHEDULE_DELAY: expected a number from 1 to 86400000"),
        ("OTEL_BSP_SCHEDULE_DELAY", "-5", r"OTEL_BSP_SCHEDULE_DELAY: expected a number from 1 to"),
        ("OTEL_BSP_SCHEDULE_DELAY", "0.5", r"OTEL_BSP_SCHEDULE_DELAY: expected a number from 1 to"),
        ("OTEL_TRADING_SHUTDOWN_TIMEOUT", "inf",
         r"OTEL_TRADING_SHUTDOWN_TIMEOUT: expected a number from 0 to 86400 \(s\), got 'inf'"),
        ("OTEL_TRADING_SHUTDOWN_TIMEOUT", "nan", r"OTEL_TRADING_SHUTDOWN_TIMEOUT: expected a number from 0"),
        ("OTEL_TRADING_SHUTDOWN_TIMEOUT", "-1", r"OTEL_TRADING_SHUTDOWN_TIMEOUT: expected a number from 0"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "nan", r"OTEL_METRIC_EXPORT_INTERVAL: expected a number from 10 to"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "-inf", r"OTEL_METRIC_EXPORT_INTERVAL: expected a number from 10 to"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "1e400", r"OTEL_BSP_MAX_QUEUE_SIZE: expected an integer"),
        ("OTEL_EXPORTER_PROMETHEUS_PORT", "70000",
         r"OTEL_EXPORTER_PROMETHEUS_PORT: expected an integer from 0 to 65535, got '70000'"),
    ],
)
def test_non_finite_and_out_of_range_numbers_name_the_variable_and_range(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=message):
        otel_trading.configure(**quiet())
    assert otel_trading.current() is None


@pytest.mark.parametrize(
    ("argument", "value", "message"),
    [
        ("schedule_delay", math.nan, r"schedule_delay: expected a number from 0\.001 to 86400 \(s\), got nan"),
        ("schedule_delay", math.inf, r"schedule_delay: expected a number from 0\.001 to 86400"),
        ("shutdown_timeout", math.inf, r"shutdown_timeout: expected a number from 0 to 86400"),
        ("shutdown_timeout", math.nan, r"shutdown_timeout: expected a number from 0 to 86400"),
        ("metric_export_interval", math.inf, r"metric_export_interval: expected a number from 0\.01 to"),
        ("prometheus_port", math.inf, r"prometheus_port: expected an integer from 0 to 65535, got inf"),
        ("max_queue_size", 2.5, r"max_queue_size: expected an integer >= 1, got 2\.5"),
        ("max_queue_size", True, r"max_queue_size: expected an integer >= 1, got True"),
    ],
)
def test_non_finite_and_fractional_arguments_name_the_argument(argument: str, value: object, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        otel_trading.configure(**quiet(**{argument: value}))


@pytest.mark.parametrize("value", ["nan", "-1", "inf"])
def test_the_sdk_read_metric_export_timeout_is_checked_when_metrics_are_pushed(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("OTEL_METRIC_EXPORT_TIMEOUT", value)
    with pytest.raises(ConfigurationError, match=r"^OTEL_METRIC_EXPORT_TIMEOUT: expected a number from 1 to 86400000"):
        otel_trading.configure(**quiet(metrics_exporter="console"))
    assert resolve_settings({"metrics_exporter": "prometheus"}).exporters["metrics"] == ("prometheus",)


def test_integral_floats_and_number_strings_are_still_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "250")
    monkeypatch.setenv("OTEL_TRADING_SHUTDOWN_TIMEOUT", "0")
    settings = resolve_settings({"max_queue_size": 4096.0, "prometheus_port": 0})  # type: ignore[typeddict-item]
    assert settings.span_batch.schedule_delay_s == 0.25 and settings.shutdown_timeout_s == 0
    assert settings.span_batch.max_queue_size == 4096 and settings.prometheus_port == 0


def test_a_huge_shutdown_timeout_given_to_shutdown_does_not_raise_into_the_caller() -> None:
    telemetry = otel_trading.configure(**quiet(traces_exporter="none", logs_exporter="none"))
    assert telemetry.force_flush(timeout=math.inf)
    assert telemetry.force_flush(timeout=math.nan) in (True, False)
    assert telemetry.shutdown(timeout=math.inf)


# -- endpoints ----------------------------------------------------------------------------------


@pytest.mark.parametrize("variable", ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                                      "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"])
@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("http://[::1", r"not a URL"),
        ("http://127.0.0.1:99999", r"port '99999' is not a number from 1 to 65535"),
        ("http://127.0.0.1:notaport", r"port 'notaport' is not a number from 1 to 65535"),
        ("http://127.0.0.1:0", r"port '0' is not a number from 1 to 65535"),
        ("http://:4317", r"no host"),
        ("ftp://collector:4317", r"scheme 'ftp' is not http or https"),
        ("http://coll ector:4317", r"host 'coll ector' is not a host name or IP address"),
    ],
)
def test_unusable_endpoints_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, problem: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=rf"^{variable}: .*{problem}") as info:
        otel_trading.configure(**quiet(metrics_exporter="otlp" if "METRICS" in variable else "none"))
    assert "Traceback" not in str(info.value)
    assert otel_trading.current() is None


@pytest.mark.parametrize("value", [" ", "http://127.0.0.1:4317 ", " http://127.0.0.1:4317"])
def test_spaces_around_an_endpoint_variable_are_an_error(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    # The exporters read the raw value: a stray space from an .env file makes every export fail.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", value)
    with pytest.raises(ConfigurationError, match=r"^OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: has spaces around it"):
        otel_trading.configure(**quiet())


def test_the_endpoint_argument_is_checked_too() -> None:
    with pytest.raises(ConfigurationError, match=r"^otlp_endpoint: 'http://127\.0\.0\.1:notaport': port"):
        otel_trading.configure(**quiet(otlp_endpoint="http://127.0.0.1:notaport"))
    with pytest.raises(ConfigurationError,
                       match=r"^otlp_endpoint: .*no http:// or https:// scheme \(OTLP http/protobuf\)"):
        otel_trading.configure(**quiet(otlp_endpoint="collector:4318", otlp_protocol="http/protobuf"))


def test_endpoint_errors_never_show_credentials_in_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"https://user:{TOKEN}@collector:notaport")
    with pytest.raises(ConfigurationError) as info:
        otel_trading.configure(**quiet())
    assert TOKEN not in str(info.value) and "OTEL_EXPORTER_OTLP_ENDPOINT" in str(info.value)


@pytest.mark.parametrize(
    ("protocol", "endpoint"),
    [
        ("grpc", "http://127.0.0.1:4317"),
        ("grpc", "https://collector.example.com"),
        ("grpc", "collector.example.com:4317"),  # gRPC also takes a bare host:port (TLS unless insecure)
        ("grpc", "[::1]:4317"),
        ("http/protobuf", "http://[::1]:4318/"),
        ("http/protobuf", "https://otlp.example.com/otlp"),
        ("http/protobuf", "http://localhost:4318/v1/traces"),
    ],
)
def test_the_endpoint_forms_the_exporters_take_are_accepted(
    monkeypatch: pytest.MonkeyPatch, protocol: str, endpoint: str
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", endpoint)
    assert resolve_settings({}).exporters["traces"] == ("otlp",)
    assert resolve_settings({"otlp_endpoint": endpoint}).exporters["logs"] == ("otlp",)


def test_otlp_variables_of_a_signal_not_exported_with_otlp_are_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:notaport")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "abc")
    settings = resolve_settings({"traces_exporter": "local", "metrics_exporter": "none", "logs_exporter": "none"})
    assert settings.exporters["traces"] == ("local",)


# -- timeout, compression, insecure --------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
@pytest.mark.parametrize("variable", ["OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT"])
@pytest.mark.parametrize("value", ["abc", "-1", "0", "nan", "inf"])
def test_bad_otlp_timeouts_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, protocol: str, variable: str, value: str
) -> None:
    otlp_env(monkeypatch, protocol)
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=rf"^{variable}: expected a number from 0\.001 to 86400 \(s\)"):
        otel_trading.configure(**quiet())


@pytest.mark.parametrize("variable", ["OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_COMPRESSION",
                                      "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION"])
def test_an_empty_otlp_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    # The gRPC exporter itself raises on each of these when it reads them.
    otlp_env(monkeypatch)
    monkeypatch.setenv(variable, " ")
    telemetry = otel_trading.configure(**quiet())
    assert telemetry.settings.otlp["traces"].timeout_s == 10 and telemetry.settings.otlp["traces"].compression == "none"


def test_an_empty_grpc_signal_timeout_is_an_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    otlp_env(monkeypatch)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "")
    with pytest.raises(ConfigurationError, match=r"^OTEL_EXPORTER_OTLP_LOGS_TIMEOUT: set but empty"):
        otel_trading.configure(**quiet())
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")  # the HTTP exporter takes it as unset
    assert resolve_settings({}).otlp["logs"].timeout_s == 10


def test_bad_otlp_timeout_argument() -> None:
    with pytest.raises(ConfigurationError, match=r"^otlp_timeout: expected a number from 0\.001 to 86400"):
        otel_trading.configure(**quiet(otlp_endpoint="http://127.0.0.1:4317", otlp_timeout=math.nan))


def test_otlp_timeout_resolves_signal_variable_over_generic(monkeypatch: pytest.MonkeyPatch) -> None:
    otlp_env(monkeypatch)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "7")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "2.5")
    settings = resolve_settings({})
    assert settings.otlp["traces"].timeout_s == 2.5 and settings.otlp["logs"].timeout_s == 7
    assert resolve_settings({"otlp_timeout": 1}).otlp["traces"].timeout_s == 1


@pytest.mark.parametrize(
    ("protocol", "variable", "value", "message"),
    [
        ("grpc", "OTEL_EXPORTER_OTLP_COMPRESSION", "brotli",
         r"^OTEL_EXPORTER_OTLP_COMPRESSION: expected one of gzip, none for OTLP grpc, got 'brotli'"),
        ("http/protobuf", "OTEL_EXPORTER_OTLP_COMPRESSION", "brotli",
         r"^OTEL_EXPORTER_OTLP_COMPRESSION: expected one of deflate, gzip, none for OTLP http/protobuf"),
        ("grpc", "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "deflate",
         r"^OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: expected one of gzip, none for OTLP grpc, got 'deflate'"),
        ("grpc", "OTEL_EXPORTER_OTLP_INSECURE", "maybe", r"^OTEL_EXPORTER_OTLP_INSECURE: expected true or false"),
        ("grpc", "OTEL_EXPORTER_OTLP_METRICS_INSECURE", "1",
         r"^OTEL_EXPORTER_OTLP_METRICS_INSECURE: expected true or false, got '1'"),
    ],
)
def test_bad_compression_and_insecure_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, protocol: str, variable: str, value: str, message: str
) -> None:
    otlp_env(monkeypatch, protocol)
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=message):
        otel_trading.configure(**quiet(metrics_exporter="otlp"))


def test_compression_argument_deflate_is_http_only() -> None:
    with pytest.raises(ConfigurationError, match=r"^otlp_compression: expected one of gzip, none for OTLP grpc"):
        otel_trading.configure(**quiet(otlp_endpoint="http://127.0.0.1:4317", otlp_compression="deflate"))
    settings = resolve_settings({"otlp_endpoint": "http://127.0.0.1:4318", "otlp_protocol": "http/protobuf",
                                 "otlp_compression": "deflate"})
    assert settings.otlp["traces"].compression == "deflate"


@pytest.mark.parametrize("variable", ["OTEL_EXPORTER_OTLP_COMPRESSION", "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION"])
def test_grpc_compression_none_from_the_environment_exports(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    # The gRPC exporter itself raises on "none", the value the specification documents.
    monkeypatch.setenv(variable, "None")
    with GrpcOtlpReceiver() as receiver:
        telemetry = otel_trading.configure(**otlp_options(receiver.endpoint, "grpc", metrics_exporter="none"))
        with span("compressed-none"):
            pass
        assert telemetry.force_flush(timeout=10)
        assert [s.name for s in receiver.spans()] == ["compressed-none"]
        otel_trading.shutdown(timeout=2)


def test_http_deflate_compression_from_the_environment_arrives(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "deflate")
    with HttpOtlpReceiver() as receiver:
        telemetry = otel_trading.configure(**otlp_options(receiver.endpoint, "http/protobuf",
                                                          metrics_exporter="none"))
        with span("deflated"):
            pass
        assert telemetry.force_flush(timeout=10)
        assert [s.name for s in receiver.spans()] == ["deflated"]
        assert all(r.headers.get("content-encoding") == "deflate" for r in receiver.requests("traces"))
        otel_trading.shutdown(timeout=2)


# -- headers ------------------------------------------------------------------------------------


@pytest.mark.parametrize("variable", ["OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                                      "OTEL_EXPORTER_OTLP_METRICS_HEADERS", "OTEL_EXPORTER_OTLP_LOGS_HEADERS"])
def test_a_malformed_header_is_an_error_that_does_not_echo_it(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], variable: str
) -> None:
    otlp_env(monkeypatch)
    monkeypatch.setenv(variable, f"x-team=quant,Authorization: Bearer {TOKEN}")
    with pytest.raises(ConfigurationError, match=rf"^{variable}: item 2 is not of the form name=value") as info:
        otel_trading.configure(**quiet(metrics_exporter="otlp"))
    captured = capfd.readouterr()
    assert TOKEN not in str(info.value) + captured.out + captured.err


def test_well_formed_headers_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    otlp_env(monkeypatch)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"Authorization=Bearer {TOKEN}, x-team=quant%20desk")
    assert resolve_settings({}).exporters["traces"] == ("otlp",)


# -- the local store directory ------------------------------------------------------------------


def test_a_store_dir_that_is_a_device_is_rejected_at_configure() -> None:
    with pytest.raises(ConfigurationError, match=r"^store_dir: '/dev/null' is not a directory; expected"):
        otel_trading.configure(**quiet(store_dir="/dev/null"))
    assert otel_trading.current() is None


def test_a_store_dir_under_a_file_is_rejected_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "plain-file").write_text("x")
    monkeypatch.setenv("OTEL_TRADING_STORE_DIR", str(tmp_path / "plain-file" / "store"))
    with pytest.raises(ConfigurationError, match=r"^OTEL_TRADING_STORE_DIR: .*plain-file' is not a directory"):
        otel_trading.configure(**quiet())


def test_an_unused_store_dir_is_not_checked_and_a_missing_one_is_created(tmp_path: Path) -> None:
    resolve_settings({"store_dir": "/dev/null", "traces_exporter": "none", "logs_exporter": "none"})
    telemetry = otel_trading.configure(**quiet(store_dir=tmp_path / "new" / "store"))
    with span("stored"):
        pass
    assert telemetry.shutdown()
    assert (tmp_path / "new" / "store" / "traces.jsonl").read_text().count('"stored"') == 1


# -- the CLI ------------------------------------------------------------------------------------


def test_config_and_doctor_report_a_malformed_header_in_one_line_without_it(tmp_path: Path) -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317",
           "OTEL_EXPORTER_OTLP_HEADERS": f"Authorization: Bearer {TOKEN}"}
    config = run_cli("config", cwd=tmp_path, timeout=60, **env)
    assert config.returncode == 2
    assert config.stdout == ""
    assert config.stderr.strip().splitlines() == [
        "otel-trading: configuration error: OTEL_EXPORTER_OTLP_HEADERS: item 1 is not of the form name=value "
        "(a header name, '=', then the value; percent-encode commas in values)"]
    doctor = run_cli("doctor", cwd=tmp_path, timeout=60, **env)
    output = doctor.stdout + doctor.stderr
    assert doctor.returncode != 0 and "Traceback" not in output and TOKEN not in output
    assert "OTEL_EXPORTER_OTLP_HEADERS: item 1 is not of the form name=value" in output


def test_config_shows_unused_malformed_headers_without_their_value(tmp_path: Path) -> None:
    result = run_cli("config", "--json", cwd=tmp_path,
                     OTEL_EXPORTER_OTLP_HEADERS=f"x-team=quant,Authorization: Bearer {TOKEN}")
    assert result.returncode == 0, result.stderr
    assert TOKEN not in result.stdout + result.stderr
    assert '"OTEL_EXPORTER_OTLP_HEADERS": "x-team=[REDACTED],[MALFORMED]"' in result.stdout


def test_doctor_reports_an_unparseable_endpoint_without_a_traceback(tmp_path: Path) -> None:
    result = run_cli("doctor", cwd=tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT="http://[::1")
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in output
    assert "OTEL_EXPORTER_OTLP_ENDPOINT: 'http://[::1': not a URL" in output


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:notaport", "http://[::1", "http://127.0.0.1:99999"])
def test_demo_rejects_an_unusable_otlp_endpoint_before_running(tmp_path: Path, endpoint: str) -> None:
    result = run_cli("demo", "--trades", "1", "--otlp-endpoint", endpoint, cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines()[-1].startswith(f"otel-trading demo: --otlp-endpoint: {endpoint!r}")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / ".otel-trading").exists()


@pytest.mark.parametrize("command", [("config", "--json"), ("doctor", "--json")])
def test_config_and_doctor_scrub_an_otlp_header_value_wherever_it_is_repeated(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    """The header value is a known secret: a copy of it in another setting is cut out too."""
    env = {"OTEL_EXPORTER_OTLP_HEADERS": f"x-api-key={TOKEN}",
           "OTEL_RESOURCE_ATTRIBUTES": f"team=quant,note={TOKEN}",
           "OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none"}
    result = run_cli(*command, cwd=tmp_path, timeout=60, **env)
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert TOKEN not in output
