"""``Portfolio``: fed with fills and marks, keeps PnL, equity, exposure and drawdown gauges right.

Accounting is average-cost, in one ``base_currency`` that every traded symbol is quoted in
(``BTC/USDT``, ``ETH/USDT:USDT``): cash moves by ``-signed amount x price`` on each fill,
equity is cash plus the marked value of the positions. Updates cost a lock and a few float
operations; everything derived (gauges, rolling ratios) is computed when a reader collects.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from otel_trading._state import STATE, Slot
from otel_trading.analytics import calmar_ratio, returns_from_equity, sharpe_ratio, sortino_ratio
from otel_trading.analytics._performance import CRYPTO_PERIODS_PER_YEAR
from otel_trading.metrics._local import Attributes, observe_process_gauge
from otel_trading.metrics._names import TELEMETRY_DROPPED
from otel_trading.trading import _names as n
from otel_trading.trading._inputs import (
    Timestamp,
    canonical_side,
    finite_number,
    finite_or_zero,
    positive_number,
    side_sign_or_none,
    unix_nanos,
)

if TYPE_CHECKING:
    from otel_trading.trading._trade import Trade

_LOG = logging.getLogger("otel_trading.trading")
_DAY: Final = 86_400.0
# How many of the fills trades applied are remembered to recognise the same fill applied again by hand.
_RECENT_TRADE_FILLS: Final = 64


@dataclass(frozen=True)
class Position:
    symbol: str
    quantity: float
    """Signed: positive long, negative short, in the symbol's base asset."""
    average_price: float
    mark_price: float

    @property
    def unrealized_pnl(self) -> float:
        return self.quantity * (self.mark_price - self.average_price)

    @property
    def exposure(self) -> float:
        return abs(self.quantity * self.mark_price)


@dataclass(frozen=True)
class PortfolioSnapshot:
    """A consistent view of a portfolio at one instant (what the gauges report)."""

    name: str
    equity: float
    cash: float
    realized_pnl: float
    unrealized_pnl: float
    daily_pnl: float
    daily_pnl_ratio: float | None
    drawdown: float
    max_drawdown: float
    exposure: float
    positions: Mapping[str, Position]
    balances: Mapping[str, float]
    period_returns: tuple[float, ...]
    periods_per_year: int
    flat_symbols: tuple[str, ...] = ()
    """Symbols held at some point and flat now: their position and exposure gauges read 0."""


def _base_asset(symbol: str) -> str:
    return symbol.split("/", 1)[0]


