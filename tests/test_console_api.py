"""The console's JSON API over a real HTTP server on loopback (port 0), in store and live mode."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest

from otel_trading.console import ConsoleServer, serve_store
from tests.cli_runner import run_cli
from tests.console_client import get


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


def _report(store: Path) -> dict[str, object]:
    done = run_cli("report", "--store", str(store), "--format", "json")
    assert done.returncode == 0, done.stderr
    document: dict[str, object] = json.loads(done.stdout)
    return document


def test_overview_numbers_equal_the_report(store_console: ConsoleServer, demo_store: Path) -> None:
    overview = get(store_console, "/api/overview").json()
    report = _report(demo_store)
    assert overview["report"] == report
    curve = report["equity_curve"]
    assert isinstance(curve, list)
    assert [value for _, value in overview["equity"]] == [point["value"] for point in curve]
    assert [value for _, value in overview["drawdown"]] == [point["drawdown"] for point in curve]
    performance = report["performance"]
    assert isinstance(performance, dict)
    assert overview["pnl"]["realized"] == performance["total_pnl"]


def test_trades_filter_sort_and_open_their_trace(store_console: ConsoleServer) -> None:
    every = get(store_console, "/api/trades").json()
    assert every["total"] == len(every["trades"]) > 0
    closed = get(store_console, "/api/trades?status=closed&sort=pnl&order=asc").json()["trades"]
    assert closed and all(row["status"] == "closed" for row in closed)
    assert [row["pnl"] for row in closed] == sorted(row["pnl"] for row in closed)
    detail = get(store_console, f"/api/traces/{closed[0]['trace_id']}").json()
    assert detail["trace_id"] == closed[0]["trace_id"]
    assert any(span["name"] == "trade" for span in detail["spans"])


def test_traces_and_logs_search(store_console: ConsoleServer) -> None:
    traces = get(store_console, "/api/traces?limit=5").json()["traces"]
    assert 0 < len(traces) <= 5
    starts = [t["start_ns"] for t in traces]
    assert starts == sorted(starts, reverse=True)
    errors = get(store_console, "/api/logs?level=warning&limit=50").json()["logs"]
    assert errors and all(line["level"] in ("warning", "error", "critical") for line in errors)


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
