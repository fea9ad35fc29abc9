"""``otel-trading doctor``: the check results, and the checks that need no network
(configuration and local store). Network checks are in ``_doctor_network``."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from otel_trading.cli._common import NAME_WIDTH, printable
from otel_trading.config._settings import (
    SIGNALS,
    ConfigurationError,
    Settings,
    default_service_name,
    resolve_settings,
)
from otel_trading.export import StoreContents, store_files

Status = Literal["ok", "warn", "fail", "info"]
STORE_SIGNALS: Final = ("traces", "logs")  # the records the store checks read
# Every signal the local store keeps files of (sizes, bounds).
FILE_SIGNALS: Final = ("traces", "metrics", "logs")
_UNREADABLE_SHOWN: Final = 3


@dataclass
class CheckResult:
    """One line of the doctor's output: ``fail`` fails the run, ``warn`` and ``info`` do not."""

    name: str
    status: Status
    summary: str
    details: list[str] = field(default_factory=list)
    """Further lines: shown under a failure or warning, and with --verbose."""
    data: dict[str, Any] = field(default_factory=dict)
    """Machine-readable facts for --json."""


def human_bytes(size: int) -> str:
    value, unit = float(size), "B"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            break
        value /= 1024
    return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"


def human_age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86_400:.1f}d"


def _iso(time_ns: int) -> str:
    moment = dt.datetime.fromtimestamp(time_ns / 1e9, tz=dt.timezone.utc)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


# -- configuration --------------------------------------------------------------------------------


def resolve_configuration(config: Mapping[str, Any] | None, error: str | None) -> Settings | CheckResult:
    """The settings, or the failed check saying why they do not resolve. ``config`` is the masked
    ``effective_config()`` (None: it raised ``error``); the settings are resolved again, unmasked, for
    the other checks: they never reach the output."""
    if error is not None or config is None:
        return CheckResult("configuration", "fail", f"does not resolve: {error}",
                           ["fix the argument or environment variable named above; see docs/configuration.md"],
                           {"error": error})
    try:
        return resolve_settings({})
    except ConfigurationError as exc:  # effective_config() resolved the same environment just before
        return CheckResult("configuration", "fail", f"does not resolve: {exc}", data={"error": str(exc)})


def store_services(contents: StoreContents | None) -> list[str]:
    """The ``service.name`` of the store's records, the most recently seen first."""
    if contents is None:
        return []
    latest: dict[str, int] = {}
    for resource, time_ns in [*((s.resource, s.end_ns) for s in contents.spans),
                              *((r.resource, r.time_ns) for r in contents.logs)]:
        name = resource.get("service.name")
        if isinstance(name, str) and time_ns >= latest.get(name, -1):
            latest[name] = time_ns
    return sorted(latest, key=lambda name: latest[name], reverse=True)


def check_configuration(settings: Settings, services_in_store: list[str]) -> CheckResult:
    """The service and each signal's exporters. The doctor is not the bot: without OTEL_SERVICE_NAME
    (or service.name in OTEL_RESOURCE_ATTRIBUTES) the bot's service is named after the bot's script,
    so it is read from the store rather than from the doctor's own script name."""
    exporters = "; ".join(f"{signal}: {','.join(settings.exporters[signal]) or 'none'}" for signal in SIGNALS)
    service: str | None = settings.service_name
    if settings.service_name != default_service_name():
        shown, source = settings.service_name, "environment"
    elif services_in_store:
        service, source = services_in_store[0], "store"
        others = f", also {', '.join(printable(name, NAME_WIDTH) for name in services_in_store[1:4])}" \
            if len(services_in_store) > 1 else ""
        more = f" and {len(services_in_store) - 4} more" if len(services_in_store) > 4 else ""
        shown = f"{printable(service, NAME_WIDTH)} (from the store{others}{more}; OTEL_SERVICE_NAME is not set)"
    else:
        service, source = None, "script"
        shown = "<your bot's script name> (OTEL_SERVICE_NAME is not set)"
    summary = f"service={shown}; {exporters}"
    data: dict[str, Any] = {"service": service, "service_source": source}
    if not settings.enabled:
        return CheckResult("configuration", "warn", f"telemetry is disabled (OTEL_SDK_DISABLED); {summary}",
                           data={"enabled": False, **data})
    return CheckResult("configuration", "ok", summary, data={"enabled": True, **data})


# -- the local store ------------------------------------------------------------------------------


def _signal_files(directory: Path, signals: tuple[str, ...] = STORE_SIGNALS) -> dict[str, list[Path]]:
    return {signal: store_files(directory, signal) for signal in signals}


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _line_count(path: Path) -> int:
    try:
        with path.open("rb") as handle:
            return sum(1 for line in handle if line.strip())
    except OSError:
        return 0


