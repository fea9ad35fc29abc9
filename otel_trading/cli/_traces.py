"""``otel-trading traces``: list recent traces, or show one as a waterfall with its logs."""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import shlex
import shutil
import sys
from pathlib import Path
from typing import Final

from otel_trading.cli._common import (
    COMMAND_HELP,
    NAME_WIDTH,
    CliError,
    add_store_argument,
    add_time_range_arguments,
    align_columns,
    format_duration,
    format_time,
    non_negative_int,
    printable,
    report_problems,
    store_dir,
    time_range,
    warn,
)
from otel_trading.cli._invocation import typed_command
from otel_trading.cli._log_format import (
    HOW_TO_RECORD,
    Style,
    iso_time,
    no_telemetry_message,
    tolerate_unencodable_output,
)
from otel_trading.cli._runs import add_run_arguments, run_selection
from otel_trading.cli._trace_summary import Trace, TraceSummary, group_traces, summarize, summary_document
from otel_trading.cli._waterfall import build_tree, document, render, trade_result
from otel_trading.export._index import StoreIndex, load_indexed, updated_index
from otel_trading.export._runs import Run
from otel_trading.export._store_queries import TraceQuery, listed_traces, trace_runs

DEFAULT_LIMIT: Final = 20
MIN_PREFIX: Final = 8
_TRACE_ID: Final = re.compile(r"^[0-9a-f]{8,32}$")
_SHOWN_ID_LENGTH: Final = 16


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "traces", help=COMMAND_HELP["traces"],
        description="Without TRACE_ID: the most recent traces, newest first, one line each. With TRACE_ID: "
        "that trace as a waterfall, its spans under their parents with their events and log lines.",
        epilog="Examples: otel-trading traces --errors --since 1h; otel-trading traces --symbol BTC/USDT; "
        "otel-trading traces 4bf92f35 --attributes. Exit status 1 when no trace matches.",
    )
    parser.add_argument("trace_id", nargs="?", metavar="TRACE_ID",
                        help=f"show this trace (32 hex digits, or a unique prefix of at least {MIN_PREFIX})")
    add_store_argument(parser)
    parser.add_argument("--limit", type=non_negative_int, default=DEFAULT_LIMIT, metavar="N",
                        help=f"show the N most recent matching traces (default {DEFAULT_LIMIT}; 0 for all)")
    add_time_range_arguments(parser)
    parser.add_argument("--errors", action="store_true", help="only traces with a failed span")
    parser.add_argument("--name", metavar="NAME", help="only traces whose root span is NAME (trade, order...)")
    parser.add_argument("--symbol", metavar="SYMBOL", help="only traces of this trading.symbol (BTC/USDT)")
    parser.add_argument("--trade-id", "--correlation-id", dest="trade_id", metavar="ID",
                        help="only the traces whose spans carry this trading.trade_id or correlation_id")
    add_run_arguments(parser)
    parser.add_argument("--runs", action="store_true",
                        help="list the runs in the store instead (service, run id, first and last trace, "
                        "traces): the IDs --run takes")
    parser.add_argument("--attributes", action="store_true",
                        help="with TRACE_ID: every attribute of every span, event and log, not only the key ones")
    parser.add_argument("--json", action="store_true",
                        help="JSON: one object per trace when listing; the whole trace (span tree with events "
                        "and logs) as one document with TRACE_ID")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    tolerate_unencodable_output()
    prefix = _trace_id_prefix(args.trace_id)
    start, end = time_range(args)  # bad arguments first, before any reading
    selection = run_selection(args)
    if args.runs and prefix is not None:
        raise CliError("--runs lists the runs; it takes no TRACE_ID")
    directory = store_dir(args)
    if directory.exists() and not directory.is_dir():
        raise CliError(f"--store {directory}: not a directory")
    if not directory.exists():
        raise CliError(no_telemetry_message(directory), 1)
    if prefix is not None:
        return show_trace(args, prefix, directory)
    # From the index's summary rows: a damaged line is one problem reported, never a traceback.
    with updated_index(directory) as index:
        if index is None:  # gone since the check above
            raise CliError(no_telemetry_message(directory), 1)
        report_problems(index.problems("traces"))
        _require_traces(index.files["traces"], directory)
        in_range = TraceQuery(service=selection.service, run=selection.run, since_ns=start, until_ns=end)
        if args.runs:
            return list_runs(trace_runs(index, in_range), _trace_count(index), as_json=args.json)
        query = dataclasses.replace(in_range, name=args.name, symbol=args.symbol, correlation_id=args.trade_id,
                                    status="error" if args.errors else None)
        shown, matching = listed_traces(index, query, args.limit or None)
        return list_traces(args, shown, matching, _trace_count(index))


def _trace_count(index: StoreIndex) -> int:
    [(count,)] = index.db.execute("SELECT COUNT(*) FROM traces").fetchall()
    return int(count)


def _trace_id_prefix(text: str | None) -> str | None:
    if text is None:
        return None
    prefix = text.strip().lower()
    if not _TRACE_ID.match(prefix):
        raise CliError(f"trace id {text!r}: expected {MIN_PREFIX} to 32 hex digits")
    return prefix


def _require_traces(files: list[Path], directory: Path) -> None:
    if not files:
        raise CliError(f"no traces in {directory} yet: {HOW_TO_RECORD}", 1)


