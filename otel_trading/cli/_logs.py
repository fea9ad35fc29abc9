"""``otel-trading logs``: search the structured logs of the local store, or follow them live."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import deque
from collections.abc import Iterable
from typing import Final

from otel_trading.cli._common import (
    COMMAND_HELP,
    CliError,
    add_store_argument,
    add_time_range_arguments,
    non_negative_int,
    report_problems,
    store_dir,
    time_range,
    warn,
)
from otel_trading.cli._log_filter import parse_field_filter
from otel_trading.cli._log_format import (
    HOW_TO_RECORD,
    Style,
    log_document,
    no_telemetry_message,
    pretty_log,
    tolerate_unencodable_output,
)
from otel_trading.cli._runs import add_run_arguments, run_selection
from otel_trading.export import StoredLog, StoreFollower
from otel_trading.export._index import updated_index
from otel_trading.export._log_filter import LEVELS, LogFilter
from otel_trading.export._store_queries import newest_logs

DEFAULT_LIMIT: Final = 200
POLL_INTERVAL_S: Final = 0.2
_HEX: Final = re.compile(r"^[0-9a-f]+$")


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "logs", help=COMMAND_HELP["logs"],
        description="Search the log records of the local store (oldest first), or follow them as the bot "
        "writes them. Filters combine: a record is shown when it passes all of them.",
        epilog="Examples: otel-trading logs --since 10m --level warn; otel-trading logs symbol=BTC/USDT "
        "--grep rejected; otel-trading logs -f --trade-id 3f9c2a1b7d4e8f60. Exit status 1 when nothing matched.",
    )
    parser.add_argument("filters", nargs="*", type=parse_field_filter, metavar="FIELD=VALUE",
                        help="keep records whose attribute, resource attribute or field (body, logger, level, "
                        "trace_id, span_id, service) equals VALUE; FIELD!=VALUE excludes, FIELD~=TEXT "
                        "matches a substring (any case). Give them together, before or after the options")
    add_store_argument(parser)
    add_time_range_arguments(parser)
    parser.add_argument("--level", choices=sorted(LEVELS, key=lambda name: (LEVELS[name], name)), type=str.lower,
                        help="minimum level (by severity number)")
    parser.add_argument("--trace-id", metavar="HEX", help="only records of this trace (a prefix is enough)")
    parser.add_argument("--trade-id", "--correlation-id", dest="trade_id", metavar="ID",
                        help="only records whose trade_id or correlation_id attribute is ID")
    parser.add_argument("--grep", metavar="TEXT",
                        help="only records containing TEXT (any case) in the message, logger or attributes")
    add_run_arguments(parser)
    parser.add_argument("--limit", type=non_negative_int, default=None, metavar="N",
                        help=f"show the last N matches (default {DEFAULT_LIMIT}; 0 for all)")
    parser.add_argument("-f", "--follow", action="store_true",
                        help="after the matches so far, keep printing new matching records as they are "
                        "written, across file rotations, until Ctrl-C")
    parser.add_argument("--format", choices=("pretty", "json"), default="pretty",
                        help="pretty: time LEVEL logger message key=value ... trace=<id>; json: one object "
                        "per line (default pretty)")
    parser.set_defaults(run=run)


def log_filter(args: argparse.Namespace) -> LogFilter:
    start, end = time_range(args)
    trace_prefix = args.trace_id.strip().lower() if args.trace_id else None
    if trace_prefix is not None and not _HEX.match(trace_prefix):
        raise CliError(f"--trace-id {args.trace_id!r}: expected hex digits (a trace id or its start)")
    return LogFilter(
        start_ns=start, end_ns=end, min_severity=LEVELS[args.level] if args.level else 0,
        trace_prefix=trace_prefix, trade_id=args.trade_id, fields=tuple(args.filters),
        grep=args.grep.lower() if args.grep else None, runs=run_selection(args),
    )


class LogPrinter:
    def __init__(self, output_format: str) -> None:
        self.as_json = output_format == "json"
        self.style = Style.for_stream(sys.stdout)

    def print(self, logs: Iterable[StoredLog]) -> None:
        for log in logs:
            if self.as_json:
                print(json.dumps(log_document(log), ensure_ascii=False, default=str))
            else:
                print("\n".join(pretty_log(log, self.style)))
        sys.stdout.flush()  # a pipe reader (or a test) sees each batch as soon as it is read


def run(args: argparse.Namespace) -> int:
    tolerate_unencodable_output()
    wanted = log_filter(args)
    limit = DEFAULT_LIMIT if args.limit is None else args.limit
    printer = LogPrinter(args.format)
    directory = store_dir(args)
    if directory.exists() and not directory.is_dir():
        raise CliError(f"--store {directory}: not a directory")
    follower = StoreFollower(directory, "logs", containing=required_text(wanted))
    if args.follow:
        if args.time_to:
            raise CliError("--follow and --to cannot be combined: following has no end")
        return follow(follower, wanted, limit, printer)
    if not directory.exists():
        raise CliError(no_telemetry_message(directory), 1)
    # From the index's log columns, the newest first: only candidate records are decoded.
    with updated_index(directory) as index:
        if index is None:  # gone since the check above
            raise CliError(no_telemetry_message(directory), 1)
        report_problems(index.problems("logs"))
        if not index.files["logs"]:
            raise CliError(f"no logs in {directory} yet: {HOW_TO_RECORD}", 1)
        newest, matching = newest_logs(index, wanted, limit or None)
    printer.print(reversed(newest))
    if limit and matching is not None and matching > limit:
        warn(f"showed the last {limit} of {matching} matching records (--limit 0 shows all)")
    if not newest:
        warn(f"no log records match in {directory}")
        return 1
    return 0


def required_text(wanted: LogFilter) -> str | None:
    """Text that every matching record's line contains as is: the others need not be parsed.

    A trace id or trade id is written verbatim in the OTLP/JSON line unless JSON escapes it.
    """
    for text in (wanted.trace_prefix, wanted.trade_id):
        if text and json.dumps(text, ensure_ascii=False)[1:-1] == text:
            return text
    return None


def follow(follower: StoreFollower, wanted: LogFilter, limit: int, printer: LogPrinter) -> int:
    """Prints the last ``limit`` matches, then new matches every ``POLL_INTERVAL_S``, until Ctrl-C."""
    if not follower.directory.exists():
        warn(f"waiting for telemetry at {follower.directory} (Ctrl-C to stop)")
    backlog = follower.poll()
    report_problems(backlog.problems)
    last: deque[StoredLog] = deque(maxlen=limit or None)
    last.extend(sorted((log for log in backlog.logs if wanted.matches(log)), key=lambda log: log.time_ns))
    printer.print(last)
    while True:
        time.sleep(POLL_INTERVAL_S)
        batch = follower.poll()
        report_problems(batch.problems)
        printer.print(sorted((log for log in batch.logs if wanted.matches(log)), key=lambda log: log.time_ns))
