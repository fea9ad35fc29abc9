"""Health checks and the /healthz + /readyz endpoint, over real loopback HTTP.

Checks run every 0.05 s; every wait polls against a deadline, so a slow machine only makes
the tests take longer, never fail.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import os
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import datetime
from typing import Any, TypeVar

import pytest
from processes import run_in_forked_child

import otel_trading
from otel_trading import health
from otel_trading.health import _heartbeat, _market_data
from otel_trading.health._check_types import interpret
from otel_trading.health._names import HEALTH_CHECK_DURATION, HEALTH_CHECK_FAILURES, HEALTH_STATUS
from otel_trading.testing import capture, isolated_state

FAST = 0.05  # check interval, seconds
DEADLINE_S = 5.0
CANARY = "CANARY-SECRET-1234-health"
T = TypeVar("T")


@pytest.fixture(autouse=True)
def _clean_health() -> Iterator[None]:
    health.clear_checks()
    _market_data.forget()
    yield
    health.clear_checks()
    _market_data.forget()


@pytest.fixture
def server() -> Iterator[health.HealthServer]:
    with health.serve(port=0) as running:
        yield running


def eventually(probe: Callable[[], T], what: str, timeout: float = DEADLINE_S) -> T:
    """Polls ``probe`` until it returns something truthy (AssertionError counts as not yet)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            result = probe()
            if result:
                return result
            last = result
        except AssertionError as exc:
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still not true after {timeout}s (last: {last!r})")
        time.sleep(0.01)


