"""The bot's trading state (nautilus_trader's ACTIVE / REDUCING / HALTED): the circuit breaker."""

from __future__ import annotations

import enum
import threading
from collections.abc import Iterator
from typing import Final

from otel_trading._state import Slot
from otel_trading.logs import get_logger
from otel_trading.metrics._local import Attributes, observe_process_gauge
from otel_trading.trading import _names as n
from otel_trading.trading._metrics import GUARD, local_counter

_LOG = get_logger("otel_trading.trading")


class TradingState(str, enum.Enum):
    ACTIVE = "active"
    """Trading normally."""
    REDUCING = "reducing"
    """Only orders that reduce exposure."""
    HALTED = "halted"
    """No new orders (cancels still pass): the circuit breaker tripped."""


class _StateHolder:
    def __init__(self) -> None:
        self.state = TradingState.ACTIVE
        self.reason: str | None = None
        self.lock = threading.Lock()

    def observe(self) -> Iterator[tuple[Attributes, float]]:
        current = self.state
        for state in TradingState:
            yield {n.STATE_ATTR: state.value}, 1.0 if state is current else 0.0


_HOLDER: Final = Slot("trading state", _StateHolder)
observe_process_gauge(n.TRADING_STATE, lambda: _HOLDER.get().observe(), "1",
                      "1 for the current trading state, 0 for the others")


def trading_state() -> TradingState:
    """The current trading state (``active`` until something changes it)."""
    return _HOLDER.get().state


def set_trading_state(state: TradingState | str, reason: str | None = None) -> TradingState:
    """Moves the bot to ``state``; a move to ``halted`` counts a circuit-breaker trip.

    Returns the previous state. The change is logged (warning) with ``reason``; the gauge
    ``trading.state`` follows. Your order path decides what each state allows.
    """
    new = TradingState(state)
    holder = _HOLDER.get()
    with holder.lock:
        previous, holder.state, holder.reason = holder.state, new, reason
    if new is not previous:
        if new is TradingState.HALTED:
            from otel_trading._state import STATE

            local_counter(STATE.local_metrics, n.CIRCUIT_BREAKER_TRIPS).add(
                1, {n.STATE_REASON: GUARD.get().admit(n.STATE_REASON, reason or "unspecified")}
            )
        _LOG.warning("trading state changed", previous=previous.value, state=new.value, reason=reason)
    return previous
