"""What the engine hands to routing and channels: alerts and the notifications that group them."""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from otel_trading._state import STATE

Status = Literal["firing", "resolved"]


class Severity(str, enum.Enum):
    """How urgent an alert is; escalation raises it one step."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"
    EMERGENCY = "emergency"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)

    def raised(self) -> Severity:
        members = list(Severity)
        return members[min(self.rank + 1, len(members) - 1)]


def scrubbed(mapping: Mapping[str, str]) -> dict[str, str]:
    """Labels or annotations with secrets redacted, as every alert holds them from the start.

    A value under a secret-looking name (``api_key``) is replaced; credentials inside values
    (``token=...``, ``https://user:pw@``, the channels' own tokens and URLs) are cut out. So
    the log lines, channels, dead letters and state file, which all read the alert, carry none.
    """
    cleaned = STATE.redactor.scrub_if_needed(mapping)
    return dict(mapping) if cleaned is None else {key: str(value) for key, value in cleaned.items()}


def fingerprint(labels: Mapping[str, str]) -> str:
    """Stable id of an alert: a hash of its sorted labels (``alertname`` included)."""
    text = "\x1f".join(f"{k}\x1e{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Alert:
    """One alert instance at the moment it is notified.

    ``labels`` hold ``alertname`` and ``severity`` plus the rule's labels and those of the
    series that matched; ``starts_at`` / ``ends_at`` are Unix seconds (``ends_at`` is set
    once resolved). Labels and annotations are :func:`scrubbed` on creation.
    """

    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    status: Status
    value: float
    starts_at: float
    ends_at: float | None = None
    generator_url: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", scrubbed(self.labels))
        object.__setattr__(self, "annotations", scrubbed(self.annotations))

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def severity(self) -> Severity:
        try:
            return Severity(self.labels.get("severity", "warning"))
        except ValueError:
            return Severity.WARNING

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.labels)


@dataclass(frozen=True)
class Notification:
    """A group of alerts sent to one channel in one message.

    ``status`` is ``firing`` while any alert of the group fires. ``group_key`` is stable for
    the group (route + grouping labels): channels with their own deduplication (PagerDuty's
    ``dedup_key``) derive it from there.
    """

    receiver: str
    status: Status
    alerts: tuple[Alert, ...]
    group_key: str
    group_labels: Mapping[str, str] = field(default_factory=dict)
    escalated: bool = False
    acknowledged: bool = False

    @property
    def common_labels(self) -> dict[str, str]:
        return _common(alert.labels for alert in self.alerts)

    @property
    def common_annotations(self) -> dict[str, str]:
        return _common(alert.annotations for alert in self.alerts)

    @property
    def severity(self) -> Severity:
        """The highest severity in the group."""
        return max((alert.severity for alert in self.alerts), key=lambda s: s.rank, default=Severity.WARNING)


def _common(mappings: Iterable[Mapping[str, str]]) -> dict[str, str]:
    items = list(mappings)
    if not items:
        return {}
    first = items[0]
    return {k: v for k, v in first.items() if all(m.get(k) == v for m in items[1:])}
