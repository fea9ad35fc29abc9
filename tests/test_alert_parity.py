"""The in-process engine and Prometheus agree: same input series, same pending/firing alerts.

Each scenario feeds per-minute series to our engine and, as a ``promtool test rules``
file, to the real Prometheus rule engine; the test file asserts at every evaluation time
that Prometheus' ``ALERTS`` series are exactly the alerts (and states) our engine holds.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml
from binaries import require

from otel_trading.alerts import Rule, default_rules, prometheus_rules, rule
from otel_trading.alerts._series import LabelSet, SeriesStore
from otel_trading.alerts._state import RuleState

Series = dict[tuple[str, LabelSet], list[float | None]]
STEPS = 24
Timeline = list[list[tuple[dict[str, str], str]]]


def engine_states(rules: Sequence[Rule], series: Series) -> Timeline:
    """Our engine's (labels, state) of every active alert at each minute."""
    store = SeriesStore(3600)
    states = [RuleState(r) for r in rules]
    timeline = []
    for step in range(STEPS):
        t = step * 60.0
        store.append(t, [(n, labels, v[step]) for (n, labels), v in series.items() if v[step] is not None])
        for state in states:
            state.evaluate(state.rule.expression.evaluate(store, t), t)
        timeline.append([(a.labels, a.state) for s in states for a in s.active.values()])
    return timeline


def promtool_values(values: list[float | None]) -> str:
    # A scrape that misses a series marks it stale; in promtool's notation that is "stale".
    words = []
    for index, value in enumerate(values):
        if value is None:
            words.append("stale" if index and values[index - 1] is not None else "_")
        else:
            words.append(repr(float(value)))
    return " ".join(words)


def selector(name: str, labels: LabelSet) -> str:
    return name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels) + "}" if labels else "")


