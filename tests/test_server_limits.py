"""The SDK's HTTP endpoints (/metrics, /healthz, the console) under slow and hostile clients, over real sockets.

The attacks run against a server in a forked child, the "bot": psutil counts its threads and
descriptors apart from the attacking sockets this process holds. Attacks are bounded: a few
hundred connections to 127.0.0.1, each closed by the test at the end. Servers started here
get a 1 s request timeout so the tests wait past it quickly; the defaults are checked in
``test_public_entry_points_use_the_bounded_server``.
"""

from __future__ import annotations

import gzip
import http.client
import multiprocessing
import re
import resource
import select
import socket
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TypeVar

import psutil
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from prometheus_client import start_http_server

import otel_trading
from otel_trading import health
from otel_trading._http_server import DEFAULT_LIMITS, BoundedHTTPServer, BoundedRequestHandler, ServerLimits
from otel_trading.health._server import start_server as start_health_server
from otel_trading.metrics._prometheus import PrometheusEndpoint

TIMEOUT_S = 1.0
LIMITS = ServerLimits(request_timeout_s=TIMEOUT_S)
ATTACKERS = 300
HALF_SENT = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow"  # no blank line: never complete
T = TypeVar("T")


def eventually(probe: Callable[[], T], what: str, timeout: float) -> T:
    deadline = time.monotonic() + timeout
    while not (result := probe()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still not true after {timeout}s (last: {result!r})")
        time.sleep(0.05)
    return result


# --- a server in a child process ---


def _serve_prometheus(limits: ServerLimits) -> tuple[int, Callable[[], None]]:
    endpoint = PrometheusEndpoint.start("127.0.0.1", 0, limits=limits)
    assert endpoint is not None
    return endpoint.port, endpoint.close


def _serve_health(limits: ServerLimits) -> tuple[int, Callable[[], None]]:
    server = start_health_server("127.0.0.1", 0, limits)
    return server.port, server.close


def _serve_console(limits: ServerLimits) -> tuple[int, Callable[[], None]]:
    from otel_trading.console._app import ConsoleApp
    from otel_trading.console._server import ConsoleServer
    from otel_trading.redaction import Redactor

    app = ConsoleApp(store_dir=Path(tempfile.mkdtemp()), token="t" * 32, bind_host="127.0.0.1", service=None,
                     redactor=Redactor)
    server = ConsoleServer(app, "127.0.0.1", 0, limits=limits)
    return server.port, server.stop


SERVERS: dict[str, tuple[Callable[[ServerLimits], tuple[int, Callable[[], None]]], str]] = {
    "prometheus": (_serve_prometheus, "/metrics"),
    "health": (_serve_health, "/healthz"),
    "console": (_serve_console, "/api/info"),
}


def _child(kind: str, limits: ServerLimits, pipe: Connection, fd_headroom: int | None) -> None:
    port, close = SERVERS[kind][0](limits)
    if fd_headroom is not None:  # a process about to run out of descriptors
        resource.setrlimit(resource.RLIMIT_NOFILE, (psutil.Process().num_fds() + fd_headroom,) * 2)
    pipe.send(port)
    pipe.poll(60)  # until the test says stop (or gives up)
    close()


@dataclass
class Bot:
    process: psutil.Process
    port: int
    path: str

    def threads(self) -> int:
        return self.process.num_threads()

    def fds(self) -> int:
        return self.process.num_fds()

    def get(self, timeout: float = 5.0) -> tuple[int, float]:
        """(status, seconds taken) of one ordinary request."""
        started = time.monotonic()
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{self.path}", timeout=timeout) as response:
            response.read()
            return response.status, time.monotonic() - started


@contextmanager
def bot(kind: str, limits: ServerLimits = LIMITS, fd_headroom: int | None = None) -> Iterator[Bot]:
    # A fresh interpreter: a forked child would inherit whatever this test process configured
    # earlier, whose fork hooks restart export threads that then come and go while we count.
    spawn = multiprocessing.get_context("spawn")
    ours, theirs = spawn.Pipe()
    child = spawn.Process(target=_child, args=(kind, limits, theirs, fd_headroom), daemon=True)
    child.start()
    try:
        assert ours.poll(30), "the server did not start in the child"
        running = Bot(psutil.Process(child.pid), ours.recv(), SERVERS[kind][1])
        assert running.get()[0] == 200  # warmed up: lazily created state is in the baseline
        yield running
    finally:
        ours.send("stop")
        child.join(10)
        if child.is_alive():
            child.kill()
        assert child.exitcode == 0


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def closed_by_server(sock: socket.socket) -> bool:
    """True once the server has hung up on ``sock`` (whatever short reply it sent first)."""
    try:
        while select.select([sock], [], [], 0)[0]:
            if not sock.recv(4096):
                return True
    except OSError:  # reset
        return True
    return False


# --- attacks on each server ---


@pytest.mark.parametrize("kind", SERVERS)
def test_half_sent_requests_cost_no_threads_and_are_timed_out(kind: str) -> None:
    with bot(kind) as target, ExitStack() as attackers:
        threads, fds = target.threads(), target.fds()
        attack = [attackers.enter_context(closing(connect(target.port))) for _ in range(ATTACKERS)]
        for sock in attack:
            sock.sendall(HALF_SENT)
        status, took = target.get()
        assert status == 200 and took < 1.0, f"a request during the attack took {took:.2f}s"
        assert target.threads() == threads  # no thread per connection, not even for a moment
        assert target.fds() <= fds + LIMITS.pending_connections + LIMITS.queued_requests + 4
        assert not closed_by_server(attack[-1]), "the attack was already over when we measured"

        eventually(lambda: target.fds() <= fds + 1, f"{kind}: descriptors back to {fds}", TIMEOUT_S + 5)
        assert target.threads() == threads
        eventually(lambda: all(closed_by_server(sock) for sock in attack), "every attacker hung up on", 2)
        assert target.get()[0] == 200


@pytest.mark.parametrize("kind", SERVERS)
def test_trickling_client_gets_no_more_time_than_a_silent_one(kind: str) -> None:
    """Slowloris: a byte every 0.1 s resets no timer; the whole head must arrive within the timeout."""
    with bot(kind) as target, ExitStack() as attackers:
        threads = target.threads()
        started = time.monotonic()
        trickling = {attackers.enter_context(closing(connect(target.port))): 0.0 for _ in range(20)}
        header = b"GET / HTTP/1.1\r\n" + b"X-Slow: " + b"a" * 200
        sent = 0
        while time.monotonic() - started < TIMEOUT_S + 2 and not all(trickling.values()):
            for sock, cut in trickling.items():
                if cut:
                    continue
                if closed_by_server(sock):
                    trickling[sock] = time.monotonic() - started
                    continue
                try:
                    sock.send(header[sent % len(header):][:1])
                except OSError:
                    trickling[sock] = time.monotonic() - started
            sent += 1
            time.sleep(0.1)
        assert target.threads() == threads
        assert all(trickling.values()), f"{sum(not cut for cut in trickling.values())} trickling clients still held"
        assert min(trickling.values()) > TIMEOUT_S - 0.2 and max(trickling.values()) < TIMEOUT_S + 1.5


@pytest.mark.parametrize("kind", SERVERS)
def test_oversized_request_is_refused_with_431(kind: str) -> None:
    with bot(kind) as target, closing(connect(target.port)) as sock:
        filler = b"X-Filler: " + b"f" * 100 + b"\r\n"
        sock.sendall(b"GET / HTTP/1.1\r\n" + filler * (LIMITS.max_request_bytes // len(filler) + 10))
        reply = sock.recv(4096)
        assert reply.startswith(b"HTTP/1.0 431 ")
        assert target.get()[0] == 200


def test_out_of_descriptors_the_server_waits_instead_of_spinning() -> None:
    with bot("health", fd_headroom=4) as target, ExitStack() as attackers:
        for _ in range(30):  # more than the child can accept: the rest wait in the listen backlog
            attackers.enter_context(closing(connect(target.port))).sendall(HALF_SENT)
        before = sum(target.process.cpu_times()[:2])
        time.sleep(0.8)
        busy = sum(target.process.cpu_times()[:2]) - before
        assert busy < 0.15, f"the server burnt {busy:.2f}s of CPU in 0.8s while out of descriptors"
        attackers.close()
        eventually(lambda: target.get()[0] == 200, "served again once descriptors are free", TIMEOUT_S + 5)


def test_busy_handlers_answer_503_at_once_instead_of_piling_up() -> None:
    serving, release = threading.Event(), threading.Event()

    class Slow(BoundedRequestHandler):
        def do_GET(self) -> None:
            serving.set()
            release.wait(10)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = BoundedHTTPServer("127.0.0.1", 0, Slow, name="test-slow",
                               limits=ServerLimits(handler_threads=1, queued_requests=1, request_timeout_s=5))
    connections = [http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=5) for _ in range(3)]
    try:
        connections[0].request("GET", "/")
        assert serving.wait(5)
        connections[1].request("GET", "/")
        eventually(lambda: server._requests.qsize() == 1, "the second request queued", 5)
        started = time.monotonic()
        connections[2].request("GET", "/")
        refused = connections[2].getresponse()
        assert refused.status == 503 and time.monotonic() - started < 1.0
        release.set()
        assert [c.getresponse().status for c in connections[:2]] == [200, 200]
    finally:
        release.set()
        for connection in connections:
            connection.close()
        server.close()
    assert not [t.name for t in threading.enumerate() if t.name.startswith("test-slow:")]


# --- the real entry points, with the default limits ---


def test_public_entry_points_use_the_bounded_server() -> None:
    assert DEFAULT_LIMITS.request_timeout_s == 5.0 and DEFAULT_LIMITS.handler_threads == 2
    telemetry = otel_trading.configure(prometheus_port=0, log_console="off", install_signal_handlers=False,
                                       traces_exporter="none", logs_exporter="none", system_metrics=False)
    try:
        assert telemetry.prometheus is not None and telemetry.prometheus_url is not None
        with health.serve(port=0) as probes, ExitStack() as attackers:
            before = threading.active_count()
            for port in (telemetry.prometheus.port, probes.port):
                for _ in range(100):
                    attackers.enter_context(closing(connect(port))).sendall(HALF_SENT)
            with urllib.request.urlopen(telemetry.prometheus_url, timeout=5) as response:  # noqa: S310 - loopback
                assert response.status == 200 and b"target_info" in response.read()
            with urllib.request.urlopen(probes.url + "/healthz", timeout=5) as response:  # noqa: S310 - loopback
                assert response.status == 200
            assert threading.active_count() <= before
    finally:
        assert telemetry.shutdown()


# --- the exposition is prometheus_client's, byte for byte ---


def _scrape(port: int, method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request(method, path, headers=headers)
        response = connection.getresponse()
        kept = ("Content-Type", "Content-Encoding", "Allow")
        return response.status, {k: v for k, v in response.headers.items() if k in kept}, response.read()
    finally:
        connection.close()


def test_exposition_is_what_prometheus_client_serves() -> None:
    endpoint = PrometheusEndpoint.start("127.0.0.1", 0)
    assert endpoint is not None
    provider = MeterProvider(metric_readers=[endpoint.reader])
    meter = provider.get_meter("limits-test")
    meter.create_counter("orders", unit="{order}").add(3, {"side": "buy"})
    meter.create_histogram("latency", unit="s").record(0.2)
    reference, _thread = start_http_server(0, addr="127.0.0.1", registry=endpoint.registry)
    requests: list[tuple[str, str, dict[str, str]]] = [
        ("GET", "/metrics", {}),
        ("GET", "/metrics", {"Accept": "application/openmetrics-text; version=1.0.0"}),
        ("GET", "/metrics", {"Accept-Encoding": "gzip"}),
        ("GET", "/metrics?name[]=orders_total", {}),
        ("GET", "/favicon.ico", {}),
        ("OPTIONS", "/metrics", {}),
        ("POST", "/metrics", {}),
    ]
    try:
        for method, path, headers in requests:
            ours = _scrape(endpoint.port, method, path, headers)
            theirs = _scrape(reference.server_port, method, path, headers)
            assert ours == theirs, (method, path, headers)
        status, headers, body = _scrape(endpoint.port, "GET", "/metrics", {"Accept-Encoding": "gzip"})
        # The scope labels (otel_scope_name=...) come with contrib 0.61b0 and later: not asserted.
        assert status == 200 and re.search(rb'^orders_total\{[^}]*side="buy"[^}]*\} 3\.0$', gzip.decompress(body), re.M)
    finally:
        reference.shutdown()
        reference.server_close()
        endpoint.close()
        provider.shutdown()


def test_unbindable_host_is_named_in_the_warning(caplog: pytest.LogCaptureFixture) -> None:
    assert PrometheusEndpoint.start("192.0.2.1", 0) is None  # TEST-NET-1: not an address of this machine
    assert "set prometheus_host or OTEL_EXPORTER_PROMETHEUS_HOST to an address of this machine" in caplog.text
    caplog.clear()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert PrometheusEndpoint.start("127.0.0.1", taken.getsockname()[1]) is None
    assert "set prometheus_port or OTEL_EXPORTER_PROMETHEUS_PORT to a free port" in caplog.text


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError, match=r"ServerLimits\.handler_threads: expected at least 1, got 0"):
        ServerLimits(handler_threads=0)
    with pytest.raises(ValueError, match=r"ServerLimits\.request_timeout_s: expected seconds > 0"):
        ServerLimits(request_timeout_s=0)
    with pytest.raises(ValueError, match="host: expected an address"):
        BoundedHTTPServer("", 0, BoundedRequestHandler, name="never")

