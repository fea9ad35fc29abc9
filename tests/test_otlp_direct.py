"""The direct OTLP span exporters (export/_otlp_proto_encode.py, export/_otlp_span_exporters.py).

Lean spans go straight to protobuf bytes and onto the wire: the bytes must be those of the
SDK's encoder, the requests those of the SDK exporter (same receiver, same payload, same
headers), and the transport must behave as the SDK's does: retries on transient errors within
the timeout, the server's requested delay, loss counted, the caller never stalled, secrets never
logged. Where a setting only the SDK exporter honours is in use, the SDK exporter is used.
"""

from __future__ import annotations

import gc
import gzip
import logging
import math
import ssl
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import pytest
from alert_receivers import self_signed_certificate
from google.protobuf.duration_pb2 import Duration
from google.rpc.error_details_pb2 import RetryInfo  # type: ignore[import-untyped]
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as SdkGrpcSpans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as SdkHttpSpans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanLimits
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState
from otlp_receiver import LOOPBACK, BlackHoleServer, GrpcOtlpReceiver, HttpOtlpReceiver, closed_port, otlp_options
from processes import run_in_forked_child
from test_lean_spans import _LIMITS, _lean_and_sdk_spans

import otel_trading
from otel_trading import traced
from otel_trading._state import STATE
from otel_trading.config._settings import OtlpSettings
from otel_trading.export import _otlp_proto_encode, _pipeline
from otel_trading.export._batch import PackedBatch
from otel_trading.export._compact import SpanCodec
from otel_trading.export._exporters import _otlp_kwargs
from otel_trading.export._otlp_proto_encode import spans_to_protobuf
from otel_trading.export._otlp_span_exporters import DirectOtlpSpanExporter, direct_span_exporter
from otel_trading.redaction import Redactor
from otel_trading.tracing._lean import to_readable

pytestmark = pytest.mark.timeout(60)
SECRET = "Bearer s3cr3t-t0ken-do-not-log"


@pytest.fixture(autouse=True)
def _shutdown_after_test() -> Iterator[None]:
    yield
    otel_trading.shutdown(timeout=1)


# --- the encoder ---------------------------------------------------------------------------------


@pytest.mark.parametrize("limits", [_LIMITS, SpanLimits(max_span_attributes=0, max_events=0, max_links=0),
                                    SpanLimits()], ids=["small-limits", "zero-limits", "default-limits"])
def test_lean_spans_encode_to_the_sdk_encoders_bytes(limits: SpanLimits) -> None:
    lean, sdk = _lean_and_sdk_spans(limits)
    expected = encode_spans(sdk)
    assert spans_to_protobuf(lean) == expected.SerializeToString()
    assert spans_to_protobuf([to_readable(s) for s in lean]) == expected.SerializeToString()
    assert spans_to_protobuf(sdk) == expected.SerializeToString()
    # And what the receiver decodes is the same message, with everything in it.
    decoded = ExportTraceServiceRequest.FromString(spans_to_protobuf(lean))
    assert decoded == expected
    assert len(decoded.resource_spans[0].scope_spans[0].spans) == 7


def _odd_spans() -> list[ReadableSpan]:
    """What no script of ours records but an SDK span may carry: values the encoder must reject or
    write exactly, trace state, remote parents and links, several resources and scopes."""
    resource = Resource({"service.name": "bot", "n": 7}, schema_url="https://opentelemetry.io/schemas/1.21.0")
    other = Resource({"service.name": "other"})
    scope = InstrumentationScope("lib", "2.0", "https://schema/scope", {"scope.attr": "x"})
    state = TraceState([("vendor", "value"), ("b", "c")])
    remote = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(1), trace_state=state)
    attributes: dict[str, Any] = {
        "big": 2**70, "neg": -5, "zero": 0, "nan": math.nan, "inf": -math.inf, "bad": "\ud800", "bytes": b"\x00\xff",
        "empty": "", "unicode": "é€😀", "seq": (1, 2**70), "bools": (True, False), "nones": (None, "x"), "f": 0.0,
        "t": True, "": "empty key",
    }
    spans = []
    for index, (res, sc) in enumerate([(resource, scope), (other, None), (resource, scope), (resource, None)]):
        spans.append(ReadableSpan(
            name="" if index == 1 else f"odd.{index}",
            context=SpanContext(2**128 - 1 - index, 2**64 - 1 - index, is_remote=False, trace_flags=TraceFlags(1),
                                trace_state=state if index == 0 else None),
            parent=remote if index in (0, 2) else None, resource=res, attributes=attributes,
            events=[Event("e", {"k": "v", "big": 2**64}, timestamp=0), Event("", None, timestamp=5)],
            links=[Link(remote, {"a": 1}), Link(SpanContext(1, 2, False))],
            kind=list(SpanKind)[index], status=Status(StatusCode.ERROR, "é") if index else Status(StatusCode.OK),
            start_time=0 if index == 3 else 10, end_time=2**63 + index, instrumentation_scope=sc,
        ))
    return spans


