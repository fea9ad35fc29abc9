"""Trading alerts: rules over the SDK's own metrics, an in-process engine, notification channels.

    import otel_trading
    from otel_trading import alerts

    otel_trading.configure(service_name="bot")
    engine = alerts.start("alerting.yaml")            # or alerts.start(default_pack=True)
    engine.on_fire(lambda alert: otel_trading.set_trading_state("halted", reason=alert.name),
                   rule="DailyLossLimit")

Rules evaluate with Prometheus semantics and export to Prometheus rule files
(``otel-trading rules export``); see docs/alerts.md.
"""

from otel_trading.alerts._config import AlertConfig, default_rules, load_config
from otel_trading.alerts._engine import AlertEngine, HistoryEntry, running_engines
from otel_trading.alerts._export import prometheus_rules
from otel_trading.alerts._model import Alert, Notification, Severity
from otel_trading.alerts._routing import Escalation, Inhibition, Matcher, Route, Silence
from otel_trading.alerts._rules import Rule, rule
from otel_trading.alerts._start import build_engine, start, stop
from otel_trading.alerts._yaml import RulesError

__all__ = [
    "Alert",
    "AlertConfig",
    "AlertEngine",
    "Escalation",
    "HistoryEntry",
    "Inhibition",
    "Matcher",
    "Notification",
    "Route",
    "Rule",
    "RulesError",
    "Severity",
    "Silence",
    "build_engine",
    "default_rules",
    "load_config",
    "prometheus_rules",
    "rule",
    "running_engines",
    "start",
    "stop",
]
