"""The measuring harness the benchmark scripts share (run.py, peers.py): pairs of loops timed in
alternating rounds, the median of the per-round ratios against a target.

A loop is timed with ``clock``: the wall clock of the calling thread (``perf_counter_ns``, the
"caller" rows) or the CPU time of the whole process (``process_time_ns``: every thread, the
exporter threads and the gRPC core included, the "total CPU" rows).
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import repeat

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from typing_extensions import override

Loop = Callable[[int], None]  # runs the measured operation n times
Clock = Callable[[], int]
WALL: Clock = time.perf_counter_ns
CPU: Clock = time.process_time_ns  # every thread of the process
# Exporter threads wake only when flushed: no queue drops, no export inside a "caller" loop.
QUEUE_SIZE = 4_000_000
DELAY_S = 3600.0


@dataclass(frozen=True)
class Pair:
    name: str
    baseline_name: str
    subject: Loop
    baseline: Loop
    target: float | None  # None: reported for information only
    settle: Callable[[], object] = lambda: None  # untimed, after every loop: drain export queues
    clock: Clock = WALL


@dataclass(frozen=True)
class Result:
    name: str
    baseline: str
    subject_ns: float
    baseline_ns: float
    ratio: float  # median of the per-round ratios
    ratio_iqr: tuple[float, float]  # their quartiles: how much the rounds disagreed
    target: float | None
    passed: bool | None


class DiscardSpans(SpanExporter):
    @override
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    @override
    def shutdown(self) -> None:
        """Nothing to release."""


def place_order(symbol: str, side: str, amount: float, price: float) -> float:
    return amount * price if symbol and side else 0.0


def calls(fn: Callable[[str, str, float, float], object]) -> Loop:
    def loop(n: int) -> None:
        for _ in repeat(None, n):
            fn("BTC/USDT", "buy", 0.5, 64_000.0)

    return loop


def repeated(op: Callable[[], object]) -> Loop:
    def loop(n: int) -> None:
        for _ in repeat(None, n):
            op()

    return loop


def then(loop: Loop, flush: Callable[[], object]) -> Loop:
    """``loop`` followed by ``flush``, so the timing includes the export work of the loop's items."""

    def run(n: int) -> None:
        loop(n)
        flush()

    return run


def time_per_op(loop: Loop, n: int, clock: Clock = WALL) -> float:
    """Nanoseconds per operation of one loop of ``n``, with the garbage collector off."""
    gc.collect()
    gc.disable()
    try:
        start = clock()
        loop(n)
        return (clock() - start) / n
    finally:
        gc.enable()


def calibrate(loop: Loop, budget_ns: float, clock: Clock = WALL) -> int:
    """An n for which ``loop(n)`` takes about ``budget_ns`` (this also warms the loop up)."""
    n = 64
    while (per_op := time_per_op(loop, n, clock)) * n < budget_ns / 4:
        n *= 4
    return max(64, int(budget_ns / max(per_op, 1.0)))


def measure(pair: Pair, rounds: int, budget_ns: float) -> Result:
    clock = pair.clock
    n = calibrate(pair.subject, budget_ns, clock)
    for loop in (pair.baseline, pair.subject):  # warm-up at full size
        time_per_op(loop, n, clock)
        pair.settle()
    subject: list[float] = []
    baseline: list[float] = []
    for index in range(rounds):
        order = ((pair.baseline, baseline), (pair.subject, subject))
        for loop, samples in order if index % 2 == 0 else order[::-1]:
            samples.append(time_per_op(loop, n, clock))
            pair.settle()
    q1, ratio, q3 = statistics.quantiles([s / b for s, b in zip(subject, baseline, strict=True)], n=4)
    passed = None if pair.target is None else ratio <= pair.target
    return Result(pair.name, pair.baseline_name, statistics.median(subject), statistics.median(baseline),
                  ratio, (q1, q3), pair.target, passed)
