"""An alerting file's routing as an Alertmanager 0.25 configuration (``rules export --format alertmanager``).

What maps, and how:

- ``routes:`` become the child routes of a root route, in order, each with its ``matchers``,
  ``group_by``, timings and ``continue``. The root route's receiver has no integrations:
  an alert no route matches is sent nowhere, by Alertmanager as by the engine.
- The channels of a route become one receiver (named after the channel, or ``a+b`` for
  several) holding each channel's ``*_configs`` entry, as its kind's ``alertmanager``
  renderer writes it (webhook, slack, discord, telegram, email, pagerduty; a plugin kind
  may have one too). A kind without one (``console``, ``file``, ``alertmanager``) adds
  nothing to the receiver, only a comment saying why.
- ``inhibit:`` becomes ``inhibit_rules``; ``silences:`` and ``escalate:`` are comments
  (silences are API objects, made with ``amtool silence add``; there is no escalation).

Secrets (every channel field the channel kinds mark secret) are never read, let alone
written: a field Alertmanager 0.25 can read from a file becomes ``*_file`` under
``secrets_dir``; the others (webhook and Discord URLs, the Telegram token) get a
``REPLACE_ME`` placeholder that still passes ``amtool check-config``. ``warnings`` lists
every file to create and placeholder to replace, and what could not be carried over.
Non-secret fields are read as the engine reads them (``${VAR}`` expanded).
"""

from __future__ import annotations

import datetime as dt
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import yaml

from otel_trading.alerts._config import AlertConfig
from otel_trading.alerts._duration import format_duration
from otel_trading.alerts._routing import Matcher, Route
from otel_trading.alerts._yaml import LocatedDict, RulesError, substitute_environment
from otel_trading.alerts.channels._config import find_kind
from otel_trading.alerts.channels._kind import ChannelKind
from otel_trading.alerts.channels._kinds import COMMON

SECRETS_DIR: Final = "/etc/alertmanager/secrets"
UNROUTED: Final = "unrouted"
_ENV_REFERENCE: Final = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}")
_FILE_NAME_UNSAFE: Final = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class AlertmanagerExport:
    """``text``: the alertmanager.yml; ``warnings``: what to fill in, and what was left out."""

    text: str
    warnings: tuple[str, ...]
    receivers: tuple[str, ...] = ()


def alertmanager_config(config: AlertConfig, *, secrets_dir: str = SECRETS_DIR,
                        environ: Mapping[str, str] | None = None) -> AlertmanagerExport:
    """The Alertmanager 0.25 configuration routing like ``config``; RulesError for a bad channel."""
    return _Exporter(config, secrets_dir.rstrip("/"), dict(environ) if environ is not None else None).run()


