"""What several commands share: the store option, time ranges, and user-facing errors."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from otel_trading.export import StoreContents

_DURATION: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
COMMAND_HELP: Final = {
    "demo": "run the instrumented paper-trading bot on a simulated market",
    "console": "the web console over the local store: trades, traces, logs, metrics, in a browser",
    "traces": "list recent traces, or show one as a waterfall with its logs",
    "logs": "search and follow the structured logs",
    "report": "trading performance computed from the recorded telemetry",
    "doctor": "check configuration, endpoints and the store",
    "rules": "check alert rule files; export them as Prometheus rules",
    "config": "print the effective configuration (secrets masked)",
}
"""Each command's line in ``otel-trading --help``: kept here so that the top level can list the
commands without importing their modules (only the command that runs is imported)."""
# How wide the text views show what a record holds (--json and --format json keep it whole).
# One hostile record, a megabyte span name, must neither widen every row of a table nor
# cost time and memory in proportion to its size times the rows.
NAME_WIDTH: Final = 60
"""A name or a table cell: span, event, logger, service, symbol, a report's row label."""
TEXT_WIDTH: Final = 240
"""An attribute value, a log message, a line of a stack trace."""


class CliError(Exception):
    """A problem the user can fix (bad argument, missing store...): printed, exit status ``code``."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def default_store_dir() -> Path:
    return Path(os.environ.get("OTEL_TRADING_STORE_DIR") or ".otel-trading")


def add_store_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store", type=Path, default=None, metavar="DIR",
        help="local store directory (default: $OTEL_TRADING_STORE_DIR or ./.otel-trading)",
    )


def store_dir(args: argparse.Namespace) -> Path:
    directory: Path | None = args.store
    return directory if directory is not None else default_store_dir()


def open_store(args: argparse.Namespace, *, traces: bool = True, logs: bool = True) -> StoreContents:
    """Loads the store named by ``--store``; problems in it are reported on stderr, once each."""
    from otel_trading.export import load_store  # here, not at the top: building the parser stays light

    directory = store_dir(args)
    if directory.exists() and not directory.is_dir():
        raise CliError(f"--store {directory}: not a directory")
    contents = load_store(directory, traces=traces, logs=logs)
    report_problems(contents.problems)
    return contents


def report_problems(problems: list[str], limit: int = 5) -> None:
    for problem in problems[:limit]:
        warn(f"skipped {problem}")
    if len(problems) > limit:
        warn(f"skipped {len(problems) - limit} more unreadable lines")


def clip(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, the cut marked ``...``."""
    return text if len(text) <= width else text[: max(0, width - 3)] + "..."


_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_ESCAPES: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_controls(text: str) -> str:
    """Control characters as escapes (``\\n``, ``\\x1b``): a record's text must not move the cursor,
    recolour or retitle the terminal it is printed on (an exchange's error message, a log line)."""
    return _CONTROL.sub(lambda match: _ESCAPES.get(match.group(), f"\\x{ord(match.group()):02x}"), text)


def printable(text: str, width: int) -> str:
    """Text from a record as the text views print it: control characters escaped, at most ``width``
    characters (cut first, so a megabyte costs no more than a line)."""
    return clip(escape_controls(text[: width + 1]), width)


def align_columns(rows: Sequence[Sequence[str]], *, right: Callable[[int, str], bool] | None = None,
                  indent: str = "") -> list[str]:
    """Rows as lines of aligned columns, each cell ``printable`` in ``NAME_WIDTH``; ``right(index, cell)``
    says which cells are right-aligned (none by default)."""
    clipped = [[printable(cell, NAME_WIDTH) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in clipped) for i in range(len(clipped[0]))] if clipped else []
    return [(indent + "  ".join(cell.rjust(width) if right is not None and right(index, cell) else cell.ljust(width)
                                for index, (cell, width) in enumerate(zip(row, widths, strict=True)))).rstrip()
            for row in clipped]


def warn(message: str) -> None:
    print(f"otel-trading: {message}", file=sys.stderr)


def parse_duration(text: str, option: str) -> float:
    """``"90s"``, ``"10m"``, ``"1.5h"``, ``"2d"``, ``"250ms"`` or plain seconds, as seconds."""
    match = _DURATION.match(text)
    if not match:
        raise CliError(f"{option} {text!r}: expected a duration like 30s, 10m, 2h or 1d")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"]


def parse_time(text: str, option: str, *, now: float | None = None) -> int:
    """An absolute time (ISO 8601; naive means local time) or a duration ago, as Unix ns.

    A duration ago may carry a minus, ``-5m``: how people write "5 minutes ago"."""
    ago = text.strip().removeprefix("-")
    if _DURATION.match(ago):
        current = time.time() if now is None else now
        return int((current - parse_duration(ago, option)) * 1e9)
    try:
        moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise CliError(
            f"{option} {text!r}: expected an ISO time (2026-11-21T14:05:00, 14:05 today is not enough) "
            "or a duration ago like 10m"
        ) from None
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return int(moment.timestamp() * 1e9)


def add_time_range_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", metavar="DURATION", help="only the last DURATION (30s, 10m, 2h, 1d)")
    parser.add_argument("--from", dest="time_from", metavar="TIME", help="start: ISO time or DURATION ago")
    parser.add_argument("--to", dest="time_to", metavar="TIME", help="end: ISO time or DURATION ago")


def time_range(args: argparse.Namespace) -> tuple[int | None, int | None]:
    """(start, end) in Unix ns from ``--since`` / ``--from`` / ``--to``; None where open."""
    if args.since and args.time_from:
        raise CliError("--since and --from both set a start; give one")
    start = parse_time(args.since, "--since") if args.since else None
    if args.time_from:
        start = parse_time(args.time_from, "--from")
    end = parse_time(args.time_to, "--to") if args.time_to else None
    if start is not None and end is not None and end < start:
        raise CliError("--to is before the start of the range")
    return start, end


def format_time(time_ns: int) -> str:
    """Local wall-clock time to the millisecond."""
    moment = dt.datetime.fromtimestamp(time_ns / 1e9).astimezone()
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def format_duration(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f}µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f}ms"
    if seconds < 120:
        return f"{seconds:.2f}s"
    return f"{seconds / 60:.1f}m"


def non_negative_int(text: str) -> int:
    """argparse type: a whole number ≥ 0 (``--limit 0`` means no limit)."""
    try:
        number = int(text)
    except ValueError:
        number = -1
    if number < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number >= 0")
    return number
