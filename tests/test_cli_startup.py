"""Start-up of the command-line tools: a command imports what it runs, not the other commands
nor the SDK setup (``otel-trading traces`` is run over and over while looking at a store)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from cli_runner import clean_environment, run_cli

# Runs main() in a fresh interpreter and prints which of our modules and the SDK's it loaded.
_LOADED_MODULES = textwrap.dedent("""
    import contextlib, io, json, sys
    from otel_trading.cli._main import main
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
        main(sys.argv[1:])
    print(json.dumps(sorted(m for m in sys.modules if m.startswith(("otel_trading", "opentelemetry")))))
""")

# What only other commands, the SDK setup (configure) or the writing side need.
_NOT_FOR_READING = (
    "otel_trading.config._configure",
    "otel_trading.config._settings",
    "opentelemetry.sdk._configuration",
    "opentelemetry.sdk.trace",
    "otel_trading.export._otlp_json_encode",
    "otel_trading.cli._demo",
    "otel_trading.cli._doctor",
    "otel_trading.cli._config",
    "otel_trading.cli._console",
    "otel_trading.cli._rules",
)


def loaded_modules(*argv: str) -> set[str]:
    done = subprocess.run([sys.executable, "-c", _LOADED_MODULES, *argv], capture_output=True, text=True,
                          timeout=60, check=True, env=clean_environment())
    return set(json.loads(done.stdout.splitlines()[-1]))


@pytest.mark.parametrize("argv", [("traces", "--help"), ("logs", "--help"), ("report", "--help"), ("--help",)])
def test_a_reading_command_imports_neither_the_sdk_setup_nor_the_other_commands(argv: tuple[str, ...]) -> None:
    loaded = loaded_modules(*argv)
    assert "otel_trading.cli._main" in loaded
    assert sorted(loaded.intersection(_NOT_FOR_READING)) == []


def test_the_command_that_runs_is_imported_and_only_it() -> None:
    loaded = loaded_modules("traces", "--help")
    assert "otel_trading.cli._traces" in loaded
    assert {"otel_trading.cli._logs", "otel_trading.cli._report"}.isdisjoint(loaded)


def test_the_top_level_help_lists_every_command_with_its_line() -> None:
    done = run_cli("--help")
    assert done.returncode == 0, done.stderr
    for command, line in (("traces", "list recent traces, or show one as a waterfall with its logs"),
                          ("doctor", "check configuration, endpoints and the store"),
                          ("demo", "run the instrumented paper-trading bot on a simulated market")):
        assert command in done.stdout
        assert line in done.stdout


def test_the_command_that_runs_gets_its_options_and_an_unknown_one_is_named(tmp_path: Path) -> None:
    done = run_cli("traces", "--store", str(tmp_path / "none"), "--limit", "3")
    assert "unrecognized arguments" not in done.stderr
    assert "no telemetry" in (done.stdout + done.stderr).lower()
    unknown = run_cli("tracez")
    assert unknown.returncode == 2
    assert "invalid choice: 'tracez'" in unknown.stderr
