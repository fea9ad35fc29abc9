"""The console's JSON API over a real HTTP server on loopback (port 0), in store and live mode."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

import otel_trading
from otel_trading.alerts import AlertConfig, Route, build_engine, default_rules
from otel_trading.alerts.channels import FileChannel
from otel_trading.console import ConsoleServer, current_console, serve_store
from otel_trading.console._app import _ReadCache
from otel_trading.console._downsample import downsample
from otel_trading.testing import capture
from otel_trading.trading import on_trading_state_change, trading_state
from tests.cli_runner import report_json, run_cli
from tests.console_client import get, post


@pytest.fixture(scope="module")
def store_console(demo_store: Path) -> Iterator[ConsoleServer]:
    with serve_store(demo_store, port=0) as console:
        yield console


def test_info_says_store_mode_without_controls(store_console: ConsoleServer, demo_store: Path) -> None:
    info = get(store_console, "/api/info").json()
    assert info["mode"] == "store"
    assert info["controls"] is False
    assert info["token_required"] is True
    assert info["store_dir"] == str(demo_store)


def test_every_page_route_serves_the_shell(store_console: ConsoleServer) -> None:
    shell = resources.files("otel_trading.console").joinpath("static", "index.html").read_bytes()
    for path in ("/", "/trades", "/traces", "/traces/0123abcd", "/logs", "/metrics", "/alerts", "/controls"):
        answer = get(store_console, path)
        assert answer.status == 200, path
        assert answer.body == shell
        assert answer.headers["content-type"].startswith("text/html")
        assert answer.headers["referrer-policy"] == "no-referrer"  # the login URL carries the token


def test_static_files_come_from_the_package_and_nothing_else(store_console: ConsoleServer) -> None:
    static = resources.files("otel_trading.console").joinpath("static")
    name = next(entry.name for entry in static.iterdir() if entry.name.endswith(".js"))
    answer = get(store_console, f"/static/{name}")
    assert answer.status == 200
    assert answer.body == static.joinpath(name).read_bytes()
    assert answer.headers["content-type"].startswith("text/javascript")
    for path in ("/static/../_server.py", "/static/%2e%2e/_server.py", "/static/..%2f_http.py", "/static/nope.js"):
        assert get(store_console, path).status == 404, path


def test_unknown_pages_and_endpoints_are_404_json(store_console: ConsoleServer) -> None:
    for path in ("/nope", "/api/nope", "/api/traces/zz-not-hex"):
        answer = get(store_console, path)
        assert answer.status in (400, 404), path
        assert "error" in answer.json()


def test_overview_numbers_equal_the_report(store_console: ConsoleServer, demo_store: Path) -> None:
    overview = get(store_console, "/api/overview").json()
    report = report_json(demo_store)
    curve = report.pop("equity_curve")
    assert overview["report"] == report  # all of it but the curve, sent once (downsampled) as equity/drawdown
    assert isinstance(curve, list) and 0 < len(curve) <= 1000  # the demo's curve fits: sent whole
    assert [value for _, value in overview["equity"]] == [point["value"] for point in curve]
    assert [value for _, value in overview["drawdown"]] == [point["drawdown"] for point in curve]
    assert min(value for _, value in overview["drawdown"]) == 0 < max(value for _, value in overview["drawdown"])
    performance = report["performance"]
    assert isinstance(performance, dict)
    assert overview["pnl"]["realized"] == performance["total_pnl"]


def test_overview_curves_are_bounded_and_keep_their_extremes(store_console: ConsoleServer) -> None:
    whole = get(store_console, "/api/overview").json()
    assert len(whole["equity"]) > 4, "the demo's curve is too short to be cut"
    cut = get(store_console, "/api/overview?max_points=4").json()
    for name in ("equity", "drawdown"):
        points, kept = whole[name], cut[name]
        assert len(kept) <= 4 < len(points), name
        assert all(point in points for point in kept), name  # points of the curve, none made up
        assert [point[0] for point in kept] == sorted(point[0] for point in kept), name
        assert kept[0] == points[0] and kept[-1] == points[-1], name  # the last equity is the card's
        values = [value for _, value in points]
        assert max(value for _, value in kept) == max(values), name  # the drawdown's peak survives
        assert min(value for _, value in kept) == min(values), name
    assert cut["report"] == whole["report"]
    assert get(store_console, "/api/overview?max_points=1").status == 400


def test_downsample_keeps_each_buckets_low_and_high() -> None:
    points = [(time, float(value)) for time, value in enumerate([5, 1, 9, 3, 3, 7, 0, 2, 8, 4, 6, 5])]
    kept = downsample(points, 6)
    assert kept == [(0, 5.0), (1, 1.0), (2, 9.0), (6, 0.0), (8, 8.0), (11, 5.0)]
    assert downsample(points, 100) == points


def test_trades_filter_sort_and_open_their_trace(store_console: ConsoleServer) -> None:
    every = get(store_console, "/api/trades").json()
    assert every["total"] == len(every["trades"]) > 0
    closed = get(store_console, "/api/trades?status=closed&sort=pnl&order=asc").json()["trades"]
    assert closed and all(row["status"] == "closed" for row in closed)
    assert [row["pnl"] for row in closed] == sorted(row["pnl"] for row in closed)
    detail = get(store_console, f"/api/traces/{closed[0]['trace_id']}").json()
    assert detail["trace_id"] == closed[0]["trace_id"]
    assert any(span["name"] == "trade" for span in detail["spans"])


def test_trades_come_a_page_at_a_time_in_the_asked_order(store_console: ConsoleServer) -> None:
    every = get(store_console, "/api/trades?sort=trade_id&order=asc").json()
    assert every["total"] == len(every["trades"]) > 3
    ids = [row["trade_id"] for row in every["trades"]]
    assert ids == sorted(ids)
    pages = [get(store_console, f"/api/trades?sort=trade_id&order=asc&limit=2&offset={offset}").json()
             for offset in range(0, every["total"], 2)]
    assert all(page["total"] == every["total"] and len(page["trades"]) <= 2 for page in pages)
    assert [row["trade_id"] for page in pages for row in page["trades"]] == ids
    assert all(page["summary"] == every["summary"] for page in pages)  # over every match, not the page
    beyond = get(store_console, f"/api/trades?offset={every['total']}").json()
    assert beyond["trades"] == [] and beyond["total"] == every["total"]
    assert get(store_console, "/api/trades?offset=-1").status == 400


def test_trades_summary_counts_every_match_as_the_report_does(store_console: ConsoleServer,
                                                              demo_store: Path) -> None:
    answer = get(store_console, "/api/trades?limit=1").json()
    assert len(answer["trades"]) == 1 < answer["total"]
    summary, performance = answer["summary"], report_json(demo_store)["performance"]
    assert summary["closed"] == performance["trades"]
    assert (summary["wins"], summary["losses"]) == (performance["wins"], performance["losses"])
    assert summary["pnl"] == pytest.approx(performance["total_pnl"], abs=1e-9)
    assert summary["count"] == answer["total"] == sum(summary[status] for status in
                                                       ("closed", "open", "denied", "abandoned"))
    denied = get(store_console, "/api/trades?status=denied&limit=1").json()
    assert denied["summary"]["denied"] == denied["total"] == summary["denied"]
    assert denied["summary"]["closed"] == 0


def test_traces_and_logs_search(store_console: ConsoleServer) -> None:
    traces = get(store_console, "/api/traces?limit=5").json()["traces"]
    assert 0 < len(traces) <= 5
    starts = [t["start_ns"] for t in traces]
    assert starts == sorted(starts, reverse=True)
    errors = get(store_console, "/api/logs?level=warning&limit=50").json()["logs"]
    assert errors and all(line["level"].lower() in ("warn", "warning", "error", "critical", "fatal")
                          for line in errors)


def test_bad_parameters_name_the_parameter(store_console: ConsoleServer) -> None:
    cases = {"/api/trades?status=maybe": "status", "/api/traces?limit=-3": "limit",
             "/api/logs?level=loud": "level", "/api/traces?min_duration_ms=abc": "min_duration_ms",
             "/api/logs?field=nokeyvalue": "field"}
    for path, name in cases.items():
        answer = get(store_console, path)
        assert answer.status == 400, path
        assert name in answer.json()["error"], path


def test_missing_store_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        serve_store(tmp_path / "nothing-here", port=0)


def test_busy_port_names_the_setting(store_console: ConsoleServer, demo_store: Path) -> None:
    with pytest.raises(OSError, match=r"cannot listen on 127\.0\.0\.1:\d+ .*free port"):
        serve_store(demo_store, port=store_console.port)


# --- live mode: configure(console=True) ------------------------------------------------------------



@pytest.fixture
def live(tmp_path: Path) -> Iterator[ConsoleServer]:
    from otel_trading.export._store_queries import search_logs

    with capture(console=True, console_port=0, store_dir=tmp_path / "store", traces_exporter="local",
                 logs_exporter="local"):
        console = current_console()
        assert console is not None
        deadline = time.monotonic() + 10  # its start-up line is in the store: a stream opened now sees quiet
        while not search_logs(tmp_path / "store", text="console listening"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        yield console
    assert current_console() is None


def test_live_info_and_controls_change_the_trading_state(live: ConsoleServer) -> None:
    info = get(live, "/api/info").json()
    assert (info["mode"], info["controls"]) == ("live", True)
    seen: list[tuple[Any, ...]] = []
    on_trading_state_change(lambda *change: seen.append(change))
    answer = post(live, "/api/controls", {"state": "halted", "reason": "manual stop"}, token=live.token)
    assert answer.status == 200, answer.body
    assert answer.json() == {"previous": "active", "state": "halted"}
    assert trading_state().value == "halted"
    assert [(p.value, s.value, r, src) for p, s, r, src in seen] == [("active", "halted", "manual stop", "console")]
    controls = get(live, "/api/controls").json()
    assert (controls["state"], controls["reason"], controls["source"]) == ("halted", "manual stop", "console")
    assert controls["history"][0]["state"] == "halted"
    assert get(live, "/api/overview").json()["trading_state"]["state"] == "halted"
    bad = post(live, "/api/controls", {"state": "panic"}, token=live.token)
    assert bad.status == 400 and "state" in bad.json()["error"]
    assert post(live, "/api/controls", {"state": "active", "reason": "resume"}, token=live.token).status == 200


def test_live_alerts_acknowledge_silence_and_expire(live: ConsoleServer, tmp_path: Path) -> None:
    clock = [time.time()]
    config = AlertConfig(rules=[r for r in default_rules() if r.name == "TradingHalted"],
                         routes=[Route(("file",), group_wait_s=0, group_interval_s=0, repeat_interval_s=0)])
    engine, dispatcher = build_engine(config, channels={"file": FileChannel("file", path=tmp_path / "a.jsonl")},
                                      clock=lambda: clock[0])
    engine.interval_s = 3600
    engine.start()
    try:
        assert get(live, "/api/info").json()["alerts"] is True
        otel_trading.set_trading_state("halted", "breaker")
        clock[0] += 15
        engine.evaluate()
        alerts = get(live, "/api/alerts").json()
        [rule] = alerts["rules"]
        assert (rule["name"], rule["state"]) == ("TradingHalted", "firing")
        [firing] = alerts["firing"]
        assert firing["acknowledged"] is False
        assert alerts["history"][0]["state"] == "firing"
        acked = post(live, "/api/alerts/acknowledge", {"alertname": "TradingHalted"}, token=live.token).json()
        assert acked == {"acknowledged": [firing["fingerprint"]]}
        assert firing["fingerprint"] in engine.router.acknowledged  # the engine stops repeating it
        assert get(live, "/api/alerts").json()["firing"][0]["acknowledged"] is True

        made = post(live, "/api/silences", {"matchers": [{"name": "alertname", "value": "Trading.*",
                                                          "is_regex": True}],
                                            "duration_s": 3600, "comment": "deploy", "created_by": "me"},
                    token=live.token)
        assert made.status == 200, made.body
        silence_id = made.json()["id"]
        [silence] = get(live, "/api/alerts").json()["silences"]
        assert (silence["id"], silence["state"], silence["comment"]) == (silence_id, "active", "deploy")
        assert engine.router.muted(engine.firing()[0], clock[0], [])
        expired = post(live, f"/api/silences/{silence_id}/expire", {}, token=live.token)
        assert expired.json() == {"id": silence_id, "state": "expired"}
        assert not engine.router.muted(engine.firing()[0], clock[0] + 1, [])
        assert post(live, "/api/silences/nope/expire", {}, token=live.token).status == 404
        bad = post(live, "/api/silences", {"matchers": [], "duration_s": 60}, token=live.token)
        assert bad.status == 400 and "matchers" in bad.json()["error"]
        bad = post(live, "/api/silences", {"matchers": [{"name": "a", "value": "b"}], "duration_s": -1},
                   token=live.token)
        assert bad.status == 400 and "duration_s" in bad.json()["error"]
    finally:
        engine.stop(2)
        dispatcher.close(2)
        otel_trading.set_trading_state("active")


def _read_events(sock: socket.socket, wanted: int, timeout: float) -> list[tuple[str, Any]]:
    sock.settimeout(timeout)
    buffer = b""
    events: list[tuple[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(events) < wanted and time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            break
        complete, buffer = _complete_events(buffer + chunk)
        events += complete
    return events


def _complete_events(buffer: bytes) -> tuple[list[tuple[str, Any]], bytes]:
    """The server-sent events complete in ``buffer`` as (name, data), and what follows the last one."""
    events: list[tuple[str, Any]] = []
    while b"\n\n" in buffer:
        block, buffer = buffer.split(b"\n\n", 1)
        lines = dict(line.split(": ", 1) for line in block.decode().splitlines() if ": " in line)
        if "event" in lines:
            events.append((lines["event"], json.loads(lines["data"])))
    return events, buffer


def _open_stream(console: ConsoleServer) -> socket.socket:
    sock = socket.create_connection((console.host, console.port), timeout=5)
    sock.sendall(f"GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1:{console.port}\r\n\r\n".encode())
    return sock


def test_stream_pushes_the_overview_on_change_and_new_log_lines(live: ConsoleServer) -> None:
    sock = _open_stream(live)
    try:
        [(name, first)] = _read_events(sock, 1, 5)
        assert name == "overview" and first["trading_state"]["state"] == "active"
        time.sleep(0.6)  # the tail starts at the end of the store on the hub's first round
        started = time.monotonic()
        otel_trading.set_trading_state("reducing", "drawdown")
        otel_trading.get_logger("bot").warning("spread too wide", symbol="BTC/USDT")
        events: list[tuple[str, Any]] = []
        states: list[str] = []
        while "reducing" not in states and time.monotonic() - started < 5:
            events += _read_events(sock, 1, 1)
            states = [data["trading_state"]["state"] for name, data in events if name == "overview"]
        assert "reducing" in states
        assert time.monotonic() - started <= 1.5  # at most about a second behind
        while not any(name == "log" for name, _ in events) and time.monotonic() - started < 5:
            events += _read_events(sock, 1, 1)
        logs = [data for name, data in events if name == "log"]
        assert any(line["message"] == "spread too wide" and line["attributes"]["symbol"] == "BTC/USDT"
                   for line in logs)
    finally:
        sock.close()
        otel_trading.set_trading_state("active")
    deadline = time.monotonic() + 5
    while live.app.hub.open_streams and time.monotonic() < deadline:
        time.sleep(0.05)
    assert live.app.hub.open_streams == 0  # a closed page is dropped, and the hub's thread ends


def test_at_most_eight_streams(live: ConsoleServer) -> None:
    streams = [_open_stream(live) for _ in range(8)]
    try:
        for sock in streams:
            assert _read_events(sock, 1, 5)
        extra = _open_stream(live)
        extra.settimeout(5)
        assert extra.recv(4096).startswith(b"HTTP/1.0 503")
        extra.close()
    finally:
        for sock in streams:
            sock.close()


def test_the_console_is_stopped_by_shutdown_and_a_busy_port_only_warns(caplog: pytest.LogCaptureFixture) -> None:
    with capture(console=True, console_port=0):
        console = current_console()
        assert console is not None
        port = console.port
        with capture(console=True, console_port=port), caplog.at_level("WARNING", logger="otel_trading.console"):
            assert current_console() is None
        assert any("OTEL_TRADING_CONSOLE_PORT" in r.getMessage() for r in caplog.records)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


# --- otel-trading console ----------------------------------------------------------------------------


def test_cli_serves_the_store_until_interrupted(demo_store: Path) -> None:
    import signal
    import subprocess
    import urllib.request

    from tests.cli_runner import SCRIPT, clean_environment

    process = subprocess.Popen([str(SCRIPT), "console", "--store", str(demo_store), "--port", "0", "--no-open"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_environment())
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(2)]
        url = lines[1].removeprefix("Open ").strip()
        assert "/?token=" in url, lines
        base = url.split("/?token=")[0]
        with urllib.request.urlopen(base + "/api/info", timeout=10) as response:  # noqa: S310 - loopback
            assert json.loads(response.read())["mode"] == "store"
        process.send_signal(signal.SIGINT)
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_cli_busy_port_and_missing_store_are_clear_exit_2(store_console: ConsoleServer, demo_store: Path,
                                                          tmp_path: Path) -> None:
    busy = run_cli("console", "--store", str(demo_store), "--port", str(store_console.port), "--no-open")
    assert busy.returncode == 2
    assert f"cannot listen on 127.0.0.1:{store_console.port}" in busy.stderr and "--port" in busy.stderr
    assert "Traceback" not in busy.stderr
    missing = run_cli("console", "--store", str(tmp_path / "none"), "--no-open")
    assert missing.returncode == 2
    assert "no local store at" in missing.stderr and "Traceback" not in missing.stderr
    bad_env = run_cli("console", "--store", str(demo_store), "--no-open", OTEL_TRADING_STORE_MAX_FILE_BYTES="lots")
    assert bad_env.returncode == 2 and "OTEL_TRADING_STORE_MAX_FILE_BYTES" in bad_env.stderr
    assert "Traceback" not in bad_env.stderr


def test_demo_reports_a_busy_console_port_and_runs_on(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli("demo", "--trades", "1", "--seed", "4", "--speed", "2000", "--no-progress",
                         "--prometheus-port", "0", "--console-port", str(port), "--store", str(tmp_path / "s"),
                         cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (f"console not served: could not listen on 127.0.0.1:{port} (port in use?); --console-port picks "
            "another, 0 a free one") in result.stdout
    quiet = run_cli("demo", "--trades", "1", "--seed", "4", "--speed", "2000", "--no-progress", "--no-console",
                    "--prometheus-port", "0", "--store", str(tmp_path / "q"), cwd=tmp_path)
    assert quiet.returncode == 0 and "console" not in quiet.stdout.split("Summary")[0]


def test_a_forked_child_neither_serves_nor_stops_the_parents_console(live: ConsoleServer) -> None:
    import os

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no console of its own, and stopping its configuration leaves the parent's alone
        try:
            os.write(write, b"none" if current_console() is None else b"inherited")
            otel_trading.shutdown(timeout=1)
        finally:
            os._exit(0)
    os.close(write)
    assert os.read(read, 16) == b"none"
    os.close(read)
    assert os.waitpid(pid, 0)[1] == 0
    assert get(live, "/api/info").status == 200
    assert current_console() is live


def test_stream_sends_no_overview_while_nothing_changes(live: ConsoleServer) -> None:
    sock = _open_stream(live)
    try:
        assert [name for name, _ in _read_events(sock, 1, 5)] == ["overview"]
        assert _read_events(sock, 1, 2.5) == []  # two and a half seconds of the same state: silence
        otel_trading.set_trading_state("halted", "changed")
        overviews = [data for name, data in _read_events(sock, 1, 3) + _read_events(sock, 1, 1.2)
                     if name == "overview"]
        assert [overview["trading_state"]["state"] for overview in overviews] == ["halted"]
    finally:
        sock.close()
        otel_trading.set_trading_state("active")


def test_live_overview_reads_the_portfolio_and_the_recorded_equity(tmp_path: Path) -> None:
    from otel_trading.trading import Portfolio

    with capture(console=True, console_port=0, store_dir=tmp_path / "store", metrics_exporter="local",
                 metric_export_interval=0.2):
        console = current_console()
        assert console is not None
        book = Portfolio("overview-test", cash=1_000.0)
        book.apply_fill("BTC/USDT", "buy", 0.01, 50_000.0)
        book.mark("BTC/USDT", 51_000.0)
        deadline = time.monotonic() + 10
        while len((overview := get(console, "/api/overview").json())["equity"]) < 3:
            assert time.monotonic() < deadline, overview["equity"]
            time.sleep(0.2)
        assert overview["equity"][-1][1] == pytest.approx(1_010.0)  # the live point: cash + marked position
        assert [value for _, value in overview["equity"][:-1]] == [pytest.approx(1_010.0)] * (
            len(overview["equity"]) - 1)  # what the exporter recorded
        [position] = overview["positions"]
        assert (position["symbol"], position["side"], position["amount"]) == ("BTC/USDT", "long", 0.01)
        assert position["unrealized_pnl"] == pytest.approx(10.0)
        assert overview["pnl"]["unrealized"] == pytest.approx(10.0)


def test_live_overview_samples_the_equity_from_the_first_second_with_the_reports_drawdown(tmp_path: Path) -> None:
    """A fresh bot, its first metric export a minute away: the overview's own samples draw the curve,
    and the drawdown is the report's (running peak minus value, >= 0)."""
    from otel_trading.trading import Portfolio

    with capture(console=True, console_port=0, store_dir=tmp_path / "store", metrics_exporter="local",
                 metric_export_interval=60):
        console = current_console()
        assert console is not None
        book = Portfolio("sampled-equity", cash=1_000.0)
        book.apply_fill("BTC/USDT", "buy", 0.01, 50_000.0)
        marks = iter((51_000.0, 50_000.0, 50_500.0))
        started = time.monotonic()
        equity: list[list[Any]] = []
        while len(equity) < 3:
            assert time.monotonic() - started < 6, equity
            book.mark("BTC/USDT", next(marks, 50_500.0))
            overview = get(console, "/api/overview").json()
            equity = overview["equity"]
            time.sleep(0.5)
    values = [value for _, value in equity]
    assert values[:3] == [pytest.approx(1_010.0), pytest.approx(1_000.0), pytest.approx(1_005.0)]
    assert [t for t, _ in equity] == sorted(t for t, _ in equity)
    assert [value for _, value in overview["drawdown"]][:3] == [0.0, pytest.approx(10.0), pytest.approx(5.0)]


