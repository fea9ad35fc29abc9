"""Shutdown and flush against real endpoints: live, refusing, and hanging (black hole).

A live receiver gets everything; an unusable endpoint costs at most the shutdown timeout,
the result says that telemetry was lost, and the loss is counted. Exit paths (atexit,
SIGTERM with and without the application's own handler, forked children) are exercised in
real child processes.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from otlp_receiver import BlackHoleServer, GrpcOtlpReceiver, HttpOtlpReceiver, attributes, closed_port, otlp_options
from processes import run_in_forked_child

import otel_trading
from otel_trading import get_logger, span, traced
from otel_trading._state import STATE
from otel_trading.metrics._local import LocalMetrics

Receiver = HttpOtlpReceiver | GrpcOtlpReceiver
PROTOCOLS = ["grpc", "http/protobuf"]

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def _shutdown_after_test() -> Iterator[None]:
    yield
    otel_trading.shutdown(timeout=1)


def self_telemetry(local: LocalMetrics) -> dict[tuple[str, str, str], float]:
    """{(metric, signal, reason): value} of the dropped/exported self-telemetry counters."""
    result: dict[tuple[str, str, str], float] = {}
    for metric in local.collect():
        if metric.name not in ("otel_trading.telemetry.dropped", "otel_trading.telemetry.exported"):
            continue
        kind = metric.name.rsplit(".", 1)[1]
        for point in metric.data.data_points:  # type: ignore[union-attr]
            point_attrs = dict(point.attributes or {})
            key = (kind, str(point_attrs["signal"]), str(point_attrs.get("reason", "")))
            result[key] = result.get(key, 0) + point.value
    return result


def dropped(local: LocalMetrics, signal_name: str) -> float:
    return sum(v for (kind, sig, _), v in self_telemetry(local).items() if kind == "dropped" and sig == signal_name)


def exported(local: LocalMetrics, signal_name: str) -> float:
    return sum(v for (kind, sig, _), v in self_telemetry(local).items() if kind == "exported" and sig == signal_name)


def eventually(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


@traced(capture=["i"])
def tick(i: int) -> int:
    get_logger("strategy").info("tick", i=i)
    return i


# --- In process: live, refusing and hanging endpoints ------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_shutdown_loses_nothing_with_a_live_receiver(protocol: str) -> None:
    with (GrpcOtlpReceiver() if protocol == "grpc" else HttpOtlpReceiver()) as receiver:
        # A long schedule delay: most of it is still queued when shutdown() is called.
        telemetry = otel_trading.configure(**otlp_options(receiver.endpoint, protocol, schedule_delay=5))
        local = STATE.local_metrics
        stdlib = logging.getLogger("exchange")
        for i in range(2000):
            tick(i)
            if i % 10 == 0:
                stdlib.warning("slow fill %d", i)
        start = time.monotonic()
        assert telemetry.shutdown(timeout=20) is True
        elapsed = time.monotonic() - start

        # Everything is at the receiver when shutdown() returns - no waiting.
        spans = receiver.spans()
        assert len(spans) == 2000, f"{len(spans)} spans arrived (shutdown took {elapsed:.2f}s)"
        assert len({s.span_id for s in spans}) == 2000
        assert sorted(attributes(s.attributes)["i"] for s in spans) == list(range(2000))
        logs = receiver.log_records()
        assert len(logs) == 2200
        assert sum(1 for r in logs if r.body.string_value.startswith("slow fill")) == 200
        calls = dict((a["code.function.name"], v) for a, v in receiver.metric_points("otel_trading.function.calls"))
        assert calls == {f"{__name__}.tick": 2000}

        assert dropped(local, "traces") == 0 and dropped(local, "logs") == 0
        assert exported(local, "traces") == 2000 and exported(local, "logs") == 2200
        assert otel_trading.current() is None


UNUSABLE = [
    # (endpoint kind, otlp_timeout): a slow-failing exporter (retries / hangs past the
    # shutdown timeout) and a fast-failing one (gives up well within it).
    pytest.param("refused", None, id="refused-default-timeout"),
    pytest.param("refused", 0.5, id="refused-fast-fail"),
    pytest.param("black-hole", 3.0, id="black-hole-hangs"),
    pytest.param("black-hole", 0.5, id="black-hole-fast-fail"),
]


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(("endpoint_kind", "otlp_timeout"), UNUSABLE)
def test_shutdown_is_bounded_and_reports_loss_with_an_unusable_endpoint(
    protocol: str, endpoint_kind: str, otlp_timeout: float | None, black_hole: BlackHoleServer
) -> None:
    endpoint = black_hole.endpoint if endpoint_kind == "black-hole" else f"http://127.0.0.1:{closed_port()}"
    extra: dict[str, Any] = {"otlp_timeout": otlp_timeout} if otlp_timeout is not None else {}
    # Nothing is exported before shutdown(): it is shutdown's own flush that meets the endpoint.
    telemetry = otel_trading.configure(**otlp_options(endpoint, protocol, schedule_delay=30, **extra))
    local = STATE.local_metrics
    for i in range(50):
        tick(i)

    start = time.monotonic()
    result = telemetry.shutdown(timeout=2)
    elapsed = time.monotonic() - start

    assert elapsed < 3.0, f"shutdown(timeout=2) took {elapsed:.2f}s"
    assert exported(local, "traces") == 0 and exported(local, "logs") == 0
    # Every span and log was lost: shutdown() must not report success.
    assert result is False, (
        f"shutdown() returned True although nothing reached the endpoint; self-telemetry after "
        f"{elapsed:.2f}s: {self_telemetry(local)}"
    )
    # The loss is counted once the abandoned exports give up (their own timeout / shutdown).
    assert eventually(lambda: dropped(local, "traces") == 50 and dropped(local, "logs") == 50, timeout=6), (
        f"dropped counts do not reflect the loss: {self_telemetry(local)}"
    )


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_force_flush_is_bounded_with_a_black_hole(protocol: str, black_hole: BlackHoleServer) -> None:
    telemetry = otel_trading.configure(**otlp_options(black_hole.endpoint, protocol, schedule_delay=30))
    for i in range(10):
        tick(i)
    start = time.monotonic()
    assert telemetry.force_flush(timeout=1) is False
    assert time.monotonic() - start < 2.0
    start = time.monotonic()
    assert telemetry.shutdown(timeout=1) is False
    assert time.monotonic() - start < 2.0


# --- Child processes ---------------------------------------------------------------------------

CHILD_PRELUDE = textwrap.dedent(
    """
    import os, signal, sys, time
    import otel_trading

    def make_telemetry(endpoint, protocol, **extra):
        options = dict(
            service_name="child-bot", otlp_endpoint=endpoint, otlp_protocol=protocol,
            traces_exporter="otlp", metrics_exporter="otlp", logs_exporter="otlp",
            log_console="off", metric_export_interval=60,
        )
        options.update(extra)
        return otel_trading.configure(**options)

    def work(n):
        log = otel_trading.get_logger("child")
        for i in range(n):
            with otel_trading.span("child-work", i=i, pid=os.getpid()):
                log.info("child tick", i=i)
    """
)


def sigterm_and_wait(proc: subprocess.Popen[str]) -> str:
    """Sends SIGTERM, waits for the child (killing it if it hangs) and returns its stderr."""
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err


def run_child(body: str, *args: str) -> subprocess.Popen[str]:
    code = CHILD_PRELUDE + textwrap.dedent(body)
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"child printed nothing within {timeout}s; stderr:\n{err}")
    return proc.stdout.readline().strip()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_process_exit_is_bounded_with_a_black_hole(protocol: str, black_hole: BlackHoleServer) -> None:
    start = time.monotonic()
    proc = run_child(
        """
        make_telemetry(sys.argv[1], sys.argv[2], shutdown_timeout=2, schedule_delay=30)
        work(100)
        print("done", time.monotonic(), flush=True)
        """,
        black_hole.endpoint, protocol,
    )
    try:
        out, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"child did not exit within 15s; stderr:\n{err[-2000:]}")
    exited = time.monotonic()
    assert proc.returncode == 0, err[-2000:]
    word, done_at = out.split()
    assert word == "done"
    # The atexit flush gave up after shutdown_timeout (2s), not the exporters' 10s timeout.
    assert exited - float(done_at) < 5.0, f"exit took {exited - float(done_at):.2f}s after main() ended"
    assert exited - start < 10.0
    assert black_hole.connections_accepted > 0  # the exports really went to the black hole


def test_sigterm_flushes_then_terminates_the_process(http_receiver: HttpOtlpReceiver) -> None:
    proc = run_child(
        """
        make_telemetry(sys.argv[1], "http/protobuf", schedule_delay=30, shutdown_timeout=5)
        work(20)
        print("ready", flush=True)
        while True:
            time.sleep(0.05)
        """,
        http_receiver.endpoint,
    )
    try:
        assert read_line(proc, timeout=15) == "ready"
        assert http_receiver.spans() == []  # all still queued (30 s schedule delay)
    finally:
        err = sigterm_and_wait(proc)
    assert proc.returncode == -signal.SIGTERM, err[-2000:]
    assert http_receiver.wait_for(lambda: len(http_receiver.spans()) == 20, timeout=2), (
        f"{len(http_receiver.spans())} of 20 spans arrived; child stderr:\n{err[-2000:]}"
    )
    assert {attributes(s.attributes)["pid"] for s in http_receiver.spans()} == {proc.pid}
    assert len(http_receiver.log_records()) == 20
    assert all(r["service.name"] == "child-bot" for r in http_receiver.resources())


def test_sigterm_chains_to_the_applications_own_handler(
    http_receiver: HttpOtlpReceiver, tmp_path: Path
) -> None:
    marker = tmp_path / "handler-ran"
    proc = run_child(
        """
        marker = sys.argv[2]

        def on_term(signum, frame):
            with open(marker, "w") as f:
                f.write(f"signal {signum}")
            sys.exit(3)

        signal.signal(signal.SIGTERM, on_term)  # installed before configure()
        make_telemetry(sys.argv[1], "http/protobuf", schedule_delay=30, shutdown_timeout=5)
        work(15)
        print("ready", flush=True)
        while True:
            time.sleep(0.05)
        """,
        http_receiver.endpoint, str(marker),
    )
    try:
        assert read_line(proc, timeout=15) == "ready"
    finally:
        err = sigterm_and_wait(proc)
    assert marker.exists(), f"the application's SIGTERM handler did not run; stderr:\n{err[-2000:]}"
    assert marker.read_text() == f"signal {int(signal.SIGTERM)}"
    assert proc.returncode == 3, err[-2000:]  # the application's handler decided how to exit
    assert http_receiver.wait_for(lambda: len(http_receiver.spans()) == 15, timeout=2), (
        f"{len(http_receiver.spans())} of 15 spans arrived; child stderr:\n{err[-2000:]}"
    )


def _forked_child_work() -> None:
    with span("child-work", pid=os.getpid()):
        get_logger("child").info("child tick")


def test_forked_child_exports_its_spans(http_receiver: HttpOtlpReceiver) -> None:
    telemetry = otel_trading.configure(**otlp_options(http_receiver.endpoint, "http/protobuf"))
    with span("parent-before"):
        pass
    assert telemetry.force_flush(timeout=5)  # the exporter now holds a live keep-alive connection

    child_pid = run_in_forked_child(_forked_child_work)
    assert http_receiver.wait_for(lambda: any(s.name == "child-work" for s in http_receiver.spans()), timeout=5)

    # The parent keeps exporting after the child has come and gone.
    with span("parent-after"):
        pass
    assert telemetry.force_flush(timeout=5)
    names = sorted(s.name for s in http_receiver.spans())
    assert names == ["child-work", "parent-after", "parent-before"]  # nothing lost, nothing twice
    (child_span,) = [s for s in http_receiver.spans() if s.name == "child-work"]
    assert attributes(child_span.attributes)["pid"] == child_pid
    child_logs = [r for r in http_receiver.log_records() if r.body.string_value == "child tick"]
    assert len(child_logs) == 1
    assert child_logs[0].span_id == child_span.span_id
