"""OTLP span exporters of otel-trading's own: lean spans straight to protobuf bytes, sent on public APIs.

The SDK's OTLP span exporters need a ``ReadableSpan`` per span and encode it through the
proto message classes: together most of the CPU a traced call costs. These exporters take what
the span queues hold as it is (lean spans, and the SDK's spans of other instrumentations),
encode it with :mod:`otel_trading.export._otlp_proto_encode`, and send the bytes:

- OTLP/HTTP with ``http.client``: one persistent connection, gzip/deflate, the headers, the
  timeout, TLS verified against the certificate file (or certifi's bundle, as ``requests`` does);
- OTLP/gRPC with grpcio's generic API (a unary call with no serializer sends raw bytes).

Both behave as the SDK exporters do: the settings they would read (``OtlpSettings``, then the
``OTEL_EXPORTER_OTLP_*`` variables, with the same precedence), the user agent, retries with
exponential backoff and jitter on the same transient errors within the export timeout, the
server's requested delay (``Retry-After``, gRPC ``RetryInfo``), shutdown cutting a backoff short.
Where a setting cannot be honoured exactly here (client certificates, a credential provider
from an entry point, proxies, the exporters' own metrics...), :func:`direct_span_exporter`
returns None and the SDK exporter is used.
"""

from __future__ import annotations

import gzip
import http.client
import logging
import math
import os
import random
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol
from urllib.parse import urlsplit

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.util.re import parse_env_headers

from otel_trading.config._settings import OtlpSettings
from otel_trading.export._otlp_proto_encode import spans_to_protobuf

if TYPE_CHECKING:
    from otel_trading.tracing._lean import LeanSpan

_LOG = logging.getLogger(__name__)
_MAX_ATTEMPTS: Final = 6  # as the SDK exporters
_JITTER: Final = 0.2
_RETRYABLE_HTTP: Final = frozenset({429, 502, 503, 504})
_GRPC_METHOD: Final = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
_GRPC_RETRYABLE: Final = frozenset({"CANCELLED", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "ABORTED", "OUT_OF_RANGE",
                                    "UNAVAILABLE", "DATA_LOSS"})
_PREFIX: Final = "OTEL_EXPORTER_OTLP_"
# Settings only the SDK exporters can honour: with any of them set, the SDK exporter is used.
_SDK_ONLY: Final = (
    f"{_PREFIX}CLIENT_KEY", f"{_PREFIX}CLIENT_CERTIFICATE", f"{_PREFIX}TRACES_CLIENT_KEY",
    f"{_PREFIX}TRACES_CLIENT_CERTIFICATE",
    "OTEL_PYTHON_EXPORTER_OTLP_HTTP_CREDENTIAL_PROVIDER", "OTEL_PYTHON_EXPORTER_OTLP_HTTP_TRACES_CREDENTIAL_PROVIDER",
    "OTEL_PYTHON_EXPORTER_OTLP_GRPC_CREDENTIAL_PROVIDER", "OTEL_PYTHON_EXPORTER_OTLP_GRPC_TRACES_CREDENTIAL_PROVIDER",
    "OTEL_PYTHON_EXPORTER_OTLP_GRPC_RETRYABLE_ERROR_CODES",
)
# The CA bundles requests (the SDK's HTTP client) verifies against when given no certificate file.
_REQUESTS_CA_BUNDLES: Final = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def _user_agent() -> str:
    """The SDK exporters' user agent (a collector may tell exporters apart by it)."""
    try:
        version = metadata.version("opentelemetry-exporter-otlp-proto-common")
    except metadata.PackageNotFoundError:  # pragma: no cover - installed with the OTLP exporters
        version = "unknown"
    return f"OTel-OTLP-Exporter-Python/{version}"


@dataclass(frozen=True, slots=True)
class _Outcome:
    """One attempt: delivered, or why not and whether trying again may help."""

    ok: bool
    retryable: bool = False
    delay: float | None = None  # the delay the server asked for
    problem: str = ""


class _Transport(Protocol):
    where: str

    def attempt(self, payload: bytes, timeout: float, retry: int) -> _Outcome: ...

    def close(self) -> None: ...


