"""Deterministic trace/span ids and timestamps for ``capture(deterministic=True)``."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable

from opentelemetry.sdk.trace.id_generator import IdGenerator

_SECOND_NS = 1_000_000_000


class SequentialIdGenerator(IdGenerator):
    """Trace ids 1, 2, 3... and span ids 1, 2, 3..., in the order the spans start."""

    def __init__(self) -> None:
        self._trace_ids = itertools.count(1)
        self._span_ids = itertools.count(1)
        self._lock = threading.Lock()

    def generate_trace_id(self) -> int:
        with self._lock:
            return next(self._trace_ids)

    def generate_span_id(self) -> int:
        with self._lock:
            return next(self._span_ids)


class IncrementingClock:
    """Maps the real instants of a snapshot to 1 s, 2 s, 3 s... (ns since the epoch), in order.

    Equal instants map to the same second and the order of any two is kept, so a test's
    snapshot is the same on every run as long as the code under test runs in the same order.
    """

    def __init__(self, instants: Iterable[int | None]) -> None:
        ordered = sorted({t for t in instants if t is not None})
        self._seconds = {instant: (index + 1) * _SECOND_NS for index, instant in enumerate(ordered)}

    def __call__(self, instant: int | None) -> int | None:
        return None if instant is None else self._seconds.get(instant, instant)
