"""The trading journal: closed trades, orders and exchange errors read back from trace spans,
and the performance report computed from them.

Pure functions over the spans of the local store (``load_store(dir).spans``) or any other
source of the same records: nothing here reads files or the clock. The span shapes are
those of docs/semantic-conventions.md (``trade`` roots, ``order`` children, exchange calls:
CLIENT spans with ``trading.exchange``, from ccxt's or any other instrumentation); the
formulas are in docs/analytics.md.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

from otel_trading.analytics._performance import (
    calmar_ratio,
    expectancy,
    max_drawdown,
    profit_factor,
    returns_from_equity,
    sharpe_ratio,
    sortino_ratio,
    win_rate,
)

if TYPE_CHECKING:  # only for annotations: analytics must not import the exporters at run time
    from otel_trading.export import StoredSpan

# The ratios are per trade and not annualised: trades are not evenly spaced in time, so no
# honest periods-per-year exists for them.
PERIODS_PER_YEAR: Final = 1
_HOUR_NS: Final = 3_600 * 10**9
_NO_STRATEGY: Final = "(none)"
_UNKNOWN: Final = "unknown"

RatioBasis = Literal["equity", "pnl"]


# -- the journal: records extracted from spans ------------------------------------------------


@dataclass(frozen=True)
class ClosedTrade:
    """A ``trade`` span whose position was closed (it has ``trading.trade.outcome``)."""

    trace_id: str
    symbol: str
    side: str
    strategy: str | None
    service: str | None
    portfolio: str | None
    opened_ns: int
    """Start of the trade span."""
    closed_ns: int
    """Time of the ``position.closed`` event (the end of the span when it has none)."""
    pnl: float
    outcome: str
    """``win``, ``loss`` or ``breakeven``."""
    exit_reason: str | None
    equity: float | None
    """``trading.portfolio.equity``: the portfolio's equity right after the position closed."""

    @property
    def duration_s(self) -> float:
        """Open to close on the span times: a backtest's simulated time when the trade was given one."""
        return max(self.closed_ns - self.opened_ns, 0) / 1e9


@dataclass(frozen=True)
class OrderRecord:
    """An ``order`` span, with what its events say about latency and slippage."""

    trace_id: str
    symbol: str
    side: str
    strategy: str | None
    service: str | None
    order_type: str | None
    status: str
    reason: str | None
    submitted_ns: int
    ack_latency_s: float | None
    """First ``order.accepted`` event - span start (a first fill counts as the acknowledgement)."""
    fill_latency_s: float | None
    """Last ``order.fill`` event - span start, for orders that ended ``filled``."""
    slippage_bps: float | None
    slippage_cost: float | None
    """slippage_bps / 10⁴ * reference price * filled amount, in the quote currency (positive: a cost)."""


@dataclass(frozen=True)
class ExchangeCall:
    """An exchange API call: a CLIENT span with ``trading.exchange``; ``error_type`` is set when it failed.

    ``method`` is the span name without its instrumentation's prefix (``ccxt.create_order``
    -> ``create_order``).
    """

    trace_id: str
    time_ns: int
    method: str
    error_type: str | None
    exchange: str | None
    symbol: str | None
    strategy: str | None
    """The strategy of the trade the call was made in, if any."""
    service: str | None


@dataclass(frozen=True)
class UnclosedTrade:
    """A ``trade`` span that ended without ``position_closed()`` (risk-denied, abandoned, evicted)."""

    trace_id: str
    symbol: str
    strategy: str | None
    service: str | None
    ended_ns: int


@dataclass(frozen=True)
class Journal:
    """Everything the report is computed from, oldest first."""

    trades: tuple[ClosedTrade, ...] = ()
    orders: tuple[OrderRecord, ...] = ()
    exchange_calls: tuple[ExchangeCall, ...] = ()
    unclosed_trades: tuple[UnclosedTrade, ...] = ()


def _text(attributes: Mapping[str, Any], key: str) -> str | None:
    value = attributes.get(key)
    return None if value is None else str(value)