class DirectOtlpSpanExporter(SpanExporter):
    """Spans (lean or SDK) to an OTLP receiver: encoded directly, sent with retries within the timeout."""

    # The export thread hands over lean spans as they are (export/_pipeline.py: no ReadableSpan built),
    # one at a time as they are read: export() encodes each once, then sends the bytes.
    accepts_lean_spans = True
    reads_spans_once = True

    def __init__(self, transport: _Transport, timeout_s: float) -> None:
        self._transport = transport
        self._timeout_s = timeout_s
        self._stopping = threading.Event()

    @property
    def where(self) -> str:
        """The receiver, as logged: no credentials, no query."""
        return self._transport.where

    def export(self, spans: Iterable[ReadableSpan | LeanSpan]) -> SpanExportResult:
        if self._stopping.is_set():
            _LOG.warning("Exporter already shutdown, ignoring batch")
            return SpanExportResult.FAILURE
        try:
            payload = spans_to_protobuf(spans)
        except Exception as error:  # noqa: BLE001 - as the SDK exporter: the batch fails, counted as lost
            _LOG.error("Failed to encode span batch: %s: %s", type(error).__name__, error)
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS if self._send(payload) else SpanExportResult.FAILURE

    def _send(self, payload: bytes) -> bool:
        deadline = time.monotonic() + self._timeout_s
        for retry in range(_MAX_ATTEMPTS):
            outcome = self._transport.attempt(payload, max(deadline - time.monotonic(), 0.001), retry)
            if outcome.ok:
                return True
            backoff = outcome.delay
            if backoff is None:
                backoff = 2**retry * random.uniform(1 - _JITTER, 1 + _JITTER)  # noqa: S311 - jitter, not a secret
            if (not outcome.retryable or retry + 1 == _MAX_ATTEMPTS or backoff > deadline - time.monotonic()
                    or self._stopping.is_set()):
                _LOG.error("Failed to export spans to %s: %s", self.where, outcome.problem)
                return False
            _LOG.warning("Transient error exporting spans to %s: %s; retrying in %.2fs", self.where,
                         outcome.problem, backoff)
            if self._stopping.wait(backoff):
                _LOG.warning("Shutdown in progress, aborting retry.")
                return False
        return False  # pragma: no cover - the loop returns on its last attempt

    def force_flush(self, timeout_millis: int = 30_000) -> bool:  # noqa: ARG002 - SDK interface
        return True  # nothing is buffered here

    def shutdown(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()  # ends a backoff wait at once
        self._transport.close()


# --- OTLP/HTTP ----------------------------------------------------------------------------------


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), as the SDK reads it."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(moment.timestamp() - time.time(), 0.0)
    return max(seconds, 0.0) if math.isfinite(seconds) else None


class HttpTransport:
    """POSTs to one OTLP/HTTP URL over a persistent connection (reopened after any error)."""

    def __init__(self, url: str, headers: Mapping[str, str], compression: str, certificate_file: str | None) -> None:
        parts = urlsplit(url)
        self._https = parts.scheme.lower() == "https"
        self._host = parts.hostname or "localhost"
        self._port = parts.port or (443 if self._https else 80)
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.where = f"{parts.scheme}://{parts.netloc}{parts.path}"
        self._context: ssl.SSLContext | None = None
        if self._https:
            trusted = certificate_file or _default_ca_bundle()
            in_directory = trusted is not None and os.path.isdir(trusted)
            self._context = ssl.create_default_context(cafile=None if in_directory else trusted,
                                                       capath=trusted if in_directory else None)
        self._headers = dict(headers)
        self._compression = compression
        if compression != "none" and not any(name.lower() == "content-encoding" for name in self._headers):
            self._headers["Content-Encoding"] = compression
        self._connection: http.client.HTTPConnection | None = None
        self._pid = os.getpid()
        self._lock = threading.Lock()  # close() may come from another thread than the exporting one

    def _compress(self, payload: bytes) -> bytes:
        if self._compression == "gzip":
            return gzip.compress(payload, mtime=0)
        if self._compression == "deflate":
            return zlib.compress(payload)
        return payload

    def _connect(self, timeout: float) -> http.client.HTTPConnection:
        if self._context is not None:
            return http.client.HTTPSConnection(self._host, self._port, timeout=timeout, context=self._context)
        return http.client.HTTPConnection(self._host, self._port, timeout=timeout)

    def _post(self, body: bytes, timeout: float) -> http.client.HTTPResponse:
        with self._lock:
            if self._pid != os.getpid():
                # A forked child: the connection's socket is the parent's too; the child opens its own
                # (the parent's is left alone, not closed: closing a TLS one would write to it).
                self._connection, self._pid = None, os.getpid()
            connection = self._connection
            if connection is None:
                connection = self._connection = self._connect(timeout)
        connection.timeout = timeout
        if connection.sock is not None:
            connection.sock.settimeout(timeout)
        connection.request("POST", self._path, body=body, headers=self._headers)
        response = connection.getresponse()
        response.read()  # the whole body: the connection is reused
        if response.will_close:
            self._drop()
        return response

    def _drop(self) -> None:
        with self._lock:
            connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def attempt(self, payload: bytes, timeout: float, retry: int) -> _Outcome:  # noqa: ARG002 - same for gRPC
        body = self._compress(payload)
        deadline = time.monotonic() + timeout
        for fresh in (False, True):
            reused = self._connection is not None
            try:
                response = self._post(body, max(deadline - time.monotonic(), 0.001))
            except TimeoutError as error:
                self._drop()
                return _Outcome(False, problem=f"timed out after {timeout:.3g}s ({error})")
            except (OSError, http.client.HTTPException) as error:
                self._drop()
                # A kept-alive connection the receiver closed meanwhile: once more at once, on a new one.
                if reused and not fresh and deadline > time.monotonic():
                    continue
                return _Outcome(False, retryable=True, problem=f"{type(error).__name__}: {error}")
            status = response.status
            if 200 <= status < 300:
                return _Outcome(True)
            problem = f"HTTP {status} {response.reason}"
            if 300 <= status < 400:
                problem += " (a redirect: set the endpoint to its target)"
            retryable = status in _RETRYABLE_HTTP
            delay = _retry_after(response.getheader("Retry-After")) if retryable else None
            return _Outcome(False, retryable=retryable, delay=delay, problem=problem)
        return _Outcome(False, retryable=True, problem="connection lost")  # pragma: no cover - loop returns

    def close(self) -> None:
        self._drop()


