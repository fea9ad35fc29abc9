"""The real-stack proof of collector-config/: a seeded demo bot serves its metrics, the real
Prometheus scrapes it and loads the exported alert rules, and every PromQL expression of
every Grafana dashboard panel, every dashboard variable and every rule is asked of
Prometheus' HTTP API. A renamed metric or label leaves a panel empty and fails here.

Prometheus scrapes under the job name the Collector path gives the same bot (its
``service.name``), so the dashboards' ``job`` filter means the same on both paths.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from binaries import require
from cli_runner import DEMO_ARGS, SCRIPT, clean_environment, run_cli
from daemons import PrometheusProcess
from otlp_receiver import LOOPBACK, free_port

CONFIG_DIR = Path(__file__).resolve().parent.parent / "collector-config"
RULES = CONFIG_DIR / "prometheus" / "rules" / "otel-trading.rules.yaml"
DASHBOARDS = sorted((CONFIG_DIR / "grafana" / "dashboards").glob("*.json"))
SERVICE = "demo-bot"

# Metrics the short demo may leave without a series, and why: a panel query naming one may
# come back empty, but it must still evaluate.
MAY_BE_EMPTY: dict[str, str] = {
    "otel_trading_metric_overflow_total": "needs 2000 series in one instrument (test_local_metrics)",
    "otel_trading_alerts_evaluation_failures_total": "appears with the first failing rule (test_alert_engine)",
    "trading_exchange_rate_limit_queued": "the simulated exchange has no ccxt throttler (test_ccxt_instrumentation)",
    "otel_trading_alerts_active": "the demo's alerts fire for under a second at --speed 500 (test_demo)",
}
# Always firing, so that the panels of Prometheus' own ALERTS series have one to show.
SYNTHETIC_ALERT = {"alert": "StackTestAlwaysFiring", "expr": "vector(1)", "labels": {"severity": "info"}}


def dashboard_tools() -> ModuleType:
    """collector-config/grafana/generate_dashboards.py (a script, not a package module)."""
    path = CONFIG_DIR / "grafana" / "generate_dashboards.py"
    spec = importlib.util.spec_from_file_location("generate_dashboards", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TOOLS = dashboard_tools()
PANELS: list[tuple[str, str, str]] = [
    query for path in DASHBOARDS for query in TOOLS.panel_queries(json.loads(path.read_text()))
]


def mentions(expr: str, metric: str) -> bool:
    return re.search(rf"\b{metric}\b", expr) is not None


def dashboard_variables() -> list[tuple[str, str, str]]:
    """(dashboard, variable, query) of every query variable."""
    found = []
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        for variable in board.get("templating", {}).get("list", []):
            if variable.get("type") == "query":
                query = variable["query"]
                found.append((board["title"], variable["name"], query["query"] if isinstance(query, dict) else query))
    return found


VARIABLES = dashboard_variables()
_LABEL_VALUES = re.compile(r"^label_values\((?:(?P<selector>.+),\s*)?(?P<label>\w+)\)$")


def as_promql(variable_query: str) -> str:
    """Grafana's ``label_values(selector, label)`` as the PromQL Grafana itself runs for it."""
    match = _LABEL_VALUES.match(variable_query.strip())
    assert match, f"not a label_values() query: {variable_query}"
    selector = match.group("selector") or f'{{{match.group("label")}!=""}}'
    return f"group by ({match.group('label')}) ({TOOLS.substitute_variables(selector)})"


def scrape_config(target: str, job: str = SERVICE) -> tuple[str, str]:
    """Prometheus' configuration scraping ``target`` (as ``job``) every second, and the committed
    rules evaluated every second (their expressions untouched), as YAML texts."""
    rules = yaml.safe_load(RULES.read_text())
    for group in rules["groups"]:
        group["interval"] = "1s"
    rules["groups"].append({"name": "stack-test", "interval": "1s", "rules": [SYNTHETIC_ALERT]})
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": ["rules.yaml"],
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [target]}]}],
    }
    return yaml.safe_dump(config), yaml.safe_dump(rules)


class LineWatcher:
    """Reads a child's stdout in the background and says when a line starting with ``prefix`` came."""

    def __init__(self, process: subprocess.Popen[str], prefix: str) -> None:
        self.lines: list[str] = []
        self.seen = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(process, prefix), daemon=True)
        self._thread.start()

    def join(self, timeout: float) -> None:
        """Waits for the child's output to end (it has exited), so ``lines`` is complete."""
        self._thread.join(timeout)

    def _read(self, process: subprocess.Popen[str], prefix: str) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.lines.append(line)
            if line.startswith(prefix):
                self.seen.set()


