"""Where the freqtrade integration attaches, with no change to the user's strategy.

- ``StrategyResolver.load_strategy`` (the one place backtesting, dry-run and live get their
  strategy from) is wrapped; the strategy *instance* it returns gets its public callbacks
  ``bot_start``, ``bot_loop_start`` (protections locking every pair, live and dry-run) and
  ``order_filled`` wrapped (an instance attribute shadows the user's method;
  ``IStrategy.check_override`` looks at the class, so it is not fooled).
- ``LocalTrade.close`` (public, inherited by the persisted ``Trade``): the only point where both
  backtesting and dry-run have the closed trade's profit and exit reason.
- ``RPCManager.send_msg`` (dry-run/live): the bot's state (running/paused/stopped).
- ``Exchange.__init__``: freqtrade's ccxt instances are marked so the ccxt instrumentation does
  not record freqtrade's orders a second time (they are recorded here, from freqtrade's own
  ``Order``s, with freqtrade's trade id).

Every hook runs after freqtrade's (or the user's) own code, is :func:`guarded` (a failure is
counted in ``otel_trading.instrumentation.failures{where}``, never raised) and returns what the
wrapped function returned.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import Any, Final

from otel_trading.instrumentation._hooks import MethodPatch, guarded, wrap_method
from otel_trading.instrumentation.ccxt._orders import leave_orders_to_caller
from otel_trading.instrumentation.freqtrade._observer import TRADES

_WRAPPED_CALLBACK: Final = "__otel_trading_callback__"


@guarded("freqtrade bot_start")
def on_bot_start(strategy: Any) -> None:
    config = getattr(strategy, "config", None) or {}
    wallets = getattr(strategy, "wallets", None)  # set by freqtrade before bot_start, in every mode
    balance = wallets.get_starting_balance() if wallets is not None else None
    TRADES.get().start_run(str(strategy.get_strategy_name()), config, balance)


_LIVE_MODES: Final = frozenset({"live", "dry_run"})


def _is_live(strategy: Any) -> bool:
    """Dry-run or live: a bot whose state is worth reporting (a backtest's locks are simulated time)."""
    config = getattr(strategy, "config", None) or {}
    mode = config.get("runmode")
    return getattr(mode, "value", mode) in _LIVE_MODES


@guarded("freqtrade bot_loop_start")
def on_bot_loop(current_time: Any) -> None:
    pair_locks = importlib.import_module("freqtrade.persistence").PairLocks
    TRADES.get().global_lock(bool(pair_locks.is_global_lock(current_time)))


@guarded("freqtrade order_filled")
def on_order_filled(ft_trade: Any) -> None:
    TRADES.get().sync(ft_trade)


@guarded("freqtrade trade close")
def on_trade_closed(ft_trade: Any) -> None:
    TRADES.get().sync(ft_trade)


@guarded("freqtrade rpc message")
def on_rpc_message(message: Any) -> None:
    kind = message.get("type") if isinstance(message, dict) else None
    if getattr(kind, "value", kind) == "status":
        status = message.get("status")
        if isinstance(status, str):
            TRADES.get().bot_state(status)


@guarded("freqtrade exchange")
def on_exchange(exchange: Any) -> None:
    for name in ("_api", "_api_async", "_ws_async"):
        api = getattr(exchange, name, None)
        if api is not None:
            leave_orders_to_caller(api)


def _wrap_callback(strategy: Any, name: str, after: Callable[..., None]) -> None:
    user_callback = getattr(strategy, name)
    if getattr(user_callback, _WRAPPED_CALLBACK, False):
        return

    @functools.wraps(user_callback)  # freqtrade names a failing callback by its __name__
    def callback(*args: Any, **kwargs: Any) -> Any:
        result = user_callback(*args, **kwargs)  # the user's exception goes to freqtrade's own wrapper
        after(**kwargs)  # freqtrade passes every callback argument by keyword
        return result

    setattr(callback, _WRAPPED_CALLBACK, True)
    setattr(strategy, name, callback)


@guarded("freqtrade strategy")
def observe_strategy(strategy: Any) -> None:
    """Wraps the callbacks of one strategy instance (idempotent)."""
    _wrap_callback(strategy, "bot_start", lambda **_: on_bot_start(strategy))
    _wrap_callback(strategy, "order_filled", lambda trade=None, **_: on_order_filled(trade))
    if _is_live(strategy):  # not in a backtest's loop over every candle
        _wrap_callback(strategy, "bot_loop_start", lambda current_time=None, **_: on_bot_loop(current_time))


def install() -> list[Callable[[], None]]:
    """Patches freqtrade; returns the undo of each patch."""
    resolver = importlib.import_module("freqtrade.resolvers").StrategyResolver
    persistence = importlib.import_module("freqtrade.persistence")
    rpc_manager = importlib.import_module("freqtrade.rpc.rpc_manager").RPCManager
    exchange = importlib.import_module("freqtrade.exchange.exchange").Exchange
    undo: list[Callable[[], None]] = []

    original_load = resolver.__dict__["load_strategy"].__func__
    if not getattr(original_load, _WRAPPED_CALLBACK, False):
        @functools.wraps(original_load)
        def load_strategy(*args: Any, **kwargs: Any) -> Any:
            strategy = original_load(*args, **kwargs)
            observe_strategy(strategy)
            return strategy

        setattr(load_strategy, _WRAPPED_CALLBACK, True)
        resolver.load_strategy = staticmethod(load_strategy)
        undo.append(lambda: setattr(resolver, "load_strategy", staticmethod(original_load)))

    def after(hook: Callable[..., None], pick: Callable[..., Any]) -> Callable[[Callable[..., Any]], Any]:
        def make_wrapper(original: Callable[..., Any]) -> Callable[..., Any]:
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                result = original(*args, **kwargs)
                hook(pick(*args, **kwargs))
                return result

            return wrapper

        return make_wrapper

    patches: list[MethodPatch | None] = [
        wrap_method(persistence.LocalTrade, "close", after(on_trade_closed, lambda self, *_a, **_k: self)),
        wrap_method(rpc_manager, "send_msg", after(on_rpc_message, lambda _self, msg, *_a, **_k: msg)),
        wrap_method(exchange, "__init__", after(on_exchange, lambda self, *_a, **_k: self)),
    ]
    undo += [patch.undo for patch in patches if patch is not None]
    return undo


__all__ = ["install", "observe_strategy"]
