"""``otel-trading demo``: the instrumented paper-trading bot on a simulated market (see docs/cli.md)."""

from __future__ import annotations

import argparse
import math
import os
import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from otel_trading.cli._common import COMMAND_HELP, CliError, add_store_argument, parse_duration
from otel_trading.cli._invocation import typed_command

if TYPE_CHECKING:
    from otel_trading.config import Telemetry
    from otel_trading.config._settings import Signal
    from otel_trading.demo import DemoOptions, RecordedEquity

_DEFAULT_SYMBOLS = "BTC/USDT,ETH/USDT,SOL/USDT"  # the same as otel_trading.demo's, without importing it for --help
_DEFAULT_TRADES = 16
_RATES = (("reject_rate", 0.08, "share of entry orders the venue rejects (insufficient funds, invalid order)"),
          ("error_rate", 0.02, "chance an exchange call fails (rate limit, timeout, network error)"),
          ("gap_rate", 0.004, "chance per symbol and simulated second that its market-data feed stalls"),
          ("partial_fill_rate", 0.3, "chance an entry order fills only in part at first"))
_SIGNALS: tuple[Signal, ...] = ("traces", "metrics", "logs")
_METRIC_EXPORT_INTERVAL_S = 1.0


class _DefaultsHelpFormatter(argparse.HelpFormatter):
    """Appends ``(default: X)`` to an option's help unless the help already says its default
    (an environment variable, a computed one) or there is none to show (None, a flag's False)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "demo", help=COMMAND_HELP["demo"],
        formatter_class=_DefaultsHelpFormatter,
        description="Paper-trade a seeded simulated market (price regimes, a scripted crash, an exchange "
        "error burst, rejects, partial fills, feed gaps) through a ccxt-shaped exchange, with every trade "
        "a trace, trading and exchange metrics, and correlated logs. Same --seed and --trades: same trades, "
        "PnL and errors. By default telemetry goes to the local store and a Prometheus endpoint.",
        epilog="Afterwards: " + ", ".join(next_commands(None)) + ".",
    )
    parser.add_argument("--trades", type=int, default=None, metavar="N",
                        help=f"stop after N round trips (default {_DEFAULT_TRADES}, or none with --duration)")
    parser.add_argument("--duration", metavar="DURATION",
                        help="stop after this much wall-clock time (30s, 2m); open positions are flattened")
    parser.add_argument("--seed", type=int, default=7, help="seed of the market, the exchange and the strategy")
    parser.add_argument("--speed", type=float, default=20.0,
                        help="simulated seconds per real second (exchange latencies stay real)")
    parser.add_argument("--symbols", default=_DEFAULT_SYMBOLS, help="comma-separated BASE/USDT symbols (1 to 8)")
    add_store_argument(parser)
    parser.add_argument("--prometheus-port", type=int, default=None, metavar="PORT",
                        help="port of the /metrics endpoint, 0 for a free one (default: 9464 or "
                        "$OTEL_EXPORTER_PROMETHEUS_PORT)")
    parser.add_argument("--console-port", type=int, default=None, metavar="PORT",
                        help="port of the live web console, 0 for a free one (default: 9466 or "
                        "$OTEL_TRADING_CONSOLE_PORT)")
    parser.add_argument("--no-console", action="store_true",
                        help="do not serve the live web console (docs/console.md)")
    parser.add_argument("--otlp-endpoint", metavar="URL",
                        help="send traces, metrics and logs over OTLP to this collector instead (default: "
                        "$OTEL_EXPORTER_OTLP_ENDPOINT, else the local store and Prometheus)")
    parser.add_argument("--otlp-protocol", choices=("grpc", "http/protobuf"), default=None,
                        help="OTLP transport (default: $OTEL_EXPORTER_OTLP_PROTOCOL or grpc)")
    parser.add_argument("--service-name", default="demo-bot", help="service.name of the telemetry")
    parser.add_argument("--linger", metavar="DURATION",
                        help="after the run, keep the process and its /metrics endpoint up this long (30s, 5m) "
                        "so Prometheus scrapes the final values; Ctrl-C ends it early")
    parser.add_argument("--no-progress", action="store_true", help="print only the summary, no live progress")
    parser.add_argument("--log-console", choices=("off", "pretty", "json"), default="off",
                        help="also print the bot's logs on stderr (they always go to the telemetry)")
    for name, default, meaning in _RATES:
        parser.add_argument(f"--{name.replace('_', '-')}", type=float, default=default, metavar="P", help=meaning)
    parser.set_defaults(run=run)


def demo_options(args: argparse.Namespace) -> DemoOptions:
    """The demo's options from the command line; CliError naming the option on a bad value."""
    from otel_trading.demo import DemoOptions

    if args.trades is not None and args.trades < 1:
        raise CliError(f"--trades {args.trades}: expected at least 1")
    duration = None if args.duration is None else parse_duration(args.duration, "--duration")
    if duration is not None and duration <= 0:
        raise CliError(f"--duration {args.duration}: expected more than 0 seconds")
    if not (args.speed > 0 and math.isfinite(args.speed)):
        raise CliError(f"--speed {args.speed}: expected simulated seconds per second > 0")
    for name, _, _ in _RATES:
        value = getattr(args, name)
        if not 0.0 <= value <= 1.0:
            raise CliError(f"--{name.replace('_', '-')} {value}: expected a probability between 0 and 1")
    for option in ("prometheus_port", "console_port"):
        port = getattr(args, option)
        if port is not None and not 0 <= port <= 65535:
            raise CliError(f"--{option.replace('_', '-')} {port}: expected 0 to 65535")
    symbols = tuple(symbol.strip().upper() for symbol in args.symbols.split(",") if symbol.strip())
    linger_seconds(args)
    _check_otlp_endpoint(args)
    trades = args.trades if args.trades is not None or duration is not None else _DEFAULT_TRADES
    try:
        return DemoOptions(trades=trades, duration_s=duration, seed=args.seed, speed=args.speed, symbols=symbols,
                           progress=not args.no_progress, **{name: getattr(args, name) for name, _, _ in _RATES})
    except ValueError as exc:  # only the symbols are left to check here
        raise CliError(f"--symbols {args.symbols!r}: {str(exc).removeprefix('symbols: ')}") from None


