"""First indexing of a large store of local metrics (``otel_trading.export._metric_queries``).

The store is written by the ``local`` metrics exporter itself, in a loop: a real SDK meter
provider with a bot's shape of instruments (about what the demo exports each interval: ~240 sum,
~60 gauge and ~30 histogram points, with the SDK's default resource), collected and exported
once per iteration, each collection cumulative and later than the one before.

    .venv/bin/python benchmarks/metric_index.py [MB] [--profile]
"""

from __future__ import annotations

import cProfile
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricsData
from opentelemetry.sdk.resources import Resource

from otel_trading.export._local_store import LocalStoreWriter, store_files
from otel_trading.export._metric_queries import metric_catalog
from otel_trading.export._metric_store import LocalMetricExporter, metrics_to_json_line

_SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT")
_SIDES = ("buy", "sell")
_STATUSES = ("submitted", "filled", "cancelled", "rejected", "partially_filled")
_METHODS = ("create_order", "fetch_order", "fetch_ticker", "cancel_order")


def write_store(directory: Path, megabytes: int) -> int:
    """Exports until the store holds about ``megabytes``; returns its size in bytes."""
    reader = InMemoryMetricReader()
    resource = Resource.create({"service.name": "bench-bot", "service.instance.id": "bench-run",
                                "host.name": "bench-host", "process.pid": 1234})
    meter = MeterProvider(resource=resource, metric_readers=[reader]).get_meter("bench.bot")
    counters = [meter.create_counter(f"bench.orders.{i}", "{order}", "Orders") for i in range(6)]
    calls = meter.create_counter("bench.exchange.calls", "{call}", "Exchange calls")
    gauges = [meter.create_up_down_counter(f"bench.position.{i}", "{unit}", "Position") for i in range(14)]
    latency = meter.create_histogram("bench.order.latency", "s", "Order latency")
    slippage = meter.create_histogram("bench.order.slippage", "{bps}", "Slippage")
    writer: LocalStoreWriter[MetricsData] = LocalStoreWriter(directory, "metrics", metrics_to_json_line,
                                                             max_file_bytes=32 << 20, max_total_bytes=1 << 40)
    exporter = LocalMetricExporter(writer)
    target = megabytes * 1024 * 1024
    step = 0
    while sum(path.stat().st_size for path in store_files(directory, "metrics")) < target:
        for _ in range(5):  # a few writes between two exports
            step += 1
            for symbol in _SYMBOLS:
                for side in _SIDES:
                    for status in _STATUSES:
                        for counter in counters:
                            counter.add(step % 3 + 1, {"symbol": symbol, "side": side, "status": status})
                    for gauge in gauges:
                        gauge.add(1 if step % 2 else -1, {"symbol": symbol, "side": side})
                for method in _METHODS:
                    calls.add(1, {"symbol": symbol, "method": method})
                    latency.record(0.001 * (step % 200), {"symbol": symbol, "method": method})
                    slippage.record(step % 7, {"symbol": symbol, "method": method})
        data = reader.get_metrics_data()
        assert data is not None
        exporter.export(data)
    exporter.shutdown()
    return sum(path.stat().st_size for path in store_files(directory, "metrics"))


def main(argv: list[str]) -> None:
    megabytes = int(argv[0]) if argv and argv[0].isdigit() else 100
    directory = Path(tempfile.mkdtemp(prefix="otel-trading-bench-metrics-"))
    try:
        print(f"writing a {megabytes} MB metrics store in {directory} ...", file=sys.stderr, flush=True)
        size = write_store(directory, megabytes)
        profiler = cProfile.Profile() if "--profile" in argv else None
        started, cpu_started = time.perf_counter(), time.process_time()
        if profiler is not None:
            profiler.enable()
        catalog = metric_catalog(directory)  # brings the index up to date: the first indexing
        if profiler is not None:
            profiler.disable()
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        # CPU time too: on a shared machine the wall time is mostly the wait for a core.
        print(f"first metric indexing, {size / 1e6:.0f} MB, {len(catalog)} metrics: {seconds:.2f} s, "
              f"{size / 1e6 / seconds:.1f} MB/s ({size / 1e6 / cpu_seconds:.1f} MB/s of CPU; target >= 50 MB/s)")
        if profiler is not None:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
