"""The bounded batch exporter: loss is counted, never silent, and the caller never blocks."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from otel_trading.export._batch import BatchExporter
from otel_trading.metrics._local import LocalMetrics


def dropped(metrics: LocalMetrics, reason: str) -> float:
    instrument = metrics.counter("otel_trading.telemetry.dropped")
    return sum(h.value for key, h in instrument.series() if dict(key)["reason"] == reason)


def exported(metrics: LocalMetrics) -> float:
    return sum(h.value for _, h in metrics.counter("otel_trading.telemetry.exported").series())


def make(export, metrics: LocalMetrics, queue: int = 100, batch: int = 10) -> BatchExporter[int]:
    return BatchExporter(signal="traces", exporter_name="test", export=export, metrics=metrics,
                         max_queue_size=queue, max_batch_size=batch, schedule_delay_s=0.01)


def test_full_queue_drops_new_items_and_counts_them() -> None:
    gate = threading.Event()
    received: list[int] = []

    def slow(batch: Sequence[int]) -> bool:
        gate.wait(5)
        received.extend(batch)
        return True

    metrics = LocalMetrics()
    exporter = make(slow, metrics, queue=50, batch=10)
    start = time.perf_counter()
    for i in range(1000):
        exporter.put(i)
    assert time.perf_counter() - start < 0.5  # never blocks the producer
    gate.set()
    assert exporter.shutdown(5)
    assert len(received) + dropped(metrics, "queue_full") == 1000
    assert dropped(metrics, "queue_full") > 0
    assert exported(metrics) == len(received)


def test_failed_exports_are_counted() -> None:
    metrics = LocalMetrics()
    calls = {"n": 0}

    def flaky(batch: Sequence[int]) -> bool:
        calls["n"] += 1
        if calls["n"] % 2:
            raise ConnectionError("collector down")
        return False

    exporter = make(flaky, metrics)
    for i in range(30):
        exporter.put(i)
    assert not exporter.force_flush(5)  # finished in time, but what it flushed was lost
    assert exporter.shutdown(5)  # nothing left to lose at shutdown
    assert dropped(metrics, "export_failed") == 30


def test_shutdown_is_bounded_when_the_exporter_hangs() -> None:
    metrics = LocalMetrics()
    hang = threading.Event()

    def stuck(batch: Sequence[int]) -> bool:
        hang.wait(30)
        return True

    exporter = make(stuck, metrics, batch=5)
    for i in range(40):
        exporter.put(i)
    time.sleep(0.05)
    start = time.perf_counter()
    assert not exporter.shutdown(0.3)
    assert time.perf_counter() - start < 1.0
    assert dropped(metrics, "shutdown") > 0
    exporter.put(1)
    assert dropped(metrics, "shutdown") > 0
    hang.set()
