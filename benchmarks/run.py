"""Hot-path overhead of otel-trading, each case against a hand-written baseline.

Every case times the instrumented call and its baseline in the same process, alternating
the two over several rounds (garbage collector off inside each timed loop, export queues
drained between loops), and reports the median of the per-round ratios against a target.

Export queues only drain when flushed, so a timed loop measures either the calling thread
alone ("caller") or the calling thread plus the export work its items cause, flushed inside
the timed region ("+ export"): on CPython the exporter thread's work competes for the GIL.
Progress goes to stderr; the table (or JSON with ``--json``) goes to stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from itertools import cycle, islice, repeat
from pathlib import Path
from typing import Any, TextIO

import burst
import console_speed
import exporter_paths
import prometheus_client
import store_reading  # benchmarks/ is on sys.path: this script's directory
import structlog
from harness import (  # benchmarks/ is on sys.path: this script's directory
    DELAY_S,
    QUEUE_SIZE,
    DiscardSpans,
    Loop,
    Pair,
    Result,
    calls,
    measure,
    place_order,
    repeated,
    then,
)
from loopback_sink import running_sink
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.util.types import AttributeValue
from typing_extensions import override

import otel_trading
from otel_trading.config import ConfigureOptions
from otel_trading.config._configure import configure_with
from otel_trading.logs import _processors
from otel_trading.metrics import DURATION_BUCKETS_SECONDS, LocalMetrics
from otel_trading.trading import Portfolio, TradingMetrics
from otel_trading.trading._names import LATENCY_BUCKETS_SECONDS

QUIET: ConfigureOptions = {
    "service_name": "bench", "traces_exporter": "none", "metrics_exporter": "none", "logs_exporter": "none",
    "log_console": "off", "install_signal_handlers": False, "capture_stdlib_logging": False,
    "max_queue_size": QUEUE_SIZE, "max_export_batch_size": QUEUE_SIZE, "schedule_delay": DELAY_S,
}


class DiscardLogs(LogRecordExporter):
    @override
    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        return LogRecordExportResult.SUCCESS

    @override
    def shutdown(self) -> None:
        """Nothing to release."""

    @override
    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def observations(record: Callable[[float], object]) -> Loop:
    values = [10 ** (i / 128 - 4) for i in range(640)]  # 0.1 ms .. 10 s, across every bucket

    def loop(n: int) -> None:
        for value in islice(cycle(values), n):
            record(value)

    return loop


# --- the cases: each sets its world up, yields its pairs, and tears it down ----------------


@contextmanager
def traced_vs_raw_sdk() -> Iterator[list[Pair]]:
    telemetry = configure_with(QUIET, extra_span_exporters=[DiscardSpans()])
    decorated = otel_trading.traced(capture=["symbol", "side", "amount", "price"])(place_order)

    provider = TracerProvider(resource=Resource.create({"service.name": "bench"}), shutdown_on_exit=False)
    provider.add_span_processor(BatchSpanProcessor(
        DiscardSpans(), max_queue_size=QUEUE_SIZE, max_export_batch_size=QUEUE_SIZE,
        schedule_delay_millis=DELAY_S * 1000,
    ))
    tracer = provider.get_tracer("bench")

    def hand_written(symbol: str, side: str, amount: float, price: float) -> float:
        attributes: dict[str, AttributeValue] = {"symbol": symbol, "side": side, "amount": amount, "price": price}
        with tracer.start_as_current_span("place_order", attributes=attributes):
            return amount * price if symbol and side else 0.0

    assert telemetry.tracer_provider is not None
    flush = telemetry.tracer_provider.force_flush  # the batch exporters' own flush, as provider's

    def settle() -> None:
        flush()
        provider.force_flush()

    ours, raw = calls(decorated), calls(hand_written)
    try:
        yield [
            Pair("@traced(capture=4 args) + RED metrics, caller", "raw SDK start_as_current_span + BSP",
                 ours, raw, 1.15, settle),
            Pair("@traced(capture=4 args) + RED metrics, + export", "raw SDK start_as_current_span + BSP",
                 then(ours, flush), then(raw, provider.force_flush), 1.15, settle),
        ]
    finally:
        telemetry.shutdown()
        provider.shutdown()


@contextmanager
def disabled_vs_bare() -> Iterator[list[Pair]]:
    otel_trading.configure(enabled=False, install_signal_handlers=False)
    decorated = otel_trading.traced(capture=["symbol", "side", "amount", "price"])(place_order)
    yield [Pair("@traced, otel_trading disabled", "bare call", calls(decorated), calls(place_order), 10.0)]


@contextmanager
def log_vs_structlog() -> Iterator[list[Pair]]:
    telemetry = configure_with({**QUIET, "log_console": "json"}, extra_log_exporters=[DiscardLogs()])
    assert telemetry.logger_provider is not None
    flush = telemetry.logger_provider.force_flush
    devnull: TextIO = open(os.devnull, "w")  # noqa: SIM115 - closed in finally, after the loops
    saved, _processors.CONSOLE.stream = _processors.CONSOLE.stream, devnull
    ours = otel_trading.get_logger("bench")
    plain = structlog.wrap_logger(
        structlog.WriteLogger(devnull),
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
    ).bind(logger="bench")  # bind() yields the concrete logger, as get_logger() does

    def event(logger: Any) -> Loop:
        return repeated(lambda: logger.info("order placed", symbol="BTC/USDT", qty=1))

    name = "get_logger().info in a span, JSON console + OTel logs"
    try:
        with otel_trading.span("bench"):  # trace/span ids and the correlation id are added to ours
            yield [
                Pair(f"{name}, caller", "structlog JSON to devnull", event(ours), event(plain), 1.5, flush),
                # For information: the baseline exports nothing, so this is not a like-for-like pair.
                Pair(f"{name}, + export (info)", "structlog JSON to devnull",
                     then(event(ours), flush), event(plain), None, flush),
            ]
    finally:
        _processors.CONSOLE.stream = saved
        telemetry.shutdown()
        devnull.close()


@contextmanager
def local_metrics_vs_prometheus() -> Iterator[list[Pair]]:
    local = LocalMetrics()
    registry = prometheus_client.CollectorRegistry()
    counter = local.counter("x").bind({"symbol": "BTC"})
    prom_counter = prometheus_client.Counter("x", "x", ["symbol"], registry=registry).labels("BTC")
    histogram = local.histogram("h", DURATION_BUCKETS_SECONDS).bind({"symbol": "BTC"})
    prom_histogram = prometheus_client.Histogram(
        "h", "h", ["symbol"], buckets=DURATION_BUCKETS_SECONDS, registry=registry
    ).labels("BTC")
    provider = MeterProvider(metric_readers=[InMemoryMetricReader()], shutdown_on_exit=False)
    sdk_counter = provider.get_meter("bench").create_counter("x")
    attributes = {"symbol": "BTC"}
    try:
        yield [
            Pair("bound local counter .add(1)", "prometheus_client child .inc()",
                 repeated(lambda: counter.add(1)), repeated(prom_counter.inc), 2.0),
            Pair("bound local histogram .record(v)", "prometheus_client child .observe(v)",
                 observations(histogram.record), observations(prom_histogram.observe), 2.0),
            Pair("OTel SDK Counter.add(1, attrs) (info)", "prometheus_client child .inc()",
                 repeated(lambda: sdk_counter.add(1, attributes)), repeated(prom_counter.inc), None),
        ]
    finally:
        provider.shutdown()


@contextmanager
def trading_metrics_vs_prometheus() -> Iterator[list[Pair]]:
    """The order/tick hot path of the trading layer against what a bot hand-rolls today."""
    registry = prometheus_client.CollectorRegistry()
    metrics = TradingMetrics("BTC/USDT", exchange="binance", strategy="bench")
    prom_orders = prometheus_client.Counter(
        "orders", "o", ["symbol", "exchange", "strategy", "status", "side", "type"], registry=registry
    ).labels("BTC/USDT", "binance", "bench", "filled", "buy", "limit")
    prom_latency = prometheus_client.Histogram(
        "ack", "a", ["symbol", "exchange", "strategy", "type"], buckets=LATENCY_BUCKETS_SECONDS, registry=registry
    ).labels("BTC/USDT", "binance", "bench", "limit")
    book = Portfolio("bench", cash=100_000.0)
    book.apply_fill("BTC/USDT", "buy", 1.0, 50_000.0)
    books = [book]  # cleared after the case: a portfolio reports while referenced
    del book
    gauges = [prometheus_client.Gauge(name, name, registry=registry) for name in ("upnl", "equity", "dd")]
    peak = [100_000.0]

    def hand_rolled_mark(price: float) -> None:
        unrealized = price - 50_000.0
        equity = 50_000.0 + price
        peak[0] = max(peak[0], equity)
        gauges[0].set(unrealized)
        gauges[1].set(equity)
        gauges[2].set((peak[0] - equity) / peak[0])

    try:
        yield [
            Pair("TradingMetrics.order(status, side=, order_type=)", "prometheus_client child .inc()",
                 repeated(lambda: metrics.order("filled", side="buy", order_type="limit")),
                 repeated(prom_orders.inc), 2.0),
            Pair("TradingMetrics.ack_latency(v, order_type=)", "prometheus_client child .observe(v)",
                 observations(lambda v: metrics.ack_latency(v, order_type="limit")),
                 observations(prom_latency.observe), 2.0),
            Pair("Portfolio.mark(symbol, price)", "unrealized/equity/drawdown by hand + 3 Gauge.set",
                 observations(lambda v: books[0].mark("BTC/USDT", 50_000.0 + v)),
                 observations(lambda v: hand_rolled_mark(50_000.0 + v)), 2.0),
        ]
    finally:
        books.clear()


class _NoSuchOrder(Exception):
    pass


class InMemoryVenue:
    """A ccxt-shaped exchange answering from memory: the order tracking's cost without HTTP noise.

    ``create_order`` answers ``open``; the next ``fetch_order`` a half fill, the one after the
    rest (``closed``): one order's whole lifecycle in three calls.
    """

    id = "bench"

    def __init__(self) -> None:
        self._orders: dict[str, int] = {}
        self._next = 0

    def create_order(  # noqa: PLR0917 - ccxt's signature, read by position
        self, symbol: str, type: str, side: str, amount: float,  # noqa: ARG002
        price: float | None = None, params: dict[str, Any] | None = None,  # noqa: ARG002
    ) -> dict[str, Any]:
        self._next += 1
        order_id = str(self._next)
        self._orders[order_id] = 0
        return self._structure(order_id, symbol, amount)

    def fetch_order(self, id: str, symbol: str | None = None,
                    params: dict[str, Any] | None = None) -> dict[str, Any]:  # noqa: ARG002 - ccxt's signature
        polls = self._orders[id] = self._orders[id] + 1
        if polls >= 2:
            del self._orders[id]
        return self._structure(id, symbol or "BTC/USDT", 0.002, filled=0.001 * min(polls, 2))

    @staticmethod
    def _structure(order_id: str, symbol: str, amount: float, filled: float = 0.0) -> dict[str, Any]:
        return {"id": order_id, "symbol": symbol, "type": "limit", "side": "buy", "amount": amount,
                "price": 50_000.0, "filled": filled, "average": 50_000.0 if filled else None,
                "status": "closed" if filled >= amount else "open",
                "fee": {"cost": filled * 50.0, "currency": "USDT"} if filled else None, "trades": []}


@contextmanager
def ccxt_orders_on_vs_off() -> Iterator[list[Pair]]:
    from types import SimpleNamespace

    from otel_trading.instrumentation.ccxt import _orders, instrument_class

    telemetry = configure_with(QUIET, extra_span_exporters=[DiscardSpans()])
    undo = instrument_class(InMemoryVenue, SimpleNamespace(OrderNotFound=_NoSuchOrder))  # type: ignore[arg-type]
    venue = InMemoryVenue()
    assert telemetry.tracer_provider is not None
    flush = telemetry.tracer_provider.force_flush

    def lifecycle(orders: bool) -> Loop:
        def loop(n: int) -> None:
            _orders.SWITCH.on = orders
            for _ in repeat(None, n):
                placed = venue.create_order("BTC/USDT", "limit", "buy", 0.002, 50_000.0)
                venue.fetch_order(placed["id"], "BTC/USDT")
                venue.fetch_order(placed["id"], "BTC/USDT")
            _orders.SWITCH.on = True

        return loop

    try:
        yield [Pair("ccxt create_order + 2 fetch_order (span each), orders tracked: 1 lifecycle",
                    "the same calls, instrument(orders=False)", lifecycle(True), lifecycle(False), None, flush)]
    finally:
        undo()
        telemetry.shutdown()


CASES = (traced_vs_raw_sdk, disabled_vs_bare, log_vs_structlog, local_metrics_vs_prometheus,
         trading_metrics_vs_prometheus, ccxt_orders_on_vs_off, *exporter_paths.CASES)
BENCH_VENV_PYTHON = Path(__file__).resolve().parent.parent / ".venv-bench" / "bin" / "python"


def peer_results(python: Path, rounds: int, budget_ms: float) -> list[Result]:
    """ddtrace and logfire rows, measured in a subprocess of the bench venv (see peers.py)."""
    if not python.exists():
        print(f"peers: {python} not found: `make bench` creates it (the bench extra: ddtrace, logfire)",
              file=sys.stderr)
        return []
    with running_sink() as sink:
        done = subprocess.run(  # noqa: S603 - the bench venv's interpreter and our script
            [str(python), str(Path(__file__).with_name("peers.py")), "--http-port", str(sink.http_port),
             "--rounds", str(rounds), "--loop-ms", str(budget_ms)],
            stdout=subprocess.PIPE, text=True, timeout=900, check=False)
    if done.returncode != 0:
        print(f"peers: peers.py exited with {done.returncode}", file=sys.stderr)
        return []
    return [Result(**{**row, "ratio_iqr": tuple(row["ratio_iqr"])}) for row in json.loads(done.stdout)]


def burst_results(spans: int) -> list[burst.Burst]:
    """The burst, once to a live loopback receiver and once to a dead port, a subprocess each."""
    with running_sink() as sink:
        live = burst.run_case("live", sink.http_endpoint, spans)
    with socket.socket() as held:  # bound, never listening: connections are refused while we hold it
        held.bind(("127.0.0.1", 0))
        dead = burst.run_case("dead", f"http://127.0.0.1:{held.getsockname()[1]}", spans)
    return [live, dead]


# --- the harness ----------------------------------------------------------------------------


def table(results: Sequence[Result], meta: dict[str, Any]) -> str:
    lines = [f"{meta['date']}, Python {meta['python']}, {meta['cpus']} CPUs, {meta['platform']}, "
             f"{meta['rounds']} rounds of ~{meta['loop_ms']} ms per side", "",
             "| case | baseline | ns/op | baseline ns/op | ratio | ratio IQR | target | result |",
             "|---|---|--:|--:|--:|--:|--:|---|"]
    for r in results:
        target = f"≤ {r.target:g}x" if r.target is not None else "—"
        verdict = "info" if r.passed is None else ("PASS" if r.passed else "FAIL")
        lines.append(f"| {r.name} | {r.baseline} | {r.subject_ns:,.0f} | {r.baseline_ns:,.0f} "
                     f"| {r.ratio:.3f}x | {r.ratio_iqr[0]:.2f}-{r.ratio_iqr[1]:.2f} | {target} | {verdict} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds (a smoke run, noisier)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    parser.add_argument("--rounds", type=int, help="rounds per case (default 41; 5 with --quick)")
    parser.add_argument("--loop-ms", type=float, help="duration of one timed loop (default 30; 10 with --quick)")
    parser.add_argument("--burst-spans", type=int, default=burst.SPANS, metavar="N",
                        help=f"spans in the burst rows (default {burst.SPANS:,}; 0 skips them)")
    parser.add_argument("--peers-python", type=Path, default=BENCH_VENV_PYTHON, metavar="PYTHON",
                        help="interpreter with ddtrace and logfire for the peer rows (default: .venv-bench's)")
    parser.add_argument("--store-mb", type=int, metavar="MB",
                        help="size of the generated store the reading rows use (default 500, the target run; "
                        "50 with --quick; 0 skips them)")
    parser.add_argument("--console-idle-s", type=float, metavar="S",
                        help="seconds of each bot run of the console's idle-cost rows (default 30; 5 with --quick; "
                        "0 skips them); the console's first-paint rows read the store of --store-mb")
    args = parser.parse_args(argv)
    rounds = args.rounds or (5 if args.quick else 41)
    budget_ms = args.loop_ms or (10 if args.quick else 30)
    store_mb = args.store_mb if args.store_mb is not None else (50 if args.quick else 500)
    console_idle_s = args.console_idle_s if args.console_idle_s is not None else (5 if args.quick else 30)
    if rounds < 2:
        parser.error("--rounds: at least 2 (the ratio is a median over rounds)")

    results: list[Result] = []
    started = time.monotonic()
    for case in CASES:
        with case() as pairs:
            for pair in pairs:
                print(f"[{time.monotonic() - started:5.1f}s] {pair.name} ...", file=sys.stderr, flush=True)
                results.append(measure(pair, rounds, budget_ms * 1e6))
                last = results[-1]
                print(f"        {last.subject_ns:,.0f} ns vs {last.baseline_ns:,.0f} ns = {last.ratio:.3f}x",
                      file=sys.stderr, flush=True)

    print(f"[{time.monotonic() - started:5.1f}s] peers: ddtrace, logfire ...", file=sys.stderr, flush=True)
    results += peer_results(args.peers_python, rounds, budget_ms)
    print(f"[{time.monotonic() - started:5.1f}s] burst of {args.burst_spans:,} spans ...", file=sys.stderr, flush=True)
    bursts = burst_results(args.burst_spans) if args.burst_spans else []

    def progress(text: str) -> None:
        print(f"[{time.monotonic() - started:5.1f}s] {text} ...", file=sys.stderr, flush=True)

    readings = store_reading.measure(store_mb, progress=progress) if store_mb else []
    consoles = console_speed.measure(store_mb, console_idle_s, progress=progress)
    meta = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "python": platform.python_version(), "platform": platform.platform(),
            "cpus": os.cpu_count(), "rounds": rounds, "loop_ms": budget_ms}
    if args.json:
        print(json.dumps({"meta": meta, "results": [asdict(r) for r in results],
                          "burst": [asdict(b) for b in bursts], "reading": [asdict(r) for r in readings],
                          "console": [asdict(r) for r in consoles]},
                         indent=2))
    else:
        print(table(results, meta))
        if bursts:
            print("\n" + burst.table(bursts))
        if readings:
            print("\n" + store_reading.table(readings))
        if consoles:
            print("\n" + console_speed.table(consoles))
    return 0  # a missed target is a finding to read, not a crash: see the result column


if __name__ == "__main__":
    sys.exit(main())