def _check_otlp_endpoint(args: argparse.Namespace) -> None:
    """CliError for an ``--otlp-endpoint`` the exporter could not send to, before anything runs."""
    if args.otlp_endpoint is None:
        return
    from otel_trading.config._otlp_env import check_endpoint
    from otel_trading.config._settings import ConfigurationError

    protocol = args.otlp_protocol or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "").strip() or "grpc"
    try:
        check_endpoint(args.otlp_endpoint, "--otlp-endpoint", protocol)
    except ConfigurationError as exc:
        raise CliError(str(exc)) from None


def linger_seconds(args: argparse.Namespace) -> float | None:
    """``--linger`` in seconds, None without it; CliError unless it is a positive duration."""
    if args.linger is None:
        return None
    seconds = parse_duration(args.linger, "--linger")
    if seconds <= 0:
        raise CliError(f"--linger {args.linger}: expected more than 0 seconds")
    return seconds


def run(args: argparse.Namespace) -> int:
    options = demo_options(args)
    import otel_trading
    from otel_trading.demo import run_demo, summary

    settings: dict[str, Any] = {"service_name": args.service_name, "log_console": args.log_console}
    if args.store is not None:
        settings["store_dir"] = args.store
    for option in ("prometheus_port", "otlp_endpoint", "otlp_protocol", "console_port"):
        if getattr(args, option) is not None:
            settings[option] = getattr(args, option)
    settings["console"] = not args.no_console
    if "OTEL_METRIC_EXPORT_INTERVAL" not in os.environ:
        # A run lasts seconds to minutes: the store gets an equity point (and every metric's) each
        # second, for the console's charts and the report's recorded equity, not one at the end.
        settings["metric_export_interval"] = _METRIC_EXPORT_INTERVAL_S
    try:
        telemetry = otel_trading.configure(**settings)
    except otel_trading.ConfigurationError as exc:
        raise CliError(str(exc)) from None
    limits = [f"{options.trades} trades"] if options.trades is not None else []
    limits += [args.duration] if args.duration is not None else []
    print(f"otel-trading demo: paper trading {', '.join(options.symbols)} on a simulated exchange\n"
          f"  seed {options.seed}, until {' or '.join(limits)}, {options.speed:g}x market speed; Ctrl-C stops\n"
          + "".join(f"  {line}\n" for line in destinations(telemetry, running=True))
          + _console_line(telemetry, args), flush=True)
    try:
        result = run_demo(options)
    except KeyboardInterrupt:  # a second Ctrl-C: no summary, but what was recorded is still flushed
        telemetry.shutdown()
        print("\notel-trading demo: interrupted", file=sys.stderr)
        return 130
    print(f"\n{summary(result, _recorded_equity(telemetry))}\n")
    linger = linger_seconds(args)
    if linger is not None and not result.interrupted:
        _linger(telemetry, linger)
    if not result.interrupted:
        _keep_console(telemetry)
    flushed = telemetry.shutdown()
    print("Telemetry:\n" + "".join(f"  {line}\n" for line in destinations(telemetry, running=False)))
    if not flushed:
        print("  (not everything could be exported before the shutdown timeout)")
    if telemetry.store_dir is not None:
        print("Next:\n" + "".join(f"  {command}\n" for command in next_commands(args.store)), end="")
    return 130 if result.interrupted else 0