def _number(attributes: Mapping[str, Any], key: str) -> float | None:
    value = attributes.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _service(span: StoredSpan) -> str | None:
    return _text(span.resource, "service.name")


def is_trade_span(span: StoredSpan) -> bool:
    return span.name == "trade" and "trading.trade_id" in span.attributes


def is_order_span(span: StoredSpan) -> bool:
    return span.name == "order" and "trading.order.status" in span.attributes


def is_exchange_call_span(span: StoredSpan) -> bool:
    # What any exchange instrumentation sets (docs/instrumentation.md), whatever it names its spans.
    return span.kind == "client" and "trading.exchange" in span.attributes


def closed_trade(span: StoredSpan) -> ClosedTrade | None:
    attributes = span.attributes
    outcome = _text(attributes, "trading.trade.outcome")
    pnl = _number(attributes, "trading.pnl.realized")
    if outcome is None:
        return None
    closed_ns = next((event.time_ns for event in reversed(span.events) if event.name == "position.closed"),
                     span.end_ns)
    return ClosedTrade(
        trace_id=span.trace_id,
        symbol=_text(attributes, "trading.symbol") or _UNKNOWN,
        side=_text(attributes, "trading.side") or _UNKNOWN,
        strategy=_text(attributes, "trading.strategy"),
        service=_service(span),
        portfolio=_text(attributes, "trading.portfolio"),
        opened_ns=span.start_ns,
        closed_ns=closed_ns,
        pnl=pnl or 0.0,  # position_closed() always sets both; a foreign span may not
        outcome=outcome,
        exit_reason=_text(attributes, "trading.exit_reason"),
        equity=_number(attributes, "trading.portfolio.equity"),
    )


def unclosed_trade(span: StoredSpan) -> UnclosedTrade:
    return UnclosedTrade(span.trace_id, _text(span.attributes, "trading.symbol") or _UNKNOWN,
                         _text(span.attributes, "trading.strategy"), _service(span), span.end_ns)


def _seconds_after(start_ns: int, time_ns: int | None) -> float | None:
    return None if time_ns is None else max(0, time_ns - start_ns) / 1e9


def order_record(span: StoredSpan, strategy: str | None) -> OrderRecord:
    attributes = span.attributes
    status = _text(attributes, "trading.order.status") or _UNKNOWN
    accepted = next((e.time_ns for e in span.events if e.name == "order.accepted"), None)
    fills = [e.time_ns for e in span.events if e.name == "order.fill"]
    slippage = _number(attributes, "trading.order.slippage_bps")
    reference = _number(attributes, "trading.order.reference_price")
    filled = _number(attributes, "trading.order.filled_amount")
    cost = None
    if slippage is not None and reference is not None and filled is not None:
        cost = slippage / 1e4 * reference * filled
    return OrderRecord(
        trace_id=span.trace_id,
        symbol=_text(attributes, "trading.symbol") or _UNKNOWN,
        side=_text(attributes, "trading.side") or _UNKNOWN,
        strategy=strategy,
        service=_service(span),
        order_type=_text(attributes, "trading.order.type"),
        status=status,
        reason=_text(attributes, "trading.order.reason"),
        submitted_ns=span.start_ns,
        ack_latency_s=_seconds_after(span.start_ns, accepted),
        fill_latency_s=_seconds_after(span.start_ns, max(fills)) if status == "filled" and fills else None,
        slippage_bps=slippage,
        slippage_cost=cost,
    )


def exchange_call(span: StoredSpan, trade: StoredSpan | None) -> ExchangeCall:
    time_ns, method, error_type, exchange, symbol, service = exchange_call_columns(span)
    trade_attributes = trade.attributes if trade is not None else {}
    return ExchangeCall(
        trace_id=span.trace_id,
        time_ns=time_ns,
        method=method,
        error_type=error_type,
        exchange=exchange,
        symbol=symbol or _text(trade_attributes, "trading.symbol"),
        strategy=_text(trade_attributes, "trading.strategy"),
        service=service,
    )


