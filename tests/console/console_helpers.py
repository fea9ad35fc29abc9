"""What the console's browser tests share besides fixtures: hostile input and its bot."""

from __future__ import annotations

HOSTILE_NAME = '<img src=x onerror="window.__xss=1">'
HOSTILE_MESSAGE = "<script>window.__xss=2</script> order rejected"

HOSTILE_BOT = f"""
import sys
import otel_trading

otel_trading.configure(service_name="hostile-bot", store_dir=sys.argv[1], secrets=[sys.argv[2]],
                       prometheus_port=0, log_console="off", system_metrics=False)
log = otel_trading.get_logger("hostile")
with otel_trading.span({HOSTILE_NAME!r}, note={HOSTILE_NAME!r}, api_key=sys.argv[2], harmless="token " + sys.argv[2]):
    log.warning({HOSTILE_MESSAGE!r}, detail={HOSTILE_NAME!r}, passphrase=sys.argv[2], note="key " + sys.argv[2])
otel_trading.shutdown()
"""
