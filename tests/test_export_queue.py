"""The bounded batch exporter: loss is counted, never silent, and the caller never blocks."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from otel_trading.export._batch import BatchExporter, in_export_worker
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


def test_export_calls_run_on_one_lasting_thread_that_ends_at_shutdown() -> None:
    # Starting a thread per call made the worker wait for the new thread to get the interpreter
    # (~12 ms on a busy machine) while the queue grew.
    threads: list[threading.Thread] = []  # kept alive: a thread object is never taken for another

    def record(batch: Sequence[int]) -> bool:
        assert in_export_worker()  # its own log records are not exported again
        threads.append(threading.current_thread())
        return True

    metrics = LocalMetrics()
    exporter = make(record, metrics, batch=5)
    for round_ in range(4):
        for i in range(12):
            exporter.put(round_ * 12 + i)
        assert exporter.force_flush(5)
    assert len(threads) >= 4 * 3  # three batches a round at least
    assert len({id(thread) for thread in threads}) == 1
    assert exported(metrics) == 48
    assert exporter.shutdown(5)
    threads[0].join(5)
    assert not threads[0].is_alive()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # its SystemExit, as meant
def test_a_call_that_ends_its_thread_fails_its_batch_and_the_next_batch_gets_a_new_thread() -> None:
    calls: list[threading.Thread] = []

    def exits_once(batch: Sequence[int]) -> bool:
        calls.append(threading.current_thread())
        if len(calls) == 1:
            raise SystemExit  # ends the thread it runs on, not the worker
        return True

    metrics = LocalMetrics()
    exporter = make(exits_once, metrics, batch=5)
    for i in range(5):
        exporter.put(i)
    assert not exporter.force_flush(5)
    calls[0].join(5)  # ended with its SystemExit (reported while this test runs, where it is expected)
    assert not calls[0].is_alive()
    for i in range(5):
        exporter.put(i)
    assert exporter.force_flush(5)
    assert exporter.shutdown(5)
    assert (dropped(metrics, "export_failed"), exported(metrics)) == (5, 5)
    assert calls[0] is not calls[1]


def test_a_late_call_is_counted_at_the_deadline_and_the_next_call_waits_for_it() -> None:
    release = threading.Event()
    running: list[int] = []
    overlapped = threading.Event()
    received: list[int] = []

    def first_hangs(batch: Sequence[int]) -> bool:
        if running:
            overlapped.set()
        running.append(1)
        try:
            items = list(batch)
            if items[0] == 0:
                release.wait(5)
            received.extend(items)
            return True
        finally:
            running.pop()

    metrics = LocalMetrics()
    exporter = BatchExporter(signal="traces", exporter_name="test", export=first_hangs, metrics=metrics,
                             max_queue_size=100, max_batch_size=5, schedule_delay_s=0.01, export_timeout_s=0.1)
    for i in range(10):
        exporter.put(i)
    deadline = time.monotonic() + 5
    while dropped(metrics, "export_timeout") < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert dropped(metrics, "export_timeout") == 5  # the first batch, at its deadline
    time.sleep(0.2)
    assert received == []  # the second batch waits for the late call: one call at a time
    release.set()
    assert exporter.shutdown(5)
    assert not overlapped.is_set()
    assert received == list(range(10))  # the late call still delivered its batch, counted lost
    assert exported(metrics) == 5
