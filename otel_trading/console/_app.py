"""What the console answers: the API over a store, plus the running bot's parts in live mode.

One ``ConsoleApp`` per server. Reads come from the store (``_store_api``) and, in live mode,
from the process (``_live``); every answer goes through the configured redactor before it
is rendered, on top of the scrubbing the store's writer already did.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from otel_trading._version import __version__
from otel_trading.console import _store_api as store_api
from otel_trading.console._downsample import DEFAULT_MAX_POINTS, MIN_MAX_POINTS, downsample
from otel_trading.console._params import MAX_LIMIT, ApiError, Query, integer
from otel_trading.console._security import allowed_hosts
from otel_trading.console._stream import Event, StreamHub
from otel_trading.console._tail import LogTail
from otel_trading.redaction import Redactor

if TYPE_CHECKING:
    from otel_trading.console._live import LiveParts

JsonDict = dict[str, Any]
# Dicts whose keys are free-form (span/log attributes, alert labels): secret-looking keys are redacted.
_FREE_FORM: Final = frozenset({"attributes", "labels", "annotations", "fields", "matchers_labels"})
_TRACE_PATH: Final = re.compile(r"^/api/traces/([^/]+)$")
_METRIC_PATH: Final = re.compile(r"^/api/metrics/([^/]+)$")
_EXPIRE_PATH: Final = re.compile(r"^/api/silences/([A-Za-z0-9_-]{1,64})/expire$")
_OVERVIEW_EVERY_S: Final = 1.0
_CACHED_ANSWERS: Final = 32


def scrub(value: Any, redactor: Redactor, free_form: bool = False) -> Any:
    """Every string through the redactor; keys of attribute-like dicts judged as the exporters judge them."""
    if isinstance(value, str):
        return redactor.scrub_text(value)
    if isinstance(value, Mapping):
        if free_form:
            return {key: redactor.scrub_value(str(key), scrub(item, redactor)) for key, item in value.items()}
        return {key: scrub(item, redactor, key in _FREE_FORM) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(item, redactor) for item in value]
    return value


class ConsoleApp:
    def __init__(self, *, store_dir: Path | None, token: str, bind_host: str, service: str | None,
                 redactor: Callable[[], Redactor], live: LiveParts | None = None) -> None:
        self.store_dir = store_dir
        self.token = token
        self.service = service
        self.live = live
        self.bind_host = bind_host
        self.allowed_hosts = allowed_hosts(bind_host)
        self._redactor = redactor
        self.hub = StreamHub(self._stream_events, self._stream_welcome)
        self._tail: LogTail | None = None
        self._tail_run = -1
        self._last_overview: str | None = None
        self._last_overview_at = 0.0
        self._seen_alerts: dict[str, str] = {}
        self._store_signature: tuple[tuple[str, int, int], ...] | None = None
        self._lock = threading.Lock()
        # Over a store (not live: the bot's parts are not on disk), answers last while its files do.
        self._cache = _ReadCache(store_dir) if live is None and store_dir is not None else None

    @property
    def mode(self) -> str:
        return "live" if self.live is not None else "store"

    @property
    def controls(self) -> bool:
        return self.live is not None

    # --- reads ---------------------------------------------------------------------------------

    def info(self) -> JsonDict:
        return {"mode": self.mode, "service": self.service,
                "store_dir": str(self.store_dir) if self.store_dir is not None else None,
                "version": __version__, "controls": self.controls,
                "alerts": self.live is not None and self.live.has_alerts(), "token_required": True}

    def get(self, path: str, query: Query) -> Any:
        if path == "/api/info":
            return self.info()  # not scrubbed: its keys name the token rule, its values are ours
        if self._cache is not None:
            return scrub(self._cache.get(path, query, lambda: self._read(path, query)), self._redactor())
        return scrub(self._read(path, query), self._redactor())

    def _store(self) -> Path:
        if self.store_dir is None:
            raise ApiError(404, "no local store: the bot does not write one (exporters without 'local')")
        return self.store_dir

    def _read(self, path: str, query: Query) -> Any:
        live = self.live
        exact: dict[str, Callable[[], Any]] = {
            "/api/overview": lambda: self.overview(query),
            "/api/trades": lambda: store_api.trades(self._store(), query),
            "/api/traces": lambda: store_api.traces(self._store(), query),
            "/api/logs": lambda: store_api.logs(self._store(), query),
            "/api/report": lambda: store_api.report(self._store(), query),
            "/api/metrics": lambda: live.metrics(self.store_dir) if live is not None
            else store_api.metrics(self._store()),
            "/api/alerts": lambda: live.alerts() if live is not None
            else {"rules": [], "firing": [], "history": [], "silences": []},
            "/api/controls": lambda: self._live_only().controls(),
            "/api/health": lambda: {"checks": live.health() if live is not None else []},
        }
        answer = exact.get(path)
        if answer is not None:
            return answer()
        if match := _TRACE_PATH.match(path):
            return store_api.trace(self._store(), match.group(1))
        if match := _METRIC_PATH.match(path):
            if live is not None:
                return live.metric(self.store_dir, match.group(1), query)
            return store_api.metric(self._store(), match.group(1), query)
        raise ApiError(404, f"no API endpoint {path[:100]!r}")

    def _live_only(self) -> LiveParts:
        if self.live is None:
            raise ApiError(404, "this console is read-only (over a store): it has no controls")
        return self.live

    def overview(self, query: Query) -> JsonDict:
        if self.live is not None:
            result = self.live.overview(self.store_dir, query)
        else:
            result = store_api.overview(self._store(), query)
        # A chart has a few hundred pixels, a long store ~20,000 points per curve: each is cut to
        # ``max_points`` keeping every bucket's low and high (the drawdown's peak, the last equity).
        most = integer(query, "max_points", minimum=MIN_MAX_POINTS, maximum=MAX_LIMIT) or DEFAULT_MAX_POINTS
        result["equity"] = downsample(result["equity"], most)
        result["drawdown"] = downsample(result["drawdown"], most)
        result["updated_ns"] = time.time_ns()
        return result

    # --- changes (live mode only: the handler refuses every POST of a store console) -----------

    def post(self, path: str, body: JsonDict) -> Any:
        live = self.live
        if live is None:
            raise ApiError(405, "this console is read-only (over a store): it has no controls")
        if path == "/api/controls":
            return live.set_controls(body)
        if path == "/api/alerts/acknowledge":
            return live.acknowledge(body)
        if path == "/api/silences":
            return live.silence(body)
        if match := _EXPIRE_PATH.match(path):
            return live.expire(match.group(1))
        raise ApiError(404, f"no API endpoint {path[:100]!r} for POST")

    # --- the event stream (called on the hub's thread, only while a page is connected) ---------

    def _stream_welcome(self) -> Iterable[Event]:
        overview = self._overview_or_none()
        if overview is None:
            return []
        if self.hub.open_streams == 0:  # the first page: what it got is what the next push compares with
            self._last_overview, self._last_overview_at = self._fingerprint(overview), time.monotonic()
        return [("overview", overview)]

    def _overview_or_none(self) -> JsonDict | None:
        try:
            result: JsonDict = scrub(self.overview({}), self._redactor())
            return result
        except ApiError:
            return None

    def _stream_events(self) -> list[Event]:
        events: list[Event] = []
        now = time.monotonic()
        # Read once a second at most (it collects the metrics), sent only when a value changed.
        if now - self._last_overview_at >= _OVERVIEW_EVERY_S and self._may_have_changed():
            self._last_overview_at = now
            overview = self._overview_or_none()
            if overview is not None:
                fingerprint = self._fingerprint(overview)
                if fingerprint != self._last_overview:
                    self._last_overview = fingerprint
                    events.append(("overview", overview))
        events += [("log", record) for record in self._new_logs()]
        if self.live is not None:
            events += [("alert", alert) for alert in self._alert_transitions()]
        return events

    def _fingerprint(self, overview: JsonDict) -> str:
        return _fingerprint(overview, live=self.live is not None)

    def _may_have_changed(self) -> bool:
        """Live: always (the bot's state is not on disk). Over a store: only when its files changed,
        so a page left open on a big store does not recompute the report every second."""
        if self.live is not None or self.store_dir is None:
            return True
        signature = _store_signature(self.store_dir)
        changed = signature is None or signature != self._store_signature
        self._store_signature = signature
        return changed

    def _new_logs(self) -> list[JsonDict]:
        if self.store_dir is None:
            return []
        if self._tail is None or self._tail_run != self.hub.thread_runs:
            # Each time pages start watching again, the tail starts at the end of the store.
            self._tail, self._tail_run = LogTail(self.store_dir), self.hub.thread_runs
            return []
        from otel_trading.export._store_queries import log_view

        redactor = self._redactor()
        return [scrub(store_api.plain(log_view(record)), redactor) for record in self._tail.new_records()]

    def _alert_transitions(self) -> list[JsonDict]:
        assert self.live is not None
        current = {alert["fingerprint"]: alert for alert in self.live.alerts()["firing"]}
        changed = [alert for fp, alert in current.items() if self._seen_alerts.get(fp) != alert["state"]]
        changed += [{"fingerprint": fp, "state": "resolved"} for fp in self._seen_alerts if fp not in current]
        self._seen_alerts = {fp: alert["state"] for fp, alert in current.items()}
        return [scrub(alert, self._redactor()) for alert in changed]


def _store_signature(store_dir: Path) -> tuple[tuple[str, int, int], ...] | None:
    """The store's files as (name, size, mtime): equal while nothing was written (None: unreadable)."""
    try:
        return tuple(sorted((entry.name, entry.stat().st_size, entry.stat().st_mtime_ns)
                            for entry in os.scandir(store_dir)
                            if entry.is_file() and not entry.name.startswith(".")))  # not the index
    except OSError:
        return None


class _ReadCache:
    """The last answers of a read-only console, good while the store's files are unchanged: a page
    reloaded, a "More" or a second tab over a large store costs a directory listing, not another
    0.3-0.8 s report or trade query (benchmarks/console_speed.py). Answers before redaction: the
    redactor still sees every answer sent."""

    def __init__(self, store_dir: Path, size: int = _CACHED_ANSWERS) -> None:
        self.store_dir = store_dir
        self.size = size
        self._answers: OrderedDict[tuple[str, tuple[tuple[str, tuple[str, ...]], ...]], Any] = OrderedDict()
        self._signature: tuple[tuple[str, int, int], ...] | None = None
        self._lock = threading.Lock()

    def get(self, path: str, query: Query, read: Callable[[], Any]) -> Any:
        signature = _store_signature(self.store_dir)
        key = (path, tuple(sorted((name, tuple(values)) for name, values in query.items())))
        with self._lock:
            if signature is None or signature != self._signature:
                self._answers.clear()
                self._signature = signature
            elif key in self._answers:
                self._answers.move_to_end(key)
                return self._answers[key]
        answer = read()
        if signature is not None:
            with self._lock:
                if self._signature == signature:
                    self._answers[key] = answer
                    while len(self._answers) > self.size:
                        self._answers.popitem(last=False)
        return answer


def _fingerprint(overview: JsonDict, *, live: bool) -> str:
    """What must differ for a page to get a new overview: not the time it was made, nor the time
    of the live equity point (taken at each read), only values; over a store also the time the
    figures were recorded (a newer export, same values: the page's "as of" moves on), which live
    is only the read time."""
    ignored = ("updated_ns", "equity", "drawdown", "as_of_ns") if live else ("updated_ns", "equity", "drawdown")
    kept = {key: value for key, value in overview.items() if key not in ignored}
    # A value held longer is no news (the live curves get a sample at each read): only new values count.
    kept["curves"] = [[value for index, value in enumerate(values) if index == 0 or values[index - 1] != value]
                      for values in ([point[1] for point in overview.get(key) or ()]
                                     for key in ("equity", "drawdown"))]
    return json.dumps(kept, sort_keys=True, default=str)
