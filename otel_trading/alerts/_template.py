"""Annotation templates: ``{{ value }}``, ``{{ value | percent }}``, ``{{ labels.trading_symbol }}``.

The same text exports to Prometheus as ``{{ $value }}``, ``{{ $value | humanizePercentage }}``
and ``{{ $labels.trading_symbol }}``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Final

_PLACEHOLDER: Final = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_FIELD: Final = re.compile(r"^(value|labels\.([A-Za-z_][A-Za-z0-9_]*))(?:\s*\|\s*(percent|seconds|number))?$")
_PROMETHEUS_FILTERS: Final = {"percent": "humanizePercentage", "seconds": "humanizeDuration", "number": "humanize"}


def check_template(text: str) -> str | None:
    """None if every placeholder is understood, else a message naming the first that is not."""
    for match in _PLACEHOLDER.finditer(text):
        if not _FIELD.match(match.group(1)):
            return (f"unknown placeholder {{{{ {match.group(1)} }}}}: expected {{{{ value }}}}, "
                    "{{ labels.NAME }}, optionally followed by | percent, | seconds or | number")
    return None


def _format_number(value: float, style: str | None) -> str:
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if style == "percent":
        return f"{value * 100:.4g}%"
    if style == "seconds":
        return f"{value:.4g}s"
    return f"{value:.4g}"


def render(text: str, labels: Mapping[str, str], value: float) -> str:
    def substitute(match: re.Match[str]) -> str:
        field = _FIELD.match(match.group(1))
        if field is None:
            return match.group(0)
        if field.group(2) is not None:
            return labels.get(field.group(2), "")
        return _format_number(value, field.group(3))

    return _PLACEHOLDER.sub(substitute, text)


def to_prometheus(text: str) -> str:
    def substitute(match: re.Match[str]) -> str:
        field = _FIELD.match(match.group(1))
        if field is None:
            return match.group(0)
        target = f"$labels.{field.group(2)}" if field.group(2) is not None else "$value"
        style = field.group(3)
        return f"{{{{ {target} | {_PROMETHEUS_FILTERS[style]} }}}}" if style else f"{{{{ {target} }}}}"

    return _PLACEHOLDER.sub(substitute, text)