def check_store_files(directory: Path, settings: Settings | None) -> CheckResult:
    """The directory, its files and their size against the per-signal bound."""
    used = settings is None or any("local" in settings.exporters[s] for s in FILE_SIGNALS)
    if not directory.exists():
        status: Status = "warn" if used else "info"
        return CheckResult("store", status, f"{directory} does not exist yet (created at the first export)",
                           data={"directory": str(directory), "exists": False})
    if not directory.is_dir():
        return CheckResult("store", "fail", f"{directory} is not a directory",
                           data={"directory": str(directory), "exists": True})
    bound = settings.store_max_total_bytes if settings is not None else None
    files = _signal_files(directory, FILE_SIGNALS)
    sizes = {signal: sum(_size(p) for p in paths) for signal, paths in files.items()}
    count = sum(len(paths) for paths in files.values())
    parts = ", ".join(f"{signal} {human_bytes(size)}" for signal, size in sizes.items())
    summary = f"{directory}: {count} files, {human_bytes(sum(sizes.values()))} ({parts}"
    summary += f"; bound {human_bytes(bound)} per signal)" if bound is not None else ")"
    data = {"directory": str(directory), "exists": True, "files": {s: [str(p) for p in f] for s, f in files.items()},
            "bytes": sizes, "max_total_bytes": bound}
    over = [signal for signal, size in sizes.items() if bound is not None and size > bound]
    if over:
        return CheckResult("store", "warn", summary + f"; over the bound: {', '.join(over)}",
                           ["another process may write here with a larger bound; old rotated files are "
                            "deleted only by the writer"], data)
    if not used:
        return CheckResult("store", "info", summary + "; not written by this configuration (no 'local' exporter)",
                           data=data)
    return CheckResult("store", "ok", summary, data=data)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def check_store_records(directory: Path, now_ns: int, contents: StoreContents | None) -> list[CheckResult]:
    """Export batches (one per line) and records, unreadable lines and the newest record (how stale
    the store is). ``contents``: the store as ``load_store`` read it (None when it is no directory)."""
    if contents is None or not directory.is_dir():
        return []
    files = _signal_files(directory)
    batches = {signal: sum(_line_count(p) for p in paths) for signal, paths in files.items()}
    newest = max([s.end_ns for s in contents.spans] + [r.time_ns for r in contents.logs], default=None)
    # A line of the store is one export batch of many spans or log records: both are counted.
    held = {"traces": _plural(len(contents.spans), "span"), "logs": _plural(len(contents.logs), "record")}
    counts = ", ".join(f"{signal} {count} batch{'' if count == 1 else 'es'} ({held[signal]})"
                       for signal, count in batches.items())
    data: dict[str, Any] = {"batches": batches, "spans": len(contents.spans), "logs": len(contents.logs),
                            "newest": _iso(newest) if newest else None,
                            "age_s": (now_ns - newest) / 1e9 if newest else None}
    if newest is None:
        records = CheckResult("store records", "warn", f"{counts}: no records yet", data=data)
    else:
        age = human_age(max(0.0, (now_ns - newest) / 1e9))
        records = CheckResult("store records", "ok", f"{counts}; newest record {age} ago ({_iso(newest)})",
                              data=data)
    problems = contents.problems
    integrity_data = {"unreadable": len(problems), "first": problems[:_UNREADABLE_SHOWN]}
    if problems:
        # "file:line" relative to the store: the details keep the full path and the reason.
        shown = [problem.removeprefix(f"{directory}{os.sep}").split(": ", 1)[0]
                 for problem in problems[:_UNREADABLE_SHOWN]]
        more = f" and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
        integrity = CheckResult("store integrity", "fail", f"{len(problems)} unreadable lines: "
                                f"{', '.join(shown)}{more}", problems[:_UNREADABLE_SHOWN], integrity_data)
    else:
        integrity = CheckResult("store integrity", "ok", "every line readable", data=integrity_data)
    return [records, integrity]


def _existing_ancestor(path: Path) -> Path:
    for candidate in (path, *path.absolute().parents):
        if candidate.exists():
            return candidate
    return Path("/")  # pragma: no cover - the root always exists


def check_store_writable(directory: Path) -> CheckResult:
    """Creates and removes a file in the store (or checks the directory can be created)."""
    if directory.is_dir():
        try:
            handle, name = tempfile.mkstemp(prefix=".doctor-", dir=directory)
            os.close(handle)
            os.unlink(name)
        except OSError as exc:
            return CheckResult("store writable", "fail", f"cannot create files in {directory}: "
                               f"{exc.strerror or exc}", data={"writable": False})
        return CheckResult("store writable", "ok", f"files can be created in {directory}", data={"writable": True})
    if directory.exists():
        return CheckResult("store writable", "fail", f"{directory} is not a directory", data={"writable": False})
    ancestor = _existing_ancestor(directory)
    if ancestor.is_dir() and os.access(ancestor, os.W_OK | os.X_OK):
        return CheckResult("store writable", "ok", f"{directory} can be created (in {ancestor})",
                           data={"writable": True})
    return CheckResult("store writable", "fail", f"{directory} cannot be created: {ancestor} is not a writable "
                       "directory", data={"writable": False})
