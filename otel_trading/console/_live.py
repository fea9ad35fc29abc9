"""The running bot's side of the console: trading state, portfolios, health, alert engines, live metrics.

Everything here reads the process state through the APIs the bot itself uses (the trading
state, ``Portfolio`` snapshots, the health registry, ``AlertEngine``'s acknowledge/silence,
the in-memory metric reader of the configuration in force) and writes only through them:
the kill switch is ``set_trading_state(..., source="console")``.
"""

from __future__ import annotations

import collections
import json
import re
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from otel_trading.console import _store_api as store_api
from otel_trading.console._params import ApiError, Query, body_seconds, body_text, choice, integer, text
from otel_trading.export import _metric_queries as metric_queries

JsonDict = dict[str, Any]
MAX_SILENCE_S: Final = 30 * 86_400.0
_STATES: Final = ("active", "reducing", "halted")
EQUITY_SAMPLES: Final = 3600
"""How many equity samples the live overview keeps: an hour at the stream's one read a second."""
_SAMPLE_SPACING_NS: Final = 1_000_000_000
_KINDS: Final = {"Sum": "sum", "Gauge": "gauge", "Histogram": "histogram",
                 "ExponentialHistogram": "exponential_histogram"}


def _points(names: set[str]) -> dict[str, list[Any]]:
    """The data points of the metrics ``names`` in the current collection (cumulative reader)."""
    from otel_trading.alerts._engine import collect_current

    found: dict[str, list[Any]] = {name: [] for name in names}
    data = collect_current()
    if data is None:
        return found
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name in found:
                    found[metric.name].extend(metric.data.data_points)
    return found


def _current_catalog() -> list[JsonDict]:
    from otel_trading.alerts._engine import collect_current

    data = collect_current()
    found: dict[str, JsonDict] = {}
    for resource in data.resource_metrics if data is not None else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                kind = type(metric.data).__name__
                info = found.setdefault(metric.name, {
                    "name": metric.name, "unit": metric.unit, "description": metric.description,
                    "type": _KINDS.get(kind, kind.lower()), "attribute_keys": set()})
                for point in metric.data.data_points:
                    info["attribute_keys"].update(point.attributes or {})
    return [{**info, "attribute_keys": sorted(info["attribute_keys"])} for info in found.values()]


def _current_series(name: str, query: Query) -> JsonDict:
    """``/api/metrics/<name>`` from the current collection: now, one point per ``by`` group."""
    from otel_trading.alerts._engine import collect_current

    by = [key.strip() for key in (text(query, "by") or "").split(",") if key.strip()]
    stat = choice(query, "stat", ("value", "p50", "p99", "rate")) or "value"
    if stat == "rate":
        raise ApiError(400, "stat=rate needs the recorded history: configure the 'local' metrics exporter")
    data = collect_current()
    found: dict[str, tuple[str, list[Any]]] = {}
    for resource in data.resource_metrics if data is not None else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == name:
                    unit, points = found.setdefault(name, (metric.unit or "", []))
                    points.extend(metric.data.data_points)
    if name not in found:
        raise ApiError(404, f"no metric {name!r} recorded or collected")
    unit, points = found[name]
    groups: dict[str, list[Any]] = {}
    for point in points:
        attributes = {key: (point.attributes or {}).get(key) for key in by}
        groups.setdefault(json.dumps(attributes, sort_keys=True, default=str), []).append(point)
    now_ns = time.time_ns()
    series = []
    for key, members in groups.items():
        if stat in ("p50", "p99"):
            value = _quantile(members, 0.5 if stat == "p50" else 0.99)
        elif hasattr(members[0], "explicit_bounds"):
            count = sum(p.count for p in members)
            value = sum(p.sum for p in members) / count if count else None
        else:
            value = _total(members)
        series.append({"attributes": json.loads(key), "points": [] if value is None else [[now_ns, value]]})
    return {"name": name, "unit": unit, "series": series}


def _total(points: Iterable[Any]) -> float:
    return float(sum(getattr(point, "value", 0) or 0 for point in points))


