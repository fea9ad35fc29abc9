"""The dispatcher against real loopback servers: retries, Retry-After, rate limits, dead letters, close().

Backoff runs with an injected RNG and a recording sleep, so no test sleeps for real beyond a
few bounded waits on hung servers.
"""

from __future__ import annotations

import json
import logging
import random
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alert_receivers import RecordingHttpServer, Reply
from otlp_receiver import BlackHoleServer
from test_alert_channels import CANARY, make_alert, make_notification

from otel_trading._state import STATE
from otel_trading.alerts._model import Notification
from otel_trading.alerts.channels import Channel, DeliveryError, Dispatcher, RateLimit, WebhookChannel
from otel_trading.alerts.channels._metrics import DELIVERY_DURATION, NOTIFICATIONS
from otel_trading.alerts.channels._payload import webhook_payload
from otel_trading.metrics import DURATION_BUCKETS_SECONDS

_names = iter(range(1_000_000))


@pytest.fixture
def name() -> str:
    """A channel name no other test uses, so the process-wide counters can be read per test."""
    return f"ch{next(_names)}-{time.monotonic_ns()}"


@pytest.fixture
def server() -> Iterator[RecordingHttpServer]:
    with RecordingHttpServer() as recording:
        yield recording


def seeded(seed: int) -> random.Random:
    return random.Random(seed)  # noqa: S311 - reproducible jitter for the assertions, not security


def no_sleep(_seconds: float) -> None:
    """Retries at once: the delays are asserted through a recording sleep elsewhere."""


def outcomes(channel: str) -> dict[str, float]:
    counter = STATE.local_metrics.counter(NOTIFICATIONS)
    return {dict(key)["outcome"]: h.value for key, h in counter.series() if dict(key)["channel"] == channel}


def attempts_timed(channel: str) -> int:
    histogram = STATE.local_metrics.histogram(DELIVERY_DURATION, DURATION_BUCKETS_SECONDS)
    return sum(h.count for key, h in histogram.series() if dict(key)["channel"] == channel)


