"""The fast constructors of the store's frozen records: the same records, frozen, of the real class."""

from __future__ import annotations

import copy
import dataclasses
import sys

import pytest

from otel_trading.export._record_builder import new_event, new_log, new_span, record_builder
from otel_trading.export._records import SpanEvent, StoredLog, StoredSpan

SPAN_FIELDS = ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", None, "order", "internal", 5, 7, "error",
               "rejected", {"trading.symbol": "BTC/USDT"}, (SpanEvent("order.fill", 6, {}),), {"service.name": "bot"},
               "otel_trading")
LOG_FIELDS = (5, 9, "INFO", "filled", {"trade_id": "t-1"}, None, None, {"service.name": "bot"}, "bot")


@pytest.mark.parametrize(("build", "cls", "values"), [
    (new_span, StoredSpan, SPAN_FIELDS), (new_log, StoredLog, LOG_FIELDS), (new_event, SpanEvent, ("e", 1, {"k": 2})),
])
def test_a_built_record_is_the_record_its_class_makes(build: object, cls: type, values: tuple[object, ...]) -> None:
    assert build is not cls  # the fast constructor, not the class itself
    record = build(*values)  # type: ignore[operator]
    expected = cls(*values)
    assert type(record) is cls
    assert record == expected
    assert repr(record) == repr(expected)
    assert copy.deepcopy(record) == expected
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(record, dataclasses.fields(cls)[0].name, "changed")


def test_a_built_span_has_the_span_behaviour() -> None:
    span = new_span(*SPAN_FIELDS)
    assert span.is_error
    assert span.duration_s == 2e-9
    assert dataclasses.replace(span, name="x").name == "x"


@dataclasses.dataclass(frozen=True)
class _WithDict:
    value: int


if sys.version_info >= (3, 11):
    @dataclasses.dataclass(frozen=True, slots=True, weakref_slot=True)
    class _WithWeakref:
        value: int
else:  # weakref_slot= came with 3.11: the same layout written out
    @dataclasses.dataclass(frozen=True)
    class _WithWeakref:
        __slots__ = ("__weakref__", "value")
        value: int


@dataclasses.dataclass(frozen=True, slots=True)
class _WithDefault:
    value: int
    other: int = 0


@pytest.mark.parametrize("cls", [_WithDict, _WithWeakref, _WithDefault])
def test_a_class_of_another_layout_is_built_by_its_own_constructor(cls: type) -> None:
    assert record_builder(cls) is cls


def test_a_built_record_takes_its_fields_by_name_too() -> None:
    assert new_event(name="e", time_ns=1, attributes={}) == SpanEvent("e", 1, {})
