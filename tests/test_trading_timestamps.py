"""Explicit times on the trading API: backtests and replays record simulated times on spans,
events, SDK log lines, latencies, the portfolio's days and periods, and the report follows them."""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_runner import report_json
from opentelemetry.sdk.metrics.export import HistogramDataPoint
from opentelemetry.sdk.trace import ReadableSpan

import otel_trading
from otel_trading.analytics import build_report, returns_from_equity
from otel_trading.export import load_store
from otel_trading.testing import TelemetryCapture

UTC = dt.timezone.utc
SECOND = 10**9
HOUR = 3_600 * SECOND
DAY = 24 * HOUR
T0 = dt.datetime(2021, 3, 1, tzinfo=UTC)
T0_NS = int(T0.timestamp()) * SECOND


@pytest.fixture(autouse=True)
def _no_trade_left_open() -> Iterator[None]:
    yield
    for leftover in otel_trading.open_trades():
        leftover.close()


def events(span: ReadableSpan) -> list[tuple[str, int]]:
    return [(event.name, event.timestamp) for event in span.events]


def histogram(otel: TelemetryCapture, name: str) -> HistogramDataPoint:
    (point,) = otel.points(name)
    assert isinstance(point, HistogramDataPoint)
    return point


def log_times(otel: TelemetryCapture) -> list[tuple[str, int | None]]:
    return [(str(r.log_record.body), r.log_record.timestamp) for r in otel.logs
            if str(r.log_record.body).startswith(("order ", "position ", "risk "))]


