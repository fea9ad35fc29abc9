"""The dispatcher: hands notifications to channels without ever making the caller wait.

``submit()`` only queues (a bounded queue per channel; a full queue drops the new
notification to the dead-letter file and counts it). One daemon thread per channel,
started at its first notification, delivers in order: it waits for the channel's rate limit
(``rate_limit: 20/min`` - waiting, not dropping; what waits is bounded by the queue),
retries retryable failures with exponential backoff and full jitter (at least the service's
``Retry-After``), and gives up after ``retries`` retries or at once on a permanent error.
``close(timeout_s)`` stops intake, lets the workers drain until the deadline, then drops
what is left. Everything given up is logged on ``otel_trading.alerts`` with a scrubbed reason.
"""

from __future__ import annotations

import dataclasses
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType

from otel_trading.alerts._model import Notification
from otel_trading.alerts.channels._base import Channel, register_secrets
from otel_trading.alerts.channels._deadletter import DeadLetterFile
from otel_trading.alerts.channels._pacing import Backoff
from otel_trading.alerts.channels._worker import ChannelWorker, DeliveryPolicy
from otel_trading.tracing._operation import report_instrumentation_failure


class Dispatcher:
    """Queues notifications per channel and delivers them on background threads.

    ``rng``, ``sleep`` and ``clock`` are for tests: the backoff's jitter source, a sleep to
    use instead of the (close-interruptible) default, and the rate limiter's monotonic clock.
    """

    def __init__(self, channels: Iterable[Channel] | Mapping[str, Channel] = (), *,
                 dead_letter_path: str | os.PathLike[str] | None = None, queue_size: int = 256,
                 backoff_base_s: float = 1.0, backoff_max_s: float = 60.0, max_retry_after_s: float = 300.0,
                 rng: random.Random | None = None, sleep: Callable[[float], object] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size must be ≥ 1, got {queue_size!r}")
        self._policy = DeliveryPolicy(
            backoff=Backoff(base_s=backoff_base_s, max_s=backoff_max_s, rng=rng),
            queue_size=queue_size,
            max_retry_after_s=max_retry_after_s,
            dead_letters=DeadLetterFile(dead_letter_path) if dead_letter_path is not None else None,
            sleep=sleep,
            clock=clock,
        )
        self._workers: dict[str, ChannelWorker] = {}
        self._lock = threading.Lock()
        for channel in channels.values() if isinstance(channels, Mapping) else channels:
            self.add(channel)

    @property
    def channels(self) -> dict[str, Channel]:
        return {name: worker.channel for name, worker in self._workers.items()}

    def add(self, channel: Channel) -> None:
        with self._lock:
            if channel.name in self._workers:
                raise ValueError(f"a channel named {channel.name!r} is already registered")
            register_secrets(channel)
            self._workers[channel.name] = ChannelWorker(channel, self._policy)

    def submit(self, channel_name: str, notification: Notification) -> bool:
        """Queues ``notification`` for ``channel_name`` and returns at once.

        False when it was not queued: dropped (queue full, dispatcher closed), or nothing to
        send (only resolved alerts for a channel with ``send_resolved: false``).
        """
        worker = self._workers.get(channel_name)
        if worker is None:
            raise KeyError(f"no alert channel named {channel_name!r}")
        try:
            if not worker.channel.send_resolved:
                firing = tuple(alert for alert in notification.alerts if alert.status == "firing")
                if not firing:
                    return False
                notification = dataclasses.replace(notification, alerts=firing)
            return worker.submit(notification)
        except Exception:  # noqa: BLE001 - whoever raised the alert must never see our failure
            report_instrumentation_failure("alert notification submit")
            return False

    def close(self, timeout_s: float = 5.0) -> bool:
        """Delivers what it can within ``timeout_s``; True when every queue was emptied in time."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            workers = list(self._workers.values())
        for worker in workers:
            worker.close()
        drained = all([worker.join(deadline - time.monotonic()) for worker in workers])
        if not drained:
            for worker in workers:
                worker.abort()
        return drained

    def __enter__(self) -> Dispatcher:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
