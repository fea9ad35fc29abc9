"""``Portfolio.equity`` reads the equity without building a snapshot: a closing trade reads it for
its span, and a snapshot recomputes the return of every period in the returns window."""

from __future__ import annotations

import time

from otel_trading import Portfolio

_T0 = 1_704_067_200  # 2024-01-01, Unix seconds


def _book() -> Portfolio:
    book = Portfolio("equity-read", cash=1000.0, returns_period=1.0, returns_window=200_000)
    book.set_cash(1000.0, timestamp=_T0 * 10**9)
    book.set_cash(1100.0, timestamp=(_T0 + 150_000) * 10**9)  # 150 000 one-second periods behind it
    return book


def test_equity_is_the_snapshots_equity() -> None:
    book, twin = _book(), _book()
    assert book.equity == twin.snapshot().equity == 1100.0
    assert book.snapshot() == twin.snapshot()  # the read left the state as a snapshot leaves it


def test_reading_equity_does_not_cost_a_snapshot() -> None:
    book = _book()
    started = time.perf_counter()
    for _ in range(5):
        book.snapshot()
    snapshots = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(5):
        _ = book.equity
    reads = time.perf_counter() - started
    assert reads < snapshots / 20, (reads, snapshots)  # O(1) against O(returns window): ~1000x apart