def test_a_replayed_trade_carries_the_given_times_everywhere(otel_capture: TelemetryCapture) -> None:
    submitted = T0_NS + 9 * HOUR
    with otel_trading.trade("BTC/USDT", "buy", start_time=T0.replace(tzinfo=None, hour=9)) as t:  # naive: UTC
        t.signal("long", timestamp=submitted)
        t.risk_check(approved=True, timestamp=submitted)
        entry = t.submit_order(1.0, reference_price=100.0, timestamp=submitted)
        entry.accepted("v-1", timestamp=submitted + SECOND // 4)
        entry.fill(0.5, 100.0, timestamp=submitted + SECOND)
        entry.fill(0.5, 100.0, timestamp=submitted + 2 * SECOND)
        t.position_opened(1.0, 100.0, timestamp=submitted + 2 * SECOND)
        closing = submitted + HOUR
        t.submit_order(1.0, side="sell", timestamp=closing).fill(1.0, 110.0, timestamp=closing)
        t.position_closed(10.0, exit_reason="take_profit", timestamp=closing)

    root = otel_capture.span("trade")
    assert (root.start_time, root.end_time) == (submitted, closing)  # ends at its last time, not at wall now
    assert events(root) == [("signal", submitted), ("risk_check", submitted),
                            ("position.opened", submitted + 2 * SECOND), ("position.closed", closing)]
    entry_span, exit_span = sorted((s for s in otel_capture.spans if s.name == "order"),
                                   key=lambda s: s.start_time or 0)
    assert (entry_span.start_time, entry_span.end_time) == (submitted, submitted + 2 * SECOND)
    assert events(entry_span) == [("order.accepted", submitted + SECOND // 4), ("order.fill", submitted + SECOND),
                                  ("order.fill", submitted + 2 * SECOND), ("order.filled", submitted + 2 * SECOND)]
    assert (exit_span.start_time, exit_span.end_time) == (closing, closing)
    # Latencies are the simulated ones: 0.25 s and 2 s for the entry; the exit filled at once.
    assert histogram(otel_capture, "trading.order.ack.latency").sum == pytest.approx(0.25 + 0.0)
    assert histogram(otel_capture, "trading.order.fill.latency").sum == pytest.approx(2.0 + 0.0)
    assert histogram(otel_capture, "trading.trade.duration").sum == pytest.approx(3_600.0)
    # The SDK's lines about these events are at the events' times, like the spans.
    assert log_times(otel_capture) == [("order filled", submitted + 2 * SECOND), ("order filled", closing),
                                       ("position closed", closing)]


def test_int_nanoseconds_and_datetimes_in_any_zone_are_the_same_time(otel_capture: TelemetryCapture) -> None:
    paris_winter = dt.timezone(dt.timedelta(hours=1))
    same_instant: list[dt.datetime | int] = [T0_NS, T0, T0.replace(tzinfo=None), T0.astimezone(paris_winter)]
    for when in same_instant:
        otel_trading.trade("ETH/USDT", "buy", start_time=when).start().close()
    assert [s.start_time for s in otel_capture.spans] == [T0_NS] * len(same_instant)
    assert [s.end_time for s in otel_capture.spans] == [T0_NS] * len(same_instant)


def test_replay_with_start_and_close_alone(otel_capture: TelemetryCapture) -> None:
    """A trade whose whole life is known: start_time= and close(end_time=) are enough."""
    t = otel_trading.trade("BTC/USDT", "sell", start_time=T0_NS).start()
    order = t.submit_order(2.0)                 # no time given: at the trade's latest time (its start)
    order.cancelled("timeout", timestamp=T0_NS + 30 * SECOND)
    t.close(end_time=T0_NS + HOUR)
    root, order_span = otel_capture.span("trade"), otel_capture.span("order")
    assert (root.start_time, root.end_time) == (T0_NS, T0_NS + HOUR)
    assert (order_span.start_time, order_span.end_time) == (T0_NS, T0_NS + 30 * SECOND)


def test_a_trade_started_by_a_timed_call_starts_at_its_time(otel_capture: TelemetryCapture) -> None:
    t = otel_trading.trade("BTC/USDT", "buy")
    order = t.submit_order(1.0, timestamp=T0)    # starts the trade: on given time from here
    t.signal("long")                             # no time: the trade's latest, never the wall clock
    order.fill(1.0, 100.0, timestamp=T0_NS + 5 * SECOND)
    t.close()
    root = otel_capture.span("trade")
    assert (root.start_time, root.end_time) == (T0_NS, T0_NS + 5 * SECOND)
    assert events(root) == [("signal", T0_NS)]


def test_an_order_open_at_close_ends_with_its_trade(otel_capture: TelemetryCapture) -> None:
    with otel_trading.trade("BTC/USDT", "buy", start_time=T0_NS) as t:
        t.submit_order(1.0, timestamp=T0_NS + SECOND).accepted("v-9", timestamp=T0_NS + 2 * SECOND)
    order_span = otel_capture.span("order")
    assert order_span.end_time == otel_capture.span("trade").end_time == T0_NS + 2 * SECOND
    assert events(order_span)[-1] == ("order.open_at_trade_close", T0_NS + 2 * SECOND)


def test_a_live_trade_keeps_the_wall_clock_and_uses_a_venue_time_given(otel_capture: TelemetryCapture) -> None:
    before = time.time_ns()
    with otel_trading.trade("BTC/USDT", "buy") as t:
        order = t.submit_order(1.0)
        venue_time = time.time_ns() + SECOND  # the venue's clock is a second ahead
        order.fill(1.0, 100.0, timestamp=venue_time)
        t.signal("flat")
    after = time.time_ns()
    root, order_span = otel_capture.span("trade"), otel_capture.span("order")
    assert before <= (root.start_time or 0) <= (root.end_time or 0) <= after
    assert order_span.end_time == venue_time
    assert events(order_span)[:2] == [("order.accepted", venue_time), ("order.fill", venue_time)]
    assert before <= events(root)[0][1] <= after
    assert 1.0 <= histogram(otel_capture, "trading.order.fill.latency").sum < 60.0


# Warnings are logged once per call, field and problem for the whole process: one call each.
@pytest.mark.parametrize(("call", "bad", "problem"), [
    ("Order.fill", 1_614_556_800.0, "a float is not accepted"),                          # epoch seconds, float
    ("Order.accepted", 1_614_556_800, "seconds or milliseconds given as nanoseconds"),  # epoch seconds, int
    ("Order.cancelled", "2021-03-01", "int nanoseconds since the Unix epoch"),
    ("Trade.signal", True, "int nanoseconds since the Unix epoch"),
    ("Trade.position_opened", dt.date(2021, 3, 1), "int nanoseconds since the Unix epoch"),
])
def test_a_bad_time_is_logged_once_naming_the_call_and_the_call_is_made_without_it(
        otel_capture: TelemetryCapture, caplog: pytest.LogCaptureFixture, call: str, bad: Any, problem: str) -> None:
    caplog.set_level(logging.WARNING, logger="otel_trading.trading")
    before = time.time_ns()
    with otel_trading.trade("BTC/USDT", "buy") as t:
        order = t.submit_order(1.0)
        for _ in range(2):
            {"Order.fill": lambda: order.fill(0.5, 100.0, timestamp=bad),
             "Order.accepted": lambda: order.accepted("v", timestamp=bad),
             "Order.cancelled": lambda: order.cancelled(timestamp=bad),
             "Trade.signal": lambda: t.signal("long", timestamp=bad),
             "Trade.position_opened": lambda: t.position_opened(1.0, 100.0, timestamp=bad)}[call]()
    warnings = [r.getMessage() for r in caplog.records if f"{call}: timestamp must be" in r.getMessage()]
    assert len(warnings) == 1, caplog.text
    assert problem in warnings[0] and repr(bad)[:20] in warnings[0]
    spans = [otel_capture.span("order"), otel_capture.span("trade")]
    stamps = [stamp for span in spans for _, stamp in events(span)]
    assert stamps and all(stamp >= before for stamp in stamps)  # recorded, at the wall clock instead


def test_a_bad_start_time_falls_back_to_now(otel_capture: TelemetryCapture,
                                            caplog: pytest.LogCaptureFixture) -> None:
    before = time.time_ns()
    otel_trading.trade("BTC/USDT", "buy", start_time=-5).start().close(end_time="later")  # type: ignore[arg-type]
    assert "trade(): start_time must be" in caplog.text and "Trade.close: end_time must be" in caplog.text
    root = otel_capture.span("trade")
    assert before <= (root.start_time or 0) <= (root.end_time or 0) <= time.time_ns()


def test_a_time_going_backwards_keeps_the_event_and_clamps_the_span_end(
        otel_capture: TelemetryCapture, caplog: pytest.LogCaptureFixture) -> None:
    with otel_trading.trade("BTC/USDT", "buy", start_time=T0_NS + HOUR) as t:
        order = t.submit_order(1.0, timestamp=T0_NS + HOUR)
        order.fill(1.0, 100.0, timestamp=T0_NS)          # an hour before the submission
        t.close(end_time=T0_NS)
    order_span, root = otel_capture.span("order"), otel_capture.span("trade")
    assert events(order_span)[1] == ("order.fill", T0_NS)  # the event keeps the time given
    assert order_span.end_time == order_span.start_time == T0_NS + HOUR
    assert root.end_time == root.start_time == T0_NS + HOUR
    assert histogram(otel_capture, "trading.order.fill.latency").sum == 0.0  # never negative
    assert "Order.fill: the time given is before the span's start" in caplog.text
    assert "Trade.close: the time given is before the span's start" in caplog.text


def test_portfolio_days_and_periods_follow_the_times_given(otel_capture: TelemetryCapture) -> None:
    # Created now (wall clock, years after the replayed days): the first time given moves it.
    book = otel_trading.Portfolio("replay", cash=1_000.0, daily_reset_hour_utc=0)
    book.apply_fill("BTC/USDT", "buy", 1.0, 100.0, timestamp=T0_NS + 10 * HOUR)
    book.mark("BTC/USDT", 110.0, timestamp=T0_NS + 20 * HOUR)
    assert book.snapshot().daily_pnl == 10.0                       # still the first simulated day
    # Periods run from the first time given (10:00), days from the reset hour (midnight).
    book.mark("BTC/USDT", 105.0, timestamp=T0 + dt.timedelta(days=1, hours=11))
    snap = book.snapshot()
    assert snap.daily_pnl == -5.0                                  # the day reset at simulated midnight
    assert snap.period_returns == pytest.approx([10.0 / 1_000.0])  # one simulated day closed: +1 %
    book.set_cash(1_000.0, timestamp=T0_NS + 2 * DAY + 11 * HOUR)
    assert book.snapshot().period_returns == pytest.approx([0.01, -5.0 / 1_010.0])
    assert book.snapshot().daily_pnl == 1_105.0 - 1_005.0          # the new day started at 1 005
    # Reads between updates (the gauges' collections) stay on the given time: no wall-clock days.
    assert len(book.snapshot().period_returns) == 2


def test_a_trade_fill_moves_its_portfolio_to_the_fill_time(otel_capture: TelemetryCapture) -> None:
    book = otel_trading.Portfolio("replay-trades", cash=1_000.0)
    for day, exit_price in enumerate((110.0, 99.0)):
        opened = T0_NS + day * DAY + 9 * HOUR
        with otel_trading.trade("BTC/USDT", "buy", start_time=opened, portfolio=book) as t:
            t.submit_order(1.0).fill(1.0, 100.0)
            t.submit_order(1.0, side="sell", timestamp=opened + HOUR).fill(1.0, exit_price)
            t.position_closed(exit_reason="signal")
    book.mark("BTC/USDT", 100.0, timestamp=T0_NS + 2 * DAY + 10 * HOUR)  # past the second period's end
    assert book.snapshot().period_returns == pytest.approx([10.0 / 1_000.0, -1.0 / 1_010.0])


def replay_three_days(store: Path) -> float:
    """Three trades on three simulated days, replayed into ``store``; returns the wall seconds taken.

    Day 1: buy 1 @ 100, sell @ 110 one hour later (+10). Day 2: buy 1 @ 100, sell @ 95 two hours
    later (-5). Day 3: buy 2 @ 100, sell @ 101 three hours later (+2). Equity 10 000 -> 10 010 ->
    10 005 -> 10 007. Each entry is acknowledged after 0.5 s and each exit fills after 0.25 s.
    """
    with pytest.MonkeyPatch.context() as env:
        for name in [n for n in os.environ if n.startswith("OTEL_")]:
            env.delenv(name)
        telemetry = otel_trading.configure(service_name="replay-bot", store_dir=store, metrics_exporter="none",
                                           log_console="off", install_signal_handlers=False, system_metrics=False)
        try:
            book = otel_trading.Portfolio("backtest", cash=10_000.0)
            started = time.perf_counter()
            for day, (amount, exit_price) in enumerate(((1.0, 110.0), (1.0, 95.0), (2.0, 101.0))):
                opened = T0 + dt.timedelta(days=day, hours=9)
                t = otel_trading.trade("BTC/USDT", "buy", strategy="replayed", portfolio=book, start_time=opened)
                entry = t.submit_order(amount, reference_price=100.0)
                entry.accepted("e", timestamp=opened + dt.timedelta(seconds=0.5))
                entry.fill(amount, 100.0, timestamp=opened + dt.timedelta(seconds=0.5))
                closed = opened + dt.timedelta(hours=day + 1)
                exit_order = t.submit_order(amount, side="sell", timestamp=closed - dt.timedelta(seconds=0.25))
                exit_order.fill(amount, exit_price, timestamp=closed)
                t.position_closed(exit_reason="roi" if exit_price > 100 else "stop_loss", timestamp=closed)
                t.close()
            elapsed = time.perf_counter() - started
        finally:
            telemetry.shutdown()
    return elapsed


def test_the_report_of_a_replay_follows_the_simulated_times(tmp_path: Path) -> None:
    store = tmp_path / "store"
    wall_seconds = replay_three_days(store)
    report = build_report(load_store(store).spans)
    assert report.stats.trades == 3 and report.stats.total_pnl == pytest.approx(7.0)
    trades = report.journal.trades
    assert [t.opened_ns for t in trades] == [T0_NS + day * DAY + 9 * HOUR for day in range(3)]
    assert [t.duration_s for t in trades] == [3_600.0, 7_200.0, 10_800.0]
    assert wall_seconds < 1.0  # six simulated hours over three days, replayed in (much) less than a second
    curve = report.equity_curve
    assert [p.value for p in curve] == pytest.approx([10_000.0, 10_010.0, 10_005.0, 10_007.0])
    assert [p.time_ns for p in curve] == [T0_NS + 9 * HOUR, *(t.closed_ns for t in trades)]
    # One trade a day: the curve's returns are the per-day returns of the simulated days.
    assert [(p.time_ns - T0_NS) // DAY for p in curve[1:]] == [0, 1, 2]
    assert returns_from_equity([p.value for p in curve]) == pytest.approx(
        [10 / 10_000, -5 / 10_010, 2 / 10_005])
    assert report.ack_latency.count == 6 and report.ack_latency.max == pytest.approx(0.5)
    assert report.fill_latency.count == 6 and report.fill_latency.p50 == pytest.approx(0.375)  # 0.5s and 0.25s
    assert sorted(t.exit_reason or "" for t in trades) == ["roi", "roi", "stop_loss"]

    document = report_json(store, timeout=60)
    assert document["period"] == {"first_trade_opened": "2021-03-01T09:00:00.000Z",
                                  "last_trade_closed": "2021-03-03T12:00:00.000Z"}
    assert [point["time"] for point in document["equity_curve"]] == [
        "2021-03-01T09:00:00.000Z", "2021-03-01T10:00:00.000Z", "2021-03-02T11:00:00.000Z",
        "2021-03-03T12:00:00.000Z"]
    # The SDK's log lines of the replay are on the simulated days too.
    log_days = {(log.time_ns - T0_NS) // DAY for log in load_store(store).logs if log.body == "position closed"}
    assert log_days == {0, 1, 2}