def _recorded_equity(telemetry: Telemetry) -> RecordedEquity | None:
    """The run's equity as ``otel-trading report --run <this run>`` shows it when it comes from the
    store's recorded ``trading.equity`` (written through first); None when the report reconstructs
    it from the trades (no local metrics, fewer than two points over the trades)."""
    from otel_trading.demo import RecordedEquity
    from otel_trading.export._store_queries import store_report

    run = telemetry.resource.attributes.get("service.instance.id") if telemetry.resource is not None else None
    if telemetry.store_dir is None or "local" not in telemetry.settings.exporters["metrics"] or not run:
        return None
    telemetry.force_flush()  # the equity after the last close, and the spans, in the store
    try:
        document = store_report(telemetry.store_dir, run=str(run))
    except Exception as exc:  # noqa: BLE001 - the summary is printed whatever the store holds
        print(f"otel-trading demo: could not read the recorded equity from {telemetry.store_dir}: "
              f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return None
    risk = document["risk"]  # as `otel-trading report --format json` prints it
    if risk["equity_source"] != "recorded" or risk["end_equity"] is None or risk["max_drawdown_relative"] is None:
        return None
    return RecordedEquity(float(risk["end_equity"]), float(risk["max_drawdown_relative"]),
                          len(document["equity_curve"]))


def next_commands(store: Path | None) -> list[str]:
    """The commands that look at the run, as they can be typed here (see ``typed_command``)."""
    command, option = typed_command(), "" if store is None else f" --store {shlex.quote(str(store))}"
    return [f"{command} traces{option}", f"{command} logs --level warn{option}", f"{command} report{option}"]


def _linger(telemetry: Telemetry, seconds: float) -> None:
    """Keeps the process up after the run: a scrape that comes after the last trade still sees
    the final equity, PnL and counters, where the endpoint would otherwise vanish with it."""
    # The store is written at each export whether anyone is there or not: nothing to linger for.
    pushed = [e for e in telemetry.settings.exporters["metrics"] if e not in ("prometheus", "local", "none")]
    where = telemetry.prometheus_url or ", ".join(pushed)
    if not where:
        print("Not lingering: no metrics endpoint is served and no metrics exporter pushes (see metrics ->)",
              flush=True)
        return
    print(f"Lingering {seconds:g}s for {where} (Ctrl-C to stop now)", flush=True)
    try:
        time.sleep(seconds)
    except KeyboardInterrupt:
        print("stopped lingering", flush=True)


def _console_line(telemetry: Telemetry, args: argparse.Namespace) -> str:
    if args.no_console:
        return ""
    if telemetry.console is None:
        settings = telemetry.settings
        return (f"  console not served: could not listen on {settings.console_host}:{settings.console_port} "
                "(port in use?); --console-port picks another, 0 a free one\n")
    return f"  live console -> {telemetry.console.login_url}\n"


def _keep_console(telemetry: Telemetry) -> None:
    """At a terminal, the console stays up after the run (until Ctrl-C) so the run can be looked at;
    otherwise (a script, CI) the demo exits as before."""
    console = telemetry.console
    if console is None or not (sys.stdin.isatty() and sys.stdout.isatty()):
        return
    telemetry.force_flush()  # everything of the run is in the store the console reads
    print(f"The console keeps serving the run at {console.login_url}\nCtrl-C to stop.", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("stopped the console", flush=True)


def destinations(telemetry: Telemetry, *, running: bool) -> list[str]:
    """Where each signal goes, one line per destination: ``traces, logs -> ./.otel-trading``."""
    from otel_trading.config._secrets import build_redactor

    settings = telemetry.settings
    redactor = build_redactor(settings)
    where: dict[str, list[str]] = {}
    for signal in _SIGNALS:
        for exporter in settings.exporters[signal]:
            if exporter == "local":
                place = f"{settings.store_dir.resolve()} (local store)"
            elif exporter == "prometheus":
                url = telemetry.prometheus_url
                place = (f"{url} ({'scrape it now' if running else 'served while the demo ran'})" if url is not None
                         else f"not served: could not listen on {settings.prometheus_host}:{settings.prometheus_port}"
                         " (port in use?); --prometheus-port picks another, 0 a free one")
            elif exporter == "otlp":
                place = redactor.scrub_text(_otlp_endpoint(telemetry, signal))
            else:
                place = exporter
            where.setdefault(place, []).append(signal)
    return [f"{', '.join(signals)} -> {place}" for place, signals in where.items()] or ["nothing (all exporters off)"]


def _otlp_endpoint(telemetry: Telemetry, signal: Signal) -> str:
    otlp = telemetry.settings.otlp[signal]
    protocol = otlp.protocol or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "grpc"
    endpoint = (otlp.endpoint or os.environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT")
                or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
                or ("http://localhost:4317" if protocol == "grpc" else "http://localhost:4318"))
    return f"{endpoint} (OTLP {protocol})"


__all__ = ["add_parser", "demo_options", "destinations", "next_commands", "run"]
