"""Attaching the Actor to every trader with no user code. Imports nautilus_trader.

``BacktestEngine`` is a compiled type whose methods cannot be replaced, but it builds a
``NautilusKernel`` (pure Python), as ``TradingNode`` and ``BacktestNode`` do: the Actor is added
right after the kernel is built, unless the node's config already brought one. An Actor the
user adds by hand later replaces the automatic one (no duplicate id, no double recording).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nautilus_trader.system.kernel import NautilusKernel
from nautilus_trader.trading.trader import Trader

from otel_trading.instrumentation._hooks import MethodPatch, guarded, wrap_method
from otel_trading.instrumentation.nautilus_trader._actor import OtelTradingActor


@guarded("nautilus_trader attach")
def attach_to(kernel: Any) -> None:
    trader = kernel.trader
    if any(isinstance(actor, OtelTradingActor) for actor in trader.actors()):
        return
    actor = OtelTradingActor()
    actor.automatic = True
    trader.add_actor(actor)


@guarded("nautilus_trader add_actor")
def drop_automatic(trader: Any) -> None:
    for actor in trader.actors():
        if isinstance(actor, OtelTradingActor) and actor.automatic:
            trader.remove_actor(actor.id)


def _kernel_init(original: Callable[..., Any]) -> Callable[..., Any]:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        attach_to(self)

    return __init__


def _add_actor(original: Callable[..., Any]) -> Callable[..., Any]:
    def add_actor(self: Any, actor: Any) -> Any:
        if isinstance(actor, OtelTradingActor) and not actor.automatic:
            drop_automatic(self)
        return original(self, actor)

    return add_actor


def patch() -> list[MethodPatch]:
    patches = [wrap_method(NautilusKernel, "__init__", _kernel_init), wrap_method(Trader, "add_actor", _add_actor)]
    return [done for done in patches if done is not None]


__all__ = ["attach_to", "patch"]
