"""Real loopback OTLP receivers for tests: OTLP/HTTP, OTLP/gRPC, and misbehaving endpoints.

Everything binds 127.0.0.1 on an ephemeral port. Each receiver keeps every request it got:
the decoded ``Export*ServiceRequest``, the exact bytes (the wire body for HTTP and the
decompressed protobuf payload for both) and the request headers / gRPC metadata.

    with HttpOtlpReceiver() as receiver:
        otel_trading.configure(otlp_endpoint=receiver.endpoint, otlp_protocol="http/protobuf", ...)
        ...
        assert receiver.wait_for(lambda: len(receiver.spans()) == 3)
"""

from __future__ import annotations

import contextlib
import gzip
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import grpc
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from otel_trading.export._query import attributes_of, value_of

LOOPBACK = "127.0.0.1"

# signal -> (request class, response class)
_MESSAGES: dict[str, tuple[type[Message], type[Message]]] = {
    "traces": (trace_service_pb2.ExportTraceServiceRequest, trace_service_pb2.ExportTraceServiceResponse),
    "metrics": (metrics_service_pb2.ExportMetricsServiceRequest, metrics_service_pb2.ExportMetricsServiceResponse),
    "logs": (logs_service_pb2.ExportLogsServiceRequest, logs_service_pb2.ExportLogsServiceResponse),
}
_HTTP_PATHS = {"/v1/traces": "traces", "/v1/metrics": "metrics", "/v1/logs": "logs"}


# The SDK's own store reader converts OTLP values the same way the tests want them.
any_value = value_of
attributes = attributes_of


@dataclass
class Received:
    """One export request as it reached the receiver."""

    signal: str  # "traces" | "metrics" | "logs"
    request: Any  # the decoded Export*ServiceRequest
    payload: bytes  # the serialized protobuf, after HTTP content decoding
    wire: bytes  # the bytes as sent (HTTP body, maybe gzip); the payload for gRPC
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased names


class _Store:
    """The requests of one receiver, with the read helpers tests use."""

    def __init__(self) -> None:
        self._received: list[Received] = []
        self._changed = threading.Condition()

    def _add(self, item: Received) -> None:
        with self._changed:
            self._received.append(item)
            self._changed.notify_all()

    @property
    def received(self) -> list[Received]:
        with self._changed:
            return list(self._received)

    def requests(self, signal: str | None = None) -> list[Received]:
        return [r for r in self.received if signal is None or r.signal == signal]

    def clear(self) -> None:
        with self._changed:
            self._received.clear()

    def wait_for(self, predicate: Callable[[], object], timeout: float = 5.0) -> bool:
        """Waits until ``predicate()`` is true (re-checked on every request); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                if predicate():
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return bool(predicate())
                # Also poll: the predicate may depend on state outside this receiver.
                self._changed.wait(min(remaining, 0.05))

    def spans(self) -> list[Span]:
        return [
            span
            for r in self.requests("traces")
            for resource_spans in r.request.resource_spans
            for scope_spans in resource_spans.scope_spans
            for span in scope_spans.spans
        ]

    def log_records(self) -> list[LogRecord]:
        return [
            record
            for r in self.requests("logs")
            for resource_logs in r.request.resource_logs
            for scope_logs in resource_logs.scope_logs
            for record in scope_logs.log_records
        ]

    def metrics(self) -> list[Any]:
        """Every exported protobuf Metric, in arrival order."""
        return [
            metric
            for r in self.requests("metrics")
            for resource_metrics in r.request.resource_metrics
            for scope_metrics in resource_metrics.scope_metrics
            for metric in scope_metrics.metrics
        ]

    def metric_names(self) -> set[str]:
        return {metric.name for metric in self.metrics()}

    def metric_points(self, name: str) -> list[tuple[dict[str, Any], float]]:
        """(attributes, value) of every data point of metric ``name``; the count for histograms."""
        points: list[tuple[dict[str, Any], float]] = []
        for metric in self.metrics():
            if metric.name != name:
                continue
            kind = metric.WhichOneof("data")
            for point in getattr(metric, kind).data_points:
                if kind in ("histogram", "exponential_histogram", "summary"):
                    value: float = point.count
                else:
                    value = getattr(point, point.WhichOneof("value"))
                points.append((attributes(point.attributes), value))
        return points

    def resources(self, signal: str | None = None) -> list[dict[str, Any]]:
        """The resource attributes of every resource in the requests (of ``signal``)."""
        result = []
        for r in self.requests(signal):
            for name in ("resource_spans", "resource_metrics", "resource_logs"):
                if r.request.DESCRIPTOR.fields_by_name.get(name) is not None:
                    result.extend(attributes(item.resource.attributes) for item in getattr(r.request, name))
        return result

    def wire_bytes(self) -> list[bytes]:
        """Everything that reached the receiver as message content: wire bodies and decoded payloads."""
        chunks = []
        for r in self.received:
            chunks.append(r.wire)
            if r.payload is not r.wire:
                chunks.append(r.payload)
        return chunks


# --- OTLP/HTTP ---------------------------------------------------------------------------------


class _OtlpHttpHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _OtlpHttpServer

    def do_POST(self) -> None:
        signal = _HTTP_PATHS.get(self.path.split("?", 1)[0])
        body = self._read_body()
        if signal is None:
            self._reply(404, b"not found", "text/plain")
            return
        encoding = (self.headers.get("Content-Encoding") or "").strip().lower()
        try:
            if encoding == "gzip":
                payload = gzip.decompress(body)
            elif encoding == "deflate":
                payload = zlib.decompress(body)
            else:
                payload = body
            request_cls, response_cls = _MESSAGES[signal]
            request = request_cls.FromString(payload)
        except Exception as exc:
            self._reply(400, f"undecodable body: {exc}".encode(), "text/plain")
            return
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.server.store._add(Received(signal, request, payload, body, headers))
        self._reply(200, response_cls().SerializeToString(), "application/x-protobuf")

    def _read_body(self) -> bytes:
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the default writes every request to stderr."""