def test_odd_values_encode_as_the_sdk_encoder_does(caplog: pytest.LogCaptureFixture) -> None:
    spans = _odd_spans()
    with caplog.at_level(logging.WARNING):
        expected = encode_spans(spans).SerializeToString()
        ours = spans_to_protobuf(spans)
    assert ours == expected
    decoded = ExportTraceServiceRequest.FromString(ours)
    assert [len(r.scope_spans) for r in decoded.resource_spans] == [2, 1]
    keys = [a.key for a in decoded.resource_spans[0].scope_spans[0].spans[0].attributes]
    assert "big" not in keys and "bad" not in keys and "seq" not in keys and "neg" in keys  # left out, as the SDK
    assert "Failed to encode key big" in caplog.text  # and said so


def test_a_span_the_encoder_cannot_write_fails_its_batch_and_is_counted(http_receiver: HttpOtlpReceiver) -> None:
    exporter = _direct("http/protobuf", http_receiver.endpoint)
    bad = _odd_spans()[0]
    broken = ReadableSpan(name="\ud800", context=bad.context, resource=bad.resource, start_time=1, end_time=2)
    assert exporter.export([broken]) is SpanExportResult.FAILURE  # the SDK exporter fails it too
    assert exporter.export(_odd_spans()) is SpanExportResult.SUCCESS
    exporter.shutdown()


# --- the transports against the SDK exporters -----------------------------------------------------


def _settings(protocol: str, endpoint: str, **fields: Any) -> OtlpSettings:
    return OtlpSettings(**{"endpoint": endpoint, "protocol": protocol, "timeout_s": 5.0, "compression": "none",
                           **fields})


def _direct(protocol: str, endpoint: str, **fields: Any) -> DirectOtlpSpanExporter:
    exporter = direct_span_exporter(_settings(protocol, endpoint, **fields),
                                    _otlp_kwargs("traces", _settings(protocol, endpoint, **fields)).get("endpoint"))
    assert isinstance(exporter, DirectOtlpSpanExporter)
    return exporter


