"""Durations as Prometheus writes them: ``90s``, ``5m``, ``1h30m``, ``250ms``, ``1d``, ``1w``."""

from __future__ import annotations

import math
import re
from typing import Final

_PART: Final = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_SECONDS: Final = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
# Prometheus and Alertmanager hold durations in int64 nanoseconds (at most ~292 years); ten
# years is longer than any alerting delay means and exports as a duration both accept.
MAX_SECONDS: Final = 10 * 31536000
MAX_TEXT: Final = "10y"


def parse_duration(value: object) -> float:
    """Seconds from ``"1h30m"`` or a number of seconds; ValueError naming the expected form."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 30s, 5m or 1h30m, got {value!r}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"expected a duration ≥ 0, got {value!r}")
        return _bounded(float(value), value)
    text = str(value).strip()
    position = 0
    total = 0.0
    for match in _PART.finditer(text):
        if match.start() != position:
            break
        total += float(match.group(1)) * _SECONDS[match.group(2)]
        position = match.end()
    if not text or position != len(text):
        raise ValueError(f"expected a duration like 30s, 5m or 1h30m, got {value!r}")
    return _bounded(total, value)


def _bounded(seconds: float, value: object) -> float:
    if seconds > MAX_SECONDS:
        shown = value if len(str(value)) <= 40 else f"{str(value)[:40]}…"
        raise ValueError(f"expected a duration of at most {MAX_TEXT}, got {shown!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """The Prometheus spelling of ``seconds`` (``0s``, ``90s`` → ``1m30s``, ``0.25`` → ``250ms``)."""
    milliseconds = round(seconds * 1000)
    if milliseconds == 0:
        return "0s"
    parts = []
    for unit in ("w", "d", "h", "m", "s", "ms"):
        size = round(_SECONDS[unit] * 1000)
        count, milliseconds = divmod(milliseconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
