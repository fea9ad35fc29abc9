"""Contextvars-based correlation id and bound context.

The correlation id is created by the outermost traced operation (or taken from inbound
W3C baggage), is set as the ``correlation_id`` attribute of every span and field of every
log, and is propagated to other services as the ``correlation_id`` baggage entry.
An operation the sampler drops records no span, so nothing may ever need its id: it makes a
:class:`LazyCorrelationId` instead, taken on the first read (:func:`correlation_id`: a log
line, a child span, an injection), the same for every reader after that.
asyncio tasks copy contextvars by themselves; threads do not, hence ``with_context`` and
``ContextExecutor``.
"""

from __future__ import annotations

import contextvars
import functools
import random
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any, Final, ParamSpec, TypeVar

from opentelemetry import baggage
from opentelemetry import context as otel_context

from otel_trading._state import Slot, reset_after_fork

CORRELATION_KEY: Final = "correlation_id"

_P = ParamSpec("_P")
_R = TypeVar("_R")
_EMPTY: Final[Mapping[str, Any]] = MappingProxyType({})



class LazyCorrelationId:
    """The correlation id of an operation that has not needed it yet, taken when first read: the
    inbound one of the reader's context (the operation's, unless the code in it attached another),
    else a new one; then the same for every reader, whatever its thread or task (the object is
    shared by the contexts copied from the operation's)."""

    __slots__ = ("_value",)
    # Unset until resolved: no __init__, so making one (every outermost dropped call) is a C call.
    _value: str

    def resolve(self) -> str:
        value: str | None = getattr(self, "_value", None)
        if value is None:
            candidate = inbound_correlation_id() or new_correlation_id()
            with _RESOLVING.lock:  # two first readers at once: both get the id the first one set
                value = getattr(self, "_value", None)
                if value is None:
                    value = self._value = candidate
        return value


class _FirstReads:
    """The lock of lazy ids' first reads; a forked child makes its own (another thread of the
    parent may have held this one at the fork, for ever in the child)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def after_fork_in_child(self) -> None:
        self.lock = threading.Lock()


_RESOLVING: Final = _FirstReads()
reset_after_fork(_RESOLVING)
# What the current operation's correlation id is: None outside one. Read it with correlation_id()
# (which resolves a lazy id); operations pass the value on as it is, so a lazy id stays lazy.
CURRENT_CORRELATION: contextvars.ContextVar[str | LazyCorrelationId | None] = contextvars.ContextVar(
    "otel_trading.correlation_id", default=None
)
CURRENT_BOUND: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "otel_trading.bound", default=_EMPTY
)
# Ids need uniqueness, not unpredictability; a deterministic testing.capture() seeds its own.
CORRELATION_RANDOM: Final[Slot[random.Random]] = Slot("correlation id source", random.Random)


def correlation_id() -> str | None:
    """The correlation id of the work running in this context, if any."""
    cid = CURRENT_CORRELATION.get()
    return cid.resolve() if isinstance(cid, LazyCorrelationId) else cid


def bound_context() -> Mapping[str, Any]:
    """The key/values bound with :func:`bound` in this context (read-only)."""
    return CURRENT_BOUND.get()


def new_correlation_id() -> str:
    # The 16 hex digits of f"{bits:016x}", in a third of its time (every outermost sampled operation).
    return CORRELATION_RANDOM.get().getrandbits(64).to_bytes(8, "big").hex()


# The last context looked up and its inbound id: contexts are immutable, and a bot's top-level
# operations mostly start in the same one (the root context, or one request's extracted context).
_inbound_seen: tuple[otel_context.Context | None, str | None] = (None, None)


def inbound_correlation_id(ctx: otel_context.Context | None = None) -> str | None:
    """The ``correlation_id`` entry of the W3C baggage in ``ctx`` (default: the current context)."""
    global _inbound_seen  # a one-entry cache, replaced whole (one atomic store)
    if ctx is None:
        ctx = otel_context.get_current()
    seen, seen_value = _inbound_seen
    if seen is ctx:
        return seen_value
    value = baggage.get_baggage(CORRELATION_KEY, ctx)
    inbound = value if isinstance(value, str) and value else None
    _inbound_seen = (ctx, inbound)
    return inbound


@contextmanager
def bound(**context: Any) -> Iterator[Mapping[str, Any]]:
    """Binds key/values to every log emitted inside the block (and tasks/threads started from it).

    ``bound(correlation_id="...")`` also sets the correlation id, which is then propagated as
    baggage to outbound calls made inside the block.
    """
    merged = MappingProxyType({**CURRENT_BOUND.get(), **context})
    token = CURRENT_BOUND.set(merged)
    cid = context.get(CORRELATION_KEY)
    cid_token = CURRENT_CORRELATION.set(str(cid)) if cid is not None else None
    try:
        yield merged
    finally:
        if cid_token is not None:
            CURRENT_CORRELATION.reset(cid_token)
        CURRENT_BOUND.reset(token)


def with_context(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Wraps ``fn`` so it runs in a copy of the *current* context (span, correlation id,
    bound fields) wherever it is later called, e.g. on another thread."""
    ctx = contextvars.copy_context()

    @functools.wraps(fn)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        return ctx.copy().run(fn, *args, **kwargs)

    return run


def run_in_context(fn: Callable[_P, _R], /, *args: _P.args, **kwargs: _P.kwargs) -> Callable[[], _R]:
    """A zero-argument callable for ``loop.run_in_executor`` that keeps the current context."""
    ctx = contextvars.copy_context()
    return functools.partial(ctx.run, fn, *args, **kwargs)


class ContextExecutor(ThreadPoolExecutor):
    """A ThreadPoolExecutor whose tasks run in the submitter's context."""

    def submit(self, fn: Callable[..., _R], /, *args: Any, **kwargs: Any) -> Future[_R]:
        return super().submit(contextvars.copy_context().run, fn, *args, **kwargs)
