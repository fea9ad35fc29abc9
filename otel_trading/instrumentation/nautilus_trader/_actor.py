"""The observer Actor: subscribes to a trader's order and position events, as nautilus' own
risk engine and portfolio do, and records them (``_recorder``). Imports nautilus_trader."""

from __future__ import annotations

from typing import Any, Final

from nautilus_trader.common.actor import Actor
from nautilus_trader.common.config import ActorConfig

from otel_trading.instrumentation._hooks import guarded
from otel_trading.instrumentation.nautilus_trader._recorder import EventRecorder

TOPICS: Final = ("events.order.*", "events.position.*")
DEFAULT_ID: Final = "OtelTradingActor"


class OtelTradingActorConfig(ActorConfig, frozen=True):  # type: ignore[misc,call-arg]  # nautilus is Any to mypy (pyproject)
    """The Actor's configuration (for ``ImportableActorConfig`` in a ``TradingNodeConfig``)."""

    component_id: str = DEFAULT_ID


class OtelTradingActor(Actor):  # type: ignore[misc]  # nautilus is Any to mypy (pyproject)
    """Records every strategy's orders, fills and positions of the trader it is added to.

    ``configure(instrument=["nautilus_trader"])`` adds one to every ``BacktestEngine`` and
    ``TradingNode``. Without it: ``engine.add_actor(OtelTradingActor())`` or
    ``node.trader.add_actor(OtelTradingActor())`` before the run (docs/frameworks/nautilus_trader.md).
    """

    def __init__(self, config: OtelTradingActorConfig | None = None) -> None:
        super().__init__(config or OtelTradingActorConfig())
        self.automatic = False
        """True for the one ``configure(instrument=...)`` attached: an Actor added by hand replaces it."""
        self._recorder: EventRecorder | None = None
        self._subscribed: Any = None  # the handler on the bus (the same object must be unsubscribed)

    @property
    def open_trades(self) -> int:
        """Positions open now, each an open trade."""
        return 0 if self._recorder is None else self._recorder.open_trades()

    @guarded("nautilus_trader on_start")
    def on_start(self) -> None:
        if self._subscribed is not None:  # a second run after reset(): still subscribed
            return
        self._recorder = EventRecorder(self.cache)
        self._subscribed = self._recorder.on_event
        for topic in TOPICS:
            self.msgbus.subscribe(topic=topic, handler=self._subscribed)

    # Unsubscribing in on_stop would miss the last fills and closes: Trader.stop() stops the
    # actors BEFORE the strategies, which close their positions in their own on_stop.
    @guarded("nautilus_trader on_dispose")
    def on_dispose(self) -> None:
        if self._subscribed is not None:
            for topic in TOPICS:
                self.msgbus.unsubscribe(topic=topic, handler=self._subscribed)
            self._subscribed = None
        if self._recorder is not None:
            self._recorder.finish()

    @guarded("nautilus_trader on_reset")
    def on_reset(self) -> None:
        if self._recorder is not None:
            self._recorder.finish(new_run=True)  # a new run: trades of the last one end, state starts afresh


__all__ = ["OtelTradingActor", "OtelTradingActorConfig"]