class _OtlpHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    store: _Store


class HttpOtlpReceiver(_Store):
    """OTLP/HTTP (protobuf) on 127.0.0.1: POST /v1/traces, /v1/metrics, /v1/logs."""

    protocol = "http/protobuf"

    def __init__(self) -> None:
        super().__init__()
        self._server = _OtlpHttpServer((LOOPBACK, 0), _OtlpHttpHandler)
        self._server.store = self
        self.port: int = self._server.server_address[1]
        self.endpoint = f"http://{LOOPBACK}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="otlp-http-receiver",
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> HttpOtlpReceiver:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


# --- OTLP/gRPC ---------------------------------------------------------------------------------


class _Servicer:
    """Shared Export(): records the request with its raw bytes and metadata."""

    signal = ""

    def __init__(self, store: _Store) -> None:
        self._store = store

    def Export(self, request: tuple[bytes, Message], context: grpc.ServicerContext) -> Message:
        payload, message = request
        metadata = {key.lower(): value if isinstance(value, str) else repr(value)
                    for key, value in context.invocation_metadata()}
        self._store._add(Received(self.signal, message, payload, payload, metadata))
        return _MESSAGES[self.signal][1]()


class _TraceServicer(_Servicer, trace_service_pb2_grpc.TraceServiceServicer):
    signal = "traces"


class _MetricsServicer(_Servicer, metrics_service_pb2_grpc.MetricsServiceServicer):
    signal = "metrics"


class _LogsServicer(_Servicer, logs_service_pb2_grpc.LogsServiceServicer):
    signal = "logs"


def _keep_raw(request_cls: type[Message]) -> Callable[[bytes], tuple[bytes, Message]]:
    def deserialize(data: bytes) -> tuple[bytes, Message]:
        return data, request_cls.FromString(data)

    return deserialize


def _generic_handler(service: str, servicer: _Servicer) -> grpc.GenericRpcHandler:
    """What ``add_*ServiceServicer_to_server`` registers, but the deserializer keeps the raw bytes."""
    request_cls, response_cls = _MESSAGES[servicer.signal]
    handler = grpc.unary_unary_rpc_method_handler(
        servicer.Export,
        request_deserializer=_keep_raw(request_cls),
        response_serializer=response_cls.SerializeToString,
    )
    return grpc.method_handlers_generic_handler(service, {"Export": handler})


