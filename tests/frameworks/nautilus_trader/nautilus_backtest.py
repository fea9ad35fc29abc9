"""A real nautilus_trader backtest, fully offline: synthetic EUR/USD 1-minute bars, the bundled
EMACross strategy, a SIM venue with a MARGIN account (from the research notes' nt_offline.py).
Shared by the tests and benchmarks/frameworks/bench_nautilus_trader.py."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pandas as pd
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.config import LoggingConfig, StrategyConfig
from nautilus_trader.examples.strategies.ema_cross import EMACross, EMACrossConfig
from nautilus_trader.model.currencies import USD
from nautilus_trader.model.data import BarType
from nautilus_trader.model.enums import AccountType, OmsType, OrderSide
from nautilus_trader.model.identifiers import Venue
from nautilus_trader.model.objects import Money, Quantity
from nautilus_trader.persistence.wranglers import BarDataWrangler
from nautilus_trader.test_kit.providers import TestInstrumentProvider
from nautilus_trader.trading.strategy import Strategy

VENUE = Venue("SIM")
STARTING_BALANCE = 1_000_000
_UUID_SUFFIX = r"-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
_BARS: dict[tuple[int, int], list[Any]] = {}


def bars(instrument: Any, bar_type: Any, count: int, seed: int = 7) -> list[Any]:
    """A seeded random walk with a slow sine drift, so that the EMAs cross often."""
    key = (count, seed)
    if key not in _BARS:
        rnd = random.Random(seed)  # noqa: S311 - test data
        index = pd.date_range("2024-01-01", periods=count, freq="1min", tz="UTC")
        price, rows = 1.1000, []
        for i in range(count):
            opened = price
            price = max(0.5, price * math.exp(rnd.gauss(0, 0.0005) + 0.0003 * math.sin(i / 40)))
            rows.append((opened, max(opened, price) + 0.00005, min(opened, price) - 0.00005, price, 1_000_000.0))
        frame = pd.DataFrame(rows, index=index, columns=["open", "high", "low", "close", "volume"])
        _BARS[key] = BarDataWrangler(bar_type, instrument).process(frame)
    return _BARS[key]


class RefusedOrders(Strategy):  # type: ignore[misc]
    """On its 3rd bar: a limit buy 10% below the market (cancelled on the 10th bar), a market
    order too big for the risk engine (denied), and a post-only buy above the market (rejected
    by the venue). None of them ever fills."""

    def __init__(self, instrument_id: Any, bar_type: Any) -> None:
        super().__init__(StrategyConfig(strategy_id="Refused-001"))
        self.instrument_id = instrument_id
        self.bar_type = bar_type
        self.bars = 0
        self.resting: Any = None

    def on_start(self) -> None:
        self.subscribe_bars(self.bar_type)

    def on_bar(self, bar: Any) -> None:
        self.bars += 1
        instrument = self.cache.instrument(self.instrument_id)
        close = float(bar.close)
        if self.bars == 3:
            self.resting = self.order_factory.limit(self.instrument_id, OrderSide.BUY, instrument.make_qty(1000),
                                                    instrument.make_price(close * 0.9))
            self.submit_order(self.resting)
            self.submit_order(self.order_factory.market(self.instrument_id, OrderSide.BUY, Quantity.from_int(10**9)))
            self.submit_order(self.order_factory.limit(self.instrument_id, OrderSide.BUY, instrument.make_qty(1000),
                                                       instrument.make_price(close * 1.1), post_only=True))
        elif self.bars == 10:
            self.cancel_order(self.resting)


def build_engine(count: int = 2_000, oms: str = "NETTING", refused: bool = False, close_on_stop: bool = True
                 ) -> BacktestEngine:
    """The user's unchanged script: nothing in it mentions otel-trading. ``close_on_stop=False``
    leaves EMACross' last position open at the end."""
    engine = BacktestEngine(BacktestEngineConfig(logging=LoggingConfig(log_level="ERROR")))
    engine.add_venue(venue=VENUE, oms_type=getattr(OmsType, oms), account_type=AccountType.MARGIN,
                     base_currency=USD, starting_balances=[Money(STARTING_BALANCE, USD)])
    instrument = TestInstrumentProvider.default_fx_ccy("EUR/USD", VENUE)
    engine.add_instrument(instrument)
    bar_type = BarType.from_str("EUR/USD.SIM-1-MINUTE-MID-EXTERNAL")
    engine.add_data(bars(instrument, bar_type, count))
    engine.add_strategy(EMACross(EMACrossConfig(instrument_id=instrument.id, bar_type=bar_type,
                                                trade_size=Decimal(100_000), request_bars=False,
                                                close_positions_on_stop=close_on_stop)))
    if refused:
        engine.add_strategy(RefusedOrders(instrument.id, bar_type))
    return engine


@dataclass(frozen=True)
class Reports:
    """nautilus' own numbers for a finished run."""

    orders: pd.DataFrame
    fills: pd.DataFrame
    positions: pd.DataFrame
    account: pd.DataFrame

    @property
    def closed_positions(self) -> pd.DataFrame:
        return self.positions[self.positions["ts_closed"].notna()]

    @property
    def realized_pnl(self) -> float:
        return sum(float(str(value).split()[0]) for value in self.closed_positions["realized_pnl"])

    @property
    def final_balance(self) -> float:
        return float(self.account["total"].iloc[-1])

    def comparable(self) -> tuple[str, ...]:
        """The reports as text, for comparing two runs of the same backtest. Left out: the random
        UUIDs nautilus gives each event (``init_id``, ``event_id``); the positions report's rows
        are in no fixed order under NETTING (one position id for all cycles), so they are sorted, and
        the snapshot rows' ids end with a random UUID, left out too."""
        positions = self.positions.reset_index().sort_values(["ts_opened", "ts_last", "is_snapshot"])
        positions["position_id"] = positions["position_id"].str.replace(_UUID_SUFFIX, "", regex=True)
        frames = (self.orders.drop(columns=["init_id"]), self.fills.drop(columns=["event_id"]),
                  positions.reset_index(drop=True), self.account)
        return tuple(frame.to_csv() for frame in frames)


def reports(engine: BacktestEngine) -> Reports:
    trader = engine.trader
    return Reports(trader.generate_orders_report(), trader.generate_fills_report(),
                   trader.generate_positions_report(), trader.generate_account_report(VENUE))


def run(count: int = 2_000, oms: str = "NETTING", actor: Any = None, refused: bool = False,
        close_on_stop: bool = True) -> tuple[Reports, BacktestEngine]:
    """Builds, runs and disposes of one engine; ``actor``: one added by hand before the run."""
    engine = build_engine(count, oms, refused, close_on_stop)
    if actor is not None:
        engine.add_actor(actor)
    engine.run()
    result = reports(engine)
    engine.dispose()
    return result, engine
