"""The log line's ``timestamp`` field (logs/_processors.py ``_timestamp``): ISO 8601 UTC with
microseconds for any time a backtest may give, formatted from a per-day cache."""

from __future__ import annotations

import datetime as dt
import random

from otel_trading.logs._processors import _timestamp


def _expected(ns: int) -> str:
    micros = ns // 1000
    second = dt.datetime.fromtimestamp(micros // 10**6, dt.timezone.utc)
    return f"{second:%Y-%m-%dT%H:%M:%S}.{micros % 10**6:06d}Z"


def test_simulated_times_in_any_order_format_as_datetime_does() -> None:
    rnd = random.Random(15)  # noqa: S311 - test data, not secrets
    edges = [0, -1, -1_000_000_001, 86_399_999_999_999, 86_400_000_000_000, 951_782_400 * 10**9,  # 2000-02-29
             1_704_067_199_999_999_999, 1_704_067_200_000_000_000, 253_402_300_799 * 10**9]  # 9999-12-31
    minutes = [1_704_067_200 * 10**9 + step * 60 * 10**9 + 123_456_789 for step in range(3000)]  # 5-minute bars
    shuffled = [rnd.randrange(-2 * 10**18, 4 * 10**18) for _ in range(5000)]
    for ns in edges + minutes + shuffled + edges:
        assert _timestamp(ns) == _expected(ns), ns
