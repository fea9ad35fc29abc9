"""The `otel-trading` console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(sys.executable).with_name("otel-trading")


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")} | env
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=60, env=environment,
                          check=False)


def test_help_and_version() -> None:
    result = run("--help")
    assert result.returncode == 0 and "config" in result.stdout
    assert run("--version").stdout.startswith("otel-trading ")


def test_config_masks_secrets_and_reports_bad_values() -> None:
    result = run("config", "--json", OTEL_EXPORTER_OTLP_ENDPOINT="https://user:CANARY-PW@collector:4318",
                 OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer CANARY-TOKEN", OTEL_SERVICE_NAME="bot-x")
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    assert config["service_name"] == "bot-x"
    assert config["exporters"]["traces"] == ["otlp"]
    otlp_env = config["otlp_environment"]
    assert otlp_env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "https://[REDACTED]@collector:4318"
    assert otlp_env["OTEL_EXPORTER_OTLP_HEADERS"] == "Authorization=[REDACTED]"
    assert "CANARY" not in result.stdout + result.stderr
    bad = run("config", OTEL_TRACES_EXPORTER="jaeger")
    assert bad.returncode == 2
    assert "OTEL_TRACES_EXPORTER: unknown exporter 'jaeger'" in bad.stderr


def test_unknown_command_is_a_usage_error() -> None:
    result = run("frobnicate")
    assert result.returncode == 2 and "invalid choice" in result.stderr


def test_an_unknown_option_shows_the_commands_usage() -> None:
    for command in ("traces", "logs", "report", "doctor"):
        result = run(command, "--bogus")
        assert result.returncode == 2, command
        assert result.stderr.startswith(f"usage: otel-trading {command} "), result.stderr
        assert f"otel-trading {command}: error: unrecognized arguments: --bogus" in result.stderr


def test_time_options_take_a_duration_ago_with_a_minus(demo_store: Path) -> None:
    store = ("--store", str(demo_store))
    ago = run("logs", "--since", "-1d", "--format", "json", "--limit", "0", *store)
    assert ago.returncode == 0, ago.stderr
    assert ago.stdout == run("logs", "--since", "1d", "--format", "json", "--limit", "0", *store).stdout
    before = run("logs", "--to", "-1d", *store)
    assert before.returncode == 1 and "no log records match" in before.stderr
    assert run("traces", "--from", "-1d", "--to", "-0s", *store).returncode == 0
    assert run("report", "--since=-1d", *store).returncode == 0
    bad = run("logs", "--since", "-5x", *store)
    assert bad.returncode == 2 and "--since '-5x': expected an ISO time" in bad.stderr
