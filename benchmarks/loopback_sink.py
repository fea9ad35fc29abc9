"""Loopback receivers that accept everything and keep nothing: OTLP/HTTP, OTLP/gRPC, the Datadog
agent's trace intake. Run as a subprocess (``python loopback_sink.py``: it prints its ports as
one JSON line and serves until its stdin closes), so its CPU is not counted in the benchmark's.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc

LOOPBACK = "127.0.0.1"
_GRPC_METHODS = {
    "opentelemetry.proto.collector.trace.v1.TraceService": "Export",
    "opentelemetry.proto.collector.logs.v1.LogsService": "Export",
    "opentelemetry.proto.collector.metrics.v1.MetricsService": "Export",
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the exporters' sessions expect

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        # An empty ExportTraceServiceResponse is zero bytes; the Datadog agent answers JSON.
        body = b"{}" if self.path.startswith("/v0.") else b""
        self.send_response(200)
        self.send_header("Content-Type", "application/json" if body else "application/x-protobuf")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a client that gave up (its shutdown)
            self.wfile.write(body)

    do_POST = do_PUT = _answer

    def do_GET(self) -> None:
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


def _empty_response(_request: bytes, _context: object) -> bytes:
    return b""  # an empty Export*ServiceResponse; the request is never parsed


def _grpc_server() -> tuple[grpc.Server, int]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    for service, method in _GRPC_METHODS.items():
        handler = grpc.unary_unary_rpc_method_handler(_empty_response)  # bytes in, bytes out
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, {method: handler}),))
    port = server.add_insecure_port(f"{LOOPBACK}:0")
    server.start()
    return server, port


def serve() -> None:
    http = ThreadingHTTPServer((LOOPBACK, 0), _Handler)
    http.daemon_threads = True
    threading.Thread(target=http.serve_forever, daemon=True).start()
    grpc_server, grpc_port = _grpc_server()
    print(json.dumps({"http": http.server_address[1], "grpc": grpc_port}), flush=True)
    sys.stdin.read()  # until the parent closes it (or exits)
    grpc_server.stop(0)
    http.shutdown()


@dataclass(frozen=True)
class Sink:
    http_port: int
    grpc_port: int

    @property
    def http_endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.http_port}"

    @property
    def grpc_endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.grpc_port}"


@contextmanager
def running_sink() -> Iterator[Sink]:
    """A sink in a subprocess, for the duration of the block."""
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        ports = json.loads(process.stdout.readline())
        yield Sink(ports["http"], ports["grpc"])
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


if __name__ == "__main__":
    serve()
