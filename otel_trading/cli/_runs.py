"""Which bot runs a view reads: ``--service`` and ``--run`` select them, ``runs_of()`` lists them.

A run is the telemetry of one ``configure()``: its resource ``service.name`` and
``service.instance.id`` (a fresh UUID each time). One store often holds several: restarts of a
bot, or several bots sharing a directory; the views say which ones they mixed.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from otel_trading.cli._common import NAME_WIDTH, CliError, printable

SHOWN_RUN_ID: Final = 8
"""How many characters of a run id the views show (a UUID's first group): ``--run`` takes any prefix."""
_NONE: Final = "-"


@dataclass(frozen=True)
class RunSelection:
    """``--service NAME`` (exact ``service.name``) and ``--run ID`` (a prefix of ``service.instance.id``)."""

    service: str | None = None
    run: str | None = None
    """Lower case."""

    def matches(self, resource: Mapping[str, Any]) -> bool:
        if self.service is not None and resource.get("service.name") != self.service:
            return False
        return self.run is None or run_id(resource).lower().startswith(self.run)

    @property
    def everything(self) -> bool:
        return self.service is None and self.run is None


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--service", metavar="NAME", help="only the telemetry of this service.name")
    # dest: args.run is the command's entry point (set_defaults(run=...)).
    parser.add_argument("--run", dest="run_prefix", metavar="ID",
                        help="only the telemetry of the runs whose service.instance.id starts with ID "
                        "(`otel-trading traces --runs` lists them)")


def run_selection(args: argparse.Namespace) -> RunSelection:
    run: str | None = args.run_prefix
    if run is not None and not run.strip():
        raise CliError(f"--run {run!r}: expected the start of a run id (`otel-trading traces --runs` lists them)")
    return RunSelection(args.service, run.strip().lower() if run is not None else None)


def run_id(resource: Mapping[str, Any]) -> str:
    return str(resource.get("service.instance.id") or "")


@dataclass(frozen=True)
class Run:
    service: str
    run_id: str
    """``service.instance.id``; empty when the records have none (written by another SDK)."""
    first_ns: int
    last_ns: int
    records: int

    @property
    def label(self) -> str:
        """``bot-a run 3f2a9c1e``: how the views name a run."""
        shown = printable(self.service, NAME_WIDTH)
        return f"{shown} run {self.run_id[:SHOWN_RUN_ID]}" if self.run_id else f"{shown} (no run id)"


def runs_of(records: Iterable[tuple[Mapping[str, Any], int]]) -> list[Run]:
    """The runs of ``(resource, time_ns)`` pairs, the earliest first, each with its time span and count."""
    found: dict[tuple[str, str], list[int]] = {}
    for resource, time_ns in records:
        key = (str(resource.get("service.name") or _NONE), run_id(resource))
        seen = found.get(key)
        if seen is None:
            found[key] = [time_ns, time_ns, 1]
        else:
            seen[0], seen[1], seen[2] = min(seen[0], time_ns), max(seen[1], time_ns), seen[2] + 1
    return sorted((Run(service, run, first, last, count) for (service, run), (first, last, count) in found.items()),
                  key=lambda run: (run.first_ns, run.service, run.run_id))


def describe_runs(runs: list[Run], view: str, shown: int = 5) -> str:
    """One line saying which runs (and services) ``view`` mixed, and how to pick one."""
    if not runs:
        return "runs: none"
    if len(runs) == 1:
        return f"run: {runs[0].label}"
    services = len({run.service for run in runs})
    labels = ", ".join(run.label for run in runs[:shown])
    more = f" and {len(runs) - shown} more" if len(runs) > shown else ""
    return (f"runs: {len(runs)} runs of {services} service{'s' if services != 1 else ''} in one {view} "
            f"({labels}{more}); --service NAME or --run ID selects one")
