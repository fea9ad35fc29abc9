"""Running the ``otel-trading`` console script as a user would, and a store made by the demo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

SCRIPT = Path(sys.executable).with_name("otel-trading")
# A short seeded demo: every command's tests read the store it leaves.
DEMO_ARGS = ("demo", "--trades", "16", "--seed", "11", "--speed", "500", "--prometheus-port", "0")


def clean_environment(**env: str) -> dict[str, str]:
    """The test process environment without OTEL_* settings, plus ``env``.

    The demo serves its console on 9466 by default; suites run side by side, so any console a
    command starts takes a free port unless the test says otherwise."""
    return {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")} | {"OTEL_TRADING_CONSOLE_PORT": "0"} | env


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 120,
            **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout,
                          env=clean_environment(**env), cwd=cwd, check=False)


def make_demo_store(directory: Path) -> subprocess.CompletedProcess[str]:
    """Runs the short demo with its store in ``directory``; fails loudly if the demo does."""
    result = run_cli(*DEMO_ARGS, "--store", str(directory), cwd=directory.parent)
    assert result.returncode == 0, f"demo failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result


def report_json(store: Path, *args: str, timeout: float = 120) -> dict[str, Any]:
    """``otel-trading report --format json`` on ``store`` (plus ``args``): the document it prints,
    after asserting that it succeeded."""
    result = run_cli("report", "--store", str(store), "--format", "json", *args, timeout=timeout)
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document
