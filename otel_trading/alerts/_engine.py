"""The alert engine: evaluates rules on the SDK's own metrics, on its own thread.

Each evaluation collects the metrics of the configuration in force through its in-memory
reader (the same MeterProvider as every exporter: no parallel bookkeeping), stores them
as Prometheus series, evaluates every rule, applies the transitions (logged, counted,
passed to actions and to the router) and saves the state. Nothing here runs on the
trading thread and nothing raises out of the loop.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Final, NamedTuple

from opentelemetry.sdk.metrics.export import MetricsData

from otel_trading._state import STATE, Slot
from otel_trading.alerts import _persist
from otel_trading.alerts._actions import Action, ActionRunner
from otel_trading.alerts._model import Alert, Severity, Status
from otel_trading.alerts._routing import Matcher, Router, Silence
from otel_trading.alerts._rules import Rule
from otel_trading.alerts._series import SeriesStore, samples_from_metrics
from otel_trading.alerts._state import RuleState, Transition
from otel_trading.alerts._telemetry import AlertTelemetry

_LOG = logging.getLogger("otel_trading.alerts")
Collect = Callable[[], "MetricsData | None"]
HISTORY_LENGTH: Final = 200


class HistoryEntry(NamedTuple):
    time_ns: int
    alertname: str
    state: str
    """``pending``, ``firing`` or ``inactive`` (resolved, or a pending alert that ended)."""
    fingerprint: str
    labels: dict[str, str]


# A forked child has none running: the engines' threads stayed in the parent.
_STARTED: Final[Slot[weakref.WeakSet[AlertEngine]]] = Slot("started alert engines", weakref.WeakSet,
                                                             after_fork=lambda engines: engines.clear())


def running_engines() -> list[AlertEngine]:
    """The alert engines started (``start()``) and not stopped in this process, e.g. for the console."""
    return list(_STARTED.get())


def collect_current() -> MetricsData | None:
    """The metrics of the configuration in force (None before ``configure()``)."""
    from otel_trading.config._configure import current

    telemetry = current()
    return telemetry.metrics_reader.get_metrics_data() if telemetry is not None else None


class AlertEngine:
    """Rules, their alert states and where notifications go. ``evaluate(now)`` is one cycle."""

    def __init__(self, rules: Sequence[Rule], router: Router, *, interval_s: float = 15.0,
                 collect: Collect = collect_current, clock: Callable[[], float] = time.time,
                 state_file: Path | None = None) -> None:
        names = [rule.name for rule in rules]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"rule names must be unique: {', '.join(duplicates)}")
        self.rules = list(rules)
        self.router = router
        self.interval_s = interval_s
        self.clock = clock
        self.states = {rule.name: RuleState(rule) for rule in rules}
        self.store = SeriesStore(max((r.expression.lookback_s for r in rules), default=0) + 2 * interval_s)
        self._collect = collect
        self._state_file = state_file
        self._telemetry = AlertTelemetry()
        self.actions = ActionRunner(self._action_outcome)
        self._static_silences = len(router.silences)
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.history: collections.deque[HistoryEntry] = collections.deque(maxlen=HISTORY_LENGTH)
        """The latest state changes (pending/firing/inactive), oldest first, for the console."""
        if state_file is not None:
            _persist.restore(state_file, self.states, router, self._static_silences)

    # -- one evaluation -----------------------------------------------------------------------

    def evaluate(self, now: float | None = None) -> list[Transition]:
        """Collects, evaluates every rule at ``now`` and routes the result; never raises."""
        t = self.clock() if now is None else now
        started = time.perf_counter()
        transitions: list[Transition] = []
        with self._lock:
            try:
                self.store.append(t, samples_from_metrics(self._collect()))
            except Exception:  # noqa: BLE001 - a failed collection is a missed evaluation, not a dead engine
                _LOG.exception("alert engine: metric collection failed")
                self._telemetry.evaluation_failed("collect")
            for rule in self.rules:
                try:
                    transitions += self.states[rule.name].evaluate(rule.expression.evaluate(self.store, t), t)
                except Exception:  # noqa: BLE001 - one broken rule must not silence the others
                    _LOG.exception("alert engine: rule %s failed to evaluate", rule.name)
                    self._telemetry.evaluation_failed(rule.name)
            for transition in transitions:
                self._apply(transition, t)
            self._flush(t)
            if transitions:
                self._save()
        self._telemetry.evaluated(time.perf_counter() - started, self.states.values())
        return transitions

    def _apply(self, transition: Transition, t: float) -> None:
        alert = transition.alert.as_alert()
        self.history.append(HistoryEntry(int(t * 1e9), alert.name, transition.after, alert.fingerprint,
                                         dict(alert.labels)))
        self._telemetry.transition(transition, alert)
        if transition.after == "pending":
            return
        self.router.update(alert, t)
        self.actions.submit(alert)

    def _flush(self, t: float) -> None:
        try:
            self.router.flush(t)
        except Exception:  # noqa: BLE001 - routing errors are logged; alert states stay right
            _LOG.exception("alert engine: routing failed")

    def _save(self) -> None:
        if self._state_file is None:
            return
        try:
            _persist.save(self._state_file, _persist.snapshot(self.states, self.router))
        except OSError as exc:
            _LOG.warning("alert state not saved to %s: %s", self._state_file, exc)

    def _action_outcome(self, action: str, alert: Alert, error: BaseException | None) -> None:
        now = self.clock()
        labels = {"alertname": "AlertActionFailed", "severity": Severity.CRITICAL.value, "action": action,
                  "source_alertname": alert.name}
        status: Status = "firing" if error is not None else "resolved"
        if error is None and not any(labels.items() <= a.labels.items() for g in self.router.groups.values()
                                     for a in g.alerts.values()):
            return
        summary = f"alert action {action} for {alert.name} failed: {type(error).__name__}" if error else ""
        with self._lock:
            self.router.update(Alert(labels, {"summary": summary}, status, 1.0, now, None if error else now), now)
            self._flush(now)

    # -- user controls ------------------------------------------------------------------------

    def on_fire(self, callback: Callable[[Alert], object], *, rule: str | None = None,
                loop: asyncio.AbstractEventLoop | None = None, timeout_s: float = 10.0) -> None:
        """Runs ``callback(alert)`` when an alert (of ``rule``, or any) starts firing (async: on ``loop``)."""
        self.actions.actions.append(Action(callback, "firing", rule, loop, timeout_s))

    def on_resolve(self, callback: Callable[[Alert], object], *, rule: str | None = None,
                   loop: asyncio.AbstractEventLoop | None = None, timeout_s: float = 10.0) -> None:
        """Runs ``callback(alert)`` when an alert (of ``rule``, or any) resolves."""
        self.actions.actions.append(Action(callback, "resolved", rule, loop, timeout_s))

    def silence(self, matcher: Matcher, duration_s: float, *, comment: str = "", created_by: str = "",
                starts_at: float | None = None) -> Silence:
        """Mutes the alerts ``matcher`` matches for ``duration_s`` seconds from ``starts_at`` (now).

        Silenced alerts still change state (and show as firing) but are not notified; the
        silence is saved with the alert state. Returns it (its ``id`` expires it early).
        """
        if not math.isfinite(duration_s) or duration_s <= 0:
            raise ValueError(f"duration_s: expected seconds > 0, got {duration_s!r}")
        start = self.clock() if starts_at is None else starts_at
        redact = STATE.redactor.scrub_text  # a comment is free text: it may carry what must not be kept
        silence = Silence(matcher, start + duration_s, start, redact(comment), redact(created_by))
        with self._lock:
            self.router.silences.append(silence)
            self._save()
        return silence

    def expire_silence(self, silence_id: str) -> Silence | None:
        """Ends the silence ``silence_id`` now (its alerts are notified again); None if there is none."""
        now = self.clock()
        with self._lock:
            for index, silence in enumerate(self.router.silences):
                if silence.id == silence_id:
                    expired = replace(silence, ends_at=min(silence.ends_at, now),
                                      starts_at=min(silence.starts_at, now))
                    self.router.silences[index] = expired
                    self._flush(now)
                    self._save()
                    return expired
        return None

    def silences(self) -> list[Silence]:
        with self._lock:
            return list(self.router.silences)

    def firing(self) -> list[Alert]:
        with self._lock:
            return [a.as_alert() for s in self.states.values() for a in s.active.values() if a.state == "firing"]

    def acknowledge(self, alertname: str | None = None, *, fingerprint: str | None = None) -> list[Alert]:
        """Acknowledges firing alerts by name or fingerprint: no repeats, no escalation until resolved."""
        with self._lock:
            chosen = [a for a in self.firing()
                      if (alertname is None or a.name == alertname) and (fingerprint in (None, a.fingerprint))]
            self.router.acknowledge(chosen, self.clock())
            self._save()
        return chosen

    # -- the thread ---------------------------------------------------------------------------

    def start(self) -> AlertEngine:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="otel-trading-alerts", daemon=True)
            self._thread.start()
            _STARTED.get().add(self)
        return self

    def _loop(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            if time.monotonic() >= next_at:
                self.evaluate()
                next_at += self.interval_s
            else:
                with self._lock:
                    self._flush(self.clock())  # group_wait shorter than the interval still counts
            self._stop.wait(min(1.0, max(0.0, next_at - time.monotonic())))

    def stop(self, timeout_s: float = 5.0) -> None:
        thread, self._thread = self._thread, None
        self._stop.set()
        _STARTED.get().discard(self)
        if thread is not None:
            thread.join(timeout_s)
        self.actions.close(timeout_s)
        self._telemetry.close()
        with self._lock:
            self._save()
