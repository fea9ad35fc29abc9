"""One channel's delivery thread: a bounded queue, the rate limit, retries with backoff, give-ups.

Every notification ends in exactly one of ``delivered``, ``failed`` or ``dropped`` (see
``_metrics``); failed and dropped ones go to the dead-letter file when there is one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from otel_trading.alerts._model import Notification
from otel_trading.alerts.channels._base import Channel, DeliveryError
from otel_trading.alerts.channels._deadletter import DeadLetterFile, give_up
from otel_trading.alerts.channels._metrics import Outcome, count_notification, record_attempt_duration
from otel_trading.alerts.channels._pacing import Backoff, TokenBucket
from otel_trading.alerts.channels._queue import NotificationQueue
from otel_trading.tracing._operation import report_instrumentation_failure

_LOG = logging.getLogger("otel_trading.alerts")


@dataclass(frozen=True)
class DeliveryPolicy:
    """What all workers of a dispatcher share. ``sleep`` None: waits that ``close()`` can cut short."""

    backoff: Backoff
    queue_size: int
    max_retry_after_s: float
    dead_letters: DeadLetterFile | None
    sleep: Callable[[float], object] | None
    clock: Callable[[], float]


class ChannelWorker:
    def __init__(self, channel: Channel, policy: DeliveryPolicy) -> None:
        self.channel = channel
        self._policy = policy
        self._bucket = TokenBucket(channel.rate_limit, clock=policy.clock) if channel.rate_limit else None
        self._queue = NotificationQueue(policy.queue_size)
        self._dropping = False  # an overflow is logged once, at its first drop
        self._abort = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def submit(self, notification: Notification) -> bool:
        """Queues ``notification`` (never waits); False when it was dropped instead."""
        refusal = self._queue.put(notification)
        first_drop, self._dropping = not self._dropping, refusal is not None
        if refusal is not None:
            self._give_up(notification, "dropped", f"{self._label()}: {refusal}", attempts=0, log=first_drop)
            return False
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=f"alerts-{self.channel.name}", daemon=True)
                self._thread.start()
        return True

    def close(self) -> None:
        """No new notifications; the thread delivers what is queued, then ends."""
        self._queue.close()

    def join(self, timeout_s: float) -> bool:
        thread = self._thread
        if thread is not None:
            thread.join(max(0.0, timeout_s))
        return thread is None or not thread.is_alive()

    def abort(self) -> None:
        """Stops waiting (backoff, rate limit) and drops what is still queued."""
        self._abort.set()
        left = self._queue.drain()
        if left:
            _LOG.warning("%d alert notification(s) to %s dropped: still queued at close", len(left), self._label())
        for notification in left:
            self._give_up(notification, "dropped", f"{self._label()}: still queued at close", attempts=0, log=False)

    def _run(self) -> None:
        while (notification := self._queue.take()) is not None:
            try:
                self._deliver(notification)
            except Exception:  # noqa: BLE001 - an internal bug must not stop this channel's deliveries
                report_instrumentation_failure(f"alert delivery to {self._label()}")

    def _deliver(self, notification: Notification) -> None:
        attempts = 0
        while self._wait_for_budget():
            attempts += 1
            error = self._attempt(notification)
            if error is None:
                count_notification(self.channel.name, "delivered")
                return
            if (final := self._no_retry_reason(error, attempts)) is not None:
                self._give_up(notification, "failed", final, attempts)
                return
            count_notification(self.channel.name, "retried")
            delay = self._policy.backoff.delay(attempts, error.retry_after_s)
            _LOG.info("alert notification not delivered (attempt %d), retrying in %.1fs: %s",
                      attempts, delay, error.reason)
            if not self._pause(delay):
                self._give_up(notification, "dropped", f"{error.reason} (closed before retry)", attempts)
                return
        self._give_up(notification, "dropped", f"{self._label()}: closed before delivery", attempts)

    def _no_retry_reason(self, error: DeliveryError, attempts: int) -> str | None:
        """Why no retry follows ``error`` (permanent, last attempt, too long a wait), or None."""
        wait, bound = error.retry_after_s, self._policy.max_retry_after_s
        if error.permanent or attempts > self.channel.retries:
            return error.reason
        if wait is not None and wait > bound:
            return f"{error.reason} (asked to wait {wait:g}s, over {bound:g}s)"
        return None

    def _attempt(self, notification: Notification) -> DeliveryError | None:
        started = time.perf_counter()
        try:
            self.channel.send(notification, self.channel.timeout_s)
        except DeliveryError as exc:
            return exc
        except Exception as exc:  # noqa: BLE001 - a channel bug must not kill the worker; the text may hold secrets
            return DeliveryError(f"{self._label()}: unexpected {type(exc).__name__}", permanent=True)
        finally:
            record_attempt_duration(self.channel.name, time.perf_counter() - started)
        return None

    def _wait_for_budget(self) -> bool:
        while self._bucket is not None and (wait := self._bucket.take()) > 0:
            if not self._pause(wait):
                return False
        return not self._abort.is_set()

    def _pause(self, seconds: float) -> bool:
        """Waits; False when the dispatcher was aborted meanwhile."""
        if self._policy.sleep is not None:
            self._policy.sleep(seconds)
            return not self._abort.is_set()
        return not self._abort.wait(seconds)

    def _give_up(self, notification: Notification, outcome: Outcome, reason: str, attempts: int,
                 log: bool = True) -> None:
        give_up(self.channel, notification, outcome=outcome, reason=reason, attempts=attempts,
                dead_letters=self._policy.dead_letters, log=log)

    def _label(self) -> str:
        return f"{self.channel.kind} channel {self.channel.name!r}"
