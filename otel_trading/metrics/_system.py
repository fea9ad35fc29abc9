"""Process and host metrics (via opentelemetry-instrumentation-system-metrics) and the heartbeat."""

from __future__ import annotations

import time
from typing import Final

import psutil
from opentelemetry.instrumentation.system_metrics import SystemMetricsInstrumentor
from opentelemetry.metrics import MeterProvider

from otel_trading._otel_compat import system_metrics_default_config
from otel_trading.metrics._local import LocalMetrics
from otel_trading.metrics._names import PROCESS_UPTIME

# psutil.net_connections() walks every socket of the host at each collection: too costly
# to run on every scrape of a busy trading host.
_EXCLUDED: Final = frozenset({"system.network.connections"})
SYSTEM_METRICS_CONFIG: Final = {k: v for k, v in system_metrics_default_config().items() if k not in _EXCLUDED}


def start_system_metrics(meter_provider: MeterProvider) -> SystemMetricsInstrumentor:
    instrumentor = SystemMetricsInstrumentor(config=dict(SYSTEM_METRICS_CONFIG))
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    instrumentor.instrument(meter_provider=meter_provider)
    return instrumentor


def register_process_metrics(local: LocalMetrics) -> None:
    def uptime() -> list[tuple[dict[str, str], float]]:
        # Looked up at each collection, so a forked child reports its own start time.
        return [({}, time.time() - psutil.Process().create_time())]

    local.observe_gauge(PROCESS_UPTIME, uptime, "s", "Seconds since the process started")
