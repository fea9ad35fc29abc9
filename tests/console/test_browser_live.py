"""The console of a running demo, in a real browser: the kill switch, alerts, cross-origin POSTs.

The demo runs as a user runs it (`otel-trading demo --console-port 0`), in its own process;
the browser acts, and what the bot did is read back from its console's JSON API.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cli_runner import SCRIPT, clean_environment
from console_helpers import ALERTING_BOT, wait_until

LOGIN_URL = re.compile(r"(http://(?:127\.0\.0\.1|localhost|\[::1\]):\d+)/\?token=([A-Za-z0-9_\-]+)")


@dataclass
class LiveDemo:
    process: subprocess.Popen[str]
    url: str
    token: str
    output: list[str] = field(default_factory=list)

    @property
    def login_url(self) -> str:
        return f"{self.url}/?token={self.token}"

    def api(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=10) as response:  # noqa: S310 - loopback
            return json.loads(response.read())


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout:g}s waiting for {what}")


def serve_live(command: list[str], cwd: Path) -> Iterator[LiveDemo]:
    """Runs ``command`` until it prints a console login URL; interrupts it (Ctrl-C) afterwards."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=cwd,
                               env=clean_environment())
    output: list[str] = []
    found: list[re.Match[str]] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            match = LOGIN_URL.search(line)
            if match and not found:
                found.append(match)

    threading.Thread(target=read, daemon=True).start()
    try:
        wait_for(lambda: found or process.poll() is not None, 60, "the console URL")
        assert found, f"no console URL printed (exit {process.poll()}):\n{''.join(output)}"
        yield LiveDemo(process, found[0][1], found[0][2], output)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


@pytest.fixture(scope="module")
def live_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveDemo]:
    """A long demo serving its live console (`otel-trading demo --console-port 0`)."""
    directory = tmp_path_factory.mktemp("live")
    yield from serve_live(
        [str(SCRIPT), "demo", "--trades", "100000", "--duration", "10m", "--seed", "7", "--speed", "10",
         "--prometheus-port", "0", "--console-port", "0", "--no-progress", "--store", str(directory / "store")],
        directory)


@dataclass
class AlertingBot:
    console: LiveDemo
    notifications: Path

    def sent(self) -> list[dict[str, Any]]:
        """The TradingHalted notifications the engine delivered so far (webhook payloads)."""
        if not self.notifications.exists():
            return []
        lines = self.notifications.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip() and "TradingHalted" in line]


@pytest.fixture
def alerting_bot(tmp_path: Path) -> Iterator[AlertingBot]:
    script = tmp_path / "alerting_bot.py"
    script.write_text(ALERTING_BOT, encoding="utf-8")
    notifications = tmp_path / "notifications.jsonl"
    for console in serve_live([sys.executable, str(script), str(tmp_path / "store"), str(notifications)], tmp_path):
        yield AlertingBot(console, notifications)


FRESH_BOT = """
import sys
import time

import otel_trading
from otel_trading.console import current_console

otel_trading.configure(service_name="fresh-bot", store_dir=sys.argv[1], console=True, console_port=0,
                       metrics_exporter="local", metric_export_interval=60, log_console="off",
                       system_metrics=False)
book = otel_trading.Portfolio("fresh", cash=1_000.0)
book.apply_fill("BTC/USDT", "buy", 0.01, 50_000.0)
print("console:", current_console().login_url, flush=True)
price = 50_000.0
while True:  # a price that only falls: the drawdown grows
    price -= 100.0
    book.mark("BTC/USDT", price)
    time.sleep(0.3)
"""


@pytest.fixture
def fresh_bot(tmp_path: Path) -> Iterator[LiveDemo]:
    """A bot just started, its first metric export a minute away."""
    script = tmp_path / "fresh_bot.py"
    script.write_text(FRESH_BOT, encoding="utf-8")
    yield from serve_live([sys.executable, str(script), str(tmp_path / "store")], tmp_path)


def positions_opened_since(demo: LiveDemo, since_ns: int) -> int:
    logs = demo.api(f"/api/logs?q=position+opened&since_ns={since_ns}&limit=1000")["logs"]
    return sum(1 for log in logs if log["message"] == "position opened" and log["time_ns"] > since_ns)


def now_ns() -> int:
    return time.time_ns()


def test_live_overview_updates_over_the_stream(page: Any, live_demo: LiveDemo) -> None:
    page.goto(live_demo.login_url)
    page.wait_for_selector("#overview .cards")
    page.wait_for_selector("#live-state.ok")
    first = page.inner_text("#overview .updated")
    wait_until(page, f"document.querySelector('#overview .updated').textContent !== {json.dumps(first)}")
    assert page.is_visible("#nav-controls")


