"""``otel-trading report``: trading performance computed from the traces in the local store.

The computation is ``otel_trading.analytics.build_report`` (pure, usable from code); this
module only reads the store, applies the options and hands the result to the renderers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from otel_trading.cli._common import (
    COMMAND_HELP,
    CliError,
    add_store_argument,
    add_time_range_arguments,
    report_problems,
    store_dir,
    time_range,
    warn,
)
from otel_trading.cli._runs import add_run_arguments, run_selection

FORMATS = ("text", "markdown", "json")


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "report", help=COMMAND_HELP["report"],
        description="Closed trades, PnL, win rate, profit factor, expectancy, per-trade Sharpe/Sortino/Calmar, "
        "drawdown, order latency and slippage, rejects and exchange errors, by symbol and strategy: all read "
        "from the trade, order and exchange-call spans of the local store.",
        epilog="Exit status: 0 report printed, 1 no closed trade matched (the report is still printed when "
        "anything else matched, and always with --format json), 2 bad arguments. Definitions: docs/cli.md "
        "and docs/analytics.md.",
    )
    add_store_argument(parser)
    add_time_range_arguments(parser)
    parser.add_argument("--symbol", help="only trades, orders and exchange calls of this symbol (BTC/USDT)")
    parser.add_argument("--strategy", help="only trades of this strategy (and their orders and exchange calls)")
    add_run_arguments(parser)
    parser.add_argument("--format", choices=FORMATS, default="text",
                        help="text (aligned tables, default), markdown (GitHub tables) or json (one document)")
    parser.add_argument("--plot", type=Path, metavar="PNG",
                        help="also write the equity curve, drawdown and order-latency histogram to this PNG "
                        "(needs otel-trading[plot])")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from otel_trading.analytics import ReportFilter
    from otel_trading.analytics._report_document import Scope
    from otel_trading.cli._report_render import describe_filters, render
    from otel_trading.export._store_queries import trading_report

    if args.plot is not None:
        from otel_trading.cli._plot import require_matplotlib

        require_matplotlib()  # before reading a large store: a missing extra is a usage error
    start_ns, end_ns = time_range(args)
    runs = run_selection(args)
    directory = store_dir(args)
    if directory.exists() and not directory.is_dir():
        raise CliError(f"--store {directory}: not a directory")
    selection = ReportFilter(symbol=args.symbol, strategy=args.strategy, service=args.service,
                             start_ns=start_ns, end_ns=end_ns)
    # From the index's journal rows (trades, orders, exchange calls), not every span rebuilt.
    found = trading_report(directory, selection, runs, orders=args.plot is not None)  # the plot draws each order
    report_problems(found.problems)
    report = found.report
    # The runs the report covers: those with telemetry in its time range (one equity curve mixes them).
    scope = Scope(str(directory), found.runs, runs.run, recorded_equity_points=found.recorded_equity_points)
    journal = report.journal
    anything = journal.trades or report.orders_by_status or report.exchange_calls_by_method or journal.unclosed_trades
    if anything or args.format == "json":
        sys.stdout.write(render(report, scope, args.format))
        sys.stdout.flush()
    if args.plot is not None:
        if report.stats.trades:
            from otel_trading.cli._plot import write_plot

            write_plot(report, args.plot)
            warn(f"wrote {args.plot}")
        else:
            warn(f"--plot {args.plot}: no closed trades to draw; nothing written")
    if report.stats.trades == 0:
        filters = describe_filters(selection, runs.run)
        raise CliError(_nothing_found(directory, found.has_spans, filters), code=1)
    return 0


def _nothing_found(directory: Path, has_spans: bool, filters: str) -> str:
    if not directory.exists():
        return f"no closed trades: the store {directory} does not exist (run your bot or 'otel-trading demo' first)"
    if not has_spans:
        return f"no closed trades: no traces in the store {directory}"
    return (f"no closed trades in {directory} match the filters ({filters}); a trade counts once "
            "position_closed() was called on it")