@pytest.mark.parametrize("compression", ["none", "gzip", "deflate"])
def test_http_requests_are_the_sdk_exporters(compression: str, http_receiver: HttpOtlpReceiver) -> None:
    lean, sdk = _lean_and_sdk_spans()
    settings = _settings("http/protobuf", http_receiver.endpoint, compression=compression,
                         headers={"X-Api-Key": SECRET})
    theirs = SdkHttpSpans(**_otlp_kwargs("traces", settings))
    assert theirs.export(sdk) is SpanExportResult.SUCCESS
    ours = _direct("http/protobuf", http_receiver.endpoint, compression=compression, headers={"X-Api-Key": SECRET})
    assert ours.export(lean) is SpanExportResult.SUCCESS
    assert ours.export(lean) is SpanExportResult.SUCCESS  # on the kept-alive connection
    sdk_request, first, second = http_receiver.requests("traces")
    assert first.payload == second.payload == sdk_request.payload
    decompressors: dict[str, Callable[[bytes], bytes]] = {"gzip": gzip.decompress, "deflate": zlib.decompress,
                                                          "none": bytes}
    decompress = decompressors[compression]
    assert decompress(first.wire) == sdk_request.payload
    for name in ("content-type", "user-agent", "x-api-key", "content-encoding"):
        assert first.headers.get(name) == sdk_request.headers.get(name), name
    theirs.shutdown()  # type: ignore[no-untyped-call,unused-ignore]
    ours.shutdown()


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_grpc_requests_are_the_sdk_exporters(compression: str, grpc_receiver: GrpcOtlpReceiver) -> None:
    lean, sdk = _lean_and_sdk_spans()
    settings = _settings("grpc", grpc_receiver.endpoint, compression=compression, headers={"X-Api-Key": SECRET},
                         insecure=True)
    theirs = SdkGrpcSpans(**_otlp_kwargs("traces", settings))
    assert theirs.export(sdk) is SpanExportResult.SUCCESS
    ours = _direct("grpc", grpc_receiver.endpoint, compression=compression, headers={"X-Api-Key": SECRET},
                   insecure=True)
    assert ours.export(lean) is SpanExportResult.SUCCESS
    sdk_request, request = grpc_receiver.requests("traces")
    assert request.payload == sdk_request.payload
    for name in ("user-agent", "x-api-key", "grpc-accept-encoding"):
        assert request.headers.get(name) == sdk_request.headers.get(name), name
    theirs.shutdown()
    ours.shutdown()


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_configure_sends_lean_spans_without_building_readable_spans(
        protocol: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_readable_spans(span: Any) -> ReadableSpan:
        raise AssertionError(f"a ReadableSpan was built for {span}")

    monkeypatch.setattr(_pipeline, "to_readable", no_readable_spans)
    receiver: HttpOtlpReceiver | GrpcOtlpReceiver = HttpOtlpReceiver() if protocol != "grpc" else GrpcOtlpReceiver()
    with receiver:
        telemetry = otel_trading.configure(**otlp_options(receiver.endpoint, protocol, metrics_exporter="none",
                                                          logs_exporter="none"))
        assert isinstance(telemetry._span_exporters[0][1], DirectOtlpSpanExporter)
        _tick(1)
        assert telemetry.shutdown(timeout=5)
        assert [s.name for s in receiver.spans()] == ["_tick"]


@traced
def _tick(i: int) -> int:
    return i


def test_a_batch_from_the_packed_backlog_is_encoded_one_span_at_a_time(http_receiver: HttpOtlpReceiver,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # The direct exporter reads its batch once: the export thread hands it each span as it is read, so a
    # batch of the packed backlog is never all unpacked at once (a collection during the send would
    # promote every span of it; enough promoted objects make the next collection a full one).
    lean, _ = _lean_and_sdk_spans()
    codec = SpanCodec()
    packed = [p for p in (codec.pack(span)[0] for span in lean * 10) if type(p) is tuple]
    assert len(packed) >= 30
    expected = spans_to_protobuf([codec.unpack(p) for p in packed])

    def spans_alive() -> int:  # what the codec unpacks to
        return sum(type(o) is ReadableSpan for o in gc.get_objects())

    before = spans_alive()
    most = 0
    encode_span = _otlp_proto_encode._span

    def watched(span: Any) -> bytes:
        nonlocal most
        most = max(most, spans_alive() - before)
        return encode_span(span)

    monkeypatch.setattr(_otlp_proto_encode, "_span", watched)
    exporter = _direct("http/protobuf", http_receiver.endpoint)
    export = _pipeline.span_export_fn(exporter, Redactor())
    assert export(PackedBatch(packed, codec, "traces exporter test"))
    assert [r.payload for r in http_receiver.requests("traces")] == [expected]
    assert most == 1
    exporter.shutdown()


# --- settings: the SDK exporter's, and the fallback ------------------------------------------------


def test_endpoint_and_headers_from_the_variables_as_the_sdk_reads_them(
        http_receiver: HttpOtlpReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", http_receiver.endpoint + "/")  # /v1/traces appended
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-generic=1")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-tenant=bots")  # wins over the generic one
    options = otlp_options("", "http/protobuf", metrics_exporter="none", logs_exporter="none")
    del options["otlp_endpoint"]
    telemetry = otel_trading.configure(**options)
    assert isinstance(telemetry._span_exporters[0][1], DirectOtlpSpanExporter)
    _tick(1)
    assert telemetry.shutdown(timeout=5)
    (request,) = http_receiver.requests("traces")
    assert request.headers.get("x-tenant") == "bots" and "x-generic" not in request.headers
    # The traces variable is used as it is (no path added), as the SDK exporter does.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", http_receiver.endpoint + "/custom")
    exporter = direct_span_exporter(OtlpSettings(protocol="http/protobuf", timeout_s=1.0), None)
    assert isinstance(exporter, DirectOtlpSpanExporter) and exporter.where.endswith(":%d/custom" % http_receiver.port)  # noqa: UP031


@pytest.mark.parametrize(("protocol", "variable", "value"), [
    ("http/protobuf", "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", "/nonexistent/key.pem"),
    ("grpc", "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "/nonexistent/cert.pem"),
    ("http/protobuf", "OTEL_PYTHON_EXPORTER_OTLP_HTTP_CREDENTIAL_PROVIDER", "missing"),
    ("http/protobuf", "HTTP_PROXY", "http://127.0.0.1:9"),
    ("grpc", "OTEL_PYTHON_EXPORTER_OTLP_GRPC_RETRYABLE_ERROR_CODES", "UNAVAILABLE"),
])
def test_settings_only_the_sdk_exporter_honours_keep_it(protocol: str, variable: str, value: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint = f"http://{LOOPBACK}:4317"
    assert direct_span_exporter(_settings(protocol, endpoint), endpoint) is not None
    monkeypatch.setenv(variable, value)
    assert direct_span_exporter(_settings(protocol, endpoint), endpoint) is None


def test_the_sdk_exporter_still_delivers_when_kept(grpc_receiver: GrpcOtlpReceiver,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_CLIENT_KEY", "/nonexistent/key.pem")  # insecure: not read
    telemetry = otel_trading.configure(**otlp_options(grpc_receiver.endpoint, "grpc", metrics_exporter="none",
                                                      logs_exporter="none", otlp_insecure=True))
    assert isinstance(telemetry._span_exporters[0][1], SdkGrpcSpans)
    _tick(2)
    assert telemetry.shutdown(timeout=5)
    assert [s.name for s in grpc_receiver.spans()] == ["_tick"]


# --- retries, timeouts, loss ---------------------------------------------------------------------


class _Flaky(BaseHTTPRequestHandler):
    """Answers the first ``failures`` POSTs with ``status`` (and Retry-After), then 200."""

    protocol_version = "HTTP/1.1"
    server: _FlakyServer

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        server = self.server
        with server.lock:
            server.times.append(time.monotonic())
            server.clients.append(self.client_address)
            failing = len(server.times) <= server.failures
        self.send_response(server.status if failing else 200)
        if failing and server.retry_after is not None:
            self.send_header("Retry-After", server.retry_after)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _FlakyServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, status: int, failures: int, retry_after: str | None,
                 certificate: tuple[Path, Path] | None = None) -> None:
        super().__init__((LOOPBACK, 0), _Flaky)
        self.scheme = "http"
        if certificate is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*map(str, certificate))
            self.socket = context.wrap_socket(self.socket, server_side=True)
            self.scheme = "https"
        self.status, self.failures, self.retry_after = status, failures, retry_after
        self.times: list[float] = []
        self.clients: list[tuple[str, int]] = []
        self.lock = threading.Lock()
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"{self.scheme}://{LOOPBACK}:{self.server_address[1]}"

    def __exit__(self, *_: object) -> None:
        self.shutdown()  # its serving thread first, then the socket
        self.server_close()


@pytest.mark.parametrize(("status", "retry_after", "attempts", "result"), [
    (503, "0", 3, SpanExportResult.SUCCESS),
    (429, "0", 3, SpanExportResult.SUCCESS),
    (502, "0", 3, SpanExportResult.SUCCESS),
    (400, "0", 1, SpanExportResult.FAILURE),  # not transient: not retried
])
def test_http_retries_transient_statuses(status: int, retry_after: str, attempts: int,
                                         result: SpanExportResult) -> None:
    with _FlakyServer(status, 2, retry_after) as server:
        exporter = _direct("http/protobuf", server.endpoint)
        assert exporter.export(_lean_and_sdk_spans()[0]) is result
        assert len(server.times) == attempts
        exporter.shutdown()


def test_http_waits_the_retry_after_the_server_asks_for() -> None:
    with _FlakyServer(503, 1, "0.4") as server:
        exporter = _direct("http/protobuf", server.endpoint)
        assert exporter.export(_lean_and_sdk_spans()[0]) is SpanExportResult.SUCCESS
        first, second = server.times
        assert 0.35 < second - first < 0.9  # the server's 0.4 s, not the first backoff of ~1 s
        exporter.shutdown()


def test_a_retry_beyond_the_timeout_is_not_waited_for() -> None:
    with _FlakyServer(503, 5, "30") as server:
        exporter = _direct("http/protobuf", server.endpoint, timeout_s=1.0)
        start = time.monotonic()
        assert exporter.export(_lean_and_sdk_spans()[0]) is SpanExportResult.FAILURE
        assert time.monotonic() - start < 0.5 and len(server.times) == 1
        exporter.shutdown()


class _FlakyGrpc:
    """A trace service that fails the first ``failures`` calls with ``code`` (asking for a short delay)."""

    def __init__(self, code: grpc.StatusCode, failures: int, certificate: tuple[Path, Path] | None = None) -> None:
        self.code, self.failures, self.calls = code, failures, 0
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        handler = grpc.unary_unary_rpc_method_handler(self._export, request_deserializer=None,
                                                      response_serializer=None)
        self.server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            "opentelemetry.proto.collector.trace.v1.TraceService", {"Export": handler}),))
        if certificate is None:
            port = self.server.add_insecure_port(f"{LOOPBACK}:0")
        else:
            cert, key = (path.read_bytes() for path in certificate)
            port = self.server.add_secure_port(f"{LOOPBACK}:0", grpc.ssl_server_credentials([(key, cert)]))
        self.endpoint = f"http://{LOOPBACK}:{port}"
        self.server.start()

    def _export(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        self.calls += 1
        ExportTraceServiceRequest.FromString(request)
        if self.calls <= self.failures:
            delay = RetryInfo(retry_delay=Duration(nanos=50_000_000)).SerializeToString()
            context.set_trailing_metadata((("google.rpc.retryinfo-bin", delay),))
            context.abort(self.code, "try later")
        return b""


@pytest.mark.parametrize(("code", "calls", "result"), [
    (grpc.StatusCode.UNAVAILABLE, 3, SpanExportResult.SUCCESS),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, 3, SpanExportResult.SUCCESS),
    (grpc.StatusCode.INVALID_ARGUMENT, 1, SpanExportResult.FAILURE),
])
def test_grpc_retries_transient_codes_after_the_delay_asked_for(
        code: grpc.StatusCode, calls: int, result: SpanExportResult) -> None:
    service = _FlakyGrpc(code, 2)
    try:
        exporter = _direct("grpc", service.endpoint, insecure=True)
        start = time.monotonic()
        assert exporter.export(_lean_and_sdk_spans()[0]) is result
        assert service.calls == calls
        assert time.monotonic() - start < 1.5  # the 50 ms asked for, not backoffs of 1 s and 2 s
        exporter.shutdown()
    finally:
        service.server.stop(None)