def test_a_fresh_bots_page_draws_its_equity_from_the_first_seconds(page: Any, fresh_bot: LiveDemo) -> None:
    page.goto(fresh_bot.login_url)
    page.wait_for_selector("#chart-equity svg path.line")
    page.wait_for_selector("#live-state.ok")
    points = "(id) => 1 + (document.querySelector(id + ' svg path.line').getAttribute('d').match(/H/g) || []).length"
    # Three points (a stepped line: one H per point after the first) within a few seconds.
    wait_until(page, f"({points})('#chart-equity') >= 3", timeout=6)
    # The drawdown as the report gives it: the amount below the peak, >= 0, and the price only fell.
    drawdown = fresh_bot.api("/api/overview")["drawdown"]
    assert all(value >= 0 for _, value in drawdown) and drawdown[-1][1] > 0, drawdown
    wait_until(page, "Number(document.querySelector('#drawdown-max').dataset.value) > 0", timeout=6)


def test_live_tail_adds_new_lines_on_top(page: Any, live_demo: LiveDemo) -> None:
    page.goto(live_demo.login_url)
    page.wait_for_selector("#overview .cards")
    page.goto(live_demo.url + "/logs?tail=1")
    page.wait_for_selector("#logs li")
    page.wait_for_selector("#live-state.ok")
    newest = page.inner_text("#logs li .log-time >> nth=0")
    wait_until(page, f"document.querySelector('#logs li .log-time').textContent > {json.dumps(newest)}")
    assert "(live)" in page.inner_text("#logs-status")


def controls_state(demo: LiveDemo) -> str:
    return str(demo.api("/api/controls")["state"])


def changed_by(demo: LiveDemo, reason: str) -> bool:
    return any(entry.get("reason") == reason for entry in demo.api("/api/controls")["history"])


def test_kill_switch_halts_the_demo(page: Any, live_demo: LiveDemo) -> None:
    page.goto(live_demo.login_url)
    page.wait_for_selector("#overview .cards")
    page.click("#nav-controls")
    page.wait_for_selector("#control-state")
    # The demo's own circuit breaker halts it now and then (its scripted crash): wait it out, and
    # see the bot open a position while active, so the check after the halt can fail.
    wait_for(lambda: controls_state(live_demo) == "active", 60, "the demo's breaker to let it trade")
    started = now_ns()
    wait_for(lambda: positions_opened_since(live_demo, started), 60, "a position to open while active")
    assert not re.search(r"\b(undefined|null|NaN)\b", page.inner_text("#view"))
    assert page.locator("#controls-no-token").count() == 0
    # The breaker may hold its own halt when the click lands: a person's halt is recorded all the same.
    page.fill("#control-reason", "browser test: halt")
    page.click("button.control[data-state=halted]")
    halted_at = now_ns()
    wait_for(lambda: changed_by(live_demo, "browser test: halt"), 10, "the halt in the controls history")
    page.wait_for_selector("#control-state[data-value=halted]")
    page.wait_for_selector("#control-history >> text=browser test: halt")
    assert controls_state(live_demo) == "halted"
    # Long enough for several trades at this speed: none opens a position, the risk check says why.
    time.sleep(8)
    # (An entry order already on its way when the halt came may still fill: a second's grace.)
    assert positions_opened_since(live_demo, halted_at + 1_000_000_000) == 0
    assert controls_state(live_demo) == "halted"  # a person's halt holds until a person resumes
    denied = live_demo.api(f"/api/logs?q=trading_halted&since_ns={halted_at}&limit=100")["logs"]
    assert denied, "the bot's risk check did not see the halt"

    page.fill("#control-reason", "browser test: resume")
    page.click("button.control[data-state=active]")
    wait_for(lambda: changed_by(live_demo, "browser test: resume"), 10, "the resume in the controls history")
    resumed = now_ns()
    wait_for(lambda: positions_opened_since(live_demo, resumed), 60, "a position to open after resume")


def test_a_tab_without_the_token_cannot_use_the_controls(page: Any, live_demo: LiveDemo) -> None:
    page.goto(live_demo.url + "/controls")  # the URL without ?token=: a bookmark, another browser
    page.wait_for_selector("#controls-no-token")
    page.fill("#control-reason", "browser test: no token")
    page.click("button.control[data-state=halted]")
    page.wait_for_selector("#flash:not([hidden])")
    assert "no console token" in page.inner_text("#flash")
    assert not changed_by(live_demo, "browser test: no token")