def test_equity_samples_are_bounded_and_a_second_apart_but_the_newest() -> None:
    from otel_trading.console._live import EquitySamples

    samples = EquitySamples(maxlen=3, spacing_ns=1_000)
    for time_ns in (0, 400, 800, 1_200, 5_000, 9_000):
        samples.add(time_ns, float(time_ns))
    assert samples.between(None, None) == [(1_200, 1_200.0), (5_000, 5_000.0), (9_000, 9_000.0)]
    samples.add(9_100, 1.0)
    samples.add(9_200, 2.0)  # within the spacing of 9_000: it replaces the newest (9_100)
    assert samples.between(None, None) == [(5_000, 5_000.0), (9_000, 9_000.0), (9_200, 2.0)]
    assert samples.between(5_001, 9_100) == [(9_000, 9_000.0)]


def test_live_metric_without_history_is_the_current_value(live: ConsoleServer) -> None:
    otel_trading.set_trading_state("halted", "metric test")
    try:
        answer = get(live, "/api/metrics/trading.state?by=trading.state").json()
        values = {s["attributes"]["trading.state"]: s["points"][0][1] for s in answer["series"]}
        assert values == {"active": 0.0, "reducing": 0.0, "halted": 1.0}
        assert "trading.state" in {m["name"] for m in get(live, "/api/metrics").json()["metrics"]}
        assert get(live, "/api/metrics/no.such.metric").status == 404
        assert get(live, "/api/metrics/trading.state?stat=rate").status == 400
    finally:
        otel_trading.set_trading_state("active")


