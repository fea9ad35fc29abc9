"""When trading events happen: the wall clock, or the times a backtest or a replay gives.

Every lifecycle call takes an optional time (``timestamp=``, ``start_time=``, ``end_time=``:
a :data:`~otel_trading.trading._inputs.Timestamp`). A trade given a time when it starts runs
on *given* time (a backtest's simulated clock): a later call without a time happens at the
latest time the trade was given, so the wall clock never enters a replayed trade. A trade
started without one runs on the wall clock; a time given to one of its calls is used as is.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from opentelemetry.trace import Span

from otel_trading.trading._inputs import warn_once


@dataclass(frozen=True, slots=True)
class Instant:
    """The time of one lifecycle call."""

    ns: int
    """Unix nanoseconds: the given time, or the wall clock at the call."""
    given: bool
    """From the caller (or its trade's given clock) rather than the wall clock."""
    mono: float
    """``perf_counter()`` at the call: wall-clock durations immune to clock steps."""

    def seconds_since(self, earlier: Instant) -> float:
        """Duration from ``earlier``, never negative: on given time if either time was given."""
        if self.given or earlier.given:
            return max(self.ns - earlier.ns, 0) / 1e9
        return max(self.mono - earlier.mono, 0.0)

    @property
    def event_ns(self) -> int | None:
        """The timestamp for a span event or log record: None (stamped by the SDK) on the wall clock."""
        return self.ns if self.given else None


def wall_now() -> Instant:
    return Instant(time.time_ns(), False, time.perf_counter())


class TradeClock:
    """A trade's time: the wall clock, or, once started at a given time, the latest time given."""

    __slots__ = ("given", "latest_ns")

    def __init__(self) -> None:
        self.given = False
        self.latest_ns = 0

    def start(self, given_ns: int | None) -> Instant:
        if given_ns is None:
            return wall_now()
        self.given = True
        self.latest_ns = given_ns
        return Instant(given_ns, True, time.perf_counter())

    def at(self, given_ns: int | None) -> Instant:
        """The time of a call given ``given_ns`` (None: no valid time given)."""
        if given_ns is not None:
            self.latest_ns = max(self.latest_ns, given_ns)
            return Instant(given_ns, True, time.perf_counter())
        if self.given:
            return Instant(self.latest_ns, True, time.perf_counter())
        return wall_now()


def end_span(span: Span, end: Instant, start: Instant, where: str) -> None:
    """Ends ``span`` at ``end``, clamped to its ``start``: a span must not end before it starts.

    A given end before the start (times going backwards) is logged once per call.
    """
    end_ns = end.ns
    if end_ns < start.ns:
        if end.given:
            warn_once(("time", where, "before start"),
                      "%s: the time given is before the span's start (times going backwards?); the span "
                      "ends at its start instead, the event keeps the time given (logged once per call)", where)
        end_ns = start.ns
    span.end(end_time=end_ns)
