"""``otel-trading``: entry point of the command-line tools.

Each command lives in its own module ``otel_trading.cli._<command>`` with ``add_parser()``
(registering its arguments and ``run``) and ``run(args) -> exit status``. Only the module of
the command that runs is imported (the others are listed from ``COMMAND_HELP``), so that
``otel-trading traces`` never pays for the SDK setup that ``doctor`` or ``demo`` import.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections.abc import Callable, Collection, Sequence
from typing import Final

from otel_trading._version import __version__
from otel_trading.cli._common import COMMAND_HELP, CliError

COMMANDS: Final = tuple(COMMAND_HELP)
Runner = Callable[[argparse.Namespace], int]


def build_parser(with_options: Collection[str] = COMMANDS) -> argparse.ArgumentParser:
    """The ``otel-trading`` parser; the commands in ``with_options`` get their options (their
    module is imported), the others only their line in the help."""
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
        if name in with_options:
            importlib.import_module(f"otel_trading.cli._{name}").add_parser(commands)
        else:
            commands.add_parser(name, help=COMMAND_HELP[name])
    return parser


def command_named(argv: Sequence[str]) -> str | None:
    """The command ``argv`` runs: its first argument that is not an option (the top level's
    options, --help and --version, take no value)."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


# Options whose value may start with "-": a duration ago written "-5m". argparse would take
# "-5m" for an unknown option (it only knows -5 and -1.5 as negative numbers).
DASH_VALUE_OPTIONS: Final = frozenset({"--since", "--from", "--to"})
_DASH_VALUE: Final = re.compile(r"^-\.?\d")


def join_dash_values(argv: Sequence[str]) -> list[str]:
    """``--since -5m`` as ``--since=-5m``, which argparse reads as the option's value."""
    joined: list[str] = []
    for index, arg in enumerate(argv):
        if arg == "--":  # the rest is positional, as is
            return [*joined, *argv[index:]]
        if joined and joined[-1] in DASH_VALUE_OPTIONS and _DASH_VALUE.match(arg):
            joined[-1] = f"{joined[-1]}={arg}"
        else:
            joined.append(arg)
    return joined


def parse_arguments(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace:
    """Like ``parse_args``, but an unknown option is reported by the command's own parser,
    with its usage, rather than by the top level's (which knows no command options)."""
    args, unknown = parser.parse_known_args(join_dash_values(argv))
    if unknown:
        commands = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
        command_parser = commands.choices.get(args.command) if args.command else None
        (command_parser or parser).error(f"unrecognized arguments: {' '.join(unknown)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    command = command_named(arguments)
    parser = build_parser(with_options=() if command is None else (command,))
    args = parse_arguments(parser, arguments)
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
