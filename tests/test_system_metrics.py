"""System metrics (psutil through the OTel contrib instrumentation), uptime and heartbeat."""

from __future__ import annotations

import time

import otel_trading
from otel_trading.testing import capture


def test_system_metrics_on_by_default_and_switchable() -> None:
    with capture() as otel:
        names = set(otel.metrics())
    assert {"process.cpu.time", "process.memory.usage", "system.memory.usage", "process.uptime"} <= names
    assert "cpython.gc.collections" in names or "process.runtime.gc_count" in names
    with capture(system_metrics=False) as otel:
        names = set(otel.metrics())
    assert "process.cpu.time" not in names and "process.uptime" in names


def test_heartbeat() -> None:
    with capture(system_metrics=False) as otel:
        before = time.time()
        otel_trading.heartbeat()
        otel_trading.heartbeat()
        assert otel.value("otel_trading.heartbeats") == 2
        assert otel.value("otel_trading.heartbeat.timestamp") >= before
