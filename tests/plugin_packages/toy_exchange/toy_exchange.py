"""A tiny exchange client, instrumented by the ``otel-trading-toy`` test plugin."""

from __future__ import annotations


class ToyExchange:
    """Places orders on a pretend venue; an order of amount 0 is refused like a real one would be."""

    id = "toyex"

    def place_order(self, symbol: str, side: str, amount: float) -> dict[str, object]:
        if amount <= 0:
            raise ValueError("amount must be > 0")
        return {"id": "toy-1", "symbol": symbol, "side": side, "amount": amount, "status": "closed"}
