"""An otel-trading plugin: the ``sms`` alert channel kind and the ``toy_exchange`` instrumentation."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.trace import SpanKind

from otel_trading.alerts import Notification
from otel_trading.alerts.channels import AlertmanagerTarget, ChannelField, ChannelKind, HttpChannel

# --- the alert channel ------------------------------------------------------------------------


class SmsChannel(HttpChannel):
    """POSTs ``{"to": ..., "text": ...}`` to an SMS gateway; ``url`` carries the gateway's key."""

    kind = "sms"

    def __init__(self, name: str, *, url: str, to: str, **options: Any) -> None:
        super().__init__(name, **options)
        if not url.startswith(("http://", "https://")):
            raise ValueError("url must be an http:// or https:// URL")
        self._url, self._to = url, to

    def credential_urls(self) -> tuple[str, ...]:
        return (self._url,)

    def send(self, notification: Notification, timeout_s: float) -> None:
        text = f"[{notification.status}] " + ", ".join(alert.name for alert in notification.alerts)
        self.post_json(self._url, {"to": self._to, "text": text}, timeout_s)


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("expected a non-empty string like https://sms.example.com/send?key=${SMS_KEY}")
    return value


def _phone(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("+") or not value[1:].isdigit():
        raise ValueError("expected a phone number like +15550100")
    return value


def _alertmanager(channel: AlertmanagerTarget) -> tuple[str, dict[str, Any]]:
    url = channel.placeholder("url", "url", "https://sms.invalid/REPLACE_ME")
    channel.note(f"  to: {channel.values['to']} (the gateway reads it from the webhook payload)")
    return "webhook_configs", {"url": url}


SMS = ChannelKind("sms", SmsChannel, {"url": ChannelField(_text, required=True, secret=True),
                                      "to": ChannelField(_phone, required=True)}, _alertmanager)

# --- the instrumentation ----------------------------------------------------------------------


class ToyExchangeInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Every ``ToyExchange.place_order`` call is a CLIENT span with ``trading.exchange``: an exchange call."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("toy-exchange >= 1.0",)

    def _instrument(self, **kwargs: Any) -> None:
        import toy_exchange

        tracer = trace.get_tracer(__name__, tracer_provider=kwargs.get("tracer_provider"))
        original = toy_exchange.ToyExchange.place_order

        def place_order(exchange: Any, symbol: str, side: str, amount: float) -> Any:
            with tracer.start_as_current_span("toyex.place_order", kind=SpanKind.CLIENT, attributes={
                    "trading.exchange": exchange.id, "trading.symbol": symbol}) as span:
                try:
                    return original(exchange, symbol, side, amount)
                except Exception as exc:
                    span.set_attribute("error.type", type(exc).__qualname__)
                    raise

        self._original = original
        toy_exchange.ToyExchange.place_order = place_order

    def _uninstrument(self, **_kwargs: Any) -> None:
        import toy_exchange

        toy_exchange.ToyExchange.place_order = self._original
