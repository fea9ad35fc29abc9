"""The console's request rules over real HTTP on loopback: token, Host, content type, no CORS, limits."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from otel_trading._http_server import ServerLimits
from otel_trading.console import ConsoleServer, current_console, serve_store
from otel_trading.console._app import ConsoleApp
from otel_trading.console._live import LiveParts
from otel_trading.redaction import Redactor
from otel_trading.testing import capture
from otel_trading.trading import trading_state
from tests.console_client import get, post, request

HALT = {"state": "halted", "reason": "test"}


@pytest.fixture
def live() -> Iterator[ConsoleServer]:
    with capture(console=True, console_port=0):
        console = current_console()
        assert console is not None
        yield console


@pytest.fixture
def store_console(tmp_path: Path) -> Iterator[ConsoleServer]:
    with serve_store(tmp_path, port=0) as console:
        yield console


def test_post_without_or_with_a_wrong_token_is_403_and_changes_nothing(live: ConsoleServer) -> None:
    for token in (None, "", "wrong", live.token[:-1], live.token + "x"):
        answer = post(live, "/api/controls", HALT, token=token)
        assert answer.status == 403, token
        assert "X-Console-Token" in answer.json()["error"]
    assert trading_state().value == "active"
    assert post(live, "/api/controls", HALT, token=live.token).status == 200
    assert trading_state().value == "halted"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", ""])
def test_cross_origin_form_posts_are_refused(live: ConsoleServer, content_type: str) -> None:
    # What a page on another origin can send without a preflight: a simple request, no custom header ...
    simple = request(live, "POST", "/api/controls", body=b"state=halted",
                     headers={"Content-Type": content_type, "Origin": "https://evil.example"})
    assert simple.status == 403
    # ... and even with the token (which such a page cannot know), not without a JSON body.
    with_token = request(live, "POST", "/api/controls", body=b'{"state":"halted"}',
                         headers={"Content-Type": content_type, "X-Console-Token": live.token})
    assert with_token.status == 415
    assert trading_state().value == "active"


def test_no_cors_header_ever(live: ConsoleServer) -> None:
    answers = [
        request(live, "OPTIONS", "/api/controls", headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-console-token,content-type"}),
        get(live, "/api/info", Origin="https://evil.example"),
        get(live, "/", Origin="https://evil.example"),
        post(live, "/api/controls", HALT, token="wrong"),
    ]
    assert answers[0].status == 405
    for answer in answers:
        assert not [name for name in answer.headers if name.startswith("access-control-")]


@pytest.mark.parametrize("host", ["evil.example", "evil.example:9466", "127.0.0.1.evil.example", "10.0.0.1", ""])
def test_foreign_host_headers_are_refused(live: ConsoleServer, host: str) -> None:
    assert get(live, "/api/overview", Host=host).status == 403
    assert post_with_host(live, host).status == 403
    assert trading_state().value == "active"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "LOCALHOST:1234", "[::1]:9466", "127.0.0.1:80"])
def test_loopback_host_headers_pass(live: ConsoleServer, host: str) -> None:
    assert get(live, "/api/info", Host=host).status == 200


def post_with_host(console: ConsoleServer, host: str) -> object:
    return request(console, "POST", "/api/controls", body=b'{"state":"halted"}',
                   headers={"Host": host, "Content-Type": "application/json", "X-Console-Token": console.token})


def test_a_store_console_has_no_controls_and_refuses_every_post(store_console: ConsoleServer) -> None:
    assert get(store_console, "/api/info").json()["controls"] is False
    assert get(store_console, "/api/controls").status == 404
    for path in ("/api/controls", "/api/alerts/acknowledge", "/api/silences", "/api/silences/x/expire", "/"):
        answer = post(store_console, path, HALT, token=store_console.token)
        assert answer.status == 405, path
    assert trading_state().value == "active"


def test_oversized_and_malformed_bodies_are_clear_errors(live: ConsoleServer) -> None:
    big = request(live, "POST", "/api/controls", body=b"{}", headers={
        "Content-Type": "application/json", "X-Console-Token": live.token, "Content-Length": str(10**7)})
    assert big.status == 413
    for body, message in ((b"[1, 2]", "JSON object"), (b"{nope", "JSON object")):
        answer = request(live, "POST", "/api/controls", body=body, headers={
            "Content-Type": "application/json", "X-Console-Token": live.token})
        assert answer.status == 400 and message in answer.json()["error"]


def _short_limits_console() -> ConsoleServer:
    app = ConsoleApp(store_dir=None, token="secret-token-for-test", bind_host="127.0.0.1", service=None,
                     redactor=Redactor, live=LiveParts())
    return ConsoleServer(app, "127.0.0.1", 0, limits=ServerLimits(handler_threads=2, request_timeout_s=1.0))


def test_a_slow_body_is_timed_out_and_an_unauthenticated_one_is_not_waited_for() -> None:
    with capture(), _short_limits_console() as console:
        head = (b"POST /api/controls HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100\r\n")
        slow = socket.create_connection(("127.0.0.1", console.port), timeout=5)
        slow.sendall(head + b"X-Console-Token: secret-token-for-test\r\n\r\n{")
        started = time.monotonic()
        assert slow.recv(4096).startswith(b"HTTP/1.0 408")
        assert time.monotonic() - started < 3
        anonymous = socket.create_connection(("127.0.0.1", console.port), timeout=5)
        anonymous.sendall(head + b"\r\n{")
        started = time.monotonic()
        assert anonymous.recv(4096).startswith(b"HTTP/1.0 403")
        assert time.monotonic() - started < 0.5
        slow.close()
        anonymous.close()
        assert trading_state().value == "active"


def test_the_token_is_long_random_and_per_run(tmp_path: Path) -> None:
    with serve_store(tmp_path, port=0) as first, serve_store(tmp_path, port=0) as second:
        assert first.token != second.token and len(first.token) >= 32
        assert first.login_url == f"{first.url}/?token={first.token}"


def test_bound_to_every_interface_addresses_pass_but_names_still_do_not() -> None:
    from otel_trading.console._security import allowed_hosts, host_allowed

    everywhere, loopback = allowed_hosts("0.0.0.0"), allowed_hosts("127.0.0.1")
    assert host_allowed("192.168.1.20:9466", everywhere, "0.0.0.0")
    assert host_allowed("[fe80::1]:9466", everywhere, "::")
    assert not host_allowed("evil.example", everywhere, "0.0.0.0")
    assert not host_allowed("192.168.1.20:9466", loopback, "127.0.0.1")
    assert host_allowed("192.168.1.20", allowed_hosts("192.168.1.20"), "192.168.1.20")
    assert not host_allowed(None, loopback, "127.0.0.1")


def test_the_login_url_logged_by_a_bot_keeps_no_token(tmp_path: Path) -> None:
    import otel_trading

    with capture(console=True, console_port=0) as telemetry:
        console = current_console()
        assert console is not None
        otel_trading.get_logger("bot").info(f"console at {console.login_url}", url=console.login_url)
        rendered = str(telemetry.logs_as_dicts())
        assert "console at" in rendered and console.token not in rendered


def test_a_page_that_stops_reading_is_dropped_and_the_others_keep_streaming(tmp_path: Path) -> None:
    import otel_trading

    with capture(console=True, console_port=0, store_dir=tmp_path / "store", logs_exporter="local"):
        console = current_console()
        assert console is not None
        stuck = socket.socket()
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # and it never reads
        stuck.connect(("127.0.0.1", console.port))
        stuck.sendall(b"GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        reader = socket.create_connection(("127.0.0.1", console.port), timeout=5)
        reader.sendall(b"GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert reader.recv(65536).startswith(b"HTTP/1.0 200")
        hub = console.app.hub
        deadline = time.monotonic() + 5
        while hub.open_streams < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        log = otel_trading.get_logger("flood")
        started = time.monotonic()
        while hub.open_streams == 2 and time.monotonic() - started < 30:
            for _ in range(200):
                log.info("x" * 2000)  # about 2 MB a second of log events to push
            reader.settimeout(0.2)
            with contextlib.suppress(TimeoutError):
                while reader.recv(1 << 20):
                    pass
        assert hub.open_streams == 1, "the stuck page was never dropped"
        assert time.monotonic() - started < hub.write_timeout_s + 15
        log.info("after the drop")
        reader.settimeout(5)
        seen = b""
        deadline = time.monotonic() + 5
        while b"after the drop" not in seen and time.monotonic() < deadline:
            seen = seen[-4096:] + reader.recv(1 << 20)
        assert b"after the drop" in seen
        stuck.close()
        reader.close()
