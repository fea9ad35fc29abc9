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
    # Hostile or careless input: each a clear error where it was written, never a traceback or a silent pass.
    ("rules: " + "[" * 5000 + "]" * 5000 + "\n", 1, None, "nested more than 64 levels deep"),
    ("a:\n" + "".join("  " * depth + "- \n" for depth in range(1, 3000)), 65, None, "nested more than 64 levels"),
    ("rules:\n  - name: A\n    gauge: trading.equity\n    below: " + "9" * 5000 + "\n", 4, None,
     "a number of 5000 characters is too long"),
    ("rules:\n  - name: A\x00\n", 2, None, "character #x0000 is not allowed"),
    ("a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(  # a "billion laughs": aliases of aliases
        f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)),
     4, None, "aliases expand to more than 10000 values"),
    ("default_pack: maybe\n", 1, "default_pack", "expected true, false or {overrides:"),
    ("default_pack: {overides: {}}\n", 1, "default_pack.overides", "unknown field; expected one of overrides"),
    ("default_pack:\n  overrides: [DailyLossLimit]\n", 2, "default_pack.overrides", "expected a mapping, got a list"),
    ("default_pack:\n  overrides:\n    DailyLossLimit: -0.03\n", 3, "default_pack.overrides.DailyLossLimit",
     "expected a mapping of the rule's fields to new values, got a number"),
    ("default_pack:\n  overrides:\n    DailyLossLimit: {below: low}\n", 3,
     "default_pack.overrides.DailyLossLimit.below", "expected a number, got 'low'"),
    ("default_pack:\n  overrides:\n    DailyLossLimit:\n      for: 1m\n      severity: urgent\n", 5,
     "default_pack.overrides.DailyLossLimit.severity", "'urgent' is not a valid Severity"),
    ("rules:\n  - name: N\n    gauge: trading.equity\n    below: .nan\n", 4, "rules[N].below",
     "expected a finite number, got nan"),
    ("rules:\n  - name: N\n    gauge: trading.equity\n    above: -.inf\n", 4, "rules[N].above",
     "expected a finite number, got -inf"),
    ("rules:\n  - name: F\n    gauge: trading.equity\n    below: 1\n    for: 99999999999999999999d\n", 5,
     "rules[F].for", "expected a duration of at most 10y"),
    ("rules:\n  - name: F\n    gauge: trading.equity\n    below: 1\n    keep_firing_for: .inf\n", 5,
     "rules[F].keep_firing_for", "expected a duration ≥ 0"),
    ("routes:\n  - channels: [console]\n    repeat_interval: 11y\n", 3, "routes[0].repeat_interval",
     "at most 10y"),
    ("rules:\n  - name: L\n    gauge: trading.equity\n    below: 1\n    labels: {team-name: quant}\n", 5,
     "rules[L].labels", "'team-name' is not a Prometheus label name"),
    ("rules:\n  - name: L\n    gauge: trading.equity\n    below: 1\n    labels: {__name__: x}\n", 5,
     "rules[L].labels", "'__name__' is not a Prometheus label name"),
    ("rules:\n  - name: L\n    gauge: trading.equity\n    below: 1\n    annotations: {2nd: x}\n", 5,
     "rules[L].annotations", "'2nd' is not a Prometheus label name"),
    ("rules:\n  - name: L\n    gauge: trading.equity\n    below: 1\n    labels: [team]\n", 5,
     "rules[L].labels", "expected a mapping of names to values, got a list"),
    ("rules:\n  - name: L\n    gauge: trading.equity\n    below: 1\n    labels: {team: [a, b]}\n", 5,
     "rules[L].labels", "team: expected a text or a number, got a list"),
    ("channels: [ops]\n", 1, "channels", "expected a mapping, got a list"),
    ("channels:\n  ops:\nroutes:\n  - channels: [ops]\n", 2, "channels.ops",
     "expected a mapping with a type: field, got nothing"),
    ("state_file: /\n", 1, "state_file", "expected the path of a file, got the directory '/'"),
    ("dead_letter_file: [a]\n", 1, "dead_letter_file", "expected the path of a file, got a list"),
    ("routes:\n  - channels: [console]\n  - 5\n", 3, "routes[1]",
     "expected a mapping (channels, match, ...), got a number"),
    ("escalate: [1]\n", 1, "escalate[0]", "expected a mapping (after, channels), got a number"),
    ("routes:\n  - channels: [console]\n    group_by: 5\n", 3, "routes[0].group_by",
     "expected a list of label names, got a number"),
    ("routes:\n  - channels: [console]\n    continue: maybe\n", 3, "routes[0].continue",
     "expected true or false, got a string"),
    ("routes:\n  - channels: [[a]]\n", 2, "routes[0].channels", "expected a non-empty list of channel names"),
    ("rules:\n  - name: E\n    gauge: trading.equity\n    below: 1\n    enabled: maybe\n", 5, "rules[E].enabled",
     "expected true or false, got a string"),
    ("default_pack: {overrides: {WinRateLow: {enabled: 0}}}\n", 1, "default_pack.overrides.WinRateLow.enabled",
     "expected true or false, got a number"),
])
def test_errors_name_file_line_and_field(tmp_path: Path, text: str, line: int, field: str | None,
                                         words: str) -> None:
    error = error_of(tmp_path, text)
    assert error.line == line, str(error)
    assert error.field == field, str(error)
    assert words in str(error)
    assert "Located" not in str(error), "internal type names are not the user's words"


