"""Converters for channel fields read from YAML: each returns the value or raises ValueError.

The messages say what was expected and what kind of value came instead - never the value
itself, which for credential fields would be the secret.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from otel_trading.alerts._duration import parse_duration
from otel_trading.alerts._yaml import kind_of
from otel_trading.alerts.channels._base import RateLimit

Converter = Callable[[Any], Any]


def text(example: str) -> Converter:
    def convert(value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise ValueError(f"expected a non-empty string like {example}, got {kind_of(value)}")
        return value
    return convert


def integer(minimum: int, example: str) -> Converter:
    def convert(value: Any) -> int:
        if isinstance(value, str) and value.strip().isdigit():  # ${ENV} substitutions arrive as strings
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"expected a whole number ≥ {minimum} like {example}, got {kind_of(value)}")
        return value
    return convert


def boolean(value: Any) -> bool:
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {kind_of(value)}")
    return value


def duration(value: Any) -> float:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError("expected a duration > 0 like 10s or 1m")
    return seconds


def rate(value: Any) -> RateLimit:
    if not isinstance(value, str):
        raise ValueError(f"expected a rate like 20/min, 1/s or 100/hour, got {kind_of(value)}")
    return RateLimit.parse(value)


def choice(*options: str) -> Converter:
    def convert(value: Any) -> str:
        if value not in options:
            got = repr(value) if isinstance(value, str) else kind_of(value)
            raise ValueError(f"expected one of {', '.join(options)}, got {got}")
        return str(value)
    return convert


def text_list(example: str) -> Converter:
    """A string or a list of strings (``to: ops@example.com`` or ``to: [a@x, b@x]``)."""
    def convert(value: Any) -> list[str]:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items or not all(isinstance(i, str) and i for i in items):
            raise ValueError(f"expected a string or a list of strings like {example}, got {kind_of(value)}")
        return list(items)
    return convert


def text_map(example: str) -> Converter:
    def convert(value: Any) -> dict[str, str]:
        if not isinstance(value, dict) or not all(isinstance(v, (str, int, float)) for v in value.values()):
            raise ValueError(f"expected a mapping of names to strings like {example}, got {kind_of(value)}")
        return {str(k): str(v) for k, v in value.items()}
    return convert


def chat_id(value: Any) -> int | str:
    """A Telegram chat: a (possibly negative) number, or ``@channelname``."""
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.startswith("@") and len(value) > 1:
        return value
    raise ValueError(f"expected a chat id like -1001234567890 or @channelname, got {kind_of(value)}")