def show_trace(args: argparse.Namespace, prefix: str, directory: Path) -> int:
    # Only the index rows of the traces with that prefix are read: one trace out of a large store in a blink.
    spans = load_indexed(directory, logs=False, trace_prefix=prefix)
    report_problems(spans.problems)
    _require_traces(spans.files, directory)
    traces = group_traces(spans.spans)
    trace = traces[resolve_trace_id(prefix, traces, directory)]
    logs = load_indexed(directory, traces=False, trace_prefix=trace.trace_id)
    report_problems(logs.problems)
    tree = build_tree(trace, sorted((log for log in logs.logs if log.trace_id == trace.trace_id),
                                    key=lambda log: log.time_ns))
    if args.json:
        print(json.dumps(document(tree), ensure_ascii=False, default=str))
    else:
        width = shutil.get_terminal_size((100, 24)).columns
        print("\n".join(render(tree, Style.for_stream(sys.stdout), width=width, all_attributes=args.attributes)))
    return 0


def resolve_trace_id(prefix: str, traces: dict[str, Trace], directory: Path) -> str:
    candidates = sorted(trace_id for trace_id in traces if trace_id.startswith(prefix))
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise CliError(f"no trace {prefix} in {directory} (`otel-trading traces` lists the recent ones)", 1)
    listed = "\n".join(f"  {line}" for line in _table([summarize(traces[c]) for c in candidates[:10]], Style(
        colour=False)))
    more = f"\n  ... and {len(candidates) - 10} more" if len(candidates) > 10 else ""
    raise CliError(f"trace id {prefix} is ambiguous: {len(candidates)} traces start with it; give more digits:\n"
                   f"{listed}{more}", 2)


def list_runs(runs: list[Run], in_store: int, *, as_json: bool = False) -> int:
    """``--runs``: one line per run, the earliest first, with the times of its first and last trace."""
    if not runs:
        warn(f"no runs match (of {in_store} traces in the store)")
        return 1
    if as_json:
        for run in runs:
            print(json.dumps({"service": run.service, "run": run.run_id or None, "first": iso_time(run.first_ns),
                              "last": iso_time(run.last_ns), "traces": run.records}, ensure_ascii=False))
        return 0
    header, *lines = align_columns(
        [("SERVICE", "RUN", "FIRST", "LAST", "TRACES"),
         *((run.service, run.run_id or "-", format_time(run.first_ns), format_time(run.last_ns), str(run.records))
           for run in runs)],
        right=lambda index, _: index == 4)
    print("\n".join([Style.for_stream(sys.stdout).dim(header), *lines]))
    return 0


def list_traces(args: argparse.Namespace, shown: list[TraceSummary], matching: int, in_store: int) -> int:
    if not shown:
        warn(f"no traces match (of {in_store} in the store)")
        return 1
    if args.json:
        for summary in shown:
            print(json.dumps(summary_document(summary), ensure_ascii=False, default=str))
    else:
        print("\n".join(_table(shown, Style.for_stream(sys.stdout), header=True)))
    if len(shown) < matching:
        warn(f"showed the {len(shown)} most recent of {matching} matching traces (--limit 0 shows all)")
    if not args.json:
        warn(_waterfall_hint(shown, args.store))
    return 0


def _waterfall_hint(shown: list[TraceSummary], store: Path | None) -> str:
    """The exact command that shows the latest trade listed (else the latest trace) as a waterfall."""
    latest = next((summary for summary in shown if summary.name == "trade"), shown[0])
    what = "trade" if latest.name == "trade" else "trace"
    option = f" --store {shlex.quote(str(store))}" if store is not None else ""
    return (f"the waterfall of the latest {what}: {typed_command()} traces "
            f"{latest.trace_id[:_SHOWN_ID_LENGTH]}{option}")


# STATUS last: an error's text is the one long, ragged cell.
_COLUMNS: Final = ("START", "TRACE", "ROOT", "SYMBOL", "SIDE", "DURATION", "SPANS", "RESULT", "STATUS")


def _table(summaries: list[TraceSummary], style: Style, *, header: bool = False) -> list[str]:
    """Aligned columns; widths from the rows shown, colour added after padding."""
    rows = [_cells(summary) for summary in summaries]
    widths = [max(len(cell) for cell in column) for column in zip(_COLUMNS, *rows, strict=True)]
    right_aligned = {_COLUMNS.index("DURATION"), _COLUMNS.index("SPANS")}

    def line(cells: tuple[str, ...], paint: bool) -> str:
        padded = [cell.rjust(width) if i in right_aligned else cell.ljust(width)
                  for i, (cell, width) in enumerate(zip(cells, widths, strict=True))]
        if paint:
            status, result = _COLUMNS.index("STATUS"), _COLUMNS.index("RESULT")
            if cells[status] != "ok":
                padded[status] = style.red(padded[status])
            if cells[result].startswith(("win", "loss")):
                padded[result] = style.paint(padded[result], "32" if cells[result].startswith("win") else "31")
        return "  ".join(padded).rstrip()

    lines = [style.dim(line(_COLUMNS, paint=False))] if header else []
    lines.extend(line(cells, paint=True) for cells in rows)
    return lines


def _cells(summary: TraceSummary) -> tuple[str, ...]:
    side = summary.attribute("trading.side")
    return (
        format_time(summary.start_ns), summary.trace_id[:_SHOWN_ID_LENGTH],
        printable(summary.name, NAME_WIDTH) + (" [partial]" if summary.partial else ""),
        printable(summary.symbol or "-", NAME_WIDTH), printable(str(side) if side is not None else "-", NAME_WIDTH),
        format_duration(summary.duration_s), str(summary.span_count),
        printable(trade_result(summary) or "-", NAME_WIDTH),
        f"error: {printable(summary.error, NAME_WIDTH)}" if summary.error else "ok",
    )
