"""Bot health: the heartbeat (liveness/readiness endpoints will live here too)."""

from otel_trading.health._heartbeat import heartbeat

__all__ = ["heartbeat"]