def wait_for_rule_evaluations(prometheus: PrometheusProcess, after: float, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rules = prometheus.rules()
        # A rule not evaluated yet says 0001-01-01: far before ``after``.
        if rules and all(_iso_seconds(rule["lastEvaluation"]) > after for rule in rules):
            return
        time.sleep(0.25)
    raise AssertionError(f"rules not evaluated after the demo's run: {prometheus.rules()}")


def _iso_seconds(text: str) -> float:
    trimmed = re.sub(r"(\.\d{6})\d*", r"\1", text).replace("Z", "+00:00")
    return dt.datetime.fromisoformat(trimmed).timestamp()


@dataclass(frozen=True)
class Stack:
    prometheus: PrometheusProcess
    started: float  # Unix seconds, just before the demo started

    def graph(self, expr: str) -> list[dict[str, Any]]:
        """What a graph panel over the demo's run shows for ``expr``: its series, by the second."""
        return self.prometheus.query_range(expr, self.started, time.time())


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The real Prometheus, after it scraped a whole seeded demo run and its final values."""
    directory = tmp_path_factory.mktemp("stack")
    port = free_port()
    config, rules = scrape_config(f"{LOOPBACK}:{port}")
    (directory / "rules.yaml").write_text(rules)
    args = [arg for arg in DEMO_ARGS if arg not in ("--prometheus-port", "0")]
    with PrometheusProcess(require("prometheus"), directory, config) as server:
        # Prometheus applies discovered targets a few seconds after it starts: wait until it
        # scrapes the (not yet listening) target, so the whole run is recorded.
        server.wait_for(f'up{{job="{SERVICE}"}} == 0')
        started = time.time()
        demo = subprocess.Popen(
            [str(SCRIPT), *args, "--prometheus-port", str(port), "--store", str(directory / "store"),
             "--service-name", SERVICE, "--linger", "120s", "--no-progress"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=clean_environment(),
        )
        try:
            watcher = LineWatcher(demo, "Lingering")
            assert watcher.seen.wait(90), "demo never finished:\n" + "".join(watcher.lines)
            finished = time.time()
            server.wait_for(f'timestamp(process_uptime_seconds{{job="{SERVICE}"}}) > {finished + 1}')
            wait_for_rule_evaluations(server, after=finished + 1)
            yield Stack(server, started)
        finally:
            demo.send_signal(signal.SIGINT)
            try:
                demo.wait(30)
            except subprocess.TimeoutExpired:
                demo.kill()
        # Ctrl-C while lingering ends the linger only: the demo still flushes and exits 0.
        watcher.join(10)
        assert demo.returncode == 0, "".join(watcher.lines)
        assert any(line.startswith("stopped lingering") for line in watcher.lines)


@pytest.mark.parametrize(("dashboard", "panel", "expr"), PANELS, ids=[f"{d}/{p}" for d, p, _ in PANELS])
def test_every_dashboard_panel_query_returns_data(stack: Stack, dashboard: str, panel: str, expr: str) -> None:
    result = stack.graph(TOOLS.substitute_variables(expr))
    if not any(mentions(expr, metric) for metric in MAY_BE_EMPTY):
        assert result, f"{dashboard} / {panel}: no data for {expr}"


@pytest.mark.parametrize(("dashboard", "variable", "query"), VARIABLES, ids=[f"{d}/{v}" for d, v, _ in VARIABLES])
def test_every_dashboard_variable_has_values(stack: Stack, dashboard: str, variable: str, query: str) -> None:
    assert stack.graph(as_promql(query)), f"{dashboard}: variable {variable} has no values ({query})"


def test_every_exported_rule_loads_and_evaluates(stack: Stack) -> None:
    prometheus = stack.prometheus
    exported = [rule["alert"] for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]
    loaded = [rule for rule in prometheus.rules() if rule["name"] != SYNTHETIC_ALERT["alert"]]
    assert [rule["name"] for rule in loaded] == exported
    for rule in loaded:
        assert rule["health"] == "ok" and not rule.get("lastError"), rule
        prometheus.query(rule["query"])  # raises PromQLError on an evaluation error


_THRESHOLD = re.compile(r"\s(?:[<>]=?|==|!=)\s-?[\d.]+(?:e[-+]?\d+)?")


def test_every_rule_watches_series_the_demo_emits(stack: Stack) -> None:
    """Each rule's expression without its thresholds returns series: it watches real metrics."""
    for rule in stack.prometheus.rules():
        if rule["name"] == SYNTHETIC_ALERT["alert"]:
            continue
        watched = _THRESHOLD.sub("", rule["query"])
        assert stack.graph(watched), f"{rule['name']}: no data for {watched}"


def test_may_be_empty_names_metrics_of_real_panels() -> None:
    assert all(any(mentions(expr, metric) for _, _, expr in PANELS) for metric in MAY_BE_EMPTY)
    assert PANELS, f"no dashboard panels found under {CONFIG_DIR / 'grafana' / 'dashboards'}"


def test_committed_rules_are_the_default_pack_export() -> None:
    exported = run_cli("rules", "export", "--default-pack")
    assert exported.returncode == 0, exported.stderr
    assert RULES.read_text() == exported.stdout, (
        f"{RULES} is stale: otel-trading rules export --default-pack -o {RULES.relative_to(CONFIG_DIR.parent)}"
    )


# ---- the same stack with a framework bot as the metrics source: a backtrader backtest ----------

BACKTEST_SERVICE = "backtrader-bot"
BACKTRADER_BOT = Path(__file__).with_name("backtrader_bot.py")
# What a backtest cannot feed, and why: panels naming only these may be empty on this run.
BACKTEST_HAS_NO: dict[str, str] = {  # metric names, or name prefixes ending in "_"
    "trading_exchange_": "no exchange is called: backtrader's broker is simulated in-process",
    "trading_market_data_staleness_seconds": "bars come from a file, not a live feed",
    "trading_websocket_reconnects_total": "no websocket",
    "trading_signals_total": "backtrader has no signal notification: the strategy's decisions are its orders",
    "trading_risk_checks_total": "backtrader has no risk check step",
    "trading_order_rejects_total": "this bot's orders are never rejected (a margin call is: test_backtrader)",
    "trading_circuit_breaker_trips_total": "no TradingState breaker trips in a backtest",
    "otel_trading_function_": "the bot has no @traced functions",
    "otel_trading_heartbeat": "no heartbeat in a backtest",
    "otel_trading_health_status": "no health server in a backtest",
    "otel_trading_alerts_": "the bot runs no in-process alert engine",
}


def backtest_may_be_empty(expr: str) -> bool:
    return any(re.search(rf"\b{name}", expr) for name in BACKTEST_HAS_NO) or any(
        mentions(expr, metric) for metric in MAY_BE_EMPTY)


@pytest.fixture(scope="module")
def backtest_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The real Prometheus, after it scraped a backtrader backtest run under
    configure(instrument=["backtrader"]) and the bot's final values."""
    directory = tmp_path_factory.mktemp("backtest-stack")
    port = free_port()
    config, rules = scrape_config(f"{LOOPBACK}:{port}", job=BACKTEST_SERVICE)
    (directory / "rules.yaml").write_text(rules)
    with PrometheusProcess(require("prometheus"), directory, config) as server:
        server.wait_for(f'up{{job="{BACKTEST_SERVICE}"}} == 0')
        started = time.time()
        bot = subprocess.Popen(
            [sys.executable, str(BACKTRADER_BOT), "--bars", "3000", "--store", str(directory / "store"),
             "--prometheus-port", str(port), "--service-name", BACKTEST_SERVICE, "--linger", "120"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=clean_environment(),
        )
        try:
            watcher = LineWatcher(bot, '{"closed"')
            assert watcher.seen.wait(60), "the backtest never finished:\n" + "".join(watcher.lines)
            finished = time.time()
            server.wait_for(f'timestamp(trading_trades_total{{job="{BACKTEST_SERVICE}"}}) > {finished + 1}')
            # rate() and increase() need two samples in a window: a loaded machine may have
            # scraped the short backtest only once so far.
            server.wait_for(f'count_over_time(trading_trades_total{{job="{BACKTEST_SERVICE}"}}[10m]) >= 4')
            wait_for_rule_evaluations(server, after=finished + 1)
            yield Stack(server, started)
        finally:
            bot.send_signal(signal.SIGINT)
            try:
                bot.wait(30)
            except subprocess.TimeoutExpired:
                bot.kill()
        watcher.join(10)
        assert bot.returncode == 0, "".join(watcher.lines)


def test_a_backtest_feeds_every_trading_panel_it_can(backtest_stack: Stack) -> None:
    """Every panel a backtest can feed shows the backtest's data; the rest are in BACKTEST_HAS_NO."""
    empty = [f"{dashboard} / {panel}: {expr}" for dashboard, panel, expr in PANELS
             if not backtest_may_be_empty(expr) and not backtest_stack.graph(TOOLS.substitute_variables(expr))]
    assert not empty, "no data on a backtest:\n" + "\n".join(empty)
    fed = [expr for _, _, expr in PANELS if mentions(expr, "trading_trades_total")]
    assert fed and all(backtest_stack.graph(TOOLS.substitute_variables(expr)) for expr in fed)


def test_every_rule_evaluates_on_a_backtest(backtest_stack: Stack) -> None:
    """Each rule loads and evaluates; each watching what a backtest feeds finds its series."""
    unwatched = []
    for rule in backtest_stack.prometheus.rules():
        if rule["name"] == SYNTHETIC_ALERT["alert"]:
            continue
        assert rule["health"] == "ok" and not rule.get("lastError"), rule
        watched = _THRESHOLD.sub("", rule["query"])
        if not backtest_may_be_empty(watched) and not backtest_stack.graph(watched):
            unwatched.append(f"{rule['name']}: {watched}")
    assert not unwatched, "rules with no data on a backtest:\n" + "\n".join(unwatched)


def test_backtest_exemptions_name_metrics_of_real_panels_or_rules() -> None:
    exprs = [expr for _, _, expr in PANELS] + [
        rule["expr"] for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]
    unused = [name for name in BACKTEST_HAS_NO if not any(re.search(rf"\b{name}", expr) for expr in exprs)]
    assert not unused, unused
