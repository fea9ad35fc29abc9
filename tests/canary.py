"""Canary secrets and the sinks they must never reach: a harness shared by the secret tests.

Every canary starts with ``CANARY`` and ends with the channel it went through, so a
failure names the channel that leaked. ``Sinks`` gathers everything the SDK wrote: the
bodies of every OTLP request, the local store files, the console (stdout/stderr at the
file-descriptor level) and any other output a test adds (``/metrics`` text, CLI output,
health JSON, a dead-letter file...) with ``add_output``.

    def test_x(sinks: Sinks) -> None:      # the fixture is in test_secrets.py / test_secret_canary.py
        telemetry = otel_trading.configure(...)
        ...
        sinks.add_output("/metrics", scrape(telemetry.prometheus_url))
        sinks.finish(telemetry)
        assert sinks.leaks() == {}
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cli_runner import run_cli
from otlp_receiver import GrpcOtlpReceiver, HttpOtlpReceiver

import otel_trading

CANARY = "CANARY-SECRET-1234"
_FOUND = re.compile(re.escape(CANARY) + r"[\w\-]*")


def canaries_in(data: bytes | str) -> set[str]:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return set(_FOUND.findall(text))


def scrape(url: str) -> str:
    """The text served at ``url`` (a loopback /metrics or health endpoint)."""
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - our loopback http URL
        return str(response.read().decode("utf-8"))


def console_outputs(base_url: str, trace_id: str) -> dict[str, str]:
    """What the console renders: every page shell, its static files and each GET of the JSON API."""
    paths = ["/", "/trades", f"/traces/{trace_id}", "/api/info", "/api/overview", "/api/trades", "/api/traces",
             f"/api/traces/{trace_id}", "/api/logs?limit=1000", "/api/metrics", "/api/alerts", "/api/health",
             "/api/report", "/api/controls"]
    outputs = {}
    for path in paths:
        try:
            outputs[f"console {path}"] = scrape(base_url + path)
        except urllib.error.HTTPError as error:  # /api/controls of a store console: 404 (still rendered)
            with error:
                outputs[f"console {path}"] = error.read().decode("utf-8")
    return outputs


def cli_output(*args: str) -> str:
    """stdout and stderr of ``otel-trading *args``, which must succeed."""
    result = run_cli(*args, timeout=60)
    assert result.returncode == 0, f"otel-trading {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


@dataclass
class Sinks:
    """Everything the SDK wrote during a test, gathered after shutdown."""

    receiver: HttpOtlpReceiver | GrpcOtlpReceiver
    store_dir: Path
    capfd: pytest.CaptureFixture[str]
    console: str = ""
    outputs: dict[str, str] = field(default_factory=dict)

    def finish(self, telemetry: otel_trading.Telemetry) -> None:
        assert telemetry.shutdown(timeout=10)
        out, err = self.capfd.readouterr()
        self.console = out + err

    def add_output(self, name: str, text: str) -> None:
        """Checks ``text`` too, reported as ``name`` when it leaks."""
        self.outputs[name] = self.outputs.get(name, "") + text

    def store_files(self) -> list[Path]:
        return sorted(p for p in self.store_dir.rglob("*") if p.is_file())

    def leaks(self) -> dict[str, set[str]]:
        """{sink: canaries found there}; empty when nothing leaked."""
        found: dict[str, set[str]] = {}
        for index, chunk in enumerate(self.receiver.wire_bytes()):
            if hits := canaries_in(chunk):
                found.setdefault(f"otlp body #{index}", set()).update(hits)
        for path in self.store_files():
            if hits := canaries_in(path.read_bytes()):
                found[f"store {path.name}"] = hits
        if hits := canaries_in(self.console):
            found["console"] = hits
        for name, text in self.outputs.items():
            if hits := canaries_in(text):
                found[name] = hits
        return found
