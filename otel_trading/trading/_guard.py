"""Lifecycle calls are made from the bot's own code paths: they must never raise into them."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec

from otel_trading.tracing._operation import report_instrumentation_failure

_P = ParamSpec("_P")


def never_raises(method: Callable[_P, None]) -> Callable[_P, None]:
    """Reports (once per method) and swallows a failure inside a telemetry-only call."""
    where = method.__qualname__

    @functools.wraps(method)
    def guarded(*args: _P.args, **kwargs: _P.kwargs) -> None:
        try:
            method(*args, **kwargs)
        except Exception:  # noqa: BLE001 - telemetry must not stop a trade
            report_instrumentation_failure(where)

    return guarded
