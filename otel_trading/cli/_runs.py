"""Which bot runs a view reads: ``--service`` and ``--run`` select them (a ``RunSelection``,
otel_trading.export._runs), and the views say which runs they mixed."""

from __future__ import annotations

import argparse
from typing import Final

from otel_trading.cli._common import NAME_WIDTH, CliError, printable
from otel_trading.export._runs import Run, RunSelection

SHOWN_RUN_ID: Final = 8
"""How many characters of a run id the views show (a UUID's first group): ``--run`` takes any prefix."""


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


def run_label(run: Run) -> str:
    """``bot-a run 3f2a9c1e``: how the views name a run."""
    shown = printable(run.service, NAME_WIDTH)
    return f"{shown} run {run.run_id[:SHOWN_RUN_ID]}" if run.run_id else f"{shown} (no run id)"


def describe_runs(runs: list[Run], view: str, shown: int = 5) -> str:
    """One line saying which runs (and services) ``view`` mixed, and how to pick one."""
    if not runs:
        return "runs: none"
    if len(runs) == 1:
        return f"run: {run_label(runs[0])}"
    services = len({run.service for run in runs})
    labels = ", ".join(run_label(run) for run in runs[:shown])
    more = f" and {len(runs) - shown} more" if len(runs) > shown else ""
    return (f"runs: {len(runs)} runs of {services} service{'s' if services != 1 else ''} in one {view} "
            f"({labels}{more}); --service NAME or --run ID selects one")
