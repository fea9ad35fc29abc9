"""Names, units and buckets of the trading layer (see docs/semantic-conventions.md)."""

from __future__ import annotations

from typing import Final

# Span attributes (also the metric attribute keys where the value is low-cardinality).
TRADE_ID: Final = "trading.trade_id"
SYMBOL: Final = "trading.symbol"
SIDE: Final = "trading.side"
STRATEGY: Final = "trading.strategy"
EXCHANGE: Final = "trading.exchange"
PORTFOLIO: Final = "trading.portfolio"
ASSET: Final = "trading.asset"
SIGNAL_DIRECTION: Final = "trading.signal.direction"
SIGNAL_CONFIDENCE: Final = "trading.signal.confidence"
SIGNAL_MODEL: Final = "trading.signal.model"
RISK_DECISION: Final = "trading.risk.decision"
RISK_REASON: Final = "trading.risk.reason"
RISK_DENIED: Final = "trading.risk.denied"
ORDER_CLIENT_ID: Final = "trading.order.client_id"
ORDER_VENUE_ID: Final = "trading.order.venue_id"
ORDER_TYPE: Final = "trading.order.type"
ORDER_STATUS: Final = "trading.order.status"
ORDER_AMOUNT: Final = "trading.order.amount"
ORDER_PRICE: Final = "trading.order.price"
ORDER_REFERENCE_PRICE: Final = "trading.order.reference_price"
ORDER_FILLED: Final = "trading.order.filled_amount"
ORDER_AVERAGE_PRICE: Final = "trading.order.average_price"
ORDER_FEE: Final = "trading.order.fee"
ORDER_REASON: Final = "trading.order.reason"
ORDER_SLIPPAGE: Final = "trading.order.slippage_bps"
FILL_AMOUNT: Final = "trading.fill.amount"
FILL_PRICE: Final = "trading.fill.price"
FILL_FEE: Final = "trading.fill.fee"
FEE_CURRENCY: Final = "trading.fee.currency"
FILL_LIQUIDITY: Final = "trading.fill.liquidity"
POSITION_QUANTITY: Final = "trading.position.quantity"
POSITION_ENTRY_PRICE: Final = "trading.position.entry_price"
POSITION_EXIT_PRICE: Final = "trading.position.exit_price"
PNL_REALIZED_ATTR: Final = "trading.pnl.realized"
EXIT_REASON: Final = "trading.exit_reason"
TRADE_OUTCOME: Final = "trading.trade.outcome"
TRADE_EVICTED: Final = "trading.trade.evicted"
STATE_ATTR: Final = "trading.state"
STATE_REASON: Final = "trading.state.reason"
STREAM: Final = "trading.stream"
MODEL: Final = "trading.model"
MODEL_METRIC: Final = "trading.model.metric"
MODEL_LABEL: Final = "trading.model.label"

# Span and event names.
TRADE_SPAN: Final = "trade"
ORDER_SPAN: Final = "order"
SIGNAL_EVENT: Final = "signal"
RISK_EVENT: Final = "risk_check"
ORDER_ACCEPTED_EVENT: Final = "order.accepted"
ORDER_FILL_EVENT: Final = "order.fill"
ORDER_MODIFIED_EVENT: Final = "order.modified"
POSITION_OPENED_EVENT: Final = "position.opened"
POSITION_CLOSED_EVENT: Final = "position.closed"

# Metrics.
SIGNALS: Final = "trading.signals"
RISK_CHECKS: Final = "trading.risk.checks"
ORDERS: Final = "trading.orders"
ORDER_REJECTS: Final = "trading.order.rejects"
ORDER_ACK_LATENCY: Final = "trading.order.ack.latency"
ORDER_FILL_LATENCY: Final = "trading.order.fill.latency"
FILLS: Final = "trading.fills"
FILL_NOTIONAL: Final = "trading.fill.notional"
FEES: Final = "trading.fees"
SLIPPAGE: Final = "trading.slippage.bps"
SLIPPAGE_COST: Final = "trading.slippage.cost"
TRADES: Final = "trading.trades"
TRADES_OPEN: Final = "trading.trades.open"
TRADES_EVICTED: Final = "trading.trades.evicted"
TRADE_DURATION: Final = "trading.trade.duration"
WIN_RATE: Final = "trading.performance.win_rate"
PROFIT_FACTOR: Final = "trading.performance.profit_factor"
EXPECTANCY: Final = "trading.performance.expectancy"
SHARPE: Final = "trading.performance.sharpe"
SORTINO: Final = "trading.performance.sortino"
CALMAR: Final = "trading.performance.calmar"
EQUITY: Final = "trading.equity"
BALANCE: Final = "trading.balance"
PNL_REALIZED: Final = "trading.pnl.realized"
PNL_UNREALIZED: Final = "trading.pnl.unrealized"
PNL_DAILY: Final = "trading.pnl.daily"
PNL_DAILY_RATIO: Final = "trading.pnl.daily.ratio"
POSITIONS_OPEN: Final = "trading.positions.open"
POSITION_SIZE: Final = "trading.position.size"
EXPOSURE: Final = "trading.exposure"
DRAWDOWN: Final = "trading.drawdown"
DRAWDOWN_MAX: Final = "trading.drawdown.max"
TRADING_STATE: Final = "trading.state"
CIRCUIT_BREAKER_TRIPS: Final = "trading.circuit_breaker.trips"
MARKET_DATA_STALENESS: Final = "trading.market_data.staleness"
WEBSOCKET_RECONNECTS: Final = "trading.websocket.reconnects"
MODEL_PREDICTIONS: Final = "trading.model.predictions"
MODEL_QUALITY: Final = "trading.model.quality"

# 1 ms ... 60 s: a co-located venue acks in milliseconds, a resting limit order fills in a minute.
LATENCY_BUCKETS_SECONDS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)
# Symmetric around zero: negative slippage is price improvement.
SLIPPAGE_BUCKETS_BPS: Final = (-50.0, -20.0, -10.0, -5.0, -2.0, -1.0, 0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)
# 1 s ... 1 day: scalps to swing trades.
TRADE_DURATION_BUCKETS_SECONDS: Final = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 14400.0, 86400.0)

# Distinct values one attribute key may take in a trading metric before new ones become "other".
MAX_VALUES_PER_KEY: Final = 200
OTHER_VALUE: Final = "other"