def exchange_call_columns(span: StoredSpan) -> tuple[int, str, str | None, str | None, str | None, str | None]:
    """Time, method, error type, exchange, symbol and service of an exchange call as its span alone
    gives them (``exchange_call`` adds its trade's symbol and strategy): the store index's call rows,
    without an ``ExchangeCall`` per call."""
    attributes = span.attributes
    error_type = _text(attributes, "error.type")
    if error_type is None and span.is_error:
        error_type = _UNKNOWN
    return (span.start_ns, span.name.partition(".")[2] or span.name, error_type, _text(attributes, "trading.exchange"),
            _text(attributes, "trading.symbol"), _service(span))


def read_journal(spans: Iterable[StoredSpan]) -> Journal:
    """Closed trades, orders and exchange calls found in ``spans`` (any order; sorted by time)."""
    spans = list(spans)
    trade_of_trace = {span.trace_id: span for span in spans if is_trade_span(span)}
    trades: list[ClosedTrade] = []
    unclosed: list[UnclosedTrade] = []
    for span in trade_of_trace.values():
        closed = closed_trade(span)
        if closed is not None:
            trades.append(closed)
        else:
            unclosed.append(unclosed_trade(span))
    orders: list[OrderRecord] = []
    calls: list[ExchangeCall] = []
    for span in spans:
        trade = trade_of_trace.get(span.trace_id)
        if is_order_span(span):
            orders.append(order_record(span, _text(trade.attributes, "trading.strategy") if trade else None))
        elif is_exchange_call_span(span):
            calls.append(exchange_call(span, trade))
    return Journal(
        trades=tuple(sorted(trades, key=lambda t: t.closed_ns)),
        orders=tuple(sorted(orders, key=lambda o: o.submitted_ns)),
        exchange_calls=tuple(sorted(calls, key=lambda c: c.time_ns)),
        unclosed_trades=tuple(sorted(unclosed, key=lambda u: u.ended_ns)),
    )


# -- selecting ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportFilter:
    """Which records a report covers; None matches everything.

    Trades are in the time range by their close, orders by their submission, exchange
    calls by their start; ``start_ns`` and ``end_ns`` are inclusive Unix nanoseconds.
    Exchange calls made outside any trade have no strategy and are left out by ``strategy``.
    """

    symbol: str | None = None
    strategy: str | None = None
    service: str | None = None
    start_ns: int | None = None
    end_ns: int | None = None

    def matches(self, *, time_ns: int, symbol: str | None, strategy: str | None, service: str | None) -> bool:
        return (
            (self.start_ns is None or time_ns >= self.start_ns)
            and (self.end_ns is None or time_ns <= self.end_ns)
            and (self.symbol is None or symbol == self.symbol)
            and (self.strategy is None or strategy == self.strategy)
            and (self.service is None or service == self.service)
        )


def select(journal: Journal, selection: ReportFilter) -> Journal:
    """The part of ``journal`` that ``selection`` covers (unclosed trades by the end of their span)."""
    return Journal(
        trades=tuple(t for t in journal.trades if selection.matches(
            time_ns=t.closed_ns, symbol=t.symbol, strategy=t.strategy, service=t.service)),
        orders=tuple(o for o in journal.orders if selection.matches(
            time_ns=o.submitted_ns, symbol=o.symbol, strategy=o.strategy, service=o.service)),
        exchange_calls=tuple(c for c in journal.exchange_calls if selection.matches(
            time_ns=c.time_ns, symbol=c.symbol, strategy=c.strategy, service=c.service)),
        unclosed_trades=tuple(u for u in journal.unclosed_trades if selection.matches(
            time_ns=u.ended_ns, symbol=u.symbol, strategy=u.strategy, service=u.service)),
    )


# -- statistics ----------------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


@dataclass(frozen=True)
class LatencySummary:
    """Percentiles of order latencies in seconds (None without measurements)."""

    count: int
    p50: float | None
    p90: float | None
    p99: float | None
    max: float | None

    @classmethod
    def of(cls, values: Sequence[float]) -> LatencySummary:
        return cls(len(values), percentile(values, 0.5), percentile(values, 0.9), percentile(values, 0.99),
                   max(values) if values else None)


