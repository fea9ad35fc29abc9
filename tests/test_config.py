"""configure(): environment handling, precedence, idempotence and clear errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import otel_trading
from otel_trading import ConfigurationError, span
from otel_trading.config._settings import resolve_settings
from otel_trading.testing import capture


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in list(__import__("os").environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield
    otel_trading.shutdown()


def test_defaults_are_the_local_store_and_prometheus() -> None:
    settings = resolve_settings({})
    assert settings.exporters == {"traces": ("local",), "metrics": ("prometheus", "local"), "logs": ("local",)}
    assert settings.prometheus_host == "127.0.0.1" and settings.prometheus_port == 9464
    assert settings.store_dir == Path(".otel-trading")
    assert settings.enabled


def test_otlp_endpoint_switches_every_signal_to_otlp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    settings = resolve_settings({})
    assert settings.exporters == {"traces": ("otlp",), "metrics": ("otlp",), "logs": ("otlp",)}
    assert settings.otlp["traces"].protocol == "http/protobuf"


def test_per_signal_variants(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://tempo:4317")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "http/protobuf")
    settings = resolve_settings({})
    assert settings.exporters["traces"] == ("otlp",)
    assert settings.exporters["logs"] == ("local",)
    assert settings.otlp["logs"].protocol == "http/protobuf"
    assert settings.otlp["traces"].protocol == "grpc"


def test_explicit_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    monkeypatch.setenv("OTEL_EXPORTER_PROMETHEUS_PORT", "9999")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=staging,team=quant")
    settings = resolve_settings({"service_name": "explicit", "traces_exporter": "none", "prometheus_port": 1234})
    assert settings.service_name == "explicit"
    assert settings.exporters["traces"] == ()
    assert settings.prometheus_port == 1234
    assert settings.environment == "staging"
    assert settings.resource_attributes["team"] == "quant"
    env_only = resolve_settings({})
    assert env_only.service_name == "from-env" and env_only.exporters["traces"] == ("console",)
    assert env_only.prometheus_port == 9999


def test_resource_attributes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.version=1.2.3,region=eu")
    with capture(ambient_environment=True, service_name="bot-a", environment="paper") as otel:
        with span("x"):
            pass
        resource = otel.spans[0].resource.attributes
    assert resource["service.name"] == "bot-a"
    assert resource["service.version"] == "1.2.3"
    assert resource["deployment.environment.name"] == "paper"
    assert resource["region"] == "eu"
    assert resource["service.instance.id"] and resource["host.name"] and resource["process.pid"]


def test_sdk_disabled_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    with capture(ambient_environment=True) as otel:
        assert not otel.telemetry.enabled
        with span("ignored"):
            pass
        assert otel.spans == []


def test_sampler_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    with capture(ambient_environment=True) as otel:
        with span("sampled-out"):
            pass
        assert otel.spans == []
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "1.0")
    with capture(ambient_environment=True) as otel:
        with span("kept"):
            pass
        assert len(otel.spans) == 1


def test_configure_is_idempotent_and_reconfigurable() -> None:
    first = otel_trading.configure(log_console="off", metrics_exporter="none", install_signal_handlers=False)
    again = otel_trading.configure(log_console="off", metrics_exporter="none", install_signal_handlers=False)
    assert first is again and otel_trading.current() is first
    other = otel_trading.configure(log_console="off", metrics_exporter="none", install_signal_handlers=False,
                                   service_name="renamed")
    assert other is not first and other.settings.service_name == "renamed"
    assert otel_trading.shutdown() and otel_trading.current() is None


@pytest.mark.parametrize(
    ("env", "value", "message"),
    [
        ("OTEL_TRACES_EXPORTER", "jaeger", r"OTEL_TRACES_EXPORTER: unknown exporter 'jaeger'"),
        ("OTEL_METRICS_EXPORTER", "statsd", r"OTEL_METRICS_EXPORTER: unknown exporter 'statsd'"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", r"OTEL_EXPORTER_OTLP_PROTOCOL \(OTLP protocol for traces\)"),
        ("OTEL_TRADING_LOG_LEVEL", "loud", r"OTEL_TRADING_LOG_LEVEL: expected one of"),
        ("OTEL_EXPORTER_PROMETHEUS_PORT", "70000", r"expected an integer from 0 to 65535, got '70000'"),
        ("OTEL_BSP_SCHEDULE_DELAY", "0", r"OTEL_BSP_SCHEDULE_DELAY: expected a number from 1 to 86400000 \(ms\)"),
        ("OTEL_EXPORTER_PROMETHEUS_PORT", "ninety", r"OTEL_EXPORTER_PROMETHEUS_PORT: expected an integer"),
        ("OTEL_RESOURCE_ATTRIBUTES", "novalue", r"OTEL_RESOURCE_ATTRIBUTES: item 1 is not of the form key=value"),
        ("OTEL_TRACES_SAMPLER", "sometimes", r"unknown sampler 'sometimes'"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "0", r"OTEL_BSP_MAX_QUEUE_SIZE: expected an integer >= 1"),
    ],
)
def test_bad_environment_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, message: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigurationError, match=message):
        otel_trading.configure(install_signal_handlers=False)
    assert otel_trading.current() is None


def test_bad_arguments_name_the_argument() -> None:
    with pytest.raises(ConfigurationError, match=r"unknown argument\(s\) \['servce_name'\]"):
        otel_trading.configure(servce_name="typo")  # type: ignore[call-arg]
    with pytest.raises(ConfigurationError, match=r"log_console: expected one of"):
        otel_trading.configure(log_console="loud")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"store_max_total_bytes \(2048\) must be at least"):
        otel_trading.configure(store_max_file_bytes=4096, store_max_total_bytes=2048)


def test_a_rejected_reconfiguration_leaves_the_current_one_in_force() -> None:
    first = otel_trading.configure(log_console="off", metrics_exporter="none", install_signal_handlers=False)
    with pytest.raises(ConfigurationError, match="unknown sampler 'sometimes'"):
        otel_trading.configure(log_console="off", sampler="sometimes")
    assert otel_trading.current() is first
    with span("still recorded") as s:
        assert s.is_recording()


def test_header_values_never_appear_in_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer CANARY-SECRET,broken")
    from otel_trading.config._settings import parse_key_values

    with pytest.raises(ConfigurationError) as info:
        parse_key_values("Authorization=Bearer CANARY-SECRET,broken", "OTEL_EXPORTER_OTLP_HEADERS")
    assert "CANARY" not in str(info.value) and "item 2" in str(info.value)


def test_busy_prometheus_port_does_not_fail_configure() -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        telemetry = otel_trading.configure(prometheus_port=port, log_console="off", install_signal_handlers=False)
        assert telemetry.prometheus is None
        with span("still traced"):
            pass
        assert telemetry.shutdown()


def test_prometheus_endpoint_serves_our_metrics() -> None:
    import urllib.request

    @otel_trading.traced
    def tick() -> None:
        return None

    telemetry = otel_trading.configure(prometheus_port=0, log_console="off", install_signal_handlers=False,
                                       traces_exporter="none", logs_exporter="none")
    tick()
    assert telemetry.prometheus_url is not None
    body = urllib.request.urlopen(telemetry.prometheus_url, timeout=5).read().decode()  # noqa: S310
    assert 'otel_trading_function_calls_total{code_function_name="test_config.' in body
    assert 'otel_trading_function_duration_seconds_bucket{code_function_name="test_config.' in body
    assert 'le="0.0001"' in body and 'le="30.0"' in body
    assert "otel_trading_telemetry_dropped_total" not in body or "reason=" in body
    assert 'target_info{' in body


def test_console_exporters_write_to_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    telemetry = otel_trading.configure(traces_exporter="console", logs_exporter="console", metrics_exporter="none",
                                       log_console="off", install_signal_handlers=False)
    with span("printed-span"):
        otel_trading.get_logger("c").info("printed-log")
    assert telemetry.shutdown()
    err = capfd.readouterr().err
    assert '"name": "printed-span"' in err
    assert '"body": "printed-log"' in err
