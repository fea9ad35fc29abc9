"""``otel-trading``: entry point of the command-line tools.

Each command lives in its own module ``otel_trading.cli._<command>`` with ``add_parser()``
(registering its arguments and ``run``) and ``run(args) -> exit status``; heavy imports
happen in ``run`` so that ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Final

from otel_trading._version import __version__
from otel_trading.cli._common import CliError

COMMANDS: Final = ("demo", "traces", "logs", "report", "doctor", "rules", "config")
Runner = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otel-trading",
        description="OpenTelemetry-native instrumentation for trading bots: run the demo bot, and look at "
        "the traces, logs and trading performance in the local store without any backend.",
        epilog="Run 'otel-trading COMMAND --help' for a command's options. Exit status: 0 ok, 1 the command "
        "ran and found a problem (nothing matched, a check failed), 2 bad arguments or input.",
    )
    parser.add_argument("--version", action="version", version=f"otel-trading {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"otel_trading.cli._{name}").add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Runner | None = getattr(args, "run", None)
    if run is None:
        parser.print_help(sys.stdout)
        return 0
    try:
        return run(args)
    except CliError as exc:
        print(f"otel-trading {args.command}: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `otel-trading logs | head`: the reader left; that is not an error
        sys.stderr.close()
        return 0