def matcher_strings(matcher: Matcher) -> list[str]:
    """``label="value"`` / ``label=~"regex"``, quoted as Alertmanager's matcher parser reads them."""
    return [f'{name}="{_quote(value)}"' for name, value in matcher.equal.items()] + \
        [f'{name}=~"{_quote(pattern.pattern)}"' for name, pattern in matcher.regex.items()]


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _rfc3339(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _comment(text: str, indent: str = "") -> str:
    return "".join(f"{indent}# {line}".rstrip() + "\n" for line in text.splitlines() or [""])


@dataclass
class _Receiver:
    name: str
    configs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    comments: list[str] = field(default_factory=list)


class _Exporter:
    def __init__(self, config: AlertConfig, secrets_dir: str, environ: dict[str, str] | None) -> None:
        self.config = config
        self.secrets_dir = secrets_dir
        self.environ = environ
        self.warnings: list[str] = []
        self.receivers: dict[tuple[str, ...], _Receiver] = {}
        self.names: set[str] = set()

    def run(self) -> AlertmanagerExport:
        root = _Receiver(self._unique(UNROUTED), comments=[
            "no route matched: the engine sends such an alert nowhere, and neither does this receiver"])
        routes = [self._route(route) for route in self.config.routes]
        receivers = [root, *self.receivers.values()]
        document = ("route:\n" + _indented(yaml.safe_dump(
            {"receiver": root.name, "group_by": ["alertname"], "routes": routes}, sort_keys=False,
            allow_unicode=True, width=1000), "  "))
        document += "receivers:\n" + "".join(_receiver_text(r) for r in receivers)
        inhibit_rules = [self._inhibit_rule(rule.source, rule.target, rule.equal) for rule in self.config.inhibitions]
        if inhibit_rules:
            document += yaml.safe_dump({"inhibit_rules": inhibit_rules}, sort_keys=False, allow_unicode=True,
                                       width=1000)
        trailer = self._silences() + self._escalations()
        self.warnings = list(dict.fromkeys(self.warnings))  # a channel in several receivers: said once
        text = self._header() + document + trailer
        return AlertmanagerExport(text, tuple(self.warnings), tuple(r.name for r in receivers))

    # -- routing ------------------------------------------------------------------------------

    def _route(self, route: Route) -> dict[str, Any]:
        exported: dict[str, Any] = {"receiver": self._receiver(route.channels).name}
        matchers = matcher_strings(route.matcher)
        if matchers:
            exported["matchers"] = matchers
        exported["group_by"] = list(route.group_by)
        exported["group_wait"] = format_duration(route.group_wait_s)
        exported["group_interval"] = format_duration(route.group_interval_s)
        exported["repeat_interval"] = format_duration(route.repeat_interval_s)
        exported["continue"] = route.continue_
        return exported

    def _inhibit_rule(self, source: Matcher, target: Matcher, equal: Sequence[str]) -> dict[str, Any]:
        rule: dict[str, Any] = {}
        if matcher_strings(source):
            rule["source_matchers"] = matcher_strings(source)
        if matcher_strings(target):
            rule["target_matchers"] = matcher_strings(target)
        if equal:
            rule["equal"] = list(equal)
        return rule

    def _unique(self, name: str) -> str:
        candidate, number = name, 1
        while candidate in self.names:
            number += 1
            candidate = f"{name}~{number}"
        self.names.add(candidate)
        return candidate

    def _receiver(self, channels: tuple[str, ...]) -> _Receiver:
        if channels not in self.receivers:
            receiver = self.receivers[channels] = _Receiver(self._unique("+".join(channels)))
            for channel in channels:
                self._channel(receiver, channel)
        return self.receivers[channels]

    # -- channels -----------------------------------------------------------------------------

    def _channel(self, receiver: _Receiver, name: str) -> None:
        spec = self.config.channels.get(name)
        if spec is None:  # a route may name "console" without defining it
            spec = LocatedDict({"type": "console"})
        kind = find_kind(name, spec, source=self.config.source)
        values, secrets = self._read(name, spec, kind)
        receiver.comments.append(f"channel {name} ({kind.name})")
        if kind.alertmanager is None:
            receiver.comments.append(f"  {kind.no_integration_note()}")
            return
        key, entry = kind.alertmanager(_Channel(self, name, receiver, values, secrets))
        entry["send_resolved"] = bool(values.get("send_resolved", True))
        receiver.configs.setdefault(key, []).append(entry)
        ignored = [k for k in ("timeout", "retries", "rate_limit") if k in spec]
        if ignored:
            receiver.comments.append(f"  {', '.join(ignored)}: delivery settings of the engine; Alertmanager "
                                     "has its own")

    def _read(self, name: str, spec: Any, kind: ChannelKind) -> tuple[dict[str, Any], dict[str, str]]:
        """Non-secret fields expanded and converted; secret fields by name, unread and unexpanded."""
        source = self.config.source
        fields = {**COMMON, **kind.fields}
        values: dict[str, Any] = {}
        secrets: dict[str, str] = {}
        for key, raw in spec.items():
            if key == "type":
                continue
            line = spec.line_of(key) if isinstance(spec, LocatedDict) else None
            kind_field = fields.get(key)
            if kind_field is None:
                raise RulesError(f"channel {name!r}: unknown field for a {kind.name} channel "
                                 f"(known: {', '.join(sorted(fields))})", source=source, line=line, field=key)
            if kind_field.secret:
                secrets[key] = _secret_origin(raw, self.config.source)
                continue
            try:
                values[key] = kind_field.convert(self._expand(raw, line, key))
            except ValueError as exc:
                raise RulesError(f"channel {name!r}: {exc}", source=source, line=line, field=key) from None
        missing = [key for key, kind_field in kind.fields.items() if kind_field.required and key not in spec]
        if missing:  # as build_channel says it, so check and export agree
            line = spec.line_of("type") if isinstance(spec, LocatedDict) else None
            raise RulesError(f"channel {name!r}: a {kind.name} channel needs {', '.join(missing)}",
                             source=source, line=line, field=missing[0])
        return values, secrets

    def _expand(self, value: Any, line: int | None, key: str) -> Any:
        if isinstance(value, str):
            return substitute_environment(value, source=self.config.source, line=line, field=key,
                                          environ=self.environ)
        if isinstance(value, list):
            return [self._expand(item, line, key) for item in value]
        return value

    # -- comments -----------------------------------------------------------------------------

    def _header(self) -> str:
        lines = [
            f"Alertmanager 0.25 configuration generated by `otel-trading rules export --format alertmanager` "
            f"from {self.config.source}:",
            "its routes (in order), grouping, timings, receivers and inhibit rules. "
            "Check it with `amtool check-config`.",
            "Notifications use Alertmanager's own message templates. No secret is written here.",
        ]
        if self.warnings:
            lines += ["", "Before use:", *(f"  - {warning}" for warning in self.warnings)]
        return _comment("\n".join(lines)) + "\n"

    def _silences(self) -> str:
        if not self.config.silences:
            return ""
        lines = ["", "Silences are Alertmanager API objects, not configuration: create them with", ""]
        for silence in self.config.silences:
            command = ["amtool", "silence", "add", "--alertmanager.url=http://localhost:9093"]
            if silence.starts_at:
                command.append(f"--start={_rfc3339(silence.starts_at)}")
            command.append(f"--end={_rfc3339(silence.ends_at)}")
            if silence.created_by:
                command.append(f"--author={silence.created_by}")
            command.append(f"--comment={silence.comment or 'from ' + self.config.source}")
            command += matcher_strings(silence.matcher)
            lines.append("  " + " ".join(shlex.quote(part.replace("\n", " ")) for part in command))
        return _comment("\n".join(lines))

    def _escalations(self) -> str:
        if not self.config.escalations:
            return ""
        lines = ["", "Not carried over: Alertmanager has no escalation. The engine's escalate: rules were"]
        for escalation in self.config.escalations:
            lines.append(f"  after {format_duration(escalation.after_s)} firing unacknowledged: once more, one "
                         f"severity up, to {', '.join(escalation.channels)}")
            self.warnings.append(f"escalation after {format_duration(escalation.after_s)} to "
                                 f"{', '.join(escalation.channels)} is left out (Alertmanager has no escalation)")
        return _comment("\n".join(lines))


@dataclass
class _Channel:
    """One channel as its kind's ``alertmanager`` renderer sees it (an AlertmanagerTarget)."""

    exporter: _Exporter
    name: str
    receiver: _Receiver
    values: dict[str, Any]
    secrets: dict[str, str]  # field -> where its value comes from (never the value)

    def secret_file(self, key: str, alertmanager_field: str) -> str:
        path = f"{self.exporter.secrets_dir}/{_FILE_NAME_UNSAFE.sub('_', self.name)}.{key}"
        self.warn(f"channel {self.name}: create {path} holding {self.secrets[key]} "
                  f"(field {key}, read through {alertmanager_field})")
        return path

    def placeholder(self, key: str, alertmanager_field: str, value: str) -> str:
        self.warn(f"channel {self.name}: replace {alertmanager_field} {value} with {self.secrets[key]} "
                  f"(field {key}; Alertmanager 0.25 has no {alertmanager_field}_file)")
        return value

    def warn(self, text: str) -> None:
        self.exporter.warnings.append(text)

    def note(self, text: str) -> None:
        self.receiver.comments.append(text)


def _secret_origin(raw: Any, source: str) -> str:
    names = sorted({match.group(1) for match in _ENV_REFERENCE.finditer(str(raw))}) if isinstance(raw, str) else []
    if names:
        return "the value of " + " and ".join(f"${{{name}}}" for name in names)
    return f"the value written in {source}"


def _indented(text: str, indent: str) -> str:
    return "".join(indent + line if line.strip() else line for line in text.splitlines(keepends=True))


def _receiver_text(receiver: _Receiver) -> str:
    body: dict[str, Any] = {"name": receiver.name, **receiver.configs}
    dumped = yaml.safe_dump([body], sort_keys=False, allow_unicode=True, width=1000)
    return (_comment("\n".join(receiver.comments)) if receiver.comments else "") + dumped