def get(server: health.HealthServer, path: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status code, JSON body, headers) of GET ``path``."""
    try:
        with urllib.request.urlopen(server.url + path, timeout=5) as response:  # noqa: S310 - our loopback http URL
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read()), dict(error.headers)


def status_of(name: str, probe: str = "readiness") -> str | None:
    entry = health.report(probe)["checks"].get(name)  # type: ignore[arg-type]
    return None if entry is None else str(entry["status"])


def wait_status(name: str, status: str, probe: str = "readiness") -> dict[str, Any]:
    eventually(lambda: status_of(name, probe) == status, f"check {name} {status}")
    entry: dict[str, Any] = health.report(probe)["checks"][name]  # type: ignore[arg-type]
    return entry


# --- endpoints ---


def test_no_checks_is_healthy_and_ready(server: health.HealthServer) -> None:
    assert server.url == f"http://127.0.0.1:{server.port}" and server.port > 0
    assert get(server, "/healthz")[:2] == (200, {"status": "ok", "checks": {}})
    assert get(server, "/readyz")[:2] == (200, {"status": "ok", "checks": {}})


def test_sync_and_async_checks_report_per_check_json(server: health.HealthServer) -> None:
    async def async_check() -> str:
        await asyncio.sleep(0.001)
        return "async fine"

    health.add_check("sync", lambda: True, interval=FAST)
    health.add_check("async", async_check, interval=FAST)
    health.add_check("mapping", lambda: {"lag_s": 0.5, "api_key": "k"}, interval=FAST)
    for name in ("sync", "async", "mapping"):
        wait_status(name, "ok")
    code, body, headers = get(server, "/readyz")
    assert code == 200 and body["status"] == "ok"
    assert headers["Content-Type"] == "application/json" and headers["Cache-Control"] == "no-store"
    entry = body["checks"]["async"]
    assert set(entry) == {"status", "kind", "critical", "detail", "duration_ms", "last_run", "last_success",
                          "consecutive_failures", "skipped_runs"}
    assert entry["status"] == "ok" and entry["detail"] == "async fine"
    assert entry["kind"] == "readiness" and entry["critical"] is True
    assert entry["consecutive_failures"] == 0 and entry["skipped_runs"] == 0
    assert 0 <= entry["duration_ms"] < 5000
    assert entry["last_run"].endswith("Z")
    ran = datetime.fromisoformat(entry["last_run"].replace("Z", "+00:00"))
    assert abs(ran.timestamp() - time.time()) < 60
    assert body["checks"]["sync"]["detail"] is None
    # Mapping details are scrubbed like span attributes.
    assert body["checks"]["mapping"]["detail"] == {"lag_s": 0.5, "api_key": "[REDACTED]"}
    # Readiness checks do not count for liveness.
    assert get(server, "/healthz")[:2] == (200, {"status": "ok", "checks": {}})


def test_failure_recovery_and_consecutive_failures(server: health.HealthServer) -> None:
    healthy = threading.Event()
    health.add_check("feed", lambda: health.CheckResult(healthy.is_set(), "feed lag 3s"), interval=FAST)
    eventually(lambda: status_of("feed") == "fail" and health.report()["checks"]["feed"]["consecutive_failures"] >= 3,
               "three failures in a row")
    code, body, _ = get(server, "/readyz")
    assert code == 503 and body["status"] == "fail"
    assert body["checks"]["feed"]["detail"] == "feed lag 3s"
    assert body["checks"]["feed"]["last_success"] is None
    healthy.set()
    entry = wait_status("feed", "ok")
    assert entry["consecutive_failures"] == 0 and entry["last_success"] is not None
    assert get(server, "/readyz")[0] == 200


def test_non_critical_failure_is_degraded_but_ready(server: health.HealthServer) -> None:
    health.add_check("core", lambda: True, interval=FAST)
    health.add_check("telegram", lambda: False, interval=FAST, critical=False)
    wait_status("core", "ok")
    wait_status("telegram", "fail")
    code, body, _ = get(server, "/readyz")
    assert code == 200 and body["status"] == "degraded"
    assert body["checks"]["telegram"]["critical"] is False


def test_liveness_and_readiness(server: health.HealthServer) -> None:
    alive = threading.Event()
    alive.set()
    health.add_check("loop", alive.is_set, interval=FAST, kind="liveness")
    health.add_check("exchange", lambda: False, interval=FAST)
    wait_status("loop", "ok", "liveness")
    wait_status("exchange", "fail")
    code, body, _ = get(server, "/healthz")
    assert code == 200 and list(body["checks"]) == ["loop"] and body["checks"]["loop"]["kind"] == "liveness"
    code, body, _ = get(server, "/readyz")
    assert code == 503 and set(body["checks"]) == {"loop", "exchange"}  # liveness counts for readiness too
    alive.clear()
    wait_status("loop", "fail", "liveness")
    assert get(server, "/healthz")[0] == 503


def test_pending_check_blocks_readiness_not_liveness(server: health.HealthServer) -> None:
    release = threading.Event()
    health.add_check("warmup", lambda: release.wait(10), interval=FAST, timeout=10, kind="liveness")
    try:
        code, body, _ = get(server, "/readyz")
        assert code == 503 and body["checks"]["warmup"]["status"] == "pending"
        assert body["checks"]["warmup"]["last_run"] is None
        assert get(server, "/healthz")[0] == 200
    finally:
        release.set()
    wait_status("warmup", "ok")
    assert get(server, "/readyz")[0] == 200


def test_not_found_head_and_method_not_allowed(server: health.HealthServer) -> None:
    health.add_check("down", lambda: False, interval=FAST)
    wait_status("down", "fail")
    code, body, _ = get(server, "/metrics")
    assert code == 404 and body["endpoints"] == ["/healthz", "/readyz"]
    assert get(server, "/readyz?verbose=1")[0] == 503  # a query string changes nothing
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        connection.request("HEAD", "/readyz")
        response = connection.getresponse()
        assert response.status == 503 and response.read() == b""
        assert int(response.headers["Content-Length"]) > 0
        connection.close()
        connection.request("POST", "/readyz", body=b"{}")
        response = connection.getresponse()
        assert response.status == 405 and response.headers["Allow"] == "GET, HEAD"
        response.read()
    finally:
        connection.close()


def test_garbage_request_does_not_break_the_server(server: health.HealthServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"\x00\x01 garbage\r\n\r\n")
        sock.recv(1024)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5):
        pass  # connects and hangs up without a request
    assert get(server, "/healthz")[0] == 200


def test_busy_port_raises_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=rf"cannot listen on 127\.0\.0\.1:{port}.*port=0"):
            health.serve(port=port)
    with pytest.raises(ValueError, match="port"):
        health.serve(port=70000)
    with pytest.raises(OSError, match=r"cannot listen on no-such-host\.invalid:0 .*pass serve\(\) an address"):
        health.serve(host="no-such-host.invalid", port=0)
    with pytest.raises(OSError, match=r"cannot listen on 192\.0\.2\.1:0 .*pass serve\(\) an address"):
        health.serve(host="192.0.2.1", port=0)  # TEST-NET-1: not an address of this machine


def test_close_frees_the_port_quickly() -> None:
    server = health.serve(port=0)
    assert get(server, "/healthz")[0] == 200
    started = time.monotonic()
    server.close()
    assert time.monotonic() - started < 1.0
    server.close()  # idempotent
    assert "closed" in repr(server)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
    assert not [t.name for t in threading.enumerate() if t.name.startswith(f"otel-trading-health-http:{server.port}")]


# --- timeouts and runner behaviour ---


def test_hung_sync_check_times_out_without_piling_up_threads(server: health.HealthServer) -> None:
    release = threading.Event()
    started = time.monotonic()
    health.add_check("hung", lambda: release.wait(30), interval=FAST, timeout=0.2)
    try:
        eventually(lambda: status_of("hung") == "fail", "hung check reported")
        assert time.monotonic() - started < 3.0
        request_started = time.monotonic()
        code, body, _ = get(server, "/readyz")
        assert time.monotonic() - request_started < 1.0  # the endpoint never waits for a check
        assert code == 503 and body["checks"]["hung"]["detail"].startswith("timed out after 0.2s")
        eventually(lambda: health.report()["checks"]["hung"]["skipped_runs"] >= 3, "runs skipped while hung")
        workers = [t for t in threading.enumerate() if t.name == "otel-trading-health-check:hung"]
        assert len(workers) == 1
        assert "run(s) skipped" in health.report()["checks"]["hung"]["detail"]
    finally:
        release.set()
    # Once the run ends, the check runs again right away and passes (it returns True).
    entry = wait_status("hung", "ok")
    assert entry["consecutive_failures"] == 0


def test_hung_async_check_is_cancelled() -> None:
    cancelled = threading.Event()

    async def stuck() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    health.add_check("stuck", stuck, interval=FAST, timeout=0.2)
    entry = wait_status("stuck", "fail")
    assert entry["detail"].startswith("timed out after 0.2s")
    assert cancelled.wait(DEADLINE_S)


def test_exception_is_reported_with_its_type() -> None:
    class FeedDown(Exception):
        pass

    def failing() -> None:
        raise FeedDown("websocket closed")

    health.add_check("ws", failing, interval=FAST)
    entry = wait_status("ws", "fail")
    assert entry["detail"].startswith("test_health.") and entry["detail"].endswith("FeedDown: websocket closed")


def test_async_check_on_the_bots_loop() -> None:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        async def on_bot_loop() -> bool:
            return asyncio.get_running_loop() is loop

        health.add_check("bot_loop", on_bot_loop, interval=FAST, loop=loop)
        wait_status("bot_loop", "ok")
    finally:
        health.clear_checks()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def test_sync_callable_returning_a_coroutine() -> None:
    async def probe() -> bool:
        return False

    health.add_check("wrapped", lambda: probe(), interval=FAST)  # noqa: PLW0108 - a sync callable returning a coroutine is the case
    assert wait_status("wrapped", "fail")["detail"] is None


def test_replace_and_remove_checks() -> None:
    health.add_check("x", lambda: False, interval=FAST)
    wait_status("x", "fail")
    health.add_check("x", lambda: True, interval=FAST)  # same name: replaced, state reset
    assert wait_status("x", "ok")["consecutive_failures"] == 0
    assert health.remove_check("x") is True
    assert health.remove_check("x") is False
    assert health.report() == {"status": "ok", "checks": {}}


def test_invalid_registrations() -> None:
    with pytest.raises(ValueError, match="non-empty name"):
        health.add_check("", lambda: True)
    with pytest.raises(TypeError, match="callable"):
        health.add_check("x", True)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout"):
        health.add_check("x", lambda: True, timeout=0)
    with pytest.raises(ValueError, match="interval"):
        health.add_check("x", lambda: True, interval=float("nan"))
    with pytest.raises(ValueError, match="kind"):
        health.add_check("x", lambda: True, kind="startup")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="probe"):
        health.report("startup")  # type: ignore[arg-type]
    assert health.report()["checks"] == {}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, (True, None)),
        (True, (True, None)),
        (False, (False, None)),
        ("ok: 3 feeds", (True, "ok: 3 feeds")),
        ({"feeds": 3}, (True, {"feeds": 3})),
        (health.CheckResult(False, {"lag": float("nan")}), (False, "{'lag': nan}")),
        (0, (False, None)),
        ([1], (True, None)),
    ],
)
def test_what_a_check_returns(value: Any, expected: tuple[bool, Any]) -> None:
    assert interpret(value) == expected


# --- secrets, metrics, logs ---


def test_secrets_never_leave_through_body_logs_or_metrics(
    server: health.HealthServer, caplog: pytest.LogCaptureFixture
) -> None:
    def leaky() -> None:
        raise ConnectionError(f"GET https://api.exchange.test/v3/account?apiKey={CANARY}&signature={CANARY} "
                              f"failed, Authorization: Bearer {CANARY}")

    with capture(system_metrics=False) as otel:
        health.add_check("exchange", leaky, interval=FAST)
        health.add_check("detail", lambda: health.CheckResult(False, {"secret": CANARY, "url": f"wss://u:{CANARY}@x"}),
                         interval=FAST)
        wait_status("exchange", "fail")
        wait_status("detail", "fail")
        code, body, _ = get(server, "/readyz")
        raw = json.dumps(body)
        assert code == 503 and CANARY not in raw
        assert body["checks"]["exchange"]["detail"].startswith("ConnectionError: GET https://api.exchange.test/")
        assert "[REDACTED]" in body["checks"]["exchange"]["detail"]
        assert body["checks"]["detail"]["detail"] == {"secret": "[REDACTED]", "url": "wss://[REDACTED]@x"}
        eventually(lambda: otel.value(HEALTH_CHECK_FAILURES, check="exchange") >= 1, "failures counted")
        metrics = repr(otel.metrics())
        exported_logs = otel.logs
    assert CANARY not in metrics
    assert all(CANARY not in repr(r.log_record.body) + repr(r.log_record.attributes) for r in exported_logs)
    # otel-trading's own logs go to the application's logging handlers only.
    failing = [r for r in caplog.records if "is failing" in r.getMessage()]
    assert {r.levelname for r in failing} == {"WARNING"} and len(failing) == 2
    assert all(CANARY not in r.getMessage() and not r.exc_info for r in caplog.records)


def test_health_metrics() -> None:
    with capture(system_metrics=False) as otel:
        health.add_check("good", lambda: True, interval=FAST)
        health.add_check("bad", lambda: False, interval=FAST)
        health.add_check("slow", lambda: time.sleep(1), interval=FAST, timeout=0.1)
        eventually(lambda: otel.points(HEALTH_STATUS, check="good") and otel.points(HEALTH_STATUS, check="bad")
                   and otel.points(HEALTH_STATUS, check="slow"), "status gauge for every check")
        assert otel.value(HEALTH_STATUS, check="good") == 1
        assert otel.value(HEALTH_STATUS, check="bad") == 0
        assert otel.value(HEALTH_STATUS, check="slow") == 0
        eventually(lambda: otel.value(HEALTH_CHECK_DURATION, check="good") >= 2, "durations recorded")
        eventually(lambda: otel.value(HEALTH_CHECK_FAILURES, check="slow", reason="timeout") >= 1, "timeout counted")
        assert otel.value(HEALTH_CHECK_FAILURES, check="bad", reason="unhealthy") >= 1
        assert otel.value(HEALTH_CHECK_FAILURES, check="good") == 0
        metric = otel.metrics()[HEALTH_STATUS]
        assert metric.unit == "1"
        assert otel.metrics()[HEALTH_CHECK_DURATION].unit == "s"


def test_status_gauge_survives_reconfiguration() -> None:
    for _ in range(2):  # each capture() is a new configure(): new local metrics (and its own checks)
        with capture(system_metrics=False) as otel:
            health.add_check("good", lambda: True, interval=FAST)
            eventually(lambda: otel.value(HEALTH_STATUS, check="good") == 1, "status gauge after configure()")


def test_transitions_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="otel_trading.health")
    flip = threading.Event()
    health.add_check("flaky", flip.is_set, interval=FAST)
    eventually(lambda: health.report()["checks"]["flaky"]["consecutive_failures"] >= 3, "failing")
    flip.set()
    wait_status("flaky", "ok")
    eventually(lambda: health.report()["checks"]["flaky"]["last_success"], "passed")
    messages = [r.getMessage() for r in caplog.records if r.name == "otel_trading.health"]
    assert sum("flaky is failing" in m for m in messages) == 1
    recovered = [m for m in messages if "flaky passes again" in m]
    assert len(recovered) == 1 and "after 0 " not in recovered[0]


# --- built-in checks ---


def test_market_data_store_and_freshness() -> None:
    check = health.market_data_fresh(5.0, symbols=["BTC/USDT", "ETH/USDT"])
    assert check() == health.CheckResult(False, "no data yet: BTC/USDT, ETH/USDT")
    any_symbol = health.market_data_fresh(5.0)
    assert any_symbol() == health.CheckResult(False, "no market data received yet")
    now = time.time()
    health.mark_market_data("BTC/USDT")
    health.mark_market_data("ETH/USDT", (now - 30) * 1000)  # ccxt timestamps are milliseconds
    ages = health.market_data_ages()
    assert ages["BTC/USDT"] < 1 and 29 < ages["ETH/USDT"] < 35
    assert _market_data.ages(now=now + 100)["BTC/USDT"] > 99
    result = check()
    assert not result.healthy and isinstance(result.detail, str)
    assert result.detail.startswith("stale (> 5s): ETH/USDT 3") and "BTC" not in result.detail
    health.mark_market_data("ETH/USDT", now + 10)  # ahead of our clock: age 0, not negative
    assert health.market_data_ages()["ETH/USDT"] == 0
    assert check().healthy and any_symbol().healthy
    health.forget_market_data(["ETH/USDT"])
    assert set(health.market_data_ages()) == {"BTC/USDT"}
    with pytest.raises(ValueError, match="max_age_s"):
        health.market_data_fresh(0)
    with pytest.raises(ValueError, match="empty"):
        health.market_data_fresh(1, symbols=[])


def test_market_data_store_is_bounded() -> None:
    with isolated_state():
        _market_data._ARRIVALS.get().max_symbols = 3  # the isolated state's own store: gone with it
        for index in range(5):
            health.mark_market_data(f"S{index}")
        assert set(health.market_data_ages()) == {"S0", "S1", "S2"}
        health.mark_market_data("S0", 1.0)  # known symbols still update
        assert health.market_data_ages()["S0"] > 1e9
    assert health.market_data_ages() == {}


def test_heartbeat_fresh() -> None:
    with isolated_state():  # no heartbeat yet in this process state
        _check_heartbeat_fresh()
    with isolated_state():
        never = health.heartbeat_fresh(0.01)
        time.sleep(0.02)
        assert not never().healthy


def _check_heartbeat_fresh() -> None:
    check = health.heartbeat_fresh(60)
    assert check() == health.CheckResult(True, "no heartbeat yet")  # grace from the check's creation
    otel_trading.heartbeat()
    result = check()
    assert result.healthy and str(result.detail).startswith("last heartbeat 0.0s ago")
    _heartbeat._LAST.get().at = time.time() - 120  # a beat 2 minutes ago, in this isolated state
    result = check()
    assert not result.healthy and "(max 60s)" in str(result.detail)


class FakeExchange:
    """Duck-typed like a ccxt exchange (``id``, ``has``, ``fetch_time``/``fetch_status``)."""

    id = "fakex"

    def __init__(self, *, status: str = "ok", has_time: bool = True, fail: bool = False) -> None:
        self.has: dict[str, Any] = {"fetchTime": has_time, "fetchStatus": True}
        self._status = status
        self._fail = fail

    def fetch_time(self) -> int:
        if self._fail:
            raise TimeoutError(f"fakex GET https://fakex.test/time?apiKey={CANARY} timed out")
        return int(time.time() * 1000) + 250

    def fetch_status(self) -> dict[str, Any]:
        return {"status": self._status, "eta": None}


class FakeAsyncExchange(FakeExchange):
    async def fetch_time(self) -> int:  # type: ignore[override]
        await asyncio.sleep(0)
        return int(time.time() * 1000)


def test_exchange_reachable_builtins() -> None:
    result = health.exchange_reachable(FakeExchange())()
    assert result.healthy and str(result.detail).startswith("fakex fetch_time ok, exchange clock offset +2")
    maintenance = health.exchange_reachable(FakeExchange(status="maintenance", has_time=False))()
    assert maintenance == health.CheckResult(False, "fakex status is maintenance")
    with pytest.raises(TimeoutError):
        health.exchange_reachable(FakeExchange(fail=True))()
    assert health.exchange_reachable(lambda: {"pong": True})() is True
    assert health.exchange_reachable(lambda: False)() is False
    bare = FakeExchange()
    bare.has = {"fetchTime": False, "fetchStatus": None}
    with pytest.raises(ValueError, match="neither fetchTime nor fetchStatus"):
        health.exchange_reachable(bare)
    with pytest.raises(TypeError, match="ccxt exchange or a callable"):
        health.exchange_reachable(42)

    health.add_check("async_exchange", health.exchange_reachable(FakeAsyncExchange()), interval=FAST)
    health.add_check("down", health.exchange_reachable(FakeExchange(fail=True)), interval=FAST)
    assert "exchange clock offset" in wait_status("async_exchange", "ok")["detail"]
    detail = wait_status("down", "fail")["detail"]
    assert detail.startswith("TimeoutError: fakex GET") and CANARY not in detail


def test_exchange_reachable_with_a_real_ccxt_exchange() -> None:
    """ccxt's own binance class, its API pointed at a loopback server."""
    ccxt = pytest.importorskip("ccxt")
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Binance(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.startswith("/api/v3/time"):
                code, body = 200, json.dumps({"serverTime": int(time.time() * 1000)}).encode()
            else:
                code, body = 404, b"{}"
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    api = ThreadingHTTPServer(("127.0.0.1", 0), Binance)
    threading.Thread(target=api.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        exchange = ccxt.binance()
        exchange.urls["api"]["public"] = f"http://127.0.0.1:{api.server_port}/api/v3"
        health.add_check("binance", health.exchange_reachable(exchange), interval=FAST)
        assert wait_status("binance", "ok")["detail"].startswith("binance fetch_time ok, exchange clock offset")
    finally:
        health.clear_checks()
        api.shutdown()
        api.server_close()


def _child_sees_its_own_results() -> None:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if health.report()["checks"]["pid"]["detail"] == str(os.getpid()):
            return
        time.sleep(0.01)
    sys.exit(1)


def test_forked_child_resets_the_checks_a_capture_set_aside() -> None:
    parent = os.getpid()
    running = threading.Event()
    release = threading.Event()

    def slow_pid() -> str:
        running.set()
        release.wait(DEADLINE_S if os.getpid() == parent else 0)  # only the parent's run is held
        return str(os.getpid())

    health.add_check("pid", slow_pid, interval=FAST, timeout=3 * DEADLINE_S)
    block = ExitStack()
    try:
        assert running.wait(DEADLINE_S)  # forked while it runs: the child has the run, not its thread
        block.enter_context(capture(system_metrics=False))
        health.add_check("pid", lambda: str(os.getpid()), interval=FAST)
        assert wait_status("pid", "ok")["detail"] == str(parent)

        def child() -> None:
            _child_sees_its_own_results()  # the capture's checks
            block.close()
            _child_sees_its_own_results()  # the checks the capture set aside: reset by the same fork hook

        run_in_forked_child(child)
    finally:
        release.set()
        block.close()
    assert wait_status("pid", "ok")["detail"] == str(parent)


def test_forked_child_runs_its_own_checks() -> None:
    health.add_check("pid", lambda: str(os.getpid()), interval=FAST)
    assert wait_status("pid", "ok")["detail"] == str(os.getpid())
    run_in_forked_child(_child_sees_its_own_results)
    assert health.report()["checks"]["pid"]["detail"] == str(os.getpid())
