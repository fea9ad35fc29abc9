"""The alert engine on the SDK's real metrics, driven by an injected clock (no sleeps in the logic)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import otel_trading
from otel_trading import TradingState, set_trading_state
from otel_trading.alerts import (
    Alert,
    AlertConfig,
    Escalation,
    Inhibition,
    Matcher,
    Notification,
    Route,
    Silence,
    build_engine,
    default_rules,
)
from otel_trading.alerts._routing import Router
from otel_trading.alerts.channels import FileChannel
from otel_trading.testing import capture


def notifications(path: Path, count: int, timeout: float = 10.0) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= count:
            return [json.loads(line) for line in lines]
        time.sleep(0.02)
    raise AssertionError(f"expected {count} notifications in {path}, got {len(lines)}")


def halted_engine(tmp_path: Path, clock: list[float]):  # type: ignore[no-untyped-def]
    config = AlertConfig(rules=[r for r in default_rules() if r.name == "TradingHalted"],
                         routes=[Route(("file",), group_wait_s=0, group_interval_s=0, repeat_interval_s=3600)],
                         state_file=tmp_path / "state.json")
    return build_engine(config, channels={"file": FileChannel("file", path=tmp_path / "alerts.jsonl")},
                        clock=lambda: clock[0])


def test_trading_halted_fires_notifies_once_and_resolves_across_a_restart(
        configured: otel_trading.Telemetry, tmp_path: Path) -> None:
    clock = [1_000.0]
    engine, dispatcher = halted_engine(tmp_path, clock)
    fired: list[Alert] = []
    engine.on_fire(fired.append, rule="TradingHalted")
    assert engine.evaluate() == []
    set_trading_state(TradingState.HALTED, reason="daily loss")
    clock[0] += 15
    [transition] = engine.evaluate()
    assert (transition.before, transition.after) == ("inactive", "firing")
    [sent] = notifications(tmp_path / "alerts.jsonl", 1)
    assert sent["status"] == "firing" and sent["version"] == "4"
    assert sent["commonLabels"] == {"alertname": "TradingHalted", "severity": "critical"}
    clock[0] += 15
    assert engine.evaluate() == []  # still firing: no transition, no second message (repeat is 1h)
    engine.stop()
    dispatcher.close()
    deadline = time.monotonic() + 5
    while not fired and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [a.name for a in fired] == ["TradingHalted"]

    # A restarted engine remembers the open alert: no new page while it still fires ...
    engine, dispatcher = halted_engine(tmp_path, clock)
    clock[0] += 15
    assert engine.evaluate() == []
    assert [a.name for a in engine.firing()] == ["TradingHalted"]
    # ... and does not forget to resolve it.
    set_trading_state(TradingState.ACTIVE)
    clock[0] += 15
    [transition] = engine.evaluate()
    assert transition.after == "inactive"
    _, resolved = notifications(tmp_path / "alerts.jsonl", 2)
    assert resolved["status"] == "resolved"
    assert resolved["alerts"][0]["endsAt"].startswith("1970-01-01T00:17")  # t = 1060 s
    engine.stop()
    dispatcher.close()


def test_transitions_are_logged_with_the_alert_fingerprint_and_counted(configured: otel_trading.Telemetry,
                                                                       tmp_path: Path) -> None:
    clock = [2_000.0]
    engine, dispatcher = halted_engine(tmp_path, clock)
    with capture() as otel:
        set_trading_state(TradingState.HALTED, reason="test")
        engine.evaluate()
        [record] = [r.log_record for r in otel.logs if r.log_record.body == "alert firing"]
        assert record.attributes["alertname"] == "TradingHalted"
        assert record.attributes["correlation_id"] == engine.firing()[0].fingerprint
        assert otel.value("otel_trading.alerts.transitions", alertname="TradingHalted", state="firing") == 1
        assert otel.value("otel_trading.alerts.active", alertname="TradingHalted", state="firing",
                          severity="critical") == 1
    engine.stop()
    dispatcher.close()


def test_a_failing_action_raises_an_alert_and_never_reaches_the_engine(configured: otel_trading.Telemetry,
                                                                      tmp_path: Path) -> None:
    clock = [3_000.0]
    engine, dispatcher = halted_engine(tmp_path, clock)

    def kill_switch(alert: Alert) -> None:
        raise RuntimeError("broker unreachable")

    engine.on_fire(kill_switch)
    set_trading_state(TradingState.HALTED)
    engine.evaluate()
    sent = notifications(tmp_path / "alerts.jsonl", 2)
    names = {a["labels"]["alertname"] for n in sent for a in n["alerts"]}  # type: ignore[index, union-attr]
    assert names == {"TradingHalted", "AlertActionFailed"}
    engine.stop()
    dispatcher.close()


# --- routing, with an in-memory sink as the "channel" -----------------------------------------


def alert(name: str, status: str = "firing", starts_at: float = 0.0, **labels: str) -> Alert:
    return Alert({"alertname": name, "severity": "warning", **labels}, {}, status, 1.0, starts_at)  # type: ignore[arg-type]


def router(**options: object) -> tuple[Router, list[tuple[str, Notification]]]:
    sent: list[tuple[str, Notification]] = []
    route = Route(("ops",), group_by=("alertname",), group_wait_s=10, group_interval_s=60, repeat_interval_s=600)
    return Router([route], lambda channel, n: sent.append((channel, n)), **options), sent  # type: ignore[arg-type]


def test_group_wait_gathers_a_burst_then_interval_and_repeat_pace_it() -> None:
    r, sent = router()
    r.update(alert("Loss", symbol="BTC"), 0)
    r.flush(5)
    assert sent == []  # group_wait
    r.update(alert("Loss", symbol="ETH"), 6)
    r.flush(10)
    assert len(sent) == 1 and len(sent[0][1].alerts) == 2  # one message for the burst
    r.update(alert("Loss", "resolved", symbol="BTC"), 20)
    r.flush(30)
    assert len(sent) == 1  # group_interval not yet over
    r.flush(70)
    assert len(sent) == 2 and {a.status for a in sent[1][1].alerts} == {"firing", "resolved"}
    r.flush(100)
    assert len(sent) == 2  # nothing new: dedup
    r.flush(70 + 600)
    assert len(sent) == 3 and [a.labels["symbol"] for a in sent[2][1].alerts] == ["ETH"]  # repeat


def test_silence_inhibition_acknowledgement_and_escalation() -> None:
    silence = Silence(Matcher({"alertname": "Noise"}), ends_at=100)
    inhibit = Inhibition(Matcher({"alertname": "TradingHalted"}), Matcher({"alertname": "Loss"}))
    r, sent = router(silences=[silence], inhibitions=[inhibit], escalations=[Escalation(300, ("pager",))])
    r.update(alert("Noise"), 0)
    r.update(alert("TradingHalted"), 0)
    r.update(alert("Loss"), 0)
    r.flush(10)
    assert [n.alerts[0].name for _, n in sent] == ["TradingHalted"]
    r.flush(110)  # the silence ended
    assert [n.alerts[0].name for _, n in sent][-1] == "Noise"
    r.acknowledge([alert("TradingHalted")], 120)
    assert sent[-1][1].acknowledged
    count = len(sent)
    r.flush(400)
    escalated = [(c, n) for c, n in sent[count:] if n.escalated]
    assert [(c, n.alerts[0].name, n.alerts[0].severity.value) for c, n in escalated] == [("pager", "Noise", "critical")]


def test_a_silence_mutes_its_alerts_until_expired_and_survives_a_restart(
        configured: otel_trading.Telemetry, tmp_path: Path) -> None:
    clock = [1_000.0]
    engine, dispatcher = halted_engine(tmp_path, clock)
    silence = engine.silence(Matcher({"alertname": "TradingHalted"}), 600, comment="maintenance token=abc123",
                             created_by="ops")
    assert silence.state(clock[0]) == "active"
    assert "abc123" not in silence.comment  # free text is scrubbed before it is kept
    set_trading_state(TradingState.HALTED, reason="daily loss")
    clock[0] += 15
    [transition] = engine.evaluate()
    assert transition.after == "firing"
    engine.router.flush(clock[0])
    dispatcher.close(5)
    assert not (tmp_path / "alerts.jsonl").exists()  # silenced: nothing sent

    restarted, dispatcher = halted_engine(tmp_path, clock)
    assert [s.id for s in restarted.silences()] == [silence.id]
    expired = restarted.expire_silence(silence.id)
    assert expired is not None and expired.state(clock[0]) == "expired"
    assert restarted.expire_silence("no-such-id") is None
    clock[0] += 15
    restarted.evaluate()
    [sent] = notifications(tmp_path / "alerts.jsonl", 1)
    assert sent["commonLabels"]["alertname"] == "TradingHalted"
    assert [(e.alertname, e.state) for e in restarted.history] == []  # restored alerts are not new transitions
    set_trading_state(TradingState.ACTIVE)
    clock[0] += 15
    restarted.evaluate()
    assert [(e.alertname, e.state) for e in restarted.history] == [("TradingHalted", "inactive")]
    dispatcher.close(5)
