"""The ccxt unified methods that are instrumented, and what each records.

Arguments are read by position or keyword from the signatures ccxt generates for every
exchange (identical across all of them in ccxt 4.x), never through ``inspect`` on the hot
path. Only the arguments named here are read: ``params`` (which may carry credentials for
some venues) never is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from opentelemetry.util.types import AttributeValue

from otel_trading.instrumentation._names import (
    CCXT_SPAN_PREFIX,
    ORDER_AMOUNT,
    ORDER_CLIENT_ID,
    ORDER_PRICE,
    ORDER_STATUS,
    ORDER_TYPE,
    ORDER_VENUE_ID,
    RESULT_COUNT,
    SIDE,
    SYMBOL,
    TIMEFRAME,
)

Convert = Callable[[Any], "AttributeValue | None"]
ResultAttributes = Callable[[Any], Mapping[str, AttributeValue]]


def text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float, Decimal)):
        return float(value)
    if isinstance(value, str):  # ccxt accepts amounts and prices as numeric strings too
        try:
            return float(value)
        except ValueError:
            return None
    return None


def identifier(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    return text(value)


def order_result(result: Any) -> dict[str, AttributeValue]:
    """Venue order id, client order id and status of a unified ccxt order structure."""
    if not isinstance(result, Mapping):
        return {}
    attributes: dict[str, AttributeValue] = {}
    for key, attribute in (("id", ORDER_VENUE_ID), ("clientOrderId", ORDER_CLIENT_ID), ("status", ORDER_STATUS)):
        value = identifier(result.get(key))
        if value is not None:
            attributes[attribute] = value
    return attributes


def count_result(result: Any) -> dict[str, AttributeValue]:
    """How many items (orders, trades, candles, markets...) came back."""
    return {RESULT_COUNT: len(result)} if isinstance(result, (list, tuple, Mapping)) else {}


@dataclass(frozen=True)
class Argument:
    position: int  # after ``self``
    name: str
    attribute: str
    convert: Convert


@dataclass(frozen=True)
class MethodSpec:
    name: str
    span_name: str
    arguments: tuple[Argument, ...] = ()
    result: ResultAttributes | None = None

    def attributes(self, args: tuple[Any, ...], kwargs: Mapping[str, Any], into: dict[str, AttributeValue]) -> None:
        for argument in self.arguments:
            value = args[argument.position] if argument.position < len(args) else kwargs.get(argument.name)
            if value is not None:
                converted = argument.convert(value)
                if converted is not None:
                    into[argument.attribute] = converted


def _spec(name: str, *arguments: tuple[str, str, Convert], result: ResultAttributes | None = None) -> MethodSpec:
    return MethodSpec(
        name, CCXT_SPAN_PREFIX + name, tuple(Argument(i, n, a, c) for i, (n, a, c) in enumerate(arguments) if n),
        result,
    )


_SYMBOL: Final = ("symbol", SYMBOL, text)
_SKIP: Final[tuple[str, str, Convert]] = ("", "", text)  # a positional parameter that is not recorded
_ORDER: Final = (("type", ORDER_TYPE, text), ("side", SIDE, text), ("amount", ORDER_AMOUNT, number),
                 ("price", ORDER_PRICE, number))
_ID: Final = ("id", ORDER_VENUE_ID, identifier)

# The convenience wrappers (create_limit_order, create_market_buy_order, ...) are left out on
# purpose: they all call create_order, whose span then describes the real order once.
METHODS: Final[Mapping[str, MethodSpec]] = {
    spec.name: spec
    for spec in (
        _spec("create_order", _SYMBOL, *_ORDER, result=order_result),
        _spec("create_orders", result=count_result),
        _spec("edit_order", _ID, _SYMBOL, *_ORDER, result=order_result),
        _spec("cancel_order", _ID, _SYMBOL, result=order_result),
        _spec("cancel_orders", _SKIP, _SYMBOL, result=count_result),
        _spec("cancel_all_orders", _SYMBOL, result=count_result),
        _spec("fetch_order", _ID, _SYMBOL, result=order_result),
        _spec("fetch_orders", _SYMBOL, result=count_result),
        _spec("fetch_open_orders", _SYMBOL, result=count_result),
        _spec("fetch_closed_orders", _SYMBOL, result=count_result),
        _spec("fetch_my_trades", _SYMBOL, result=count_result),
        _spec("fetch_balance"),
        _spec("fetch_positions", result=count_result),
        _spec("fetch_ticker", _SYMBOL),
        _spec("fetch_tickers", result=count_result),
        _spec("fetch_order_book", _SYMBOL),
        _spec("fetch_ohlcv", _SYMBOL, ("timeframe", TIMEFRAME, text), result=count_result),
        _spec("fetch_trades", _SYMBOL, result=count_result),
        _spec("load_markets", result=count_result),
    )
}

# ccxt.pro streams of the account's orders and trades: no span each (a call waits for the
# venue's next push), their results advance the orders that create_order opened.
STREAMS: Final[Mapping[str, MethodSpec]] = {
    spec.name: spec for spec in (_spec("watch_orders", _SYMBOL), _spec("watch_my_trades", _SYMBOL))
}
