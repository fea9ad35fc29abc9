"""What the console's browser tests share besides fixtures: hostile input and its bot."""

from __future__ import annotations

import time
from typing import Any

import pytest

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


def wait_until(page: Any, expression: str, timeout: float = 20.0) -> Any:
    """Polls a JavaScript expression until it is truthy. (Playwright's wait_for_function evaluates
    its predicate with eval(), which the console's Content-Security-Policy forbids, rightly.)"""
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g}s waiting for {expression}")
        time.sleep(0.1)


# A bot whose trading is halted from the start, so the default pack's TradingHalted fires at
# once; its notifications repeat every half second into a file channel (one JSON line each)
# until someone acknowledges the alert. It serves the live console and prints its login URL.
ALERTING_BOT = """
import sys
import time

import otel_trading
from otel_trading import TradingState, alerts
from otel_trading.alerts import Route
from otel_trading.alerts.channels import FileChannel
from otel_trading.console import current_console

otel_trading.configure(service_name="alerting-bot", store_dir=sys.argv[1], console=True, console_port=0,
                       prometheus_port=0, log_console="off", system_metrics=False, metric_export_interval=0.5)
otel_trading.set_trading_state(TradingState.HALTED, reason="test: halted from the start", source="bot")
alerts.start(default_pack=True, interval=0.2, channels={"file": FileChannel("file", path=sys.argv[2])},
             routes=[Route(("file",), group_wait_s=0, group_interval_s=0, repeat_interval_s=0.5)])
print("console:", current_console().login_url, flush=True)
while True:
    time.sleep(0.5)
"""