def dead_letters(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def eventually(predicate: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


# --- retries and backoff ------------------------------------------------------------------------


def test_retries_back_off_exponentially_with_full_jitter(server: RecordingHttpServer, name: str,
                                                         tmp_path: Path) -> None:
    server.script(Reply(500), Reply(502), Reply(200))
    sleeps: list[float] = []
    dispatcher = Dispatcher([WebhookChannel(name, url=server.url(), retries=3)], rng=seeded(7),
                            sleep=sleeps.append, dead_letter_path=tmp_path / "dead.jsonl")
    assert dispatcher.submit(name, make_notification())
    assert dispatcher.close(5)
    expected = seeded(7)
    assert sleeps == [expected.uniform(0, 1), expected.uniform(0, 2)]
    assert len(server.requests) == 3
    assert outcomes(name) == {"retried": 2, "delivered": 1}
    assert attempts_timed(name) == 3
    assert dead_letters(tmp_path / "dead.jsonl") == []


def test_backoff_is_capped_and_gives_up_after_the_last_retry(server: RecordingHttpServer, name: str,
                                                             tmp_path: Path) -> None:
    server.default = Reply(500, b"still down")
    sleeps: list[float] = []
    dead = tmp_path / "dead.jsonl"
    dispatcher = Dispatcher([WebhookChannel(name, url=server.url(), retries=5)], rng=seeded(3),
                            sleep=sleeps.append, backoff_base_s=1, backoff_max_s=4, dead_letter_path=dead)
    notification = make_notification()
    dispatcher.submit(name, notification)
    assert dispatcher.close(5)
    expected = seeded(3)
    assert sleeps == [expected.uniform(0, ceiling) for ceiling in (1, 2, 4, 4, 4)]
    assert len(server.requests) == 6
    assert outcomes(name) == {"retried": 5, "failed": 1, "dead_lettered": 1}
    (record,) = dead_letters(dead)
    assert set(record) == {"time", "channel", "kind", "outcome", "reason", "attempts", "notification"}
    assert (record["channel"], record["kind"], record["outcome"], record["attempts"]) == (name, "webhook", "failed", 6)
    assert record["reason"] == f"webhook channel {name!r}: HTTP 500: still down"
    assert record["notification"] == webhook_payload(notification)
    assert record["time"].endswith("Z")


def test_retry_after_is_a_minimum_wait(server: RecordingHttpServer, name: str) -> None:
    server.script(Reply(429, b"", {"Retry-After": "7"}), Reply(503, b"", {"Retry-After": "0"}), Reply(200))
    sleeps: list[float] = []
    dispatcher = Dispatcher([WebhookChannel(name, url=server.url())], rng=seeded(1), sleep=sleeps.append)
    dispatcher.submit(name, make_notification())
    assert dispatcher.close(5)
    expected = seeded(1)
    assert sleeps == [max(7.0, expected.uniform(0, 1)), expected.uniform(0, 2)]
    assert outcomes(name) == {"retried": 2, "delivered": 1}


def test_a_retry_after_beyond_the_bound_gives_up_at_once(server: RecordingHttpServer, name: str,
                                                         tmp_path: Path) -> None:
    server.default = Reply(429, b"", {"Retry-After": "3600"})
    dispatcher = Dispatcher([WebhookChannel(name, url=server.url())], sleep=no_sleep, max_retry_after_s=300,
                            dead_letter_path=tmp_path / "dead.jsonl")
    dispatcher.submit(name, make_notification())
    assert dispatcher.close(5)
    assert len(server.requests) == 1
    (record,) = dead_letters(tmp_path / "dead.jsonl")
    assert "asked to wait 3600s, over 300s" in record["reason"]


def test_permanent_errors_are_not_retried(server: RecordingHttpServer, name: str, tmp_path: Path,
                                          caplog: pytest.LogCaptureFixture) -> None:
    server.default = Reply(400, b"invalid_payload")
    sleeps: list[float] = []
    dispatcher = Dispatcher([WebhookChannel(name, url=server.url(), retries=5)], sleep=sleeps.append,
                            dead_letter_path=tmp_path / "dead.jsonl")
    with caplog.at_level(logging.WARNING, logger="otel_trading.alerts"):
        dispatcher.submit(name, make_notification())
        assert dispatcher.close(5)
    assert len(server.requests) == 1 and sleeps == []
    assert outcomes(name) == {"failed": 1, "dead_lettered": 1}
    (record,) = dead_letters(tmp_path / "dead.jsonl")
    assert (record["outcome"], record["attempts"]) == ("failed", 1)
    assert f"alert notification failed after 1 attempt(s): webhook channel {name!r}: HTTP 400: invalid_payload" in \
        caplog.text


def test_a_channel_that_raises_anything_else_fails_permanently_and_the_worker_lives_on(name: str) -> None:
    class Flaky(Channel):
        kind = "flaky"
        calls = 0

        def send(self, notification: Notification, timeout_s: float) -> None:  # noqa: ARG002 - fails by count
            self.calls += 1
            if self.calls == 1:
                raise RuntimeError(f"bug holding {CANARY}")

    channel = Flaky(name, retries=3)
    dispatcher = Dispatcher([channel], sleep=no_sleep)
    dispatcher.submit(name, make_notification())
    dispatcher.submit(name, make_notification())
    assert dispatcher.close(5)
    assert channel.calls == 2
    assert outcomes(name) == {"failed": 1, "delivered": 1}


# --- rate limit ---------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_rate_limit_waits_for_budget_instead_of_dropping(server: RecordingHttpServer, name: str) -> None:
    clock = FakeClock()
    dispatcher = Dispatcher([WebhookChannel(name, url=server.url(), rate_limit="2/min")], sleep=clock.sleep,
                            clock=clock)
    for index in range(5):
        assert dispatcher.submit(name, make_notification(make_alert(instance=str(index))))
    assert dispatcher.close(5)
    assert clock.sleeps == pytest.approx([30.0, 30.0, 30.0])  # a burst of 2, then one every 30 s
    assert [r.json["alerts"][0]["labels"]["instance"] for r in server.requests] == ["0", "1", "2", "3", "4"]
    assert outcomes(name) == {"delivered": 5}


def test_retries_take_from_the_rate_limit_too(server: RecordingHttpServer, name: str) -> None:
    server.script(Reply(500))
    clock = FakeClock()
    dispatcher = Dispatcher([WebhookChannel(name, url=server.url(), rate_limit="1/10s")], sleep=clock.sleep,
                            clock=clock, rng=seeded(5))
    dispatcher.submit(name, make_notification())
    assert dispatcher.close(5)
    jitter = seeded(5).uniform(0, 1)
    assert clock.sleeps == pytest.approx([jitter, 10.0 - jitter])
    assert outcomes(name) == {"retried": 1, "delivered": 1}


# --- never blocking, bounded queues, bounded close ----------------------------------------------


def test_submit_returns_at_once_while_the_server_hangs(black_hole: BlackHoleServer, name: str) -> None:
    dispatcher = Dispatcher([WebhookChannel(name, url=black_hole.endpoint, timeout_s=5)], queue_size=100)
    durations = []
    for _ in range(50):
        started = time.perf_counter()
        dispatcher.submit(name, make_notification())
        durations.append(time.perf_counter() - started)
    # Waiting for the server would take the channel's 5 s timeout. A bound far below that (and a
    # median of microseconds) says "at once" without failing when a loaded machine pauses one call.
    assert max(durations) < 1.0, max(durations)
    assert statistics.median(durations) < 0.005, durations
    started = time.monotonic()
    assert dispatcher.close(0.3) is False
    assert time.monotonic() - started < 1.0
    assert outcomes(name).get("dropped") == 49  # one is in flight to the black hole


def test_a_full_queue_drops_to_the_dead_letter_file(server: RecordingHttpServer, name: str, tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="otel_trading.alerts")
    server.default = Reply(200, delay_s=3)
    dead = tmp_path / "dead.jsonl"
    dispatcher = Dispatcher([WebhookChannel(name, url=server.url(), timeout_s=1, retries=0)], queue_size=3,
                            dead_letter_path=dead)
    dispatcher.submit(name, make_notification())
    assert server.wait_for(lambda: len(server.requests) == 1)  # the worker is stuck on the first one
    started = time.perf_counter()
    accepted = [dispatcher.submit(name, make_notification(make_alert(instance=str(i)))) for i in range(10)]
    assert time.perf_counter() - started < 0.05 * 10
    assert accepted == [True] * 3 + [False] * 7
    records = dead_letters(dead)
    assert [r["outcome"] for r in records] == ["dropped"] * 7
    assert records[0]["reason"] == f"webhook channel {name!r}: queue full (3 pending)"
    assert [r["notification"]["alerts"][0]["labels"]["instance"] for r in records] == [str(i) for i in range(3, 10)]

    started = time.monotonic()
    assert dispatcher.close(0.3) is False
    assert time.monotonic() - started < 1.0
    assert eventually(lambda: len(dead_letters(dead)) == 11)  # + 3 still queued + the one that timed out
    reasons = [r["reason"] for r in dead_letters(dead)[7:]]
    assert reasons.count(f"webhook channel {name!r}: still queued at close") == 3
    assert any("TimeoutError" in reason for reason in reasons)
    assert outcomes(name) == {"dropped": 10, "failed": 1, "dead_lettered": 11}
    # Bursts are logged once each; every notification is still counted and dead-lettered.
    messages = [record.getMessage() for record in caplog.records if name in record.getMessage()]
    assert sum("queue full" in message for message in messages) == 1
    assert sum("3 alert notification(s)" in message and "still queued at close" in message
               for message in messages) == 1


def test_close_drains_what_is_queued(server: RecordingHttpServer, name: str) -> None:
    dispatcher = Dispatcher([WebhookChannel(name, url=server.url())])
    for index in range(5):
        dispatcher.submit(name, make_notification(make_alert(instance=str(index))))
    assert dispatcher.close(5) is True
    assert len(server.requests) == 5 and outcomes(name) == {"delivered": 5}
    assert dispatcher.submit(name, make_notification()) is False
    assert outcomes(name)["dropped"] == 1


def test_close_cuts_a_long_backoff_short(server: RecordingHttpServer, name: str, tmp_path: Path) -> None:
    server.default = Reply(503, b"", {"Retry-After": "120"})
    dead = tmp_path / "dead.jsonl"
    dispatcher = Dispatcher([WebhookChannel(name, url=server.url())], dead_letter_path=dead)  # real sleeps
    dispatcher.submit(name, make_notification())
    assert server.wait_for(lambda: len(server.requests) == 1)
    started = time.monotonic()
    assert dispatcher.close(0.3) is False
    assert time.monotonic() - started < 1.0
    assert eventually(lambda: len(dead_letters(dead)) == 1)
    (record,) = dead_letters(dead)
    assert record["outcome"] == "dropped" and record["reason"].endswith("(closed before retry)")


def test_workers_start_lazily_and_are_daemons(server: RecordingHttpServer, name: str) -> None:
    before = {thread.name for thread in threading.enumerate()}
    dispatcher = Dispatcher([WebhookChannel(name, url=server.url())])
    assert f"alerts-{name}" not in {thread.name for thread in threading.enumerate()} - before
    dispatcher.submit(name, make_notification())
    worker = next(thread for thread in threading.enumerate() if thread.name == f"alerts-{name}")
    assert worker.daemon
    assert dispatcher.close(5)
    assert not worker.is_alive()


# --- routing details ----------------------------------------------------------------------------


def test_send_resolved_false_keeps_only_firing_alerts(server: RecordingHttpServer, name: str) -> None:
    dispatcher = Dispatcher([WebhookChannel(name, url=server.url(), send_resolved=False)])
    assert dispatcher.submit(name, make_notification(make_alert(status="resolved"))) is False
    assert dispatcher.submit(name, make_notification(make_alert(instance="a"),
                                                     make_alert(status="resolved", instance="b")))
    assert dispatcher.close(5)
    (request,) = server.requests
    assert [a["labels"]["instance"] for a in request.json["alerts"]] == ["a"]


def test_unknown_and_duplicate_channels_are_errors(server: RecordingHttpServer, name: str) -> None:
    dispatcher = Dispatcher({name: WebhookChannel(name, url=server.url())})
    assert list(dispatcher.channels) == [name]
    with pytest.raises(KeyError, match="no alert channel named 'nope'"):
        dispatcher.submit("nope", make_notification())
    with pytest.raises(ValueError, match="already registered"):
        dispatcher.add(WebhookChannel(name, url=server.url()))
    dispatcher.close(1)


# --- secrets ------------------------------------------------------------------------------------


class EchoingServer(RecordingHttpServer):
    def _record(self, request: Any) -> Reply:
        super()._record(request)
        return Reply(500, json.dumps({"path": request.path, "headers": request.headers}).encode())


def test_credentials_never_reach_logs_dead_letters_or_metrics(name: str, tmp_path: Path,
                                                              caplog: pytest.LogCaptureFixture,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    dead = tmp_path / "dead.jsonl"
    with EchoingServer() as echo, caplog.at_level(logging.DEBUG, logger="otel_trading.alerts"):
        channel = WebhookChannel(name, url=echo.url(f"/hook/{CANARY}?token={CANARY}"), bearer_token=CANARY,
                                 headers={"X-Api-Key": CANARY}, retries=1)
        dispatcher = Dispatcher([channel], sleep=no_sleep, dead_letter_path=dead)
        dispatcher.submit(name, make_notification())
        assert dispatcher.close(5)
        assert all(CANARY in r.path and CANARY in r.headers["authorization"] for r in echo.requests)
    assert len(dead_letters(dead)) == 1
    captured = capsys.readouterr()
    everything = [caplog.text, dead.read_text(), captured.out, captured.err, repr(channel), repr(dispatcher)]
    for series in (STATE.local_metrics.counter(NOTIFICATIONS).series(),
                   STATE.local_metrics.histogram(DELIVERY_DURATION, DURATION_BUCKETS_SECONDS).series()):
        everything.append(repr([key for key, _ in series]))
    assert "HTTP 500" in caplog.text
    for text in everything:
        assert CANARY not in text


@pytest.mark.parametrize(("text", "count", "period_s"), [
    ("20/min", 20, 60), ("1/s", 1, 1), ("100/hour", 100, 3600), ("5/30s", 5, 30), (" 3 / 2 minutes ", 3, 120),
    ("10/day", 10, 86400)])
def test_rate_limits_parse(text: str, count: int, period_s: float) -> None:
    assert RateLimit.parse(text) == RateLimit(count, period_s)


@pytest.mark.parametrize("text", ["0/min", "fast", "20/fortnight", "20/0s", "-1/s", ""])
def test_bad_rate_limits_say_the_expected_form(text: str) -> None:
    with pytest.raises(ValueError, match="expected a rate like 20/min"):
        RateLimit.parse(text)


def test_delivery_error_keeps_its_fields() -> None:
    error = DeliveryError("slack channel 'x': HTTP 429", retry_after_s=3.0)
    assert (error.reason, error.retry_after_s, error.permanent) == ("slack channel 'x': HTTP 429", 3.0, False)
    assert repr(error) == "DeliveryError(\"slack channel 'x': HTTP 429\")"
