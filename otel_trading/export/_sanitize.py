"""Attribute coercion and truncation, shared by every signal.

OTel attribute values must be str, bool, int, float or homogeneous sequences of them.
Anything else is coerced here (Decimal -> float, Enum -> value, datetime -> ISO text,
other -> ``str()``), or dropped when even ``str()`` fails, with one warning per type.
Text longer than the length limit is cut to exactly that many characters, as the SDK's
attribute limits cut it (no marker); a limit of None keeps every character.
"""

from __future__ import annotations

import datetime as _dt
import enum
import logging
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Final, cast

from opentelemetry.util.types import AttributeValue

from otel_trading._state import Slot

_LOG = logging.getLogger("otel_trading")
_PRIMITIVES: Final = (str, bool, int, float)
_WARNED_TYPES: Final[Slot[set[type]]] = Slot("attribute value types warned about", set)
DEFAULT_MAX_LENGTH: Final = 4096


def _warn_once(kind: type, what: str) -> None:
    warned = _WARNED_TYPES.get()
    if kind not in warned:
        warned.add(kind)
        _LOG.warning("attribute value of type %s %s (warned once per type)", kind.__qualname__, what)


def _truncate(text: str, max_length: int | None) -> str:
    if max_length is None or len(text) <= max_length:
        return text
    return text[:max_length]


def coerce_value(value: Any, max_length: int | None = DEFAULT_MAX_LENGTH) -> AttributeValue | None:
    """A valid OTel attribute value for ``value``, or None when it must be dropped."""
    kind = type(value)
    if kind is str:
        return _truncate(value, max_length)
    if kind in (bool, int, float):
        return value  # type: ignore[no-any-return]  # exact primitive type checked on the line above
    if value is None:
        return None
    if isinstance(value, enum.Enum):
        return coerce_value(value.value, max_length)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, _PRIMITIVES):  # subclasses such as IntEnum handled above; numpy scalars are not
        return value
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    if isinstance(value, (list, tuple)) and value:
        return _coerce_sequence(value, max_length)
    try:
        text = str(value)
    except Exception:  # noqa: BLE001 - a user's __str__ may raise anything; never propagate it
        _warn_once(kind, "could not be converted to text and was dropped")
        return None
    _warn_once(kind, "was recorded as its str()")
    return _truncate(text, max_length)


def _coerce_sequence(values: Sequence[Any], max_length: int | None) -> AttributeValue | None:
    items = [coerce_value(v, max_length) for v in values]
    kinds = {type(item) for item in items}
    if len(kinds) == 1 and None not in items:
        # One kind, none dropped: a homogeneous sequence (OTel 1.39's AttributeValue type cannot show it).
        return cast("AttributeValue", tuple(items))
    return tuple(str(item) for item in items)


def coerce_attributes(attributes: Mapping[str, Any], max_length: int | None = DEFAULT_MAX_LENGTH) -> dict[str, Any]:
    """Coerces every value, dropping the ones that cannot be represented."""
    result: dict[str, Any] = {}
    for key, value in attributes.items():
        coerced = coerce_value(value, max_length)
        if coerced is not None:
            result[str(key)] = coerced
    return result