@dataclass(frozen=True)
class SlippageSummary:
    """Slippage of the orders that had a reference price and fills (bps; positive is a cost)."""

    orders: int
    mean_bps: float | None
    p50_bps: float | None
    p95_bps: float | None
    cost: float
    """Σ slippage cost in the quote currency (negative: price improvement overall)."""


@dataclass(frozen=True)
class TradeStats:
    """Counts and PnL statistics of a set of closed trades."""

    trades: int
    wins: int
    losses: int
    breakeven: int
    total_pnl: float
    average_pnl: float | None
    win_rate: float | None
    profit_factor: float | None
    """``inf`` with profits and no losses."""
    expectancy: float | None

    @classmethod
    def of(cls, pnls: Sequence[float]) -> TradeStats:
        total = math.fsum(pnls)
        return cls(
            trades=len(pnls),
            wins=sum(1 for p in pnls if p > 0),
            losses=sum(1 for p in pnls if p < 0),
            breakeven=sum(1 for p in pnls if p == 0),
            total_pnl=total,
            average_pnl=total / len(pnls) if pnls else None,
            win_rate=win_rate(pnls),
            profit_factor=profit_factor(pnls),
            expectancy=expectancy(pnls),
        )


@dataclass(frozen=True)
class EquityPoint:
    time_ns: int
    value: float
    """Equity (basis ``equity``) or cumulative PnL since the first trade (basis ``pnl``)."""
    drawdown: float
    """Running peak - value (≥ 0)."""


@dataclass(frozen=True)
class RiskStats:
    """Per-trade risk ratios and drawdown of the equity curve (docs/analytics.md, "The report")."""

    basis: RatioBasis
    """``equity``: every trade had ``trading.portfolio.equity``; ``pnl``: cumulative PnL, no capital base."""
    periods_per_year: int
    sharpe: float | None
    sortino: float | None
    calmar: float | None
    """None on the ``pnl`` basis: CAGR needs a capital base."""
    max_drawdown: float | None
    """Absolute, in the quote currency."""
    max_drawdown_relative: float | None
    """Fraction of the peak (0.05 = 5 %); None on the ``pnl`` basis."""
    start_equity: float | None
    end_equity: float | None


@dataclass(frozen=True)
class HourBucket:
    """Rejected orders and failed exchange calls in one UTC hour."""

    hour_ns: int
    """Start of the hour, Unix ns (a multiple of 3600 s: UTC)."""
    rejects: int
    errors: int


@dataclass(frozen=True)
class TradingReport:
    """Trading performance of the selected records (``journal``), as ``build_report`` computes it."""

    selection: ReportFilter
    journal: Journal
    stats: TradeStats
    risk: RiskStats
    equity_curve: tuple[EquityPoint, ...]
    orders_by_status: Mapping[str, int]
    ack_latency: LatencySummary
    fill_latency: LatencySummary
    slippage: SlippageSummary
    rejects_by_reason: Mapping[str, int]
    exchange_calls_by_method: Mapping[str, int]
    errors_by_type: Mapping[str, int]
    errors_by_method: Mapping[str, int]
    problems_by_hour: tuple[HourBucket, ...]
    by_symbol: Mapping[str, TradeStats] = field(default_factory=dict)
    by_strategy: Mapping[str, TradeStats] = field(default_factory=dict)
    by_exit_reason: Mapping[str, TradeStats] = field(default_factory=dict)

    @property
    def first_ns(self) -> int | None:
        """Opening of the first selected trade."""
        return min((t.opened_ns for t in self.journal.trades), default=None)

    @property
    def last_ns(self) -> int | None:
        """Close of the last selected trade."""
        return max((t.closed_ns for t in self.journal.trades), default=None)

    @property
    def exchange_errors(self) -> int:
        return sum(self.errors_by_type.values())


def _curve(times: Sequence[int], values: Sequence[float]) -> tuple[EquityPoint, ...]:
    points: list[EquityPoint] = []
    peak = -math.inf
    for time_ns, value in zip(times, values, strict=True):
        peak = max(peak, value)
        points.append(EquityPoint(time_ns, value, peak - value))
    return tuple(points)