def _recorded_after(store: Path, name: str, after_ns: int) -> None:
    """Waits until the store holds an export of ``name`` made after ``after_ns``."""
    from otel_trading.export._metric_queries import metric_series

    deadline = time.monotonic() + 15
    while not any(s.points and s.points[-1][0] > after_ns for s in metric_series(store, name)):
        assert time.monotonic() < deadline, f"no export of {name} after the last change"
        time.sleep(0.1)


def test_store_overview_answers_the_bots_figures_from_its_recorded_metrics(tmp_path: Path) -> None:
    import gc

    from otel_trading.demo import DemoOptions, run_demo
    from otel_trading.export._metric_queries import metric_series
    from otel_trading.trading import Portfolio

    store = tmp_path / "store"
    with capture(console=True, console_port=0, store_dir=store, traces_exporter="local", logs_exporter="local",
                 metrics_exporter="local", metric_export_interval=0.2):
        live = current_console()
        assert live is not None
        run_demo(DemoOptions(trades=6, seed=11, speed=2000, reject_rate=0.3, error_rate=0.1, progress=False))
        gc.collect()  # the demo's portfolio goes now, not between the last export and the bot's answer
        book = Portfolio("recorded-overview", cash=1_000.0)
        book.apply_fill("ETH/USDT", "sell", 0.5, 2_000.0)
        book.mark("ETH/USDT", 1_990.0)
        otel_trading.set_trading_state("halted", "recorded test")
        try:
            changed_ns = time.time_ns()
            _recorded_after(store, "trading.state", changed_ns)
            bot = get(live, "/api/overview").json()  # nothing trading changed since that export
            with serve_store(store, port=0) as console:
                recorded = get(console, "/api/overview").json()
        finally:
            otel_trading.set_trading_state("active")
    assert recorded["as_of_ns"] > changed_ns
    assert recorded["breaker_trips"] == bot["breaker_trips"] >= 1
    assert recorded["trading_state"]["state"] == bot["trading_state"]["state"] == "halted"
    assert recorded["trading_state"]["reason"] == bot["trading_state"]["reason"] == "recorded test"
    assert recorded["trading_state"]["source"] == "bot"
    assert abs(recorded["trading_state"]["since_ns"] - bot["trading_state"]["since_ns"]) < 100_000_000
    assert [(p["portfolio"], p["symbol"], p["side"]) for p in recorded["positions"]] == [
        (p["portfolio"], p["symbol"], p["side"]) for p in sorted(bot["positions"], key=lambda p: (
            p["portfolio"], p["symbol"]))]
    assert ("recorded-overview", "ETH/USDT", "short") in [(p["portfolio"], p["symbol"], p["side"])
                                                          for p in recorded["positions"]]
    for mine, theirs in zip(recorded["positions"], sorted(bot["positions"], key=lambda p: (p["portfolio"],
                                                                                            p["symbol"])),
                            strict=True):
        assert mine["amount"] == pytest.approx(theirs["amount"])
        assert mine["mark_price"] == pytest.approx(theirs["mark_price"])
    for key in ("unrealized", "daily"):
        assert recorded["pnl"][key] == pytest.approx(bot["pnl"][key])
    assert recorded["reject_rate"] == pytest.approx(bot["reject_rate"]) and bot["reject_rate"] > 0
    assert recorded["error_rate"] == pytest.approx(bot["error_rate"]) and bot["error_rate"] > 0
    orders, exchange = recorded["report"]["orders"], recorded["report"]["exchange"]  # what the traces say
    assert recorded["reject_rate"] == pytest.approx(sum(orders["rejects_by_reason"].values()) / orders["count"])
    assert recorded["error_rate"] == pytest.approx(exchange["errors"] / exchange["calls"])
    for stat in ("p50", "p99"):  # the report's exact per-order figures; the bot's histogram estimates them
        assert recorded["order_latency_ms"][stat] == pytest.approx(orders["ack_latency_s"][stat] * 1000, rel=1e-9)
        assert bot["order_latency_ms"][stat] > 0
    # Telemetry kept moving while the bot exported: the store's figures are what it had recorded then.
    for key, name in (("exported", "otel_trading.telemetry.exported"), ("dropped", "otel_trading.telemetry.dropped")):
        recorded_then = metric_series(store, name, until_ns=recorded["as_of_ns"])
        last = sum(s.points[-1][1] for s in recorded_then if s.points)
        assert recorded["telemetry"][key] == int(last)
    assert recorded["telemetry"]["exported"] > 0


