"""``otel_trading.alerts.start()``: one call from an alerting file (or rules) to a running engine."""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from otel_trading._state import Slot
from otel_trading.alerts._config import AlertConfig, default_rules, load_config
from otel_trading.alerts._engine import AlertEngine, Collect, collect_current
from otel_trading.alerts._paths import file_path
from otel_trading.alerts._routing import Route, Router
from otel_trading.alerts._rules import Rule
from otel_trading.alerts.channels import Channel, ConsoleChannel, Dispatcher, build_channel

_LOCK = threading.Lock()
Running = list[tuple[AlertEngine, Dispatcher]]


def _stop_all(running: Running, timeout: float = 5.0) -> None:
    with _LOCK:
        engines = list(running)
        running.clear()
    for engine, dispatcher in engines:
        engine.stop(timeout)
        dispatcher.close(timeout)


def _forget_in_child(running: Running) -> None:
    # The engines' threads stay in the parent: a forked child neither runs them nor delivers,
    # at its exit, the alerts the parent has queued, nor overwrites the parent's state file.
    running.clear()


_RUNNING: Final[Slot[Running]] = Slot("running alert engines", list, release=_stop_all, after_fork=_forget_in_child)
"""The engines ``start()`` started; an isolated block (``testing.capture()``) stops its own at its end."""


def build_engine(config: AlertConfig, *, channels: Mapping[str, Channel] | None = None,
                 collect: Collect = collect_current, clock: Callable[[], float] = time.time,
                 dispatcher: Dispatcher | None = None) -> tuple[AlertEngine, Dispatcher]:
    """The engine and dispatcher for ``config`` (not started): channels built, routes checked."""
    given = dict(channels or {})
    built = {name: build_channel(name, spec, source=config.source)
             for name, spec in config.channels.items() if name not in given}
    everything: dict[str, Channel] = {**built, **given}
    targets = [name for route in config.routes for name in route.channels]
    targets += [name for escalation in config.escalations for name in escalation.channels]
    for name in targets:
        if name not in everything:
            if name != "console":
                raise ValueError(f"route sends to channel {name!r}, which is not defined")
            everything[name] = ConsoleChannel(name)
    if dispatcher is None:
        dispatcher = Dispatcher(dead_letter_path=config.dead_letter_file)
    for name, channel in everything.items():
        if name not in dispatcher.channels:
            dispatcher.add(channel)
    router = Router(config.routes, dispatcher.submit, list(config.silences), config.inhibitions, config.escalations)
    engine = AlertEngine(config.rules, router, interval_s=config.interval_s, collect=collect, clock=clock,
                         state_file=config.state_file)
    return engine, dispatcher


def start(config: str | os.PathLike[str] | AlertConfig | None = None, *, rules: Sequence[Rule] = (),
          default_pack: bool = False, overrides: Mapping[str, Mapping[str, Any]] | None = None,
          channels: Mapping[str, Channel] | None = None, interval: float | None = None,
          state_file: str | os.PathLike[str] | None = None, routes: Sequence[Route] | None = None) -> AlertEngine:
    """Starts evaluating alert rules on this process's metrics, in the background.

    ``config``: an alerting YAML file (see docs/alerts.md) or an ``AlertConfig``; ``rules``
    are added to it, ``default_pack=True`` adds the shipped trading rules (``overrides``
    adjusts them by name). Without channels, alerts go to the console (stderr). Raises
    ``RulesError`` for a bad file, before anything starts. Stopped by ``stop()`` or at exit.
    """
    if isinstance(config, AlertConfig):
        resolved = config
    elif config is not None:
        resolved = load_config(config)
    else:
        resolved = AlertConfig()
    names = {rule.name for rule in [*resolved.rules, *rules]}
    pack = [r for r in default_rules(overrides) if r.name not in names] if default_pack else []
    resolved.rules = [*pack, *resolved.rules, *rules]
    if routes is not None:
        resolved.routes = list(routes)
    elif not resolved.routes:
        resolved.routes = [Route(tuple(channels or {}) or ("console",))]
    if interval is not None:
        resolved.interval_s = interval
    if state_file is not None:
        try:
            resolved.state_file = file_path(state_file)
        except ValueError as exc:
            raise ValueError(f"state_file: {exc}") from None
    engine, dispatcher = build_engine(resolved, channels=channels)
    with _LOCK:
        _RUNNING.get().append((engine, dispatcher))
    return engine.start()


def stop(timeout: float = 5.0) -> None:
    """Stops every engine ``start()`` started and delivers what is queued (bounded by ``timeout``)."""
    _stop_all(_RUNNING.get(), timeout)


atexit.register(stop)
