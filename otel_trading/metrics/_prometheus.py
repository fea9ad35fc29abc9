"""The Prometheus pull endpoint: an OTel PrometheusMetricReader on its own registry and server."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from prometheus_client import CollectorRegistry, start_http_server

_LOG = logging.getLogger("otel_trading")


class PrometheusEndpoint:
    def __init__(self, reader: PrometheusMetricReader, server: Any, host: str) -> None:
        self.reader = reader
        self._server = server
        self.host = host
        self.port: int = server.server_port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    @classmethod
    def start(cls, host: str, port: int, elsewhere: Sequence[str] = ()) -> PrometheusEndpoint | None:
        """Serves ``/metrics`` on host:port (port 0 picks a free one); None if it cannot bind, with a
        warning that says where the metrics still go (``elsewhere``: the other metrics exporters)."""
        # A registry of our own: reconfiguring (or a test) never collides with the global one.
        registry = CollectorRegistry(auto_describe=True)
        reader = PrometheusMetricReader(registry=registry)
        try:
            server, _thread = start_http_server(port, addr=host, registry=registry)
        except OSError as exc:
            still = (f"Metrics still go to {', '.join(elsewhere)}." if elsewhere
                     else "No other metrics exporter is configured, so this process's metrics are not exported.")
            _LOG.warning(
                "Prometheus endpoint not started on %s:%s (%s); set prometheus_port or "
                "OTEL_EXPORTER_PROMETHEUS_PORT to a free port (0 picks one). %s",
                host, port, exc.strerror or exc, still,
            )
            return None
        return cls(reader, server, host)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