def _default_ca_bundle() -> str | None:
    """certifi's bundle, which ``requests`` (the SDK exporter's client) verifies against; else the system's."""
    try:
        import certifi
    except ImportError:
        return None
    where: str = certifi.where()
    return where


# --- OTLP/gRPC ----------------------------------------------------------------------------------


class GrpcTransport:
    """Unary calls of the trace service's Export method with raw bytes, over one channel."""

    def __init__(self, target: str, credentials: Any, metadata_: Sequence[tuple[str, str]], compression: str) -> None:
        import grpc

        self._grpc = grpc
        self._target = target
        self.where = target.rpartition("@")[2]  # as logged: never credentials
        self._credentials = credentials
        self._metadata = tuple(metadata_)
        self._compression = grpc.Compression.Gzip if compression == "gzip" else grpc.Compression.NoCompression
        self._lock = threading.Lock()
        self._channel: Any = None
        self._pid = os.getpid()
        self._call: Callable[..., Any] = self._open()

    def _open(self) -> Callable[..., Any]:
        grpc = self._grpc
        options = [("grpc.primary_user_agent", _user_agent())]
        if self._credentials is None:
            channel = grpc.insecure_channel(self._target, options=options, compression=self._compression)
        else:
            channel = grpc.secure_channel(self._target, self._credentials, options=options,
                                          compression=self._compression)
        with self._lock:
            previous, self._channel = self._channel, channel
        if previous is not None:
            previous.close()
        call: Callable[..., Any] = channel.unary_unary(_GRPC_METHOD, request_serializer=None,
                                                       response_deserializer=None)
        return call

    def attempt(self, payload: bytes, timeout: float, retry: int) -> _Outcome:
        if self._pid != os.getpid():  # a forked child: a channel of its own, the parent's left to the parent
            self._channel, self._pid = None, os.getpid()
            self._call = self._open()
        try:
            self._call(payload, metadata=self._metadata, timeout=timeout)
        except self._grpc.RpcError as error:
            code = error.code() if callable(getattr(error, "code", None)) else None
            name = getattr(code, "name", "UNKNOWN")
            if name == "UNAVAILABLE" and retry == 0:
                # As the SDK exporter: a new channel, so that the next attempt reconnects.
                self._call = self._open()
            details = error.details() if callable(getattr(error, "details", None)) else ""
            return _Outcome(False, retryable=name in _GRPC_RETRYABLE, delay=_retry_info(error),
                            problem=f"{name}: {details}")
        return _Outcome(True)

    def close(self) -> None:
        with self._lock:
            channel, self._channel = self._channel, None
        if channel is not None:
            channel.close()


def _retry_info(error: Any) -> float | None:
    """The delay in the call's ``google.rpc.RetryInfo`` trailing metadata, if the server sent one."""
    trailing = error.trailing_metadata() if callable(getattr(error, "trailing_metadata", None)) else None
    raw = dict(trailing or ()).get("google.rpc.retryinfo-bin")
    if raw is None:
        return None
    from google.rpc.error_details_pb2 import RetryInfo  # type: ignore[import-untyped]

    info = RetryInfo()
    info.ParseFromString(raw)
    seconds: float = info.retry_delay.seconds + info.retry_delay.nanos / 1e9
    return seconds


# --- settings -----------------------------------------------------------------------------------


def _env(environ: Mapping[str, str], name: str) -> str | None:
    return environ.get(name) or None