def test_a_few_aliases_are_fine() -> None:
    config = load_config(text="routes:\n  - {channels: [console], match: {a: '1'}, group_by: &by [alertname, x]}\n"
                         "  - {channels: [console], group_by: *by}\n")
    assert [route.group_by for route in config.routes] == [("alertname", "x")] * 2


def test_python_overrides_name_the_override() -> None:
    with pytest.raises(RulesError) as caught:
        default_rules({"DailyLossLimit": {"below": float("nan")}})
    assert caught.value.field == "overrides.DailyLossLimit.below" and caught.value.source == "<python>"
    with pytest.raises(RulesError, match=r"overrides\.DailyLossLimit: expected a mapping"):
        default_rules({"DailyLossLimit": -0.03})  # type: ignore[dict-item]
    loss = next(r for r in default_rules({"DailyLossLimit": {"at_most": -0.05}}) if r.name == "DailyLossLimit")
    assert (loss.expression.operator, loss.expression.threshold) == ("<=", -0.05), "a threshold replaces the pack's"


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
    nowhere = tmp_path / "nonexistent.yaml"
    unreadable = run_cli("rules", "check", str(good), str(nowhere), TG_TOKEN="x")
    assert unreadable.returncode == 2, "a file that cannot be read is bad input (docs/cli.md: exit 2)"
    assert f"{nowhere}: cannot read: No such file or directory" in unreadable.stderr
    deep = tmp_path / "deep.yaml"
    deep.write_text("rules: " + "[" * 5000 + "]" * 5000 + "\n")
    for action in (("check",), ("export",), ("export", "--format", "alertmanager")):
        refused = run_cli("rules", *action, str(deep))
        assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr
        assert f"{deep}:1: nested more than 64 levels deep" in refused.stderr

    exported = tmp_path / "rules.yml"
    assert run_cli("rules", "export", str(good), "-o", str(exported)).returncode == 0
    check = subprocess.run([require("promtool"), "check", "rules", str(exported)], capture_output=True, text=True,
                           check=False, timeout=60)
    assert check.returncode == 0 and "SUCCESS: 12 rules found" in check.stdout, check.stdout + check.stderr
    usage = run_cli("rules", "export")
    assert usage.returncode == 2 and "--default-pack" in usage.stderr