def test_post_from_another_origin_is_refused(page: Any, browser: Any, live_demo: LiveDemo) -> None:
    """A page served by a second loopback server tries to halt the bot: with and without the token."""
    attack = f"""<!doctype html><body><script>
    const target = {json.dumps(live_demo.url + "/api/controls")};
    const body = JSON.stringify({{state: "halted", reason: "cross-origin"}});
    window.results = [];
    const attempts = [
      fetch(target, {{method: "POST", headers: {{"Content-Type": "application/json",
                                                 "X-Console-Token": {json.dumps(live_demo.token)}}}, body}}),
      fetch(target, {{method: "POST", headers: {{"Content-Type": "application/json"}}, body}}),
      fetch(target, {{method: "POST", mode: "no-cors", headers: {{"Content-Type": "text/plain"}}, body}}),
    ];
    Promise.allSettled(attempts).then((outcomes) => {{
      window.results = outcomes.map((o) => o.status === "fulfilled" ? o.value.type + ":" + o.value.status : "blocked");
      window.done = true;
    }});
    </script>
    <form id="f" method="POST" action="{live_demo.url}/api/controls" enctype="text/plain" target="sink">
      <input name='{{"state":"halted","reason":"form","x":"' value='"}}'></form>
    <iframe name="sink"></iframe></body>"""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = attack.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    other = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        page.goto(f"http://localhost:{other.server_address[1]}/")  # another origin than 127.0.0.1:<console>
        wait_until(page, "window.done === true")
        results = page.evaluate("window.results")
        page.evaluate("document.getElementById('f').submit()")
        time.sleep(1.5)
        # The JSON requests never got an answer the page could read (no CORS); the opaque one was refused.
        assert results[0] == "blocked" and results[1] == "blocked", results
        history = live_demo.api("/api/controls")["history"]
        # (The demo's own breaker may halt it meanwhile: what counts is that no change came from the attack.)
        assert not any(entry.get("reason") in ("cross-origin", "form") for entry in history), (history, results)
    finally:
        other.shutdown()
        other.server_close()


def test_acknowledging_an_alert_in_the_page_stops_its_repeats(page: Any, alerting_bot: AlertingBot) -> None:
    wait_for(lambda: len(alerting_bot.sent()) >= 3, 30, "TradingHalted to fire and repeat")
    page.goto(alerting_bot.console.login_url)
    page.wait_for_selector("#overview .cards")
    page.click("#nav a[data-page=alerts]")
    page.wait_for_selector("#alerts-firing")
    row = page.locator("#alerts-firing tr[data-alertname=TradingHalted]")
    row.locator("button.ack").click()
    row.locator(".badge", has_text="acknowledged").wait_for()
    acknowledged = alerting_bot.console.api("/api/alerts")["firing"]
    assert [a["acknowledged"] for a in acknowledged if a["alertname"] == "TradingHalted"] == [True]
    count = len(alerting_bot.sent())
    time.sleep(3)  # six repeat intervals
    later = alerting_bot.sent()[count:]
    # At most the one notification that says it was acknowledged; no more repeats.
    assert len(later) <= 1, later
    assert page.inner_text("#alerts-firing tr[data-alertname=TradingHalted]").count("Acknowledge") == 0


def test_silence_from_the_page_then_expire_it(page: Any, alerting_bot: AlertingBot) -> None:
    page.goto(alerting_bot.console.login_url)
    page.click("#nav a[data-page=alerts]")
    page.wait_for_selector("#silence-form")
    page.fill("#silence-form input[name=matchers]", "alertname=TradingHalted")
    page.fill("#silence-form input[name=duration]", "10m")
    page.fill("#silence-form input[name=comment]", "browser test")
    page.click("#silence-form button[type=submit]")
    page.wait_for_selector("#silences tr[data-silence]")
    [silence] = alerting_bot.console.api("/api/alerts")["silences"]
    assert silence["comment"] == "browser test" and silence["state"] == "active"
    assert silence["matchers"] == [{"name": "alertname", "value": "TradingHalted", "is_regex": False}]
    assert silence["ends_ns"] - silence["starts_ns"] == pytest.approx(600e9, rel=0.01)
    page.click("#silences button:text('Expire')")
    page.wait_for_selector("#silences .badge:text('expired')")
    [silence] = alerting_bot.console.api("/api/alerts")["silences"]
    assert silence["state"] == "expired"
    # A bad matcher is refused in the page, naming it.
    page.fill("#silence-form input[name=matchers]", "not a matcher")
    page.click("#silence-form button[type=submit]")
    assert 'matcher "not"' in page.inner_text("#flash")