def _dropped_traces() -> float:
    total = 0.0
    for metric in STATE.local_metrics.collect():
        if metric.name == "otel_trading.telemetry.dropped":
            points: Any = metric.data.data_points
            total += sum(float(p.value) for p in points if dict(p.attributes or {}).get("signal") == "traces")
    return total


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_a_dead_port_is_counted_as_loss_without_stalling_the_caller(
        protocol: str, caplog: pytest.LogCaptureFixture) -> None:
    endpoint = f"http://{LOOPBACK}:{closed_port()}"
    telemetry = otel_trading.configure(**otlp_options(endpoint, protocol, metrics_exporter="none",
                                                      logs_exporter="none", otlp_timeout=0.5,
                                                      otlp_headers={"authorization": SECRET}))
    assert isinstance(telemetry._span_exporters[0][1], DirectOtlpSpanExporter)
    with caplog.at_level(logging.DEBUG):
        start = time.monotonic()
        for i in range(20):
            _tick(i)
        assert time.monotonic() - start < 0.2  # the caller never waits for the exporter
        assert not telemetry.tracer_provider.force_flush(5_000)  # type: ignore[union-attr]
        deadline = time.monotonic() + 5
        while _dropped_traces() < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert _dropped_traces() == 20
    assert "Failed to export spans" in caplog.text
    assert "s3cr3t" not in caplog.text  # header values are never logged


