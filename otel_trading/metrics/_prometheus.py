"""The Prometheus pull endpoint: an OTel PrometheusMetricReader on its own registry and server.

The exposition is prometheus_client's own WSGI app (content negotiation, gzip, ``name[]``
filters: what its ``start_http_server`` serves), run on the SDK's bounded server instead of
that thread-per-connection one, so scrapers and slow clients cannot pile up threads.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any
from urllib.parse import unquote, urlsplit

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from prometheus_client import CollectorRegistry, make_wsgi_app

from otel_trading._http_server import (
    DEFAULT_LIMITS,
    BoundedHTTPServer,
    BoundedRequestHandler,
    ServerLimits,
    is_host_error,
)
from otel_trading._otel_compat import prometheus_reader
from otel_trading.tracing._operation import report_instrumentation_failure

_LOG = logging.getLogger("otel_trading")

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_FORWARDED_HEADERS = ("Accept", "Accept-Encoding")  # all that the exposition app reads


class _MetricsHandler(BoundedRequestHandler):
    """Runs one request through the exposition WSGI app."""

    server_version = "otel-trading-prometheus"

    def __init__(self, app: WsgiApp, request: tuple[bytes, socket.socket], client_address: Any,
                 server: Any) -> None:
        self._app = app  # before super(): it serves the request
        super().__init__(request, client_address, server)

    def _serve(self) -> None:
        url = urlsplit(self.path)
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command, "PATH_INFO": unquote(url.path), "QUERY_STRING": url.query,
            "SERVER_PROTOCOL": self.request_version,
        }
        for name in _FORWARDED_HEADERS:
            value = self.headers.get(name)
            if value is not None:
                environ["HTTP_" + name.upper().replace("-", "_")] = value
        started: list[tuple[str, list[tuple[str, str]]]] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[..., Any]:  # noqa: ARG001 - WSGI's signature
            started.append((status, headers))
            return lambda _data: None

        try:
            body = b"".join(self._app(environ, start_response))
            status, headers = started[-1]
        except Exception:  # noqa: BLE001 - a failing collector must not take the endpoint (or the bot) down
            report_instrumentation_failure("prometheus endpoint")
            status, headers, body = "500 Internal Server Error", [("Content-Type", "text/plain")], b"error\n"
        code, _, reason = status.partition(" ")
        self.send_response(int(code), reason)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _serve


class PrometheusEndpoint:
    def __init__(self, reader: PrometheusMetricReader, registry: CollectorRegistry, server: BoundedHTTPServer,
                 host: str) -> None:
        self.reader = reader
        self.registry = registry
        self._server = server
        self.host = host
        self.port: int = server.server_port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    @classmethod
    def start(cls, host: str, port: int, elsewhere: Sequence[str] = (),
              limits: ServerLimits = DEFAULT_LIMITS) -> PrometheusEndpoint | None:
        """Serves ``/metrics`` on host:port (port 0 picks a free one); None if it cannot bind, with a
        warning that says where the metrics still go (``elsewhere``: the other metrics exporters)."""
        # A registry of our own: reconfiguring (or a test) never collides with the global one.
        registry = CollectorRegistry(auto_describe=True)
        reader = prometheus_reader(registry)
        try:
            server = BoundedHTTPServer(host, port, partial(_MetricsHandler, make_wsgi_app(registry)),
                                       name="otel-trading-prometheus-http", limits=limits)
        except OSError as exc:
            still = (f"Metrics still go to {', '.join(elsewhere)}." if elsewhere
                     else "No other metrics exporter is configured, so this process's metrics are not exported.")
            fix = ("set prometheus_host or OTEL_EXPORTER_PROMETHEUS_HOST to an address of this machine "
                   "(127.0.0.1, or 0.0.0.0 for all)" if is_host_error(exc) else
                   "set prometheus_port or OTEL_EXPORTER_PROMETHEUS_PORT to a free port (0 picks one)")
            _LOG.warning("Prometheus endpoint not started on %s:%s (%s); %s. %s",
                         host, port, exc.strerror or exc, fix, still)
            return None
        return cls(reader, registry, server, host)

    def close(self) -> None:
        self._server.close()
