"""Alert rule files: every mistake is an error naming file, line and field; good files load whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from otel_trading.alerts import RulesError, default_rules, load_config, rule


def error_of(tmp_path: Path, text: str) -> RulesError:
    path = tmp_path / "alerting.yaml"
    path.write_text(text)
    with pytest.raises(RulesError) as caught:
        load_config(path)
    assert str(path) in str(caught.value)
    return caught.value


@pytest.mark.parametrize(("text", "line", "field", "words"), [
    ("rules:\n  - name: Loss\n    gauge: trading.pnl.dialy.ratio\n    below: -0.02\n", 3, "rules[Loss].gauge",
     "did you mean 'trading.pnl.daily.ratio'"),
    ("rules:\n  - name: Loss\n    gauge: trading.equity\n    below: -0.02\n    for: 5x\n", 5, "rules[Loss].for",
     "expected a duration"),
    ("rules:\n  - name: Loss\n    gauge: trading.equity\n    below: low\n", 4, "rules[Loss].below",
     "expected a number"),
    ("rules:\n  - name: A\n    gauge: trading.equity\n    below: 1\n  - name: A\n    gauge: trading.equity\n"
     "    below: 2\n", 5, "rules[A].name", "duplicate rule name (first at line 2)"),
    ("rules:\n  - name: R\n    rate: trading.equity\n    above: 1\n", 3, "rules[R].rate",
     "trading.equity is a Gauge; rate needs a Counter"),
    ("rules:\n  - name: Q\n    histogram: trading.order.ack.latency\n    quantile: 1.5\n    above: 1\n", 4,
     "rules[Q].quantile", "between 0 and 1"),
    ("rules:\n  - name: T\n    gauge: trading.equity\n    above: 1\n    annotations: {summary: '{{ $value }}'}\n", 5,
     "rules[T].annotations", "unknown placeholder"),
    ("rules:\n  - name: U\n    gauge: trading.equity\n    above: 1\n    severty: critical\n", 5, "rules[U].severty",
     "unknown field"),
    ("rules:\n  - name: S\n    gauge: trading.equity\n    above: 1\n    severity: urgent\n", 5, "rules[S].severity",
     "'urgent' is not a valid Severity"),
    ("rules:\n  - name: X\n    above: 1\n", 2, "rules[X]", "expected exactly one of gauge"),
    ("rules: [\n", 2, None, "not valid YAML"),
    ("default_pack:\n  overrides:\n    NoSuchRule: {below: 1}\n", 3, "default_pack.overrides.NoSuchRule",
     "no rule 'NoSuchRule' in the default pack"),
    ("routes:\n  - channels: [pager]\n", 2, "routes[0].channels", "no channel 'pager'"),
    ("rules:\n  - name: P\n    rate: trading.orders\n    per_where: {trading.side: buy}\n    above: 1\n", 4,
     "rules[P].per_where", "add per:"),
])
def test_errors_name_file_line_and_field(tmp_path: Path, text: str, line: int, field: str | None,
                                         words: str) -> None:
    error = error_of(tmp_path, text)
    assert error.line == line, str(error)
    assert error.field == field, str(error)
    assert words in str(error)


def test_a_full_file_loads_with_the_pack_overridden(tmp_path: Path) -> None:
    path = tmp_path / "alerting.yaml"
    path.write_text("""
interval: 5s
default_pack:
  overrides:
    DailyLossLimit: {below: -0.05}
    WinRateLow: {enabled: false}
metrics:
  bot.signal.strength: {kind: gauge, unit: "1"}
rules:
  - name: WeakSignal
    gauge: bot.signal.strength
    below: 0.1
    for: 2m
    severity: info
channels:
  ops: {type: console}
routes:
  - match: {severity: critical}
    channels: [ops]
    group_wait: 1s
  - channels: [ops]
silences:
  - match: {alertname: WeakSignal}
    ends_at: 2030-01-01T00:00:00Z
inhibit:
  - source: {alertname: TradingHalted}
    target: {alertname: DailyLossLimit}
""")
    config = load_config(path)
    names = [r.name for r in config.rules]
    assert "WinRateLow" not in names and names[-1] == "WeakSignal"
    loss = next(r for r in config.rules if r.name == "DailyLossLimit")
    assert loss.expression.threshold == -0.05
    assert config.interval_s == 5 and len(config.routes) == 2 and config.routes[0].group_wait_s == 1
    assert config.silences[0].matcher.matches({"alertname": "WeakSignal"})
    assert len(default_rules()) == 12


def test_python_rules_check_the_same_way() -> None:
    with pytest.raises(RulesError, match=r"rules\[X\]\.window: expected a duration > 0"):
        rule("X", rate="trading.orders", window="0s", above=1)
    built = rule("Rejects", rate="trading.order.rejects", per="trading.orders", by=["trading.exchange"], above=0.2)
    assert built.expression.promql() == (
        "sum by (trading_exchange) (rate(trading_order_rejects_total[5m])) / "
        "sum by (trading_exchange) (rate(trading_orders_total[5m])) > 0.2"
    )
    submitted = rule("Rejects", rate="trading.order.rejects", per="trading.orders", where={"trading.symbol": "X"},
                     per_where={"trading.order.status": "submitted"}, above=0.2)
    assert submitted.expression.promql() == (
        'sum(rate(trading_order_rejects_total{trading_symbol="X"}[5m])) / '
        'sum(rate(trading_orders_total{trading_order_status="submitted",trading_symbol="X"}[5m])) > 0.2'
    )


def test_rules_cli_checks_and_exports_for_promtool(tmp_path: Path) -> None:
    import subprocess

    from binaries import require
    from cli_runner import run_cli

    good = tmp_path / "good.yaml"
    good.write_text('default_pack: true\nchannels:\n  tg: {type: telegram, token: "${TG_TOKEN}", chat_id: "1"}\n')
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - name: A\n    gauge: trading.equty\n    below: 1\n")
    result = run_cli("rules", "check", str(good), str(bad), TG_TOKEN="CANARY-TOKEN-42")
    assert result.returncode == 1
    assert "✓" in result.stdout and "12 rules, 1 channels" in result.stdout
    assert f"{bad}:3: rules[A].gauge: unknown metric 'trading.equty' (did you mean 'trading.equity'?)" in result.stderr
    missing = run_cli("rules", "check", str(good))
    assert missing.returncode == 1 and "TG_TOKEN is not set" in missing.stderr
    assert "CANARY" not in result.stdout + result.stderr

    exported = tmp_path / "rules.yml"
    assert run_cli("rules", "export", str(good), "-o", str(exported)).returncode == 0
    check = subprocess.run([require("promtool"), "check", "rules", str(exported)], capture_output=True, text=True,
                           check=False, timeout=60)
    assert check.returncode == 0 and "SUCCESS: 12 rules found" in check.stdout, check.stdout + check.stderr
    usage = run_cli("rules", "export")
    assert usage.returncode == 2 and "--default-pack" in usage.stderr