def _quantile(points: list[Any], q: float) -> float | None:
    """``q`` of explicit-bucket histogram points merged, interpolated within its bucket as the
    store's percentiles are (``_metric_queries.quantile``): a live overview and the one over its
    store agree."""
    from otel_trading.export._metric_queries import quantile

    bounds: tuple[float, ...] | None = None
    counts: list[int] = []
    for point in points:
        if not hasattr(point, "explicit_bounds"):
            continue
        if bounds is None:
            bounds, counts = tuple(point.explicit_bounds), list(point.bucket_counts)
        elif tuple(point.explicit_bounds) == bounds:
            counts = [a + b for a, b in zip(counts, point.bucket_counts, strict=True)]
    return None if bounds is None else quantile(q, bounds, counts)


class EquitySamples:
    """The bot's equity each time the overview is computed (only while a page watches), at least
    a second apart but for the newest, the last ``maxlen`` of them: the live charts move from the
    first second, long before the metrics exporter's first export."""

    def __init__(self, maxlen: int = EQUITY_SAMPLES, spacing_ns: int = _SAMPLE_SPACING_NS) -> None:
        self._samples: collections.deque[tuple[int, float]] = collections.deque(maxlen=maxlen)
        self._spacing_ns = spacing_ns
        self._lock = threading.Lock()  # pages' requests and the stream compute overviews at once

    def add(self, time_ns: int, equity: float) -> None:
        with self._lock:
            samples = self._samples
            if len(samples) >= 2 and time_ns - samples[-2][0] < self._spacing_ns:
                samples[-1] = (time_ns, equity)  # too close to the one before: the newest replaces it
            else:
                samples.append((time_ns, equity))

    def between(self, since_ns: int | None, until_ns: int | None) -> list[tuple[int, float]]:
        with self._lock:
            return [(t, v) for t, v in self._samples
                    if (since_ns is None or t >= since_ns) and (until_ns is None or t <= until_ns)]


def merged_curve(recorded: Iterable[tuple[int, float]], sampled: Iterable[tuple[int, float]]
                 ) -> tuple[list[list[Any]], list[list[Any]]]:
    """(equity, drawdown) over the recorded and sampled points in time order; the drawdown is the
    report's: the running peak minus the value (>= 0)."""
    equity = [[t, value] for t, value in sorted([*recorded, *sampled], key=lambda point: point[0])]
    drawdown, peak = [], None
    for t, value in equity:
        peak = value if peak is None else max(peak, value)
        drawdown.append([t, peak - value])
    return equity, drawdown


