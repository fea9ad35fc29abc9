"""``/healthz`` and ``/readyz`` over HTTP, on the SDK's bounded server (``otel_trading._http_server``).

Requests only read the latest check results (see ``_registry``), so they answer in well
under a millisecond whatever the checks are doing. The server holds a fixed number of
threads and times out slow clients, so a slow or stuck client cannot hold it, nor the bot.
"""

from __future__ import annotations

import json
import logging
import threading
from types import TracebackType
from typing import Final
from urllib.parse import urlsplit

from otel_trading._http_server import (
    DEFAULT_LIMITS,
    BoundedHTTPServer,
    BoundedRequestHandler,
    ServerLimits,
    is_host_error,
)
from otel_trading.health._check_types import Kind
from otel_trading.health._registry import REGISTRY
from otel_trading.tracing._operation import report_instrumentation_failure

_LOG = logging.getLogger("otel_trading.health")

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 9465  # next to the Prometheus endpoint's 9464
_PROBES: Final[dict[str, Kind]] = {"/healthz": "liveness", "/readyz": "readiness"}


class _Handler(BoundedRequestHandler):
    server_version = "otel-trading-health"

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
                passes, payload = REGISTRY.get().evaluate(probe)  # the checks in force (a capture's own)
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


class HealthServer:
    """A running health endpoint; ``close()`` (or leaving a ``with`` block) stops it."""

    def __init__(self, server: BoundedHTTPServer, host: str) -> None:
        self._server = server
        self.host = host
        self.port: int = server.server_port
        self._closed = False
        self._lock = threading.Lock()

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
        self._server.close(timeout)

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
    return start_server(host, port, DEFAULT_LIMITS)


def start_server(host: str, port: int, limits: ServerLimits) -> HealthServer:
    """``serve()`` with explicit limits (tests shorten the timeouts)."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"port must be an integer between 0 and 65535, got {port!r}")
    try:
        server = BoundedHTTPServer(host, port, _Handler, name="otel-trading-health-http", limits=limits)
    except OSError as exc:
        fix = ("pass serve() an address of this machine (host='127.0.0.1', or '0.0.0.0' for all)"
               if is_host_error(exc) else "pass serve() a free port (port=0 picks one)")
        reason = exc.strerror or exc
        raise OSError(exc.errno, f"health endpoint cannot listen on {host}:{port} ({reason}); {fix}") from exc
    handle = HealthServer(server, host)
    _LOG.info("health endpoint on %s/healthz and %s/readyz", handle.url, handle.url)
    return handle