def test_a_receiver_that_never_answers_fails_the_export_within_its_timeout(black_hole: BlackHoleServer) -> None:
    exporter = _direct("http/protobuf", black_hole.endpoint, timeout_s=0.3)
    start = time.monotonic()
    assert exporter.export(_lean_and_sdk_spans()[0]) is SpanExportResult.FAILURE
    assert time.monotonic() - start < 1.5
    exporter.shutdown()


def test_a_forked_child_sends_on_a_connection_of_its_own() -> None:
    with _FlakyServer(503, 0, None) as server:
        exporter = _direct("http/protobuf", server.endpoint)
        spans = _lean_and_sdk_spans()[0]
        assert exporter.export(spans) is SpanExportResult.SUCCESS  # the parent's kept-alive connection

        def child() -> None:
            assert exporter.export(spans) is SpanExportResult.SUCCESS

        run_in_forked_child(child)
        assert exporter.export(spans) is SpanExportResult.SUCCESS
        parent, in_child, parent_again = server.clients
        assert parent == parent_again  # the parent's connection kept, untouched by the child
        assert in_child != parent  # the child did not write on the parent's socket
        exporter.shutdown()


def test_https_verifies_the_receiver_against_the_certificate_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    certificate = self_signed_certificate(tmp_path)
    with _FlakyServer(503, 0, None, certificate) as server:
        trusted = _direct("http/protobuf", server.endpoint, certificate_file=str(certificate[0]))
        assert trusted.export(_lean_and_sdk_spans()[0]) is SpanExportResult.SUCCESS
        untrusted = _direct("http/protobuf", server.endpoint, timeout_s=1.0)
        assert untrusted.export(_lean_and_sdk_spans()[0]) is SpanExportResult.FAILURE
        # The bundle requests would verify against when given no certificate file.
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate[0]))
        assert _direct("http/protobuf", server.endpoint).export(_lean_and_sdk_spans()[0]) is SpanExportResult.SUCCESS
        assert len(server.times) == 2
        for exporter in (trusted, untrusted):
            exporter.shutdown()


