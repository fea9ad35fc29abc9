"""``otel-trading console``: the web console over a local store, read-only, until Ctrl-C."""

from __future__ import annotations

import argparse
import threading
import webbrowser

from otel_trading.cli._common import COMMAND_HELP, CliError, add_store_argument, store_dir


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "console", help=COMMAND_HELP["console"],
        description="Serves the console (docs/console.md) over a local store, read-only: any store, also one "
        "copied from another machine. It prints a login URL with a per-run token and opens it in the browser. "
        "The live console, with alerts and the kill switch, is the bot's own: configure(console=True).",
        epilog="Exit status: 0 stopped with Ctrl-C, 2 bad arguments (no store there, port in use). The console "
        "listens on 127.0.0.1 only unless --host says otherwise; anyone who can reach it can read the store.",
    )
    add_store_argument(parser)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; 0.0.0.0 serves every interface)")
    parser.add_argument("--port", type=_port, default=9466, help="port to listen on (default 9466; 0 picks a free one)")
    parser.add_argument("--no-open", action="store_true", help="print the URL but do not open a browser")
    parser.set_defaults(run=run)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number from 0 to 65535, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number from 0 to 65535, got {port}")
    return port


def run(args: argparse.Namespace) -> int:
    from otel_trading.config._secrets import build_redactor
    from otel_trading.config._settings import ConfigurationError, resolve_settings
    from otel_trading.console import serve_store

    directory = store_dir(args)
    if not directory.is_dir():
        what = "is not a directory" if directory.exists() else "does not exist"
        raise CliError(f"no local store at {directory} ({what}): run the bot or 'otel-trading demo' first, "
                       "or point --store (or OTEL_TRADING_STORE_DIR) at one")
    try:  # the configuration's redactor (its secrets, key and value patterns), as `config` and `doctor` use
        redactor = build_redactor(resolve_settings({}))
    except ConfigurationError as exc:
        raise CliError(str(exc)) from None
    try:
        console = serve_store(directory, host=args.host, port=args.port, redactor=redactor)
    except OSError as exc:
        message = str(exc).replace("serve_store()'s port", "--port").replace("serve_store()'s host", "--host")
        raise CliError(message) from None
    with console:
        try:  # Ctrl-C at any moment once serving (even while the URL is printed) is the way to stop
            print(f"otel-trading console over {directory.resolve()} (read-only)", flush=True)
            print(f"Open {console.login_url}", flush=True)
            print("Ctrl-C to stop.", flush=True)
            if not args.no_open:
                _open_browser(console.login_url)
            threading.Event().wait()  # until Ctrl-C: the server runs on its own threads
        except KeyboardInterrupt:
            print("stopped", flush=True)
    return 0


def _open_browser(url: str) -> None:
    try:
        webbrowser.open(url)
    except Exception:  # noqa: BLE001 - no browser here (a server): the printed URL is enough
        return