class LiveParts:
    """The live console's reads and controls over the process it runs in."""

    def __init__(self) -> None:
        self.equity_samples = EquitySamples()

    def has_alerts(self) -> bool:
        from otel_trading.alerts import running_engines

        return bool(running_engines())

    # --- overview ------------------------------------------------------------------------------

    def overview(self, store: Path | None, query: Query) -> JsonDict:
        from otel_trading.trading import _names as n
        from otel_trading.trading._portfolio import _PORTFOLIOS

        snapshots = [portfolio.snapshot() for portfolio in list(_PORTFOLIOS.get())]
        now_ns = time.time_ns()
        equity_now = sum(s.equity for s in snapshots) if snapshots else None
        if equity_now is not None:
            self.equity_samples.add(now_ns, equity_now)
        history, drawdown = merged_curve(
            self._equity_history(store, query),
            self.equity_samples.between(integer(query, "since_ns"), integer(query, "until_ns")))
        metrics = _points({n.ORDER_ACK_LATENCY, n.ORDERS, n.ORDER_REJECTS, n.CIRCUIT_BREAKER_TRIPS,
                           "trading.exchange.requests", "trading.exchange.errors",
                           "otel_trading.telemetry.exported", "otel_trading.telemetry.dropped"})
        latency = metrics[n.ORDER_ACK_LATENCY]
        # Rejects per order sent: trading.orders counts each status an order goes through.
        orders = _total(p for p in metrics[n.ORDERS] if (p.attributes or {}).get(n.ORDER_STATUS) == "submitted")
        requests = _total(metrics["trading.exchange.requests"])
        state = self.controls()
        return {
            "equity": history,
            "drawdown": drawdown,
            "pnl": {"realized": sum(s.realized_pnl for s in snapshots) if snapshots else None,
                    "unrealized": sum(s.unrealized_pnl for s in snapshots) if snapshots else None,
                    "daily": sum(s.daily_pnl for s in snapshots) if snapshots else None},
            "positions": [
                {"portfolio": s.name, "symbol": p.symbol, "side": "long" if p.quantity > 0 else "short",
                 "amount": abs(p.quantity), "entry_price": p.average_price, "mark_price": p.mark_price,
                 "unrealized_pnl": p.unrealized_pnl}
                for s in snapshots for p in s.positions.values() if p.quantity
            ],
            "trading_state": {"state": state["state"], "reason": state["reason"], "since_ns": state["since_ns"],
                              "source": state["source"]},
            "breaker_trips": int(_total(metrics[n.CIRCUIT_BREAKER_TRIPS])),
            "firing_alerts": [alert for alert in self.alerts()["firing"] if alert["state"] == "firing"],
            "health": self.health(),
            "order_latency_ms": {name: None if value is None else value * 1000
                                 for name, value in (("p50", _quantile(latency, 0.5)),
                                                     ("p99", _quantile(latency, 0.99)))},
            "error_rate": _total(metrics["trading.exchange.errors"]) / requests if requests else 0.0,
            "reject_rate": _total(metrics[n.ORDER_REJECTS]) / orders if orders else 0.0,
            "telemetry": {"exported": int(_total(metrics["otel_trading.telemetry.exported"])),
                          "dropped": int(_total(metrics["otel_trading.telemetry.dropped"]))},
            "as_of_ns": now_ns,
        }

    @staticmethod
    def _equity_history(store: Path | None, query: Query) -> list[tuple[int, float]]:
        """The equity the ``local`` metrics exporter recorded (summed over portfolios, as the report reads it)."""
        if store is None:
            return []
        try:
            points = metric_queries.recorded_equity(store, since_ns=integer(query, "since_ns"),
                                            until_ns=integer(query, "until_ns"))
        except (OSError, ValueError, LookupError):  # a store being written or damaged: no history this time
            return []
        return [(t, value) for t, value in points]

    # --- metrics -------------------------------------------------------------------------------

    def metrics(self, store: Path | None) -> JsonDict:
        """The metrics recorded in the store, then those only in the current collection (the user's own too)."""
        recorded = store_api.metrics(store)["metrics"] if store is not None else []
        names = {info["name"] for info in recorded}
        return {"metrics": [*recorded, *(info for info in _current_catalog() if info["name"] not in names)]}

    def metric(self, store: Path | None, name: str, query: Query) -> JsonDict:
        """The recorded history when the store has it, else the current value (one point per group)."""
        if store is not None:
            try:
                return store_api.metric(store, name, query)
            except ApiError as exc:
                if exc.status != 404:
                    raise
        return _current_series(name, query)

    # --- alerts --------------------------------------------------------------------------------

    @staticmethod
    def _engines() -> list[Any]:
        from otel_trading.alerts import running_engines

        return running_engines()

    def alerts(self) -> JsonDict:
        rules, firing, history, silences = [], [], [], []
        for engine in self._engines():
            now = engine.clock()
            acknowledged = engine.router.acknowledged
            with engine._lock:
                states = list(engine.states.values())
                entries = list(engine.history)
                engine_silences = list(engine.router.silences)
                active = [(state.rule.name, a) for state in states for a in state.active.values()]
            for state in states:
                rule = state.rule
                alerts = list(state.active.values())
                current = "firing" if any(a.state == "firing" for a in alerts) else \
                    "pending" if alerts else "inactive"
                rules.append({"name": rule.name, "state": current,
                              "value": max((a.value for a in alerts), default=None),
                              "expr": rule.expression.promql(), "for_s": rule.for_s,
                              "severity": rule.severity.value, "summary": rule.annotations.get("summary", "")})
            for _, alert in active:
                if alert.state in ("firing", "pending"):
                    firing.append({"fingerprint": alert.fingerprint, "alertname": alert.rule,
                                   "labels": dict(alert.labels), "annotations": dict(alert.annotations),
                                   "state": alert.state, "value": alert.value,
                                   "active_since_ns": int(alert.active_at * 1e9),
                                   "acknowledged": alert.fingerprint in acknowledged})
            history += [{"time_ns": e.time_ns, "alertname": e.alertname,
                         "state": "resolved" if e.state == "inactive" else e.state,
                         "fingerprint": e.fingerprint, "labels": e.labels} for e in entries]
            silences += [_silence_view(s, now) for s in engine_silences]
        history.sort(key=lambda entry: entry["time_ns"], reverse=True)
        return {"rules": rules, "firing": firing, "history": history, "silences": silences}

    def acknowledge(self, body: Mapping[str, Any]) -> JsonDict:
        name = body_text(body, "alertname", max_length=200)
        fingerprint = body_text(body, "fingerprint", max_length=64)
        if name is None and fingerprint is None:
            raise ApiError(400, "body: give 'alertname' or 'fingerprint' of the alert to acknowledge")
        done = [a.fingerprint for engine in self._engines()
                for a in engine.acknowledge(name, fingerprint=fingerprint)]
        return {"acknowledged": done}

    def silence(self, body: Mapping[str, Any]) -> JsonDict:
        from otel_trading.alerts import Matcher

        engines = self._engines()
        if not engines:
            raise ApiError(404, "no alert engine runs in this bot (otel_trading.alerts.start())")
        matchers = body.get("matchers")
        if not isinstance(matchers, list) or not matchers or len(matchers) > 20:
            raise ApiError(400, "body field 'matchers': expected a list of 1 to 20 {name, value, is_regex}")
        equal: dict[str, str] = {}
        regex: dict[str, re.Pattern[str]] = {}
        for index, matcher in enumerate(matchers):
            if not isinstance(matcher, dict):
                raise ApiError(400, f"matchers[{index}]: expected an object {{name, value, is_regex}}")
            name = body_text(matcher, "name", required=True, max_length=200) or ""
            value = body_text(matcher, "value", required=True, max_length=500) or ""
            if matcher.get("is_regex"):
                try:
                    regex[name] = re.compile(value)
                except re.error as exc:
                    raise ApiError(400, f"matchers[{index}].value: not a regular expression ({exc})") from None
            else:
                equal[name] = value
        duration = body_seconds(body, "duration_s", maximum=MAX_SILENCE_S)
        comment = body_text(body, "comment", max_length=1000) or ""
        created_by = body_text(body, "created_by", max_length=200) or "console"
        created = [engine.silence(Matcher(equal, regex), duration, comment=comment, created_by=created_by)
                   for engine in engines]
        return {"id": created[0].id, "ids": [s.id for s in created]}

    def expire(self, silence_id: str) -> JsonDict:
        expired = [s for s in (engine.expire_silence(silence_id) for engine in self._engines()) if s is not None]
        if not expired:
            raise ApiError(404, f"no silence {silence_id}")
        return {"id": silence_id, "state": "expired"}

    # --- health and controls -------------------------------------------------------------------

    @staticmethod
    def health() -> list[JsonDict]:
        from otel_trading.health._registry import REGISTRY

        _, body = REGISTRY.get().evaluate("readiness")
        return [{"name": name, "status": entry["status"], "detail": entry["detail"],
                 "critical": entry["critical"], "kind": entry["kind"]} for name, entry in body["checks"].items()]

    @staticmethod
    def controls() -> JsonDict:
        from otel_trading.trading import trading_state_details

        state, reason, source, since_ns, history = trading_state_details()
        return {"state": state.value, "reason": reason, "source": source, "since_ns": since_ns,
                "history": [{"time_ns": c.time_ns, "previous": c.previous.value, "state": c.state.value,
                             "reason": c.reason, "source": c.source} for c in reversed(history)]}

    @staticmethod
    def set_controls(body: Mapping[str, Any]) -> JsonDict:
        from otel_trading.trading import set_trading_state

        state = body.get("state")
        if state not in _STATES:
            raise ApiError(400, f"body field 'state': expected one of {', '.join(_STATES)}, got {state!r}")
        reason = body_text(body, "reason", max_length=500) or "set on the console"
        previous = set_trading_state(state, reason, source="console")
        return {"previous": previous.value, "state": state}


def _silence_view(silence: Any, now: float) -> JsonDict:
    matchers = [{"name": k, "value": v, "is_regex": False} for k, v in silence.matcher.equal.items()]
    matchers += [{"name": k, "value": p.pattern, "is_regex": True} for k, p in silence.matcher.regex.items()]
    return {"id": silence.id, "matchers": matchers, "starts_ns": int(silence.starts_at * 1e9),
            "ends_ns": int(silence.ends_at * 1e9), "comment": silence.comment, "created_by": silence.created_by,
            "state": silence.state(now)}
