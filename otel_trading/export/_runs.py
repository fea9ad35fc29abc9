"""The runs in a store: which bot run a record belongs to, and which runs a view selects.

A run is the telemetry of one ``configure()``: its resource ``service.name`` and
``service.instance.id`` (a fresh UUID each time). One store often holds several: restarts of a
bot, or several bots sharing a directory. The CLI's ``--service``/``--run`` and the console's
filters select them with a ``RunSelection``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RunSelection:
    """``--service NAME`` (exact ``service.name``) and ``--run ID`` (a prefix of ``service.instance.id``)."""

    service: str | None = None
    run: str | None = None
    """Lower case."""

    def matches(self, resource: Mapping[str, Any]) -> bool:
        if self.service is not None and resource.get("service.name") != self.service:
            return False
        return self.run is None or run_id(resource).lower().startswith(self.run)

    @property
    def everything(self) -> bool:
        return self.service is None and self.run is None


def run_id(resource: Mapping[str, Any]) -> str:
    return str(resource.get("service.instance.id") or "")


@dataclass(frozen=True)
class Run:
    service: str
    run_id: str
    """``service.instance.id``; empty when the records have none (written by another SDK)."""
    first_ns: int
    last_ns: int
    records: int