def test_store_overview_latency_is_the_recorded_histograms_where_the_report_has_no_order(tmp_path: Path) -> None:
    from otel_trading.demo import DemoOptions, run_demo

    store = tmp_path / "store"
    with capture(store_dir=store, traces_exporter="none", logs_exporter="local", metrics_exporter="local",
                 metric_export_interval=0.2):
        run_demo(DemoOptions(trades=3, seed=5, speed=2000, progress=False))
    with serve_store(store, port=0) as console:
        overview = get(console, "/api/overview").json()
    assert overview["report"]["orders"]["ack_latency_s"]["p50"] is None  # no order span: the report has none
    assert overview["order_latency_ms"]["p50"] > 0 and overview["order_latency_ms"]["p99"] > 0


def test_a_bot_without_a_terminal_finds_its_login_url_in_a_file_only_it_can_read(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import stat

    from otel_trading.export._store_queries import search_logs

    store = tmp_path / "store"
    with capture(console=True, console_port=0, store_dir=store, logs_exporter="local", log_console="json"):
        console = current_console()
        assert console is not None
        url_file = store / "console.url"
        assert url_file.read_text() == console.login_url + "\n"
        assert stat.S_IMODE(url_file.stat().st_mode) == 0o600  # the token: this user only, as Jupyter's file
        assert console.url_file == url_file
        token = console.token
    printed = capsys.readouterr()
    assert token not in printed.out + printed.err  # pytest's stderr is no terminal: nothing printed with it
    assert not url_file.exists()  # removed when the console stopped, as Jupyter removes its runtime file
    [line] = search_logs(store, text="console listening")
    assert line.attributes["url"] == console.url
    assert line.attributes["login_url"] == str(url_file)  # where to look
    for path in store.rglob("*"):  # the store, its index and what the bot logged never hold the token
        assert not path.is_file() or token.encode() not in path.read_bytes(), path


def test_a_page_that_stops_reading_does_not_delay_the_others(live: ConsoleServer) -> None:
    import threading

    hub = live.app.hub
    stuck = socket.socket()
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # and it never reads
    stuck.connect((live.host, live.port))
    stuck.sendall(f"GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1:{live.port}\r\n\r\n".encode())
    deadline = time.monotonic() + 5
    while hub.open_streams < 1:  # the stuck page is first: the one a sequential writer serves first
        assert time.monotonic() < deadline
        time.sleep(0.02)
    reader = _open_stream(live)
    arrivals: list[tuple[float, str]] = []  # (when, reason) of each overview the reader got
    done = threading.Event()

    def read() -> None:
        reader.settimeout(0.2)
        buffer = b""
        while not done.is_set():
            try:
                chunk = reader.recv(1 << 20)
            except TimeoutError:
                continue
            except OSError:
                return
            if not chunk:
                return
            events, buffer = _complete_events(buffer + chunk)
            arrivals.extend((time.monotonic(), data["trading_state"]["reason"] or "")
                            for name, data in events if name == "overview")

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    try:
        while hub.open_streams < 2:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        # Far more than the stuck page's kernel buffers hold (it takes nothing), less than it may fall behind.
        log = otel_trading.get_logger("burst")
        for _ in range(300):
            log.info("x" * 2000)
        changes: list[tuple[float, str]] = []
        for i in range(12):  # a change every 0.3 s for 3.6 s: while the burst is pushed, and after
            reason = f"change {i:02d}"
            changes.append((time.monotonic(), reason))
            otel_trading.set_trading_state("reducing" if i % 2 else "halted", reason)
            time.sleep(0.3)
        time.sleep(1.6)
    finally:
        done.set()
        thread.join(2)
        stuck.close()
        reader.close()
        otel_trading.set_trading_state("active")
    # Each change reaches the reading page within 1.5 s (the overview is read once a second),
    # or a later change does, which superseded it.
    delays = []
    for changed_at, reason in changes:
        seen = [at for at, got in arrivals if got.startswith("change ") and got >= reason and at >= changed_at]
        assert seen, (reason, arrivals)
        delays.append(seen[0] - changed_at)
    assert max(delays) <= 1.5, delays


def test_an_unwritable_url_file_is_a_warning_without_the_token(tmp_path: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    from otel_trading.console._url_file import write_url_file

    not_a_directory = tmp_path / "store"
    not_a_directory.write_text("a file where the store should be")
    with caplog.at_level("WARNING", logger="otel_trading.console"):
        assert write_url_file(not_a_directory, "http://127.0.0.1:1/?token=canary-token-1234") is None
    [record] = caplog.records
    assert str(not_a_directory / "console.url") in record.getMessage()
    assert "current_console().login_url" in record.getMessage()
    assert "canary-token-1234" not in caplog.text


def test_a_store_consoles_answers_last_while_the_store_is_unchanged(tmp_path: Path) -> None:
    reads: list[str] = []

    def read() -> dict[str, int]:
        reads.append("read")
        return {"reads": len(reads)}

    (tmp_path / "traces.jsonl").write_text("{}\n")
    cache = _ReadCache(tmp_path, size=2)
    assert cache.get("/api/overview", {}, read) == cache.get("/api/overview", {}, read) == {"reads": 1}
    assert cache.get("/api/overview", {"max_points": ["10"]}, read) == {"reads": 2}  # its own query, its own answer
    with (tmp_path / "traces.jsonl").open("a") as store_file:
        store_file.write("{}\n")
    assert cache.get("/api/overview", {}, read) == {"reads": 3}  # the store grew: read again
    (tmp_path / ".index.sqlite3").write_text("the index is not the store")
    assert cache.get("/api/overview", {}, read) == {"reads": 3}


def test_a_store_consoles_trades_follow_the_store_as_it_grows(tmp_path: Path, demo_store: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    lines = (demo_store / "traces.jsonl").read_bytes().splitlines(keepends=True)
    (store / "traces.jsonl").write_bytes(b"".join(lines[:len(lines) // 2]))
    with serve_store(store, port=0) as console:
        before = get(console, "/api/trades").json()
        assert get(console, "/api/trades").json() == before
        with (store / "traces.jsonl").open("ab") as traces:
            traces.write(b"".join(lines[len(lines) // 2:]))
        after = get(console, "/api/trades").json()
    assert after["total"] > before["total"]
    assert after["total"] == get_total(demo_store)


def get_total(store: Path) -> int:
    with serve_store(store, port=0) as console:
        total: int = get(console, "/api/trades?limit=1").json()["total"]
    return total
