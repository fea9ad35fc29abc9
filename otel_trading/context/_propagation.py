"""Outbound propagation of the correlation id as the ``correlation_id`` W3C baggage entry.

The id lives in a contextvar (cheap to read on every log line); it is only turned into
baggage when a context is injected into an outbound request, so starting an operation
pays nothing for propagation.
"""

from __future__ import annotations

import os

from opentelemetry import baggage, propagate
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from opentelemetry.propagators import textmap
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from otel_trading.context._correlation import CORRELATION_KEY, correlation_id


class CorrelationBaggagePropagator(W3CBaggagePropagator):
    """W3C baggage, with ``correlation_id`` set to the current correlation id.

    The current id wins over one carried in inbound baggage, so ``bound(correlation_id=...)``
    is what downstream services see, as it is what our spans and logs carry.
    """

    def inject(
        self,
        carrier: textmap.CarrierT,
        context: Context | None = None,
        setter: textmap.Setter[textmap.CarrierT] = textmap.default_setter,
    ) -> None:
        cid = correlation_id()
        if cid is not None:
            context = baggage.set_baggage(CORRELATION_KEY, cid, context)
        super().inject(carrier, context, setter)


def install_propagator() -> None:
    """W3C trace context + baggage with the correlation id, unless OTEL_PROPAGATORS chose otherwise."""
    if os.environ.get("OTEL_PROPAGATORS"):
        return
    propagate.set_global_textmap(
        CompositePropagator([TraceContextTextMapPropagator(), CorrelationBaggagePropagator()])
    )
