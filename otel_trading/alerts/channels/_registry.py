"""Channel kinds by ``type:`` name: built in, registered in code, or shipped by an installed package.

A package adds a kind with an entry point in the ``otel_trading_alert_channel`` group, named
after the ``type:`` it provides and pointing at a :class:`ChannelKind`::

    [project.entry-points.otel_trading_alert_channel]
    sms = "otel_trading_sms:SMS"

Entry points are listed (their names) when a type is looked up or the known types are
named in an error, and loaded only when their type is used: an unused broken plugin
costs nothing. A name that is built in or registered in code wins over an entry point.
"""

from __future__ import annotations

import threading
from importlib.metadata import EntryPoint, entry_points
from typing import Final

from otel_trading._state import STATE
from otel_trading.alerts.channels._kind import ChannelKind
from otel_trading.alerts.channels._kinds import BUILTIN_KINDS

ENTRY_POINT_GROUP: Final = "otel_trading_alert_channel"

_lock = threading.Lock()
_kinds: dict[str, ChannelKind] = {kind.name: kind for kind in BUILTIN_KINDS}
_installed: dict[str, EntryPoint] | None = None  # listed once; listed again when a type is not found


def _entry_points(*, refresh: bool = False) -> dict[str, EntryPoint]:
    global _installed
    if _installed is None or refresh:
        _installed = {point.name: point for point in entry_points(group=ENTRY_POINT_GROUP)}
    return _installed


def register_channel_kind(kind: ChannelKind) -> None:
    """Makes ``kind`` usable as ``type: <kind.name>`` in alerting files of this process.

    For a kind defined in the application's own code; a package declares an entry point
    instead. ValueError if another kind has that name already.
    """
    if not isinstance(kind, ChannelKind):
        raise TypeError(f"expected a ChannelKind, got {type(kind).__name__}")
    with _lock:
        existing = _kinds.setdefault(kind.name, kind)
    if existing is not kind:
        raise ValueError(f"a channel type named {kind.name!r} is registered already")


def channel_kind_names() -> list[str]:
    """Every known ``type:``: built-in and registered ones first, then those of installed packages."""
    with _lock:
        return [*_kinds, *sorted(set(_entry_points()) - set(_kinds))]


def channel_kind(name: str) -> ChannelKind:
    """The kind for ``type: name``.

    KeyError when no kind has that name; ValueError naming the package when an installed
    package's entry point cannot be loaded or is not a ChannelKind for that name.
    """
    with _lock:
        kind = _kinds.get(name)
        if kind is not None:
            return kind
        point = _entry_points().get(name) or _entry_points(refresh=True).get(name)
        if point is None:
            raise KeyError(name)
        kind = _load(point)
        _kinds[name] = kind
        return kind


def _load(point: EntryPoint) -> ChannelKind:
    origin = f"entry point {point.name} = {point.value} (group {ENTRY_POINT_GROUP}"
    origin += f", package {point.dist.name})" if point.dist is not None else ")"
    try:
        loaded = point.load()
    except Exception as exc:  # noqa: BLE001 - any failure of a plugin's import is reported as that plugin's
        reason = STATE.redactor.scrub_text(f"{type(exc).__name__}: {exc}")
        raise ValueError(f"the channel type {point.name!r} could not be loaded from its {origin}: {reason}") from None
    if not isinstance(loaded, ChannelKind):
        raise ValueError(f"the {origin} is a {type(loaded).__name__}, expected an "
                         "otel_trading.alerts.channels.ChannelKind")
    if loaded.name != point.name:
        raise ValueError(f"the {origin} is the channel kind {loaded.name!r}: the entry point must be named "
                         "after the type it provides")
    return loaded
