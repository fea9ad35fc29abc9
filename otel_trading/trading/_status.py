"""The bot's trading state (nautilus_trader's ACTIVE / REDUCING / HALTED): the circuit breaker."""

from __future__ import annotations

import collections
import enum
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Final, NamedTuple

from otel_trading._state import Slot
from otel_trading.logs import get_logger
from otel_trading.metrics._local import Attributes, observe_process_gauge
from otel_trading.tracing._operation import report_instrumentation_failure
from otel_trading.trading import _names as n
from otel_trading.trading._metrics import GUARD, local_counter

_LOG = get_logger("otel_trading.trading")
_STDLIB_LOG = logging.getLogger("otel_trading.trading")


class TradingState(str, enum.Enum):
    ACTIVE = "active"
    """Trading normally."""
    REDUCING = "reducing"
    """Only orders that reduce exposure."""
    HALTED = "halted"
    """No new orders (cancels still pass): the circuit breaker tripped."""


StateChangeHook = Callable[[TradingState, TradingState, "str | None", str], object]
"""``hook(previous, state, reason, source)``: called after each change of the trading state."""
HISTORY_LENGTH: Final = 100


class StateChange(NamedTuple):
    time_ns: int
    previous: TradingState
    state: TradingState
    reason: str | None
    source: str


class _StateHolder:
    def __init__(self) -> None:
        self.state = TradingState.ACTIVE
        self.reason: str | None = None
        self.source = "bot"
        self.since_ns = time.time_ns()
        self.history: collections.deque[StateChange] = collections.deque(maxlen=HISTORY_LENGTH)
        self.hooks: list[StateChangeHook] = []
        self.lock = threading.Lock()

    def observe(self) -> Iterator[tuple[Attributes, float]]:
        current = self.state
        for state in TradingState:
            yield {n.STATE_ATTR: state.value}, 1.0 if state is current else 0.0


class HookHandle:
    """Returned by ``on_trading_state_change()``; ``remove()`` unregisters the hook."""

    def __init__(self, holder: _StateHolder, hook: StateChangeHook) -> None:
        self._holder = holder
        self._hook = hook

    def remove(self) -> bool:
        with self._holder.lock:
            if self._hook in self._holder.hooks:
                self._holder.hooks.remove(self._hook)
                return True
        return False


_HOLDER: Final = Slot("trading state", _StateHolder)
observe_process_gauge(n.TRADING_STATE, lambda: _HOLDER.get().observe(), "1",
                      "1 for the current trading state, 0 for the others")


def trading_state() -> TradingState:
    """The current trading state (``active`` until something changes it)."""
    return _HOLDER.get().state


def trading_state_details() -> tuple[TradingState, str | None, str, int, list[StateChange]]:
    """(state, reason, source, since_ns, the latest changes oldest first): what the console shows."""
    holder = _HOLDER.get()
    with holder.lock:
        return holder.state, holder.reason, holder.source, holder.since_ns, list(holder.history)


def on_trading_state_change(hook: StateChangeHook) -> HookHandle:
    """Calls ``hook(previous, state, reason, source)`` after each change of the trading state.

    This is where the bot decides what a state means (cancel open orders on ``halted``, ...),
    whoever changed it: the bot itself, an alert action or a person on the console's kill
    switch (``source="console"``). Hooks run on the thread that made the change, in the order
    registered; one that raises is logged and the others still run. ``handle.remove()`` ends it.
    """
    if not callable(hook):
        raise TypeError(f"on_trading_state_change: expected a callable, got {type(hook).__name__}")
    holder = _HOLDER.get()
    with holder.lock:
        holder.hooks.append(hook)
    return HookHandle(holder, hook)


def set_trading_state(state: TradingState | str, reason: str | None = None, *, source: str = "bot") -> TradingState:
    """Moves the bot to ``state``; a move to ``halted`` counts a circuit-breaker trip.

    Returns the previous state. ``source`` says who changed it (``bot``, ``console``, an alert
    action...). The bot setting the state it is already in changes nothing; any other source is
    always recorded, with ``previous == state`` when unchanged (a person's halt on top of the
    breaker's must outlast it). A change is logged (warning) and traced (a ``trading.state_change`` span with
    the previous and new state, reason and source), the gauge ``trading.state`` follows, and the
    hooks of ``on_trading_state_change()`` run. Your order path decides what each state allows.
    """
    new = TradingState(state)
    holder = _HOLDER.get()
    with holder.lock:
        previous = holder.state
        changed = new is not previous
        # The bot repeating its own state is no news; anyone else saying it (a person on the kill
        # switch while the breaker already halted) is a decision the hooks must see and keep.
        recorded = changed or source != "bot"
        if recorded:
            holder.state, holder.reason, holder.source = new, reason, source
            now_ns = time.time_ns()
            if changed:
                holder.since_ns = now_ns  # since when in this state: a confirmation does not restart it
            holder.history.append(StateChange(now_ns, previous, new, reason, source))
        hooks = list(holder.hooks) if recorded else []
    if recorded:
        if changed and new is TradingState.HALTED:  # a trip is a move into halted, not a repeat of it
            from otel_trading._state import STATE

            local_counter(STATE.local_metrics, n.CIRCUIT_BREAKER_TRIPS).add(
                1, {n.STATE_REASON: GUARD.get().admit(n.STATE_REASON, reason or "unspecified")}
            )
        _trace_change(previous, new, reason, source)
        _LOG.warning("trading state changed", previous=previous.value, state=new.value, reason=reason, source=source)
        for hook in hooks:
            try:
                hook(previous, new, reason, source)
            except Exception:  # noqa: BLE001 - one failing hook must not stop the others, nor the change
                _STDLIB_LOG.exception("trading state hook %s failed on %s -> %s", _name(hook), previous.value,
                                      new.value)
    return previous


def _trace_change(previous: TradingState, new: TradingState, reason: str | None, source: str) -> None:
    from otel_trading._state import STATE

    try:
        attributes = {"trading.state.previous": previous.value, n.STATE_ATTR: new.value,
                      "trading.state.source": source}
        if reason is not None:
            attributes[n.STATE_REASON] = reason
        STATE.tracer.start_span("trading.state_change", attributes=attributes).end()
    except Exception:  # noqa: BLE001 - tracing the change must not stop it
        report_instrumentation_failure("trading state span")


def _name(hook: object) -> str:
    return getattr(hook, "__qualname__", None) or type(hook).__name__
