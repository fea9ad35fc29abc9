"""What every notification channel is: a name, a kind, delivery options and ``send()``.

A channel formats one :class:`Notification` the way its service documents and hands it over
once; retries, backoff, rate limiting and dead letters belong to the dispatcher. Channels
hold credentials (tokens, passwords, webhook URLs), so nothing they raise or print may
carry them: ``repr()`` shows only name and kind, and every failure is a
:class:`DeliveryError` whose text went through :meth:`Channel.scrub`.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Final

from otel_trading._state import STATE
from otel_trading.alerts._model import Notification
from otel_trading.redaction import REDACTED

_RATE: Final = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)?\s*(s|sec|second|m|min|minute|h|hour|d|day)s?\s*$")
_UNIT_SECONDS: Final = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600,
                        "d": 86400, "day": 86400}


class DeliveryError(Exception):
    """A notification the channel could not hand over.

    ``retry_after_s`` is the wait the service asked for (a minimum before the next attempt);
    ``permanent`` says another attempt would fail the same way (bad credentials, a payload
    the service rejects). The message names the channel and the reason, never a credential.
    """

    def __init__(self, message: str, *, retry_after_s: float | None = None, permanent: bool = False) -> None:
        super().__init__(message)
        self.reason = message
        self.retry_after_s = retry_after_s
        self.permanent = permanent


@dataclass(frozen=True)
class RateLimit:
    """At most ``count`` messages per ``period_s`` seconds (bursts up to ``count``)."""

    count: int
    period_s: float

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """``"20/min"``, ``"1/s"``, ``"100/hour"``, ``"5/30s"``; ValueError naming the expected form."""
        match = _RATE.match(text)
        if match is None or int(match.group(1)) <= 0 or float(match.group(2) or 1) <= 0:
            raise ValueError(f"expected a rate like 20/min, 1/s, 100/hour or 5/30s, got {text!r}")
        return cls(int(match.group(1)), float(match.group(2) or 1) * _UNIT_SECONDS[match.group(3)])

    def __str__(self) -> str:
        return f"{self.count}/{self.period_s:g}s"


class Channel(ABC):
    """One configured destination for notifications (``kind`` names the service)."""

    kind: ClassVar[str]

    def __init__(self, name: str, *, timeout_s: float = 10.0, retries: int = 3,
                 rate_limit: RateLimit | str | None = None, send_resolved: bool = True) -> None:
        if not name:
            raise ValueError("a channel needs a name")
        if timeout_s <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout_s!r}")
        if retries < 0:
            raise ValueError(f"retries must be ≥ 0, got {retries!r}")
        self.name = name
        self.timeout_s = float(timeout_s)
        self.retries = retries
        self.rate_limit = RateLimit.parse(rate_limit) if isinstance(rate_limit, str) else rate_limit
        self.send_resolved = send_resolved

    @abstractmethod
    def send(self, notification: Notification, timeout_s: float) -> None:
        """Delivers ``notification`` once within about ``timeout_s``; raises DeliveryError."""

    def secrets(self) -> tuple[str, ...]:
        """The credential strings this channel holds: see :func:`register_secrets`."""
        return ()

    def secret_fragments(self) -> tuple[str, ...]:
        """Pieces of the credentials (a URL's path segments) too common to cut out of every text:
        only this channel's own messages are scrubbed of them."""
        return ()

    def scrub(self, text: str) -> str:
        """``text`` without this channel's credentials or anything the redactor knows as secret."""
        for secret in sorted((*self.secrets(), *self.secret_fragments()), key=len, reverse=True):
            if len(secret) >= 4:  # shorter "secrets" would blank out ordinary words
                text = text.replace(secret, REDACTED)
        return STATE.redactor.scrub_text(text)

    def error(self, reason: str, *, retry_after_s: float | None = None, permanent: bool = False) -> DeliveryError:
        """A DeliveryError naming this channel, with ``reason`` scrubbed."""
        return DeliveryError(f"{self.kind} channel {self.name!r}: {self.scrub(reason)}",
                             retry_after_s=retry_after_s, permanent=permanent)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} kind={self.kind!r}>"


def register_secrets(channel: Channel) -> None:
    """Tells the redactor ``channel``'s credentials, so that no span, log line or alert carries them.

    An annotation quoting a webhook URL, or a library logging the Telegram endpoint, is then
    scrubbed like any known secret, wherever the text goes.
    """
    STATE.redactor.add_secret_values(channel.secrets())
