"""``otel-trading doctor``: checks the configuration, the OTLP endpoints, the Prometheus port
and the local store, one line per check, and says whether all is well (exit 0) or not (1)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import IO, Any, Final

from otel_trading.cli._common import COMMAND_HELP, add_store_argument, default_store_dir
from otel_trading.cli._config import effective_config
from otel_trading.cli._doctor_checks import (
    CheckResult,
    Status,
    check_configuration,
    check_store_files,
    check_store_records,
    check_store_writable,
    resolve_configuration,
    store_services,
)
from otel_trading.cli._doctor_network import check_otlp_target, check_prometheus, otlp_targets, target_name
from otel_trading.config._secrets import build_redactor
from otel_trading.config._settings import ConfigurationError, Settings
from otel_trading.export import load_store

_UNICODE_MARKS: Final = {"ok": "✓", "fail": "✗", "warn": "!", "info": "·"}
_ASCII_MARKS: Final = {"ok": "OK", "fail": "FAIL", "warn": "WARN", "info": "--"}
# Each probe has its own 1 s timeouts (2 s at most); this bounds what no timeout covers.
PROBES_DEADLINE_S: Final = 3.0


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "doctor", help=COMMAND_HELP["doctor"],
        description="Check that the configuration resolves, that the OTLP endpoints answer, whether the "
        "Prometheus port is free or serving otel-trading metrics, and the state of the local store. Network "
        "probes time out within 2 s each and run in parallel; secrets are never printed.",
        epilog="Exit status: 0 every check passed (warnings allowed), 1 a check failed.",
    )
    add_store_argument(parser)
    parser.add_argument("--verbose", "-v", action="store_true",
                        help="show the whole effective configuration (secrets masked) and every detail")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    parser.set_defaults(run=run)


def collect_checks(store: Path | None) -> tuple[list[CheckResult], dict[str, Any] | None, Path]:
    """Runs every check; returns the results, the masked configuration and the store checked."""
    now_ns = time.time_ns()
    config: dict[str, Any] | None = None
    try:
        config = effective_config()
        error = None
    except ConfigurationError as exc:
        error = str(exc)
    resolved = resolve_configuration(config, error)
    settings = resolved if isinstance(resolved, Settings) else None
    directory = store if store is not None else settings.store_dir if settings is not None else default_store_dir()
    contents = load_store(directory) if directory.is_dir() else None  # read once, for every check that needs it
    configuration = resolved if isinstance(resolved, CheckResult) else check_configuration(
        resolved, store_services(contents))
    results = [configuration]
    if settings is None:
        results.append(CheckResult("network", "warn", "OTLP and Prometheus checks skipped: the configuration "
                                   "does not resolve"))
    else:
        redactor = build_redactor(settings)
        probes: list[tuple[str, Callable[[], CheckResult]]] = []
        try:
            targets = otlp_targets(settings, os.environ)
        except ConfigurationError as exc:
            results.append(CheckResult("otlp", "fail", redactor.scrub_text(str(exc))))
        else:
            if not targets:
                results.append(CheckResult("otlp", "info", "not used (no exporter is otlp)"))
            probes = [(target_name(target), partial(check_otlp_target, target, redactor)) for target in targets]
        probes.append(("prometheus", partial(check_prometheus, settings)))
        results.extend(run_probes(probes, PROBES_DEADLINE_S))
    results.append(check_store_files(directory, settings))
    results.extend(check_store_records(directory, now_ns, contents))
    results.append(check_store_writable(directory))
    return results, config, directory


def run_probes(probes: Sequence[tuple[str, Callable[[], CheckResult]]], deadline_s: float) -> list[CheckResult]:
    """Runs the network probes in parallel; one still running after ``deadline_s`` fails.

    Daemon threads, not an executor: a probe stuck where no timeout applies (a DNS lookup) must
    not keep the process from exiting.
    """
    results: list[CheckResult | None] = [None] * len(probes)

    def probe(index: int) -> None:
        results[index] = probes[index][1]()

    threads = [threading.Thread(target=probe, args=(index,), name=f"doctor-{name}", daemon=True)
               for index, (name, _) in enumerate(probes)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + deadline_s
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return [result if result is not None else
            CheckResult(name, "fail", f"no result within {deadline_s:g}s (a DNS lookup that does not answer?)")
            for result, (name, _) in zip(results, probes, strict=True)]


def marks_for(stream: IO[str]) -> dict[str, str]:
    """✓ ✗ ! · where the stream's encoding has them, plain ASCII words otherwise."""
    encoding = getattr(stream, "encoding", None) or "ascii"
    try:
        "".join(_UNICODE_MARKS.values()).encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return dict(_ASCII_MARKS)
    return dict(_UNICODE_MARKS)


def _names(results: Sequence[CheckResult], status: Status) -> list[str]:
    return [result.name for result in results if result.status == status]


def render_text(results: Sequence[CheckResult], marks: dict[str, str], *, config: dict[str, Any] | None = None,
                verbose: bool = False) -> str:
    """One line per check; with ``verbose`` every detail and the whole (masked) ``config``."""
    width = max(len(mark) for mark in marks.values())
    name_width = max(len(result.name) for result in results)
    indent = " " * (width + 3)
    lines = []
    for result in results:
        lines.append(f"{marks[result.status]:<{width}} {result.name:<{name_width}}  {result.summary}")
        if verbose or result.status in ("fail", "warn"):
            lines.extend(indent + detail for detail in result.details)
        if verbose and result.name == "configuration" and config is not None:
            lines.extend(f"{indent}{key:26} {json.dumps(value, sort_keys=True)}"
                         for key, value in sorted(config.items()))
    failed, warnings = _names(results, "fail"), _names(results, "warn")
    checks = sum(1 for result in results if result.status != "info")
    warned = f" ({len(warnings)} warning{'s' if len(warnings) != 1 else ''})" if warnings else ""
    if failed:
        verdict = f"{marks['fail']} {len(failed)} of {checks} checks failed: {', '.join(failed)}{warned}"
    else:
        verdict = f"{marks['ok']} all {checks} checks passed{warned}"
    return "\n".join([*lines, "", verdict]) + "\n"


def render_json(results: Sequence[CheckResult], config: dict[str, Any] | None, store: Path) -> str:
    document = {
        "ok": not _names(results, "fail"),
        "failed": _names(results, "fail"),
        "warnings": _names(results, "warn"),
        "store": str(store),
        "checks": [dataclasses.asdict(result) for result in results],
        "config": config,
    }
    return json.dumps(document, indent=2, default=str) + "\n"


def run(args: argparse.Namespace) -> int:
    results, config, store = collect_checks(args.store)
    if args.json:
        sys.stdout.write(render_json(results, config, store))
    else:
        sys.stdout.write(render_text(results, marks_for(sys.stdout), config=config, verbose=args.verbose))
    return 1 if _names(results, "fail") else 0