def _equity_curve(trades: Sequence[ClosedTrade]) -> list[float] | None:
    """Compounded per-trade returns PnL_i / (E_i - PnL_i), from the equity before the first trade.

    E_i - PnL_i is the portfolio's equity just before trade i closed. For one portfolio with one
    position at a time the result is the recorded equity itself; with several portfolios,
    overlapping positions or a filter it is the growth due to the selected trades alone.
    None when a trade has no equity or a capital base ≤ 0 (no meaningful return).
    """
    bases = [t.equity - t.pnl for t in trades if t.equity is not None]
    if len(bases) != len(trades) or not bases or min(bases) <= 0:
        return None
    curve = [bases[0]]
    for trade, base in zip(trades, bases, strict=True):
        curve.append(curve[-1] * (1 + trade.pnl / base))
    return curve


def _risk(trades: Sequence[ClosedTrade]) -> tuple[RiskStats, tuple[EquityPoint, ...]]:
    if not trades:
        return RiskStats("pnl", PERIODS_PER_YEAR, None, None, None, None, None, None, None), ()
    times = [trades[0].opened_ns, *(t.closed_ns for t in trades)]
    equity = _equity_curve(trades)
    if equity is not None:
        returns = returns_from_equity(equity)
        drawdown = max_drawdown(equity)
        points = _curve(times, equity)
        return RiskStats(
            basis="equity",
            periods_per_year=PERIODS_PER_YEAR,
            sharpe=sharpe_ratio(returns, PERIODS_PER_YEAR),
            sortino=sortino_ratio(returns, PERIODS_PER_YEAR),
            calmar=calmar_ratio(returns, PERIODS_PER_YEAR),
            max_drawdown=drawdown.absolute if drawdown else None,
            max_drawdown_relative=drawdown.relative if drawdown else None,
            start_equity=equity[0],
            end_equity=equity[-1],
        ), points
    pnls = [t.pnl for t in trades]
    cumulative = [0.0]
    for pnl in pnls:
        cumulative.append(cumulative[-1] + pnl)
    points = _curve(times, cumulative)
    # Sharpe and Sortino of PnLs are scale-free (currency / currency): no capital base needed.
    return RiskStats(
        basis="pnl",
        periods_per_year=PERIODS_PER_YEAR,
        sharpe=sharpe_ratio(pnls, PERIODS_PER_YEAR),
        sortino=sortino_ratio(pnls, PERIODS_PER_YEAR),
        calmar=None,
        max_drawdown=max(p.drawdown for p in points),
        max_drawdown_relative=None,
        start_equity=None,
        end_equity=None,
    ), points


def _grouped(trades: Sequence[ClosedTrade], key: Callable[[ClosedTrade], str]) -> dict[str, TradeStats]:
    groups: dict[str, list[float]] = defaultdict(list)
    for trade in trades:
        groups[key(trade)].append(trade.pnl)
    return {name: TradeStats.of(pnls) for name, pnls in sorted(groups.items())}


@dataclass(frozen=True)
class CallCounts:
    """The exchange calls a report covers, counted rather than listed (how a store's index answers)."""

    by_method: Mapping[str, int]
    errors_by_type: Mapping[str, int]
    errors_by_method: Mapping[str, int]
    errors_by_hour: Mapping[int, int]
    """Failed calls per UTC hour (hours since the epoch)."""