def assert_promtool_agrees(tmp_path: Path, rules: Sequence[Rule], series: Series) -> Timeline:
    timeline = engine_states(rules, series)
    (tmp_path / "rules.yml").write_text(prometheus_rules(rules))
    checks = [
        {"expr": "ALERTS", "eval_time": f"{step}m", "exp_samples": [
            {"labels": selector("ALERTS", tuple(sorted({**labels, "alertstate": state}.items()))), "value": 1}
            for labels, state in alerts
        ]}
        for step, alerts in enumerate(timeline)
    ]
    test = {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": [{
        "interval": "1m",
        "input_series": [{"series": selector(n, labels), "values": promtool_values(v)}
                         for (n, labels), v in series.items()],
        "promql_expr_test": checks,
    }]}
    (tmp_path / "test.yml").write_text(yaml.safe_dump(test, sort_keys=False))
    result = subprocess.run([require("promtool"), "test", "rules", str(tmp_path / "test.yml")],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return timeline


def ramp(values: list[float | None]) -> list[float | None]:
    return (values + [values[-1]] * STEPS)[:STEPS]


def test_gauges_rates_quantiles_and_absence_agree_with_prometheus(tmp_path: Path) -> None:
    rules = [
        rule("DailyLoss", gauge="trading.pnl.daily.ratio", aggregate="min", by=["trading.portfolio"], below=-0.02,
             for_="2m", severity="critical", annotations={"summary": "{{ value | percent }}"}),
        rule("Rejects", rate="trading.order.rejects", per="trading.orders", window="5m", above=0.2,
             keep_firing_for="3m", require={"increase": "trading.orders", "window": "5m", "at_least": 5}),
        rule("P99", histogram="trading.exchange.request.duration", quantile=0.99, window="5m", above=1),
        rule("NoBeat", absent="otel_trading.heartbeat.timestamp", for_="1m"),
        rule("Silent", age="otel_trading.heartbeat.timestamp", above=240),
        rule("Streak", consecutive_failures="trading.exchange.errors.consecutive", by=["trading.exchange"],
             at_least=3),
        rule("EquityJump", zscore="trading.equity", window="10m", above=2.5),
    ]
    bounds = ["0.1", "0.5", "1.0", "2.5", "+Inf"]
    series: Series = {
        ("trading_pnl_daily_ratio", (("trading_portfolio", "main"),)):
            ramp([0, -0.01, -0.03, -0.03, -0.04, -0.05, 0, -0.03, -0.03, -0.03, -0.03, 0]),
        ("trading_pnl_daily_ratio", (("trading_portfolio", "hedge"),)): ramp([0.01]),
        ("trading_order_rejects_total", ()): ramp([0, 1, 2, 5, 9, 14, 20, 21]),
        ("trading_orders_total", ()): [10.0 * i for i in range(STEPS)],
        ("otel_trading_heartbeat_timestamp_seconds", ()):  # beats, goes missing, comes back and freezes
            [60.0 * i if i < 6 else None if i <= 16 else 1020.0 for i in range(STEPS)],
        ("trading_exchange_errors_consecutive", (("trading_exchange", "binance"),)):
            ramp([0, 1, 2, 3, 4, 0, 0, 3, 3, 1]),
        ("trading_equity", ()): ramp([100, 101, 100, 101, 100, 101, 100, 101, 100, 101, 100, 130, 101, 100]),
    }
    for index, bound in enumerate(bounds):
        fast, slow = (1.0 if index >= 2 else 0.5), (1.0 if index >= 4 else 0.2)
        series[("trading_exchange_request_duration_seconds_bucket", (("le", bound),))] = [
            10 * t * fast if t < 8 else 80 * fast + (t - 8) * 10 * slow for t in range(STEPS)]
    timeline = assert_promtool_agrees(tmp_path, rules, series)
    seen = {(labels["alertname"], state) for alerts in timeline for labels, state in alerts}
    # The scenario exercises every rule and both states, or the agreement proves little.
    assert {name for name, _ in seen} == {r.name for r in rules}
    assert {("DailyLoss", "pending"), ("DailyLoss", "firing"), ("NoBeat", "pending")} <= seen


def test_the_default_pack_agrees_with_prometheus_on_a_bad_day(tmp_path: Path) -> None:
    rules = default_rules({"DrawdownLimit": {"for": "2m"}})
    portfolio = (("trading_portfolio", "demo"),)
    series: Series = {
        ("trading_pnl_daily_ratio", portfolio): ramp([0.0, -0.01, -0.025, -0.03, -0.01, 0.0]),
        ("trading_drawdown", portfolio): ramp([0.0, 0.05, 0.12, 0.15, 0.12, 0.02]),
        ("trading_state", (("trading_state", "halted"),)): ramp([0, 0, 0, 1, 1, 1, 0]),
        ("trading_state", (("trading_state", "active"),)): ramp([1, 1, 1, 0, 0, 0, 1]),
        ("trading_exchange_errors_consecutive", (("trading_exchange", "simulated"),)): ramp([0, 0, 5, 5, 0]),
        ("otel_trading_heartbeat_timestamp_seconds", ()): [60.0 * i if i < 12 else 600.0 for i in range(STEPS)],
        ("trading_performance_win_rate", (("trading_strategy", "momentum"),)): ramp([0.6, 0.4]),
        ("trading_performance_trades", (("trading_strategy", "momentum"),)): ramp([5, 10, 20, 25]),
    }
    timeline = assert_promtool_agrees(tmp_path, rules, series)
    fired = {labels["alertname"] for alerts in timeline for labels, state in alerts if state == "firing"}
    assert {"DailyLossLimit", "DrawdownLimit", "TradingHalted", "ExchangeErrorStreak", "BotHeartbeatMissing",
            "WinRateLow"} <= fired


@pytest.mark.parametrize("pack", ["default", "overridden"])
def test_exported_rules_pass_promtool_check(tmp_path: Path, pack: str) -> None:
    overrides = {"DailyLossLimit": {"below": -0.05, "for": "10m"}} if pack == "overridden" else None
    path = tmp_path / "rules.yml"
    path.write_text(prometheus_rules(default_rules(overrides), interval_s=15))
    result = subprocess.run([require("promtool"), "check", "rules", str(path)], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 12 rules found" in result.stdout
