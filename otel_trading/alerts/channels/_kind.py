"""What a channel ``type:`` is: its YAML fields, how to build it, and its Alertmanager receiver.

A :class:`ChannelKind` is everything the engine, ``rules check`` and ``rules export --format
alertmanager`` need to know about one kind of channel, in one object: there is no other
table to keep in sync. Built-in kinds and those of installed packages (the
``otel_trading_alert_channel`` entry-point group) are the same objects, looked up through
:mod:`otel_trading.alerts.channels._registry`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from otel_trading.alerts.channels._base import Channel

Converter = Callable[[Any], Any]


@dataclass(frozen=True)
class ChannelField:
    """One YAML field of a channel kind.

    ``convert`` turns the YAML value (``${VAR}`` already expanded) into the constructor's
    argument, or raises ValueError saying what was expected, never repeating the value: the
    caller adds the file, line and field. A ``secret`` field is never echoed, and never read
    by ``rules export``. ``keyword`` is the constructor's keyword when it differs from the
    YAML name (``from`` -> ``sender``).
    """

    convert: Converter
    required: bool = False
    secret: bool = False
    keyword: str = ""


class AlertmanagerTarget(Protocol):
    """What ``rules export --format alertmanager`` hands a kind's ``alertmanager`` renderer: one channel."""

    @property
    def name(self) -> str:
        """The channel's name in the alerting file."""

    @property
    def values(self) -> Mapping[str, Any]:
        """Its non-secret fields by YAML name, expanded and converted as the engine reads them."""

    @property
    def secrets(self) -> Mapping[str, str]:
        """Its secret fields by YAML name -> where the value comes from (never the value)."""

    def secret_file(self, key: str, alertmanager_field: str) -> str:
        """The path of the file Alertmanager reads secret field ``key`` from; the export says to create it."""

    def placeholder(self, key: str, alertmanager_field: str, value: str) -> str:
        """``value``, a stand-in for secret field ``key``; the export says to replace it."""

    def warn(self, text: str) -> None:
        """Adds ``text`` to the export's "Before use" list (something the user must do or know)."""

    def note(self, text: str) -> None:
        """Adds ``text`` as a comment above the receiver (something not carried over, and why)."""


AlertmanagerRenderer = Callable[[AlertmanagerTarget], tuple[str, dict[str, Any]]]
"""Returns the receiver's config list (``"webhook_configs"``) and this channel's entry in it."""


@dataclass(frozen=True)
class ChannelKind:
    """One kind of alert channel, the ``type:`` of its YAML mapping.

    ``channel`` is called as ``channel(name, **arguments)``: the arguments are the
    converted ``fields`` and the common ones (timeout, retries, rate_limit, send_resolved)
    that :class:`Channel`'s constructor takes; a ValueError it raises becomes an error at
    the alerting file's line of the field its message starts with. ``alertmanager`` renders
    the channel as an Alertmanager receiver entry; without one, the export leaves the
    receiver empty with ``alertmanager_note`` (or a standard sentence) as its comment.
    """

    name: str
    channel: Callable[..., Channel]
    fields: Mapping[str, ChannelField] = field(default_factory=dict)
    alertmanager: AlertmanagerRenderer | None = None
    alertmanager_note: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip() or self.name != self.name.strip():
            raise ValueError(f"a channel kind needs a name without surrounding spaces, got {self.name!r}")
        if not callable(self.channel):
            raise ValueError(f"channel kind {self.name!r}: channel must be a Channel class or factory")
        for key, value in self.fields.items():
            if not isinstance(value, ChannelField):
                raise ValueError(f"channel kind {self.name!r}: field {key!r} must be a ChannelField, "
                                 f"got {type(value).__name__}")

    def no_integration_note(self) -> str:
        """The receiver comment when this kind has no Alertmanager integration."""
        return self.alertmanager_note or (f"a {self.name} channel has no Alertmanager integration: left out of "
                                          "this receiver")
