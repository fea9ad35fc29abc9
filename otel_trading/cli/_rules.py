"""``otel-trading rules``: check alerting files, export them for Prometheus."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from otel_trading.cli._common import COMMAND_HELP


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "rules", help=COMMAND_HELP["rules"],
        description="Validate alerting files (rules, default pack, channels, routes) and export the rules "
        "as Prometheus alerting-rule groups using the metric names the SDK has in Prometheus.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = actions.add_parser("check", help="validate alerting files (exit 1 if one has an error, 2 if one "
                               "cannot be read)",
                               description="Load each FILE as otel_trading.alerts.start() would, channels "
                               "included (${ENV} references must be set), and report errors by file, line and field.")
    check.add_argument("files", nargs="+", type=Path, metavar="FILE")
    export = actions.add_parser("export", help="write the rules of FILE for Prometheus, or its routing for "
                                "Alertmanager",
                                description="Print FILE's rules (default pack included when enabled) as a "
                                "Prometheus rule file; check it with `promtool check rules`. With --format "
                                "alertmanager, print FILE's routes, channels and inhibit rules as an Alertmanager "
                                "0.25 configuration instead (no secret is written: stderr lists the files and "
                                "placeholders to fill in); check it with `amtool check-config`.")
    export.add_argument("file", type=Path, metavar="FILE", nargs="?",
                        help="alerting file (omit with --default-pack to export the default pack alone)")
    export.add_argument("--format", choices=["prometheus", "alertmanager"], default="prometheus",
                        help="prometheus: a rule file (default); alertmanager: an alertmanager.yml")
    export.add_argument("--default-pack", action="store_true", help="export the default trading rule pack")
    export.add_argument("--group", default="otel-trading", help="rule group name (default: otel-trading)")
    export.add_argument("-o", "--output", type=Path, metavar="OUT", help="write to OUT instead of stdout")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from otel_trading.alerts import AlertConfig, RulesError, default_rules, load_config, prometheus_rules
    from otel_trading.alerts.channels import build_channel
    from otel_trading.cli._common import CliError

    if args.action == "check":
        failed = unreadable = 0
        for path in args.files:
            try:
                config = load_config(path)
                for name, spec in config.channels.items():
                    build_channel(name, spec, source=config.source)
            except RulesError as exc:
                print(f"✗ {exc}", file=sys.stderr)
                failed += 1
                unreadable += exc.unreadable
                continue
            print(f"✓ {path}: {len(config.rules)} rules, {len(config.channels)} channels, "
                  f"{len(config.routes)} routes, {len(config.silences)} silences")
        # A file that could not be read (missing, not YAML) is bad input; one with wrong rules was checked.
        return 2 if unreadable else 1 if failed else 0
    if args.format == "alertmanager":
        return _export_alertmanager(args)
    if args.file is None and not args.default_pack:
        raise CliError("give an alerting FILE, or --default-pack")
    try:
        config = load_config(args.file) if args.file is not None else AlertConfig()
    except RulesError as exc:  # the file to export is this command's input: bad input, exit 2
        raise CliError(str(exc)) from None
    rules = config.rules
    if args.default_pack:
        names = {r.name for r in rules}
        rules = [r for r in default_rules() if r.name not in names] + rules
    text = prometheus_rules(rules, group=args.group, interval_s=config.interval_s)
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {len(rules)} rules to {args.output}", file=sys.stderr)
    return 0


def _export_alertmanager(args: argparse.Namespace) -> int:
    from otel_trading.alerts import RulesError, load_config
    from otel_trading.alerts._alertmanager_config import alertmanager_config
    from otel_trading.cli._common import CliError

    if args.file is None:
        raise CliError("--format alertmanager exports the routing of an alerting FILE: give one")
    try:
        exported = alertmanager_config(load_config(args.file))
    except RulesError as exc:  # the file to export is this command's input: bad input, exit 2
        raise CliError(str(exc)) from None
    for warning in exported.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.output is None:
        sys.stdout.write(exported.text)
    else:
        args.output.write_text(exported.text, encoding="utf-8")
        print(f"wrote an Alertmanager configuration ({len(exported.receivers)} receivers) to {args.output}",
              file=sys.stderr)
    return 0
