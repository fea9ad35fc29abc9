"""Built-in checks: the exchange answers, market data is fresh, the main loop beats."""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from otel_trading.health import _heartbeat, _market_data
from otel_trading.health._check_types import CheckResult, is_async_callable, require_positive_seconds

# ccxt capability → method: cheap public calls that need no symbol and no credentials.
_PROBE_METHODS: Final = (("fetchTime", "fetch_time"), ("fetchStatus", "fetch_status"))
_MAX_LISTED: Final = 10


def exchange_reachable(exchange: Any, *, method: str | None = None) -> Callable[[], Any]:
    """A check that ``exchange`` answers.

    ``exchange`` is a ccxt exchange, sync or ``ccxt.async_support`` (ccxt is not imported
    here: any object with ccxt's ``has``/``fetch_time``/``fetch_status`` works). The check
    calls ``fetch_time`` (and reports the exchange clock's offset from ours, which signed
    requests are sensitive to) or, without it, ``fetch_status`` (an exchange status other
    than ``ok``, such as ``maintenance``, fails). ``method`` names another no-argument
    method. ``exchange`` may also be any callable, sync or async: the exchange is reachable
    when it returns (anything but False) without raising.
    """
    if method is None and not _looks_like_exchange(exchange):
        if not callable(exchange):
            raise TypeError(f"exchange_reachable() needs a ccxt exchange or a callable, got {type(exchange).__name__}")
        return _reachable_callable(exchange)
    label = str(getattr(exchange, "id", None) or type(exchange).__name__)
    name = method or _probe_method(exchange, label)
    call = getattr(exchange, name, None)
    if not callable(call):
        raise ValueError(f"exchange_reachable(): {label} has no method {name!r}")

    if inspect.iscoroutinefunction(call):
        async def exchange_answers_async() -> CheckResult:
            started = time.time()
            value = await call()
            return _judge(label, name, value, started, time.time())

        return exchange_answers_async

    def exchange_answers() -> CheckResult:
        started = time.time()
        value = call()
        return _judge(label, name, value, started, time.time())

    return exchange_answers


def _looks_like_exchange(obj: Any) -> bool:
    return isinstance(getattr(obj, "has", None), Mapping) and any(
        callable(getattr(obj, method, None)) for _, method in _PROBE_METHODS
    )


def _probe_method(exchange: Any, label: str) -> str:
    has: Mapping[str, Any] = exchange.has
    for capability, method in _PROBE_METHODS:
        if has.get(capability) and callable(getattr(exchange, method, None)):
            return method
    raise ValueError(
        f"exchange_reachable(): {label} supports neither fetchTime nor fetchStatus; pass method=... or a "
        f"callable, e.g. exchange_reachable(lambda: exchange.fetch_ticker('BTC/USDT'))"
    )


def _judge(label: str, method: str, value: Any, started: float, ended: float) -> CheckResult:
    if method == "fetch_time" and isinstance(value, (int, float)) and not isinstance(value, bool):
        offset_ms = value - (started + ended) / 2 * 1000
        if math.isfinite(offset_ms):
            return CheckResult(True, f"{label} fetch_time ok, exchange clock offset {round(offset_ms):+d} ms")
    if method == "fetch_status" and isinstance(value, Mapping):
        status = value.get("status")
        if status not in (None, "ok"):
            eta = value.get("eta")
            return CheckResult(False, f"{label} status is {status}" + (f" (eta {eta})" if eta else ""))
    return CheckResult(value is not False, f"{label} {method} {'ok' if value is not False else 'returned False'}")


def _reachable_callable(call: Callable[[], Any]) -> Callable[[], Any]:
    if is_async_callable(call):
        async def answers_async() -> bool:
            return await call() is not False

        return answers_async

    def answers() -> bool:
        return call() is not False

    return answers


def market_data_fresh(max_age_s: float, symbols: Iterable[str] | None = None) -> Callable[[], CheckResult]:
    """A check that market data arrived within ``max_age_s`` seconds.

    It judges the symbols given (each must have been marked at least once), or, without
    ``symbols``, every symbol marked so far (at least one must be). Feed it with
    ``mark_market_data(symbol)`` wherever ticks, books or trades arrive.
    """
    require_positive_seconds(max_age_s, "max_age_s")
    wanted = None if symbols is None else tuple(symbols)
    if wanted is not None and not wanted:
        raise ValueError("market_data_fresh(): symbols is empty; pass None to judge every marked symbol")

    def market_data_is_fresh() -> CheckResult:
        ages = _market_data.ages()
        if wanted is None:
            if not ages:
                return CheckResult(False, "no market data received yet")
            judged = ages
            missing: list[str] = []
        else:
            judged = {symbol: ages[symbol] for symbol in wanted if symbol in ages}
            missing = [symbol for symbol in wanted if symbol not in ages]
        stale = sorted(((age, symbol) for symbol, age in judged.items() if age > max_age_s), reverse=True)
        problems = []
        if stale:
            problems.append(f"stale (> {max_age_s:g}s): " + _listed(f"{s} {a:.1f}s" for a, s in stale))
        if missing:
            problems.append("no data yet: " + _listed(missing))
        if problems:
            return CheckResult(False, "; ".join(problems))
        oldest = max(judged.values())
        return CheckResult(True, f"{len(judged)} symbol(s), oldest update {oldest:.1f}s ago")

    return market_data_is_fresh


def heartbeat_fresh(max_age_s: float) -> Callable[[], CheckResult]:
    """A check that ``otel_trading.heartbeat()`` was called within ``max_age_s`` seconds.

    Meant as a liveness check: the bot's main loop calls ``heartbeat()`` each cycle, and a
    loop that stopped beating gets the process restarted. Until the first beat, the age is
    counted from the check's creation, so a bot that starts slowly is not killed at once.
    """
    require_positive_seconds(max_age_s, "max_age_s")
    created = time.time()

    def heartbeat_is_fresh() -> CheckResult:
        last = _heartbeat.last_heartbeat()
        age = time.time() - (created if last is None else last)
        if last is None:
            if age > max_age_s:
                return CheckResult(False, f"no heartbeat in the {age:.1f}s since the check was created "
                                          f"(max {max_age_s:g}s)")
            return CheckResult(True, "no heartbeat yet")
        if age > max_age_s:
            return CheckResult(False, f"last heartbeat {age:.1f}s ago (max {max_age_s:g}s)")
        return CheckResult(True, f"last heartbeat {age:.1f}s ago")

    return heartbeat_is_fresh


def _listed(items: Iterable[str]) -> str:
    values = list(items)
    shown = ", ".join(values[:_MAX_LISTED])
    return shown if len(values) <= _MAX_LISTED else f"{shown} and {len(values) - _MAX_LISTED} more"
