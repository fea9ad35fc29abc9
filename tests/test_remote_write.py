"""The SDK's metrics pushed into the real Prometheus server (its remote-write receiver) by
OpenTelemetry's Prometheus remote-write exporter, from a seeded demo run: they arrive, and
the order counts Prometheus stores equal the ones the demo counted itself.

No OTLP-native backend runs here (Debian's Prometheus 2.42 predates the OTLP receiver, and
the Collector, Jaeger and Loki are not packaged); remote write is the push path that does.
"""

from __future__ import annotations

import json
from pathlib import Path

from binaries import require
from daemons import PrometheusProcess
from opentelemetry.exporter.prometheus_remote_write import PrometheusRemoteWriteMetricsExporter
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from processes import run_in_forked_child

import otel_trading
from otel_trading.config._configure import configure_with
from otel_trading.demo import DemoOptions, run_demo


def run_demo_pushing_to(write_url: str, directory: Path) -> None:
    """The demo in a fresh process, its metrics remote-written once at shutdown; its own counts
    are left in ``directory / "result.json"``."""
    exporter = PrometheusRemoteWriteMetricsExporter(endpoint=write_url, resources_as_labels=False)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)  # only the final flush
    configure_with({"service_name": "remote-write-demo", "store_dir": directory / "store",
                    "metrics_exporter": "none", "log_console": "off", "system_metrics": False},
                   extra_metric_readers=[reader])
    result = run_demo(DemoOptions(trades=6, seed=11, speed=500, reject_rate=0.3, progress=False))
    otel_trading.shutdown()
    stats = result.stats
    counts = {"submitted": sum(stats.orders.values()), "rejected": sum(stats.rejects.values())}
    (directory / "result.json").write_text(json.dumps(counts))


def test_demo_metrics_arrive_through_remote_write_with_the_demos_own_counts(tmp_path: Path) -> None:
    with PrometheusProcess(require("prometheus"), tmp_path, "global: {scrape_interval: 1h}\n") as prometheus:
        run_in_forked_child(lambda: run_demo_pushing_to(prometheus.remote_write_url, tmp_path), timeout=90)
        expected = json.loads((tmp_path / "result.json").read_text())

        # The exporter names series after the metric and its raw unit (no _total, no unit words).
        series = prometheus.wait_for('{__name__=~"trading_orders_.*", trading_order_status="submitted"}')
        assert sum(float(s["value"][1]) for s in series) == expected["submitted"] > 0
        assert {s["metric"]["trading_symbol"] for s in series} <= {"BTC/USDT", "ETH/USDT", "SOL/USDT"}
        rejects = prometheus.query('{__name__=~"trading_order_rejects_.*"}')
        assert sum(float(s["value"][1]) for s in rejects) == expected["rejected"] > 0
        assert prometheus.wait_for('{__name__=~"trading_equity.*", trading_portfolio="demo"}')
        assert prometheus.wait_for('{__name__=~"trading_exchange_request_duration_s.*"}')
