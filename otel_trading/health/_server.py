"""``/healthz`` and ``/readyz`` over HTTP: a stdlib ThreadingHTTPServer on a daemon thread.

Requests only read the latest check results (see ``_registry``), so they answer in well
under a millisecond whatever the checks are doing. Each connection gets a daemon thread
with a socket timeout, so a slow or stuck client cannot hold the server.
"""

from __future__ import annotations

import json
import logging
import socket
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Final
from urllib.parse import urlsplit

from otel_trading.health._check_types import Kind
from otel_trading.health._registry import REGISTRY, HealthRegistry
from otel_trading.tracing._operation import report_instrumentation_failure

_LOG = logging.getLogger("otel_trading.health")

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 9465  # next to the Prometheus endpoint's 9464
_PROBES: Final[dict[str, Kind]] = {"/healthz": "liveness", "/readyz": "readiness"}
_POLL_INTERVAL_S: Final = 0.1  # how long close() may wait for the accept loop to notice


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], registry: HealthRegistry) -> None:
        self.registry = registry
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind() resolves the host's FQDN (a DNS lookup): not needed here.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:  # noqa: ARG002 - the stdlib's signature
        _LOG.debug("health endpoint: request from %s failed", client_address, exc_info=True)


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server_version = "otel-trading-health"
    sys_version = ""
    timeout = 5.0  # seconds a client may take to send its request

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def _not_allowed(self) -> None:
        self._send(405, b'{"status":"method_not_allowed"}', send_body=True, allow=True)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed

    def _answer(self, *, send_body: bool) -> None:
        try:
            probe = _PROBES.get(urlsplit(self.path).path)
            if probe is None:
                code, payload = 404, {"status": "not_found", "endpoints": sorted(_PROBES)}
            else:
                registry: HealthRegistry = self.server.registry  # type: ignore[attr-defined]  # our _Server
                passes, payload = registry.evaluate(probe)
                code = 200 if passes else 503
            body = json.dumps(payload, separators=(",", ":"), default=str).encode()
        except Exception:  # noqa: BLE001 - a request must get an answer whatever failed inside
            report_instrumentation_failure("health endpoint")
            code, body = 500, b'{"status":"error"}'
        self._send(code, body, send_body=send_body)

    def _send(self, code: int, body: bytes, *, send_body: bool, allow: bool = False) -> None:
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            if allow:
                self.send_header("Allow", "GET, HEAD")
            self.end_headers()
            if send_body:
                self.wfile.write(body)
        except OSError:
            pass  # the client went away

    def log_message(self, format: str, *args: Any) -> None:
        """Probes arrive every few seconds: no line on stderr for each."""


class HealthServer:
    """A running health endpoint; ``close()`` (or leaving a ``with`` block) stops it."""

    def __init__(self, server: _Server, host: str) -> None:
        self._server = server
        self.host = host
        self.port: int = server.server_port
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": _POLL_INTERVAL_S}, daemon=True,
            name=f"otel-trading-health-http:{self.port}",
        )
        self._thread.start()

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:9465``; the probes are ``/healthz`` and ``/readyz``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def close(self, timeout: float = 1.0) -> None:
        """Stops accepting connections and frees the port (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout)

    def __enter__(self) -> HealthServer:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"HealthServer({self.url!r}{', closed' if self._closed else ''})"


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> HealthServer:
    """Serves ``/healthz`` (liveness) and ``/readyz`` (readiness) on ``host:port``.

    ``port=0`` picks a free port (see ``.port``). Raises ``OSError`` when the address
    cannot be bound (port in use): probes that are not served get a pod restarted, so
    this fails at start-up, where the cause is plain, rather than later.
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"port must be an integer between 0 and 65535, got {port!r}")
    server_class = _Server6 if ":" in host else _Server
    try:
        server = server_class((host, port), REGISTRY)
    except OSError as exc:
        raise OSError(
            exc.errno,
            f"health endpoint cannot listen on {host}:{port} ({exc.strerror or exc}); "
            f"pass serve() a free port (port=0 picks one)",
        ) from exc
    handle = HealthServer(server, host)
    _LOG.info("health endpoint on %s/healthz and %s/readyz", handle.url, handle.url)
    return handle