def count_calls(calls: Sequence[ExchangeCall]) -> CallCounts:
    errors = [c for c in calls if c.error_type is not None]
    return CallCounts(
        by_method=Counter(c.method for c in calls),
        errors_by_type=Counter(c.error_type or _UNKNOWN for c in errors),
        errors_by_method=Counter(c.method for c in errors),
        errors_by_hour=Counter(c.time_ns // _HOUR_NS for c in errors),
    )


@dataclass(frozen=True)
class OrderFigures:
    """What the report reads of the orders it covers, counted and collected rather than listed."""

    by_status: Mapping[str, int]
    rejects_by_reason: Mapping[str, int]
    rejects_by_hour: Mapping[int, int]
    """Rejected orders per UTC hour (hours since the epoch)."""
    ack_latencies_s: Sequence[float]
    fill_latencies_s: Sequence[float]
    slippage_bps: Sequence[float]
    slippage_costs: Sequence[float]


def order_figures(orders: Sequence[OrderRecord]) -> OrderFigures:
    rejected = [o for o in orders if o.status == "rejected"]
    slipped = [o for o in orders if o.slippage_bps is not None]
    return OrderFigures(
        by_status=Counter(o.status for o in orders),
        rejects_by_reason=Counter(o.reason or _UNKNOWN for o in rejected),
        rejects_by_hour=Counter(o.submitted_ns // _HOUR_NS for o in rejected),
        ack_latencies_s=[o.ack_latency_s for o in orders if o.ack_latency_s is not None],
        fill_latencies_s=[o.fill_latency_s for o in orders if o.fill_latency_s is not None],
        slippage_bps=[o.slippage_bps for o in slipped if o.slippage_bps is not None],
        slippage_costs=[o.slippage_cost for o in slipped if o.slippage_cost is not None],
    )


def _problems_by_hour(rejects: Mapping[int, int], errors: Mapping[int, int]) -> tuple[HourBucket, ...]:
    hours = sorted({hour for hour, count in (*rejects.items(), *errors.items()) if count})
    return tuple(HourBucket(hour * _HOUR_NS, rejects.get(hour, 0), errors.get(hour, 0)) for hour in hours)


def _sorted_counts(counts: Mapping[str, int]) -> dict[str, int]:
    """Most frequent first (ties by name), without the zero counts."""
    return dict(sorted(((key, count) for key, count in counts.items() if count),
                       key=lambda item: (-item[1], item[0])))


def report_from_journal(journal: Journal, selection: ReportFilter | None = None, *,
                        call_counts: CallCounts | None = None, orders: OrderFigures | None = None) -> TradingReport:
    """The report of the records of ``journal`` that ``selection`` covers.

    ``call_counts`` and ``orders``: the selected exchange calls and orders counted elsewhere (a store's
    index), in place of counting ``journal.exchange_calls`` and ``journal.orders``."""
    selection = selection or ReportFilter()
    selected = select(journal, selection)
    trades = selected.trades
    calls = call_counts if call_counts is not None else count_calls(selected.exchange_calls)
    figures = orders if orders is not None else order_figures(selected.orders)
    slippage_bps = figures.slippage_bps
    risk, curve = _risk(trades)
    return TradingReport(
        selection=selection,
        journal=selected,
        stats=TradeStats.of([t.pnl for t in trades]),
        risk=risk,
        equity_curve=curve,
        orders_by_status=_sorted_counts(figures.by_status),
        ack_latency=LatencySummary.of(figures.ack_latencies_s),
        fill_latency=LatencySummary.of(figures.fill_latencies_s),
        slippage=SlippageSummary(
            orders=len(slippage_bps),
            mean_bps=math.fsum(slippage_bps) / len(slippage_bps) if slippage_bps else None,
            p50_bps=percentile(slippage_bps, 0.5),
            p95_bps=percentile(slippage_bps, 0.95),
            cost=math.fsum(figures.slippage_costs),
        ),
        rejects_by_reason=_sorted_counts(figures.rejects_by_reason),
        exchange_calls_by_method=_sorted_counts(calls.by_method),
        errors_by_type=_sorted_counts(calls.errors_by_type),
        errors_by_method=_sorted_counts(calls.errors_by_method),
        problems_by_hour=_problems_by_hour(figures.rejects_by_hour, calls.errors_by_hour),
        by_symbol=_grouped(trades, lambda t: t.symbol),
        by_strategy=_grouped(trades, lambda t: t.strategy or _NO_STRATEGY),
        by_exit_reason=_grouped(trades, lambda t: t.exit_reason or _UNKNOWN),
    )


def build_report(spans: Iterable[StoredSpan], selection: ReportFilter | None = None) -> TradingReport:
    """Trading performance from trace spans, e.g. ``build_report(load_store(".otel-trading").spans)``."""
    return report_from_journal(read_journal(spans), selection)