class Portfolio:
    """Positions, cash, PnL, equity and drawdown of one account (or one strategy's book).

    ``daily_reset_hour_utc``: when the daily PnL restarts from the current equity.
    ``returns_period`` (seconds) and ``periods_per_year``: the equity sampling behind the rolling
    Sharpe/Sortino/Calmar over the last ``returns_window`` periods (default: daily, crypto's 365).
    Day and period boundaries follow ``clock`` (Unix seconds; default the wall clock) until an
    update is given a ``timestamp=``: from then on they follow the times given (a backtest's).
    """

    def __init__(self, name: str = "default", *, base_currency: str = "USDT", cash: float = 0.0,
                 daily_reset_hour_utc: int = 0, returns_period: float = _DAY,
                 periods_per_year: int = CRYPTO_PERIODS_PER_YEAR, returns_window: int = 90,
                 clock: Callable[[], float] = time.time) -> None:
        if not 0 <= daily_reset_hour_utc <= 23:
            raise ValueError(f"daily_reset_hour_utc: expected 0..23, got {daily_reset_hour_utc}")
        if returns_period <= 0 or returns_window < 2 or periods_per_year < 1:
            raise ValueError("returns_period must be > 0, returns_window >= 2 and periods_per_year >= 1")
        self.name = name
        self.base_currency = base_currency
        self.periods_per_year = periods_per_year
        self._clock = clock
        self._given_time: float | None = None
        """The latest ``timestamp=`` given (Unix seconds): the portfolio's time once it is set."""
        self._lock = threading.Lock()
        self._cash = float(cash)
        self._other: dict[str, float] = {}
        self._quantity: dict[str, float] = {}
        self._average: dict[str, float] = {}
        self._mark: dict[str, float] = {}
        self._held: set[str] = set()
        self._position_value = 0.0
        self._realized = 0.0
        self._equity = self._cash
        """The equity after the last update: at a period or day boundary, the equity in force there."""
        self._peak = self._cash
        self._max_drawdown = 0.0
        now = clock()
        self._reset_hour = daily_reset_hour_utc
        self._next_day = self._next_reset_after(now)
        self._day_start_equity = self._cash
        self._period = returns_period
        self._next_period = now + returns_period
        self._period_equity: deque[float] = deque([self._cash], maxlen=returns_window + 1)
        self._feeding_trades: dict[str, weakref.WeakSet[Trade]] = {}
        self._trade_fills: deque[tuple[str, str, float, float]] = deque(maxlen=_RECENT_TRADE_FILLS)
        self._double_fill_warned: set[str] = set()
        _PORTFOLIOS.get().add(self)

    def _next_reset_after(self, now: float) -> float:
        today_reset = (now // _DAY) * _DAY + self._reset_hour * 3600
        return today_reset if today_reset > now else today_reset + _DAY

    # -- feeding -------------------------------------------------------------------------------

    def apply_fill(self, symbol: str, side: str, amount: float, price: float, *, fee: float = 0.0,
                   fee_currency: str | None = None, timestamp: Timestamp | None = None) -> float:
        """Applies one fill (made at ``timestamp``, if given); returns the PnL it realized (net of a
        fee paid in the base currency).

        Never raises: a fill with an unknown side or an amount/price that is not a finite number
        > 0 is logged once and not applied (returns 0.0); a bad timestamp is logged once and left
        out. Fills of a ``trade(portfolio=self)`` are applied by the trade: applying them here as
        well is detected and warned about once.
        """
        given = None if timestamp is None else unix_nanos(timestamp, "timestamp", "Portfolio.apply_fill")
        return self._apply("Portfolio.apply_fill", None, symbol, side, amount=amount, price=price, fee=fee,
                           fee_currency=fee_currency, at_ns=given)

    def _apply_trade_fill(self, trade: Trade, side: str, amount: float, price: float, *, fee: float = 0.0,
                          fee_currency: str | None = None, at_ns: int | None = None) -> float:
        """Applies a fill of ``trade`` (``Order.fill`` does this for a trade given ``portfolio=``),
        made at ``at_ns`` (Unix ns, already checked; None: no time given)."""
        return self._apply("Order.fill", trade, trade.symbol, side, amount=amount, price=price, fee=fee,
                           fee_currency=fee_currency, at_ns=at_ns)

    def _apply(self, where: str, trade: Trade | None, symbol: str, side: str, *, amount: float, price: float,
               fee: float, fee_currency: str | None, at_ns: int | None) -> float:
        sign = side_sign_or_none(canonical_side(side, where))
        checked_amount = positive_number(amount, "amount", where, "the fill is not applied to the portfolio")
        checked_price = positive_number(price, "price", where, "the fill is not applied to the portfolio")
        if sign is None or checked_amount is None or checked_price is None:
            return 0.0
        fee = finite_or_zero(fee, "fee", where)
        fill = (symbol, "buy" if sign > 0 else "sell", checked_amount, checked_price)
        double = None
        with self._lock:
            if trade is None:
                double = self._double_application(fill)
            else:
                self._feeding_trades.setdefault(symbol, weakref.WeakSet()).add(trade)
                self._trade_fills.append(fill)
            realized = self._apply_locked(symbol, sign * checked_amount, checked_amount, checked_price,
                                          fee=fee, fee_currency=fee_currency, now=self._now_locked(at_ns))
        if double is not None:  # logged outside the lock: a log handler must not wait on the books
            _LOG.warning(
                "Portfolio %r: apply_fill(%r, %r, %s, %s) %s; a trade given portfolio= applies every "
                "order.fill() to it, so applying it by hand too counts it twice (warned once per symbol)",
                self.name, *fill, double,
            )
        return realized

    def _double_application(self, fill: tuple[str, str, float, float]) -> str | None:
        """Why a manual ``fill`` looks like one a trade applies too (first time per symbol), else None."""
        symbol = fill[0]
        feeders = self._feeding_trades.get(symbol)
        if feeders is None or symbol in self._double_fill_warned:  # no trade ever filled it: nothing to double
            return None
        live = [t for t in feeders if not t.closed]
        if fill in self._trade_fills:
            reason = "repeats a fill that a trade already applied"
        elif live:
            reason = f"while open trade {live[0].trade_id} applies its own fills of {symbol!r}"
        else:
            return None
        self._double_fill_warned.add(symbol)
        return reason

    def _apply_locked(self, symbol: str, signed: float, amount: float, price: float, *, fee: float,
                      fee_currency: str | None, now: float) -> float:
        quantity = self._quantity.get(symbol, 0.0)
        average = self._average.get(symbol, 0.0)
        realized = 0.0
        if quantity == 0 or (quantity > 0) == (signed > 0):
            new_quantity = quantity + signed
            average = (abs(quantity) * average + amount * price) / abs(new_quantity)
        else:
            closing = min(amount, abs(quantity))
            realized = closing * (price - average) * (1 if quantity > 0 else -1)
            new_quantity = quantity + signed
            if abs(new_quantity) < 1e-12:
                new_quantity = 0.0
            elif (new_quantity > 0) != (quantity > 0):
                average = price  # the fill crossed zero: the rest opens a new position here
        self._cash -= signed * price
        if fee:
            if fee_currency in (None, self.base_currency):
                self._cash -= fee
                realized -= fee
            else:
                self._other[fee_currency] = self._other.get(fee_currency, 0.0) - fee
        self._realized += realized
        old_value = quantity * self._mark.get(symbol, price)
        self._mark.setdefault(symbol, price)
        if new_quantity:
            self._quantity[symbol], self._average[symbol] = new_quantity, average
            self._held.add(symbol)
        else:
            self._quantity.pop(symbol, None)
            self._average.pop(symbol, None)
        self._position_value += new_quantity * self._mark[symbol] - old_value
        self._update_equity(now)
        return realized

    def mark(self, symbol: str, price: float, *, timestamp: Timestamp | None = None) -> None:
        """A new market price for ``symbol`` (last trade or mid), at ``timestamp`` if given: revalues
        its position.

        A price that is not a finite number > 0 is logged once and ignored.
        """
        checked = positive_number(price, "price", "Portfolio.mark", "the mark is ignored")
        if checked is None:
            return
        price = checked
        given = None if timestamp is None else unix_nanos(timestamp, "timestamp", "Portfolio.mark")
        with self._lock:
            now = None if given is None else self._now_locked(given)  # a given time moves the portfolio
            quantity = self._quantity.get(symbol)
            old = self._mark.get(symbol)
            self._mark[symbol] = price
            if quantity and old is not None:  # the clock is read only when the equity changes: marks are hot
                self._position_value += quantity * (price - old)
                self._update_equity(self._now_locked(None) if now is None else now)

    def set_cash(self, amount: float, *, timestamp: Timestamp | None = None) -> None:
        """Replaces the base-currency cash (e.g. after ``fetch_balance``) without touching PnL.

        An amount that is not a finite number is logged once and ignored.
        """
        checked = finite_number(amount, "amount", "Portfolio.set_cash", "the cash is left unchanged")
        if checked is None:
            return
        given = None if timestamp is None else unix_nanos(timestamp, "timestamp", "Portfolio.set_cash")
        with self._lock:
            self._cash = checked
            self._update_equity(self._now_locked(given))

    def _now_locked(self, given_ns: int | None) -> float:
        """The time of an update (Unix seconds): the one given, else the latest given so far, else the clock."""
        if given_ns is None:
            return self._clock() if self._given_time is None else self._given_time
        now = given_ns / 1e9
        if self._given_time is None:
            # The first time given moves the portfolio onto the given (simulated) time, its day and
            # period boundaries with it: those from the clock at creation may be years away.
            self._next_day = self._next_reset_after(now)
            self._next_period = now + self._period
            self._given_time = now
        else:
            self._given_time = max(self._given_time, now)
        return now

    def _update_equity(self, now: float) -> float:
        equity = self._cash + self._position_value
        # A boundary (day reset, period end) passed since the last update is credited with the
        # equity in force at that instant - the one before this update - so a change made after
        # the boundary counts in the day or period it happened in.
        if now >= self._next_day:
            self._day_start_equity = self._equity
            self._next_day = self._next_reset_after(now)
        while now >= self._next_period:
            self._period_equity.append(self._equity)
            self._next_period += self._period
        self._equity = equity
        if equity > self._peak:
            self._peak = equity
        elif self._peak > 0:
            self._max_drawdown = max(self._max_drawdown, (self._peak - equity) / self._peak)
        return equity

    # -- reading ---------------------------------------------------------------------------------

    def snapshot(self) -> PortfolioSnapshot:
        with self._lock:
            equity = self._update_equity(self._now_locked(None))
            positions = {
                symbol: Position(symbol, quantity, self._average[symbol], self._mark.get(symbol, math.nan))
                for symbol, quantity in self._quantity.items()
            }
            balances = {self.base_currency: self._cash, **self._other}
            for symbol, quantity in self._quantity.items():
                asset = _base_asset(symbol)
                balances[asset] = balances.get(asset, 0.0) + quantity
            daily = equity - self._day_start_equity
            return PortfolioSnapshot(
                name=self.name,
                equity=equity,
                cash=self._cash,
                realized_pnl=self._realized,
                unrealized_pnl=sum(p.unrealized_pnl for p in positions.values()),
                daily_pnl=daily,
                daily_pnl_ratio=daily / self._day_start_equity if self._day_start_equity > 0 else None,
                drawdown=(self._peak - equity) / self._peak if self._peak > 0 else 0.0,
                max_drawdown=self._max_drawdown,
                exposure=sum(p.exposure for p in positions.values()),
                positions=positions,
                balances=balances,
                period_returns=tuple(returns_from_equity(list(self._period_equity))),
                periods_per_year=self.periods_per_year,
                flat_symbols=tuple(sorted(self._held.difference(self._quantity))),
            )

    @property
    def equity(self) -> float:
        # As snapshot().equity, without the snapshot: a closing trade reads it (the equity curve
        # on its span), and a snapshot recomputes every period's return.
        with self._lock:
            return self._update_equity(self._now_locked(None))

    @property
    def realized_pnl(self) -> float:
        return self.snapshot().realized_pnl

    @property
    def positions(self) -> Mapping[str, Position]:
        return self.snapshot().positions

    def __repr__(self) -> str:
        return f"Portfolio(name={self.name!r}, base_currency={self.base_currency!r})"


_PORTFOLIOS: Final[Slot[weakref.WeakSet[Portfolio]]] = Slot("portfolios", weakref.WeakSet)


_Points = Iterator[tuple[Attributes, float]]
_Observer = Callable[[], _Points]
_PortfolioPoints = Callable[[PortfolioSnapshot], _Points]
_FAILED_GAUGES: Final[Slot[set[str]]] = Slot("portfolio gauges reported failing", set)


def _isolated(gauge: str, points_of: _PortfolioPoints) -> _Observer:
    """The gauge's points over every portfolio; one portfolio failing loses only its own points.

    A failure is counted in ``otel_trading.telemetry.dropped`` (signal ``metrics``, reason
    ``gauge_failed``, ``metric``) and logged once per gauge: the other portfolios still report.
    """
    def observe() -> _Points:
        for portfolio in list(_PORTFOLIOS.get()):
            try:
                points = list(points_of(portfolio.snapshot()))
            except Exception:  # noqa: BLE001 - one portfolio's failure must not hide the others
                _gauge_failed(gauge)
                continue
            yield from points

    return observe


def _gauge_failed(gauge: str) -> None:
    STATE.local_metrics.counter(TELEMETRY_DROPPED, "{item}", "Telemetry items lost before export").add(
        1, {"signal": "metrics", "metric": gauge, "reason": "gauge_failed"}
    )
    failed = _FAILED_GAUGES.get()
    if gauge not in failed:
        failed.add(gauge)
        _LOG.exception("reading gauge %s of a portfolio failed; its point is left out, the other "
                       "portfolios' are exported (logged once per gauge, counted each time)", gauge)


def _per_portfolio(read: Callable[[PortfolioSnapshot], float | None]) -> _PortfolioPoints:
    def points(snap: PortfolioSnapshot) -> _Points:
        value = read(snap)
        if value is not None:
            yield {n.PORTFOLIO: snap.name}, value

    return points


def _per_symbol(read: Callable[[Position], float]) -> _PortfolioPoints:
    # A position that closes reads 0 from then on instead of vanishing: a dashboard draws the
    # close, and Prometheus does not mark the series stale as if the bot had gone.
    def points(snap: PortfolioSnapshot) -> _Points:
        for position in snap.positions.values():
            yield {n.PORTFOLIO: snap.name, n.SYMBOL: position.symbol}, read(position)
        for symbol in snap.flat_symbols:
            yield {n.PORTFOLIO: snap.name, n.SYMBOL: symbol}, 0.0

    return points


def _balances(snap: PortfolioSnapshot) -> _Points:
    for asset, amount in snap.balances.items():
        yield {n.PORTFOLIO: snap.name, n.ASSET: asset}, amount


def _ratio(statistic: Callable[..., float | None]) -> Callable[[PortfolioSnapshot], float | None]:
    def read(snap: PortfolioSnapshot) -> float | None:
        return statistic(snap.period_returns, snap.periods_per_year) if len(snap.period_returns) >= 2 else None

    return read


def _register_gauges() -> None:
    quote = "{quote}"
    for name, observe, unit, description in (
        (n.EQUITY, _per_portfolio(lambda s: s.equity), quote, "Cash plus marked value of open positions"),
        (n.BALANCE, _balances, "{asset}", "Balance by asset (cash, position quantities, fee assets)"),
        (n.PNL_REALIZED, _per_portfolio(lambda s: s.realized_pnl), quote, "Realized PnL net of fees, since start"),
        (n.PNL_UNREALIZED, _per_portfolio(lambda s: s.unrealized_pnl), quote, "PnL of open positions at mark"),
        (n.PNL_DAILY, _per_portfolio(lambda s: s.daily_pnl), quote, "Equity change since the daily reset"),
        (n.PNL_DAILY_RATIO, _per_portfolio(lambda s: s.daily_pnl_ratio), "1",
         "Daily PnL as a share of the start-of-day equity"),
        (n.POSITIONS_OPEN, _per_portfolio(lambda s: len(s.positions)), "{position}", "Symbols with a position"),
        (n.POSITION_SIZE, _per_symbol(lambda p: p.quantity), "{base}", "Signed position in the base asset"),
        (n.EXPOSURE, _per_symbol(lambda p: p.exposure), quote, "Absolute marked value of the position"),
        (n.DRAWDOWN, _per_portfolio(lambda s: s.drawdown), "1", "Current drawdown from the equity peak"),
        (n.DRAWDOWN_MAX, _per_portfolio(lambda s: s.max_drawdown), "1", "Largest drawdown since start"),
        (n.SHARPE, _per_portfolio(_ratio(sharpe_ratio)), "", "Annualised Sharpe ratio of the period returns"),
        (n.SORTINO, _per_portfolio(_ratio(sortino_ratio)), "", "Annualised Sortino ratio of the period returns"),
        (n.CALMAR, _per_portfolio(_ratio(calmar_ratio)), "", "CAGR / max drawdown of the period returns"),
    ):
        observe_process_gauge(name, _isolated(name, observe), unit, description)


_register_gauges()
