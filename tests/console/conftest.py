"""Real-browser tests of the console: Debian's chromium driven by Playwright's sync API.

One browser per session; each test gets a fresh context (its own sessionStorage, so the
token of one test is not another's). The consoles run on port 0: the suites of `make test`
run side by side on one machine. Without chromium (or Playwright) the tests are skipped with
the reason, except under CI=true, where a missing browser is a failure: `make test` installs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from console_helpers import HOSTILE_BOT

from otel_trading.console import ConsoleServer, serve_store

# The flags of a browser run as root in a container, without GPU and without phoning home.
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking"]
VIEWPORT = {"width": 1400, "height": 900}


def chromium_path() -> str:
    """The system Chromium, or a skip (a failure under CI) naming what is missing."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    problem = None
    if found is None:
        problem = "no chromium on PATH (Debian: apt-get install chromium; `make test` installs it)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "playwright is not installed (pip install -e '.[dev]')"
    if problem is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"browser tests cannot run under CI: {problem}")
        pytest.skip(problem)
    assert found is not None
    return found


# One browser per module, not per session: Playwright's sync API keeps an asyncio loop running in this
# thread while it is open, and every later test's asyncio.run() would fail with "cannot be called from
# a running event loop". ("package" scope would not do: this folder is no package, so it lasts the session.)
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class PageErrors(list[str]):
    """Uncaught JavaScript errors of a page: a test fails if there is any."""


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(20_000)  # the machine is shared with other suites
    opened = context.new_page()
    errors = PageErrors()
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.page_errors = errors
    yield opened
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture(scope="session")
def store_console(demo_store: Path) -> Iterator[ConsoleServer]:
    """The read-only console over the shared demo store."""
    with serve_store(demo_store, port=0) as server:
        yield server




@pytest.fixture(scope="session")
def hostile_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store whose span names and log lines are HTML, and whose bot handled a canary secret."""
    from canary import CANARY

    directory = tmp_path_factory.mktemp("hostile") / "store"
    script = directory.parent / "hostile_bot.py"
    script.write_text(HOSTILE_BOT, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    result = subprocess.run([sys.executable, str(script), str(directory), f"{CANARY}-console"],
                            capture_output=True, text=True, timeout=60, env=env, check=False)
    assert result.returncode == 0, f"hostile bot failed:\n{result.stdout}\n{result.stderr}"
    # The SDK redacted the secret at write time. A store written by something else (the
    # Collector's file exporter, an older bot) may hold it in clear under a secret-looking key:
    # put it back, so the console's own redaction of what it serves is what is tested.
    for name in ("traces.jsonl", "logs.jsonl"):
        path = directory / name
        text = path.read_text(encoding="utf-8")
        for key in ("api_key", "passphrase"):
            text = text.replace(f'"key":"{key}","value":{{"stringValue":"[REDACTED]"}}',
                                f'"key":"{key}","value":{{"stringValue":"{CANARY}-{key}"}}')
        path.write_text(text, encoding="utf-8")
    assert CANARY in (directory / "traces.jsonl").read_text(encoding="utf-8")
    assert CANARY in (directory / "logs.jsonl").read_text(encoding="utf-8")
    return directory
