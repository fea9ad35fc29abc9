"""The flat records the store is read into: spans and log lines with hex ids and Python values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

SPAN_KINDS: Final = ("unspecified", "internal", "server", "client", "producer", "consumer")
STATUS: Final = ("unset", "ok", "error")


@dataclass(frozen=True, slots=True)
class SpanEvent:
    name: str
    time_ns: int
    attributes: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class StoredSpan:
    """One finished span as the store holds it (ids in lowercase hex, times in Unix ns)."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str
    start_ns: int
    end_ns: int
    status: str
    """``unset``, ``ok`` or ``error``."""
    status_message: str
    attributes: Mapping[str, Any]
    events: tuple[SpanEvent, ...]
    resource: Mapping[str, Any]
    scope: str

    @property
    def duration_s(self) -> float:
        return max(0, self.end_ns - self.start_ns) / 1e9

    @property
    def is_error(self) -> bool:
        return self.status == "error"


@dataclass(frozen=True, slots=True)
class StoredLog:
    """One log record (``time_ns`` is its timestamp, or when it was observed if it had none)."""

    time_ns: int
    severity_number: int
    severity_text: str
    body: str
    attributes: Mapping[str, Any]
    trace_id: str | None
    span_id: str | None
    resource: Mapping[str, Any]
    scope: str


@dataclass
class StoreContents:
    """What ``load_store()`` found: records oldest file first, and every unreadable line."""

    directory: Path
    spans: list[StoredSpan] = field(default_factory=list)
    logs: list[StoredLog] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
