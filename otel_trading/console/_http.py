"""The console's request handler: pages, static files, the JSON API and the event stream.

Served by the SDK's bounded HTTP server (``otel_trading._http_server``): fixed handler
threads, a deadline for the whole request head, a size limit, 503 when busy. Every answer
carries headers that keep the token and the pages to this origin (no referrer, no framing,
scripts from this origin only) and never an ``Access-Control-*`` header.
"""

from __future__ import annotations

import json
import logging
import math
import mimetypes
import re
import time
from importlib import resources
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qs, urlsplit

from otel_trading._http_server import BoundedRequestHandler
from otel_trading.console import _security as security
from otel_trading.console._params import ApiError

if TYPE_CHECKING:
    from otel_trading.console._app import ConsoleApp

_LOG = logging.getLogger("otel_trading.console")

PAGES: Final = frozenset({"/", "/trades", "/traces", "/logs", "/metrics", "/alerts", "/controls"})
_TRACE_PAGE: Final = re.compile(r"^/traces/[0-9A-Za-z]{1,64}$")
_STATIC_NAME: Final = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*$")
_HEADERS: Final = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),  # the login URL carries the token
    ("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                                "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"),
)
_MIME_FALLBACK: Final = {".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css",
                         ".svg": "image/svg+xml", ".json": "application/json", ".map": "application/json"}


def static_file(name: str) -> bytes | None:
    """A file of the package's ``console/static`` directory, or None (also for any path outside it)."""
    if not _STATIC_NAME.match(name) or ".." in name:
        return None
    node = resources.files("otel_trading.console").joinpath("static")
    for part in name.split("/"):
        node = node.joinpath(part)
    try:
        return node.read_bytes() if node.is_file() else None
    except OSError:
        return None


def content_type(name: str) -> str:
    suffix = name[name.rfind("."):] if "." in name else ""
    guessed = _MIME_FALLBACK.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
    return f"{guessed}; charset=utf-8" if guessed.startswith("text/") or guessed.endswith("javascript") else guessed


class ConsoleHandler(BoundedRequestHandler):
    server_version = "otel-trading-console"
    app: ConsoleApp  # set on the per-server subclass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_HEAD(self) -> None:
        self._serve("HEAD")

    def do_POST(self) -> None:
        self._serve("POST")

    def _not_allowed(self) -> None:
        self._json(405, {"error": f"method {self.command} not allowed"}, allow="GET, HEAD, POST")

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed

    def _serve(self, method: str) -> None:
        try:
            if not self._host_allowed():
                self._json(403, {"error": "Host header not allowed: open the console through 127.0.0.1 or "
                                          "localhost (DNS rebinding protection)"})
                return
            url = urlsplit(self.path)
            path = url.path
            if path.startswith("/api/"):
                self._api(method, path, parse_qs(url.query, keep_blank_values=False))
            elif method == "POST":
                self._json(405, {"error": "POST is for /api/ endpoints only"}, allow="GET, HEAD")
            elif path in PAGES or _TRACE_PAGE.match(path):
                self._page(method)
            elif path.startswith("/static/"):
                self._static(method, path[len("/static/"):])
            else:
                self._json(404, {"error": f"no page {path[:100]!r}"})
        except Exception:  # noqa: BLE001 - a request gets an answer whatever failed inside
            _LOG.exception("console: request failed")
            self._json(500, {"error": "internal error (logged by the console)"})

    def _host_allowed(self) -> bool:
        return security.host_allowed(self.headers.get("Host"), self.app.allowed_hosts, self.app.bind_host)

    def _page(self, method: str) -> None:
        body = static_file("index.html")
        if body is None:
            self._json(503, {"error": "the console's pages are not installed (otel_trading/console/static)"})
            return
        self._send(200, body, "text/html; charset=utf-8", send_body=method != "HEAD")

    def _static(self, method: str, name: str) -> None:
        body = static_file(name)
        if body is None:
            self._json(404, {"error": f"no static file {name[:100]!r}"})
            return
        self._send(200, body, content_type(name), send_body=method != "HEAD", cache="max-age=300")

    def _api(self, method: str, path: str, query: dict[str, list[str]]) -> None:
        if path == "/api/stream" and method == "GET":
            self.detached = True  # the hub owns the socket from here (or has answered 503 and closed it)
            self.app.hub.attach(self.connection)
            return
        try:
            if method == "POST":
                body = self._post_body()
                status, payload = 200, self.app.post(path, body)
            else:
                status, payload = 200, self.app.get(path, query)
        except ApiError as exc:
            status, payload = exc.status, {"error": exc.message}
        self._json(status, payload, send_body=method != "HEAD")

    def _post_body(self) -> dict[str, Any]:
        if not self.app.controls:
            raise ApiError(405, "this console is read-only (over a store): it has no controls")
        if not security.token_matches(self.headers.get(security.TOKEN_HEADER), self.app.token):
            raise ApiError(403, f"missing or wrong {security.TOKEN_HEADER} header: use the URL the console printed")
        if not security.is_json_content_type(self.headers.get("Content-Type")):
            raise ApiError(415, "POST bodies must be Content-Type: application/json")
        try:
            length = int(self.headers.get("Content-Length") or "0")
        except ValueError:
            raise ApiError(400, "Content-Length: expected a number of bytes") from None
        if not 0 <= length <= security.MAX_BODY_BYTES:
            raise ApiError(413, f"body too large: at most {security.MAX_BODY_BYTES} bytes")
        raw = self._read_body(length)
        try:
            body = json.loads(raw or b"{}")
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, f"body: expected a JSON object ({exc})") from None
        if not isinstance(body, dict):
            raise ApiError(400, "body: expected a JSON object")
        return body

    def _read_body(self, length: int) -> bytes:
        """What of the body came with the head, then the rest from the socket, within the request deadline."""
        data = self.rfile.read(length)
        deadline = time.monotonic() + self.server.limits.request_timeout_s  # type: ignore[attr-defined]
        while len(data) < length:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ApiError(408, "request body not received in time")
            self.connection.settimeout(remaining)
            try:
                chunk = self.connection.recv(min(65536, length - len(data)))
            except OSError:
                raise ApiError(408, "request body not received in time") from None
            if not chunk:
                raise ApiError(400, "request body shorter than its Content-Length")
            data += chunk
        return data

    def _json(self, status: int, payload: Any, *, send_body: bool = True, allow: str | None = None) -> None:
        body = json.dumps(_no_nan(payload), separators=(",", ":"), default=str).encode()
        self._send(status, body, "application/json", send_body=send_body, allow=allow)

    def _send(self, status: int, body: bytes, kind: str, *, send_body: bool, cache: str = "no-store",
              allow: str | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", cache)
            for name, value in _HEADERS:
                self.send_header(name, value)
            if allow:
                self.send_header("Allow", allow)
            self.end_headers()
            if send_body:
                self.wfile.write(body)
        except OSError:
            pass  # the client went away


def _no_nan(value: Any) -> Any:
    """JSON has no NaN/Infinity: null and "inf"/"-inf", as ``report --format json`` writes them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else "inf" if value > 0 else "-inf"
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_no_nan(v) for v in value]
    return value
