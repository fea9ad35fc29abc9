"""Regenerates the console's screenshots in docs/console/ (run by hand after a visible change).

    .venv/bin/python tests/console/screenshots.py [--out docs/console]

A short seeded demo leaves a store; the read-only console over it is photographed page by
page; then a live demo (`otel-trading demo --console-port 0`) gives the pages only a running
bot has (alerts, controls). Uses the system chromium, as the browser tests do.
"""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from cli_runner import SCRIPT, clean_environment, make_demo_store  # noqa: E402
from playwright.sync_api import Page, sync_playwright  # noqa: E402

from otel_trading.console import serve_store  # noqa: E402

CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking"]
VIEWPORT = {"width": 1280, "height": 860}
LOGIN_URL = re.compile(r"(http://127\.0\.0\.1:\d+)/\?token=([A-Za-z0-9_\-]+)")


def shoot(page: Page, url: str, ready: str, path: Path, before: str | None = None) -> None:
    page.goto(url)
    page.wait_for_selector(ready)
    if before:
        page.click(before)
    page.wait_for_timeout(300)  # fonts and the last layout pass
    page.screenshot(path=str(path))
    print(f"wrote {path}")


def store_pages(page: Page, out: Path, work: Path) -> None:
    store = work / "store"
    make_demo_store(store)
    with serve_store(store, port=0) as console:
        page.goto(console.login_url)
        shoot(page, console.url + "/", "#overview .cards", out / "overview.png")
        shoot(page, console.url + "/trades", "#trades tbody tr", out / "trades.png")
        page.goto(console.url + "/trades?status=closed")
        page.wait_for_selector("#trades tbody tr")
        trace_id = page.locator("#trades tbody tr").first.get_attribute("data-trace-id")
        shoot(page, f"{console.url}/traces/{trace_id}", "#waterfall .wf-span", out / "trace.png",
              before="#waterfall .wf-span[data-name=order]")
        shoot(page, console.url + "/traces?name=trade", "#traces tbody tr", out / "traces.png")
        shoot(page, console.url + "/logs?level=warning", "#logs li", out / "logs.png")
        shoot(page, console.url + "/metrics?name=trading.equity", "#metric-chart", out / "metrics.png")


def live_pages(page: Page, out: Path, work: Path) -> None:
    process = subprocess.Popen(
        [str(SCRIPT), "demo", "--duration", "2m", "--seed", "11", "--speed", "20", "--prometheus-port", "0",
         "--console-port", "0", "--no-progress", "--store", str(work / "live")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=work, env=clean_environment())
    try:
        assert process.stdout is not None
        for line in process.stdout:
            match = LOGIN_URL.search(line)
            if match:
                break
        else:
            raise SystemExit("the live demo printed no console URL")
        url, token = match[1], match[2]
        page.goto(f"{url}/?token={token}")
        time.sleep(25)  # the scripted error burst and the circuit breaker: alerts fire
        shoot(page, url + "/alerts", "#alerts", out / "alerts.png")
        shoot(page, url + "/controls", "#control-state", out / "controls.png")
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE.parent.parent / "docs" / "console")
    parser.add_argument("--no-live", action="store_true", help="only the pages of the read-only console")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("no chromium on PATH (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory() as work, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT, color_scheme="light")
        store_pages(page, args.out, Path(work))
        if not args.no_live:
            live_pages(page, args.out, Path(work))
        browser.close()


if __name__ == "__main__":
    main()