class GrpcOtlpReceiver(_Store):
    """OTLP/gRPC on 127.0.0.1 (insecure): the Trace, Metrics and Logs services."""

    protocol = "grpc"

    def __init__(self) -> None:
        super().__init__()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="otlp-grpc"))
        for module, name, servicer in (
            (trace_service_pb2, "TraceService", _TraceServicer(self)),
            (metrics_service_pb2, "MetricsService", _MetricsServicer(self)),
            (logs_service_pb2, "LogsService", _LogsServicer(self)),
        ):
            service = module.DESCRIPTOR.services_by_name[name].full_name
            self._server.add_generic_rpc_handlers((_generic_handler(service, servicer),))
        self.port = self._server.add_insecure_port(f"{LOOPBACK}:0")
        self.endpoint = f"http://{LOOPBACK}:{self.port}"
        self._server.start()

    def close(self) -> None:
        self._server.stop(grace=None).wait(5)

    def __enter__(self) -> GrpcOtlpReceiver:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def receiver_for(protocol: str) -> HttpOtlpReceiver | GrpcOtlpReceiver:
    """A started receiver speaking ``protocol`` ("grpc" or "http/protobuf")."""
    if protocol == "grpc":
        return GrpcOtlpReceiver()
    if protocol == "http/protobuf":
        return HttpOtlpReceiver()
    raise ValueError(f"unknown OTLP protocol {protocol!r}")


# --- Misbehaving endpoints ---------------------------------------------------------------------


class BlackHoleServer:
    """Accepts TCP connections and reads whatever arrives, but never answers anything.

    A collector that hangs: every export to it blocks until the client's own timeout.
    """

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((LOOPBACK, 0))
        self._listener.listen(64)
        self.port: int = self._listener.getsockname()[1]
        self.endpoint = f"http://{LOOPBACK}:{self.port}"
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self.bytes_received = 0
        self.connections_accepted = 0
        self._thread = threading.Thread(target=self._accept, name="black-hole", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if self._closed.is_set():
                    connection.close()
                    return
                self._connections.append(connection)
                self.connections_accepted += 1
            threading.Thread(target=self._swallow, args=(connection,), daemon=True).start()

    def _swallow(self, connection: socket.socket) -> None:
        try:
            while True:
                data = connection.recv(65536)
                if not data:
                    return
                with self._lock:
                    self.bytes_received += len(data)
        except OSError:
            return

    def close(self) -> None:
        self._closed.set()
        # shutdown() wakes the thread blocked in accept(); close() alone may not.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()
        self._thread.join(5)

    def __enter__(self) -> BlackHoleServer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


# Bound and never listening, for the life of the test process: connections to them are refused,
# and no other process (the suites run side by side) can take the port meanwhile.
_HELD_PORTS: list[socket.socket] = []


def free_port() -> int:
    """A loopback port free right now, for a server a test starts (bound, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def closed_port() -> int:
    """A loopback port nothing listens on, held for this process: connections are refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((LOOPBACK, 0))
    _HELD_PORTS.append(sock)
    return int(sock.getsockname()[1])


def header_values(received: Iterable[Received], name: str) -> list[str]:
    """The values of header/metadata ``name`` (case-insensitive) over ``received``."""
    key = name.lower()
    return [r.headers[key] for r in received if key in r.headers]



def otlp_options(endpoint: str, protocol: str, **overrides: Any) -> dict[str, Any]:
    """``otel_trading.configure()`` keywords sending all three signals, and nothing else, to ``endpoint``.

    Quiet console, no signal handlers, short batching delay; metrics are exported on
    flush/shutdown (the periodic interval is long) unless overridden.
    """
    options: dict[str, Any] = {
        "service_name": "otlp-test",
        "otlp_endpoint": endpoint,
        "otlp_protocol": protocol,
        "traces_exporter": "otlp",
        "metrics_exporter": "otlp",
        "logs_exporter": "otlp",
        "log_console": "off",
        "install_signal_handlers": False,
        "schedule_delay": 0.05,
        "metric_export_interval": 60,
        "shutdown_timeout": 5,
    }
    options.update(overrides)
    return options