def test_grpc_over_tls_with_the_certificate_of_the_traces_variable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    certificate = self_signed_certificate(tmp_path)
    service = _FlakyGrpc(grpc.StatusCode.UNAVAILABLE, 0, certificate)
    try:
        endpoint = service.endpoint.replace("http://", "https://")
        untrusted = _direct("grpc", endpoint, timeout_s=0.5)
        assert untrusted.export(_lean_and_sdk_spans()[0]) is SpanExportResult.FAILURE
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", str(certificate[0]))
        trusted = _direct("grpc", endpoint)
        assert trusted.export(_lean_and_sdk_spans()[0]) is SpanExportResult.SUCCESS
        assert service.calls == 1
        for exporter in (trusted, untrusted):
            exporter.shutdown()
    finally:
        service.server.stop(None)


def test_the_certificate_file_argument_with_grpc(tmp_path: Path) -> None:
    certificate = self_signed_certificate(tmp_path)
    service = _FlakyGrpc(grpc.StatusCode.UNAVAILABLE, 0, certificate)
    try:
        # The SDK's gRPC metric exporter is built too: it takes credentials, not a certificate file.
        telemetry = otel_trading.configure(**otlp_options(
            service.endpoint.replace("http://", "https://"), "grpc", logs_exporter="none",
            otlp_certificate_file=str(certificate[0])))
        assert isinstance(telemetry._span_exporters[0][1], DirectOtlpSpanExporter)
        _tick(3)
        assert telemetry.tracer_provider.force_flush(5_000)  # type: ignore[union-attr]
        assert service.calls == 1
        telemetry.shutdown(timeout=1)
    finally:
        service.server.stop(None)


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_an_unreadable_certificate_file_is_a_configuration_error(protocol: str, tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    expected = r"otlp_certificate_file: '.*missing\.pem' cannot be read"
    with pytest.raises(otel_trading.ConfigurationError, match=expected):
        otel_trading.configure(**otlp_options(f"https://{LOOPBACK}:4317", protocol,
                                              otlp_certificate_file=str(missing)))


def test_shutdown_cuts_a_backoff_short(caplog: pytest.LogCaptureFixture) -> None:
    with _FlakyServer(503, 100, None) as server:  # backoffs of ~1 s, 2 s, 4 s within a 10 s timeout
        exporter = _direct("http/protobuf", server.endpoint, timeout_s=10.0)
        results: list[SpanExportResult] = []
        worker = threading.Thread(target=lambda: results.append(exporter.export(_lean_and_sdk_spans()[0])))
        worker.start()
        time.sleep(0.3)
        start = time.monotonic()
        exporter.shutdown()
        worker.join(5)
        assert results == [SpanExportResult.FAILURE] and time.monotonic() - start < 0.5
        assert exporter.export(_lean_and_sdk_spans()[0]) is SpanExportResult.FAILURE  # shut down: refused


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
