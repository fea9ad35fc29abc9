"""Text shared by the channels: titles, per-alert lines, RFC 3339 times, truncation to a limit.

Limits are counted in UTF-16 code units, which is what the strictest services count (and
never fewer than Python's code points), so text cut here is within every documented limit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Final

from otel_trading.alerts._model import Alert, Notification, Severity

ELLIPSIS: Final = "…"
ZERO_TIME: Final = "0001-01-01T00:00:00Z"  # Go's zero time: Alertmanager's endsAt while firing
# Label/annotation names shown in the headline rather than in the label list.
_HEADLINE: Final = ("alertname", "severity")


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def truncate(text: str, limit: int, marker: str = ELLIPSIS) -> str:
    """``text`` cut to at most ``limit`` UTF-16 units, ending with ``marker`` when cut."""
    if utf16_len(text) <= limit:
        return text
    budget = limit - utf16_len(marker)
    used = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > budget:
            return text[:index] + marker
    return text  # pragma: no cover - unreachable: the whole text fits, checked above


def rfc3339(unix_s: float | None) -> str:
    """``2024-05-01T12:00:00.123Z`` (UTC, milliseconds); None gives Go's zero time."""
    if unix_s is None:
        return ZERO_TIME
    moment = dt.datetime.fromtimestamp(unix_s, tz=dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def counts(notification: Notification) -> tuple[int, int]:
    firing = sum(1 for alert in notification.alerts if alert.status == "firing")
    return firing, len(notification.alerts) - firing


def title(notification: Notification) -> str:
    """``[FIRING:2] HighDrawdown`` as Alertmanager titles a group (``RESOLVED`` once all resolved)."""
    firing, resolved = counts(notification)
    names = sorted({alert.name for alert in notification.alerts if alert.name})
    label = notification.group_labels.get("alertname") or ", ".join(names) or notification.receiver
    count = firing if notification.status == "firing" else resolved
    return f"[{notification.status.upper()}:{count}] {label}"


def summary(alert: Alert) -> str:
    """The alert's ``summary`` annotation, else ``description``, else its name.

    A resolved alert's annotations still describe the problem as it last was ("29 exchange API
    calls in a row failed"): its text says it is over, ``resolved (was: 29 exchange API calls
    in a row failed)``, while the annotations themselves are sent unchanged, as Alertmanager does.
    """
    annotations = alert.annotations
    text = annotations.get("summary") or annotations.get("description")
    if alert.status == "resolved":
        return f"resolved (was: {text})" if text else "resolved"
    return text or alert.name


def description(alert: Alert) -> str | None:
    """The ``description`` annotation, when it adds to the summary of a firing alert (else None)."""
    text = alert.annotations.get("description")
    if alert.status == "resolved" or not text or text == alert.annotations.get("summary", text):
        return None
    return text


def other_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """The labels worth listing under an alert (alertname and severity are in the headline)."""
    return {key: value for key, value in sorted(labels.items()) if key not in _HEADLINE}


def label_text(labels: Mapping[str, str]) -> str:
    return ", ".join(f"{key}={value}" for key, value in other_labels(labels).items())


def alert_line(alert: Alert) -> str:
    """``FIRING critical HighDrawdown: drawdown above 10%`` - one plain line per alert."""
    return f"{alert.status.upper()} {alert.severity.value} {alert.name}: {summary(alert)}"


def alert_block(alert: Alert) -> str:
    """A few plain-text lines describing one alert (used by email and as a fallback text)."""
    lines = [alert_line(alert)]
    if details := description(alert):
        lines.append(f"  {details}")
    if labels := label_text(alert.labels):
        lines.append(f"  labels: {labels}")
    lines.append(f"  value: {alert.value:g}, since {rfc3339(alert.starts_at)}"
                 + (f", resolved {rfc3339(alert.ends_at)}" if alert.ends_at is not None else ""))
    if alert.generator_url:
        lines.append(f"  source: {alert.generator_url}")
    return "\n".join(lines)


RESOLVED_COLOUR: Final = 0x2E7D32
SEVERITY_COLOURS: Final = {
    Severity.INFO: 0x1976D2,
    Severity.WARNING: 0xF9A825,
    Severity.CRITICAL: 0xD32F2F,
    Severity.EMERGENCY: 0x6A1B9A,
}


def colour_of(status: str, severity: Severity) -> int:
    """Green once resolved, else by severity (blue, amber, red, purple), as 0xRRGGBB."""
    return RESOLVED_COLOUR if status == "resolved" else SEVERITY_COLOURS[severity]


def colour(notification: Notification) -> int:
    """The group's colour: resolved, or its highest severity."""
    return colour_of(notification.status, notification.severity)
