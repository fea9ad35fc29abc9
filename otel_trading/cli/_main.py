"""``otel-trading``: entry point of the command-line tools."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from otel_trading._version import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otel-trading",
        description="OpenTelemetry-native instrumentation for trading bots: inspect configuration and "
        "the local telemetry store.",
    )
    parser.add_argument("--version", action="version", version=f"otel-trading {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    config = commands.add_parser(
        "config", help="print the effective configuration (secrets masked)",
        description="Resolve configure() defaults and the OTEL_* environment and print the result.",
    )
    config.add_argument("--json", action="store_true", help="print JSON instead of text")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "config":
        from otel_trading.cli._config import show_config

        return show_config(as_json=args.json)
    parser.print_help(sys.stdout)
    return 0