def _http_exporter(otlp: OtlpSettings, endpoint: str | None, environ: Mapping[str, str]) -> SpanExporter | None:
    url = endpoint or _env(environ, f"{_PREFIX}TRACES_ENDPOINT")
    if url is None:
        base = _env(environ, f"{_PREFIX}ENDPOINT") or "http://localhost:4318"
        url = f"{base.removesuffix('/')}/v1/traces"
    parts = urlsplit(url)
    if "@" in parts.netloc or parts.scheme.lower() not in ("http", "https"):
        return None  # credentials in the URL: requests sends them as basic auth
    proxies = (f"{parts.scheme.lower()}_proxy", "all_proxy")
    if any(name.lower() in proxies and value for name, value in environ.items()):
        return None  # a proxy requests would go through
    headers = {"content-type": "application/x-protobuf", "user-agent": _user_agent()}
    variable = _env(environ, f"{_PREFIX}TRACES_HEADERS") or _env(environ, f"{_PREFIX}HEADERS") or ""
    headers.update(parse_env_headers(variable, liberal=True))
    headers.update({name.lower(): value for name, value in (otlp.headers or {}).items()})
    certificate = (otlp.certificate_file or _env(environ, f"{_PREFIX}TRACES_CERTIFICATE")
                   or _env(environ, f"{_PREFIX}CERTIFICATE")
                   or next(filter(None, (environ.get(name) for name in _REQUESTS_CA_BUNDLES)), None))
    timeout = otlp.timeout_s if otlp.timeout_s is not None else 10.0
    try:
        transport = HttpTransport(url, headers, otlp.compression or "none", certificate)
    except (OSError, ValueError, ssl.SSLError):
        return None  # an unreadable certificate file: the SDK exporter reports it its own way
    return DirectOtlpSpanExporter(transport, timeout)


def _grpc_exporter(otlp: OtlpSettings, endpoint: str | None, environ: Mapping[str, str]) -> SpanExporter | None:
    import grpc

    url = endpoint or _env(environ, f"{_PREFIX}TRACES_ENDPOINT") or environ.get(f"{_PREFIX}ENDPOINT",
                                                                                 "http://localhost:4317")
    parts = urlsplit(url)
    # The SDK exporter's order: the argument, the traces variable; https:// forces TLS; then the
    # generic variable, then the scheme.
    insecure = otlp.insecure
    traces_insecure = environ.get(f"{_PREFIX}TRACES_INSECURE")
    if insecure is None and traces_insecure is not None:
        insecure = traces_insecure.lower() == "true"
    traces_certificate = None
    if not insecure and environ.get(f"{_PREFIX}TRACES_CERTIFICATE") is not None:
        traces_certificate = environ[f"{_PREFIX}TRACES_CERTIFICATE"]
    if parts.scheme == "https":
        insecure = False
    if insecure is None:
        generic = environ.get(f"{_PREFIX}INSECURE")
        insecure = generic.lower() == "true" if generic is not None else parts.scheme == "http"
    credentials = None
    if not insecure:
        certificate = otlp.certificate_file or (
            traces_certificate if traces_certificate is not None else _env(environ, f"{_PREFIX}CERTIFICATE"))
        try:
            root = Path(certificate).read_bytes() if certificate else None
        except OSError:
            return None  # the SDK exporter logs it and verifies against the default roots
        credentials = grpc.ssl_channel_credentials(root_certificates=root)
    if otlp.headers:
        metadata_ = [(name.lower(), value) for name, value in otlp.headers.items()]
    else:
        variable = _env(environ, f"{_PREFIX}TRACES_HEADERS") or _env(environ, f"{_PREFIX}HEADERS") or ""
        metadata_ = list(parse_env_headers(variable, liberal=True).items())
    timeout = otlp.timeout_s if otlp.timeout_s is not None else 10.0
    transport = GrpcTransport(parts.netloc or url, credentials, metadata_, otlp.compression or "none")
    return DirectOtlpSpanExporter(transport, timeout)


def direct_span_exporter(otlp: OtlpSettings, endpoint: str | None,
                         environ: Mapping[str, str] | None = None) -> SpanExporter | None:
    """The direct exporter for ``otlp`` (resolved by configure(); ``endpoint``: the URL the SDK exporter
    would get as its argument), or None where only the SDK exporter can honour the settings."""
    environ = os.environ if environ is None else environ
    if any(environ.get(name) for name in _SDK_ONLY):
        return None
    if (environ.get("OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED") or "").strip().lower() == "true":
        return None  # the SDK exporters' own metrics (OTel >= 1.45)
    if otlp.protocol == "grpc":
        return _grpc_exporter(otlp, endpoint, environ)
    return _http_exporter(otlp, endpoint, environ)
