"""``otel-trading logs``: search, output formats, damaged stores, and ``--follow`` on a live store."""

from __future__ import annotations

import copy
import json
import os
import pty
import queue
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from cli_runner import SCRIPT, clean_environment, run_cli
from test_cli_traces import record_scenario

PRETTY_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} (DEBUG|INFO |WARN |ERROR|FATAL) (\S+) (.*)$")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_scenario(tmp_path_factory.mktemp("scenario") / "store")


def logs(store: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_cli("logs", "--store", str(store), *args, **env)


def bodies(store: Path, *args: str) -> list[str]:
    result = logs(store, "--format", "json", *args)
    assert result.returncode in (0, 1), result.stderr
    return [json.loads(line)["body"] for line in result.stdout.splitlines()]


ALL_BODIES = ["features ready", "order filled", "order filled", "position closed", "trade closed", "order rejected",
              "order rejected, giving up", "exchange call failed", "webhook received", "order filled", "halting"]


# -- search --------------------------------------------------------------------------------


def test_pretty_lines_in_time_order(store: Path) -> None:
    result = logs(store)
    assert result.returncode == 0, result.stderr
    records = [line for line in result.stdout.splitlines() if not line.startswith("    ")]
    assert len(records) == len(ALL_BODIES)
    assert all(PRETTY_LINE.match(line) for line in records), records
    assert records == sorted(records, key=lambda line: line[:23])
    closed = next(line for line in records if "trade closed" in line)
    assert re.search(r" INFO  bot trade closed pnl=0\.98 note=\"take profit hit\" trade_id=trade-win-1 "
                     r"trace=[0-9a-f]{8}$", closed), closed
    assert "correlation_id=" not in closed  # the same as trade_id: shown once
    failed = result.stdout.splitlines().index(next(line for line in records if "exchange call failed" in line))
    stack = result.stdout.splitlines()[failed + 1: failed + 4]
    assert stack[0] == "    Traceback (most recent call last):" and stack[-1] == "    ConnectionError: exchange down"
    assert "\x1b[" not in result.stdout  # not a terminal: no colours


def test_json_lines(store: Path) -> None:
    result = logs(store, "--format", "json")
    documents = [json.loads(line) for line in result.stdout.splitlines()]
    assert [d["body"] for d in documents] == ALL_BODIES
    failed = documents[ALL_BODIES.index("exchange call failed")]
    assert failed["level"] == "ERROR" and failed["severity_number"] == 17 and failed["logger"] == "bot"
    assert failed["attributes"]["exception.type"] == "ConnectionError"
    assert "exchange down" in failed["attributes"]["exception.stacktrace"]
    assert len(failed["trace_id"]) == 32 and len(failed["span_id"]) == 16
    assert failed["service.name"] == "scenario-bot" and re.match(r"^\d{4}-.*\.\d{6}Z$", failed["time"])
    assert documents[-1]["trace_id"] is None and documents[-1]["level"] == "FATAL"


def test_level_filter(store: Path) -> None:
    assert bodies(store, "--level", "warn") == bodies(store, "--level", "WARNING") == [
        "order rejected", "order rejected, giving up", "exchange call failed", "halting"]
    assert bodies(store, "--level", "critical") == ["halting"]
    assert bodies(store, "--level", "debug") == ALL_BODIES
    assert bodies(store, "--level", "info") == ALL_BODIES[1:]


def test_id_filters(store: Path) -> None:
    win = bodies(store, "--trade-id", "trade-win-1")
    assert win == ["features ready", "order filled", "order filled", "position closed", "trade closed"]
    assert bodies(store, "--correlation-id", "trade-win-1") == win
    trace_id = next(json.loads(line)["trace_id"] for line in logs(store, "--format", "json").stdout.splitlines())
    assert bodies(store, "--trace-id", trace_id[:6].upper()) == win
    assert bodies(store, "--trace-id", trace_id) == win
    bad = logs(store, "--trace-id", "xyz")
    assert bad.returncode == 2 and "--trace-id 'xyz'" in bad.stderr


def test_field_filters_and_grep(store: Path) -> None:
    assert bodies(store, "symbol=ETH/USDT") == ["order rejected"]
    assert bodies(store, "retry=false") == ["order rejected, giving up"]
    assert bodies(store, "pnl=0.98", "logger=bot") == ["trade closed"]
    assert bodies(store, "source~=VIEW") == ["webhook received"]
    assert bodies(store, "service.name=scenario-bot") == ALL_BODIES  # a resource attribute
    assert bodies(store, "level=warning") == ["order rejected", "order rejected, giving up"]
    assert bodies(store, "logger=otel_trading.trading", "symbol!=BTC/USDT") == ["order rejected", "order filled"]
    assert bodies(store, "--grep", "TAKE PROFIT") == ["trade closed"]  # in an attribute, any case
    assert bodies(store, "--grep", "giving") == ["order rejected, giving up"]
    assert bodies(store, "no_such_field=1") == []
    bad = logs(store, "justtext")
    assert bad.returncode == 2 and "expected FIELD=VALUE" in bad.stderr and "Traceback" not in bad.stderr


def test_limit_and_time_range(store: Path) -> None:
    result = logs(store, "--limit", "2", "--format", "json")
    assert [json.loads(line)["body"] for line in result.stdout.splitlines()] == ALL_BODIES[-2:]
    assert f"showed the last 2 of {len(ALL_BODIES)} matching records" in result.stderr
    assert bodies(store, "--limit", "0", "--since", "1h") == ALL_BODIES
    nothing = logs(store, "--to", "2001-01-01T00:00:00")
    assert nothing.returncode == 1 and nothing.stdout == ""
    assert f"no log records match in {store}" in nothing.stderr


def test_colours_only_on_a_terminal_without_no_color(store: Path) -> None:
    assert "\x1b[" in _output_on_a_terminal(store)
    assert "\x1b[" not in _output_on_a_terminal(store, NO_COLOR="1")


def _output_on_a_terminal(store: Path, **env: str) -> str:
    controller, terminal = pty.openpty()
    process = subprocess.Popen([str(SCRIPT), "logs", "--store", str(store), "--level", "error"], stdout=terminal,
                               stderr=subprocess.DEVNULL, env=clean_environment(**env))
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: the other side of the terminal closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(controller)
    assert process.wait(timeout=30) == 0
    return b"".join(chunks).decode()


def test_help_and_bad_arguments(tmp_path: Path) -> None:
    result = run_cli("logs", "--help")
    assert result.returncode == 0
    for option in ("--since", "--from", "--to", "--level", "--trace-id", "--trade-id", "--correlation-id",
                   "--grep", "--limit", "--follow", "--format", "--store", "FIELD=VALUE"):
        assert option in result.stdout
    for args, named in ((["--level", "loud"], "--level"), (["--limit", "-1"], "--limit"),
                        (["--format", "xml"], "--format"), (["--since", "tomorrow"], "--since"),
                        (["--from", "1h", "--since", "2h"], "--since"), (["-f", "--to", "1m"], "--to")):
        bad = run_cli("logs", *args, "--store", str(tmp_path / "none"))  # arguments checked first
        assert bad.returncode == 2 and named in bad.stderr, (args, bad.stderr)
        assert "Traceback" not in bad.stderr


def test_missing_store(tmp_path: Path) -> None:
    missing = run_cli("logs", "--store", str(tmp_path / "nowhere"))
    assert missing.returncode == 1
    assert f"no telemetry found at {tmp_path / 'nowhere'}" in missing.stderr
    assert "otel-trading demo" in missing.stderr and "configure()" in missing.stderr
    (tmp_path / "empty").mkdir()
    empty = run_cli("logs", "--store", str(tmp_path / "empty"))
    assert empty.returncode == 1 and "no logs in" in empty.stderr


def test_damaged_store_shows_the_good_records(store: Path, tmp_path: Path) -> None:
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    good = (store / "logs.jsonl").read_text()
    rotated = damaged / "logs-20260101T000000000000.jsonl"
    rotated.write_text("garbage {\n" + good + '{"resourceLogs": [{"scopeLo')  # a rotated file cut short
    (damaged / "logs-20260101T000000000001.jsonl").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (damaged / "logs.jsonl").write_text(good + '{"resourceLogs": [')  # the live file: a write in progress
    (damaged / "traces.jsonl").mkdir()
    result = logs(damaged, "--format", "json", "--limit", "0")
    assert result.returncode == 0, result.stderr
    shown = [json.loads(line)["body"] for line in result.stdout.splitlines()]
    assert sorted(shown) == sorted(ALL_BODIES * 2)  # each good record, from both copies
    assert f"skipped {rotated}:1: not an OTLP/JSON record: not JSON" in result.stderr
    assert "truncated last line" in result.stderr and "logs-20260101T000000000001.jsonl:1:" in result.stderr
    assert "Traceback" not in result.stderr
    unreadable = damaged / "logs-20260101T000000000002.jsonl"
    unreadable.write_text(good)
    unreadable.chmod(0)
    if os.geteuid() != 0:  # root reads it anyway
        again = logs(damaged, "--limit", "1")
        assert again.returncode == 0 and f"{unreadable}: cannot read: Permission denied" in again.stderr


def test_a_directory_in_place_of_the_log_file(tmp_path: Path) -> None:
    (tmp_path / "logs.jsonl").mkdir()
    result = logs(tmp_path)
    assert result.returncode == 1 and "logs.jsonl: cannot read" in result.stderr and "Traceback" not in result.stderr


# -- follow --------------------------------------------------------------------------------


class Follower:
    """``otel-trading logs -f`` in the background, its output lines read on a thread."""

    def __init__(self, store: Path, *args: str) -> None:
        self.process = subprocess.Popen(
            [str(SCRIPT), "logs", "--follow", "--store", str(store), "--format", "json", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_environment())
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_for(self, body: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while body not in self.seen:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"{body!r} not printed in {timeout}s; got {self.seen}") from None
            self.seen.append(json.loads(line)["body"])

    def quiet_for(self, seconds: float) -> bool:
        try:
            self.lines.get(timeout=seconds)
        except queue.Empty:
            return True
        return False

    def interrupt(self) -> str:
        """Ctrl-C; returns stderr after checking the exit."""
        self.process.send_signal(signal.SIGINT)
        _, stderr = self.process.communicate(timeout=15)
        assert self.process.returncode == 130, stderr
        assert "Traceback" not in stderr
        return stderr

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


def log_line(template: dict[str, Any], *texts: str) -> str:
    """An OTLP/JSON logs line with one record per text, copied from the template's first record."""
    document = copy.deepcopy(template)
    scope_logs = document["resourceLogs"][0]["scopeLogs"][0]
    record = scope_logs["logRecords"][0]
    scope_logs["logRecords"] = [{**record, "body": {"stringValue": text}} for text in texts]
    document["resourceLogs"] = document["resourceLogs"][:1]
    document["resourceLogs"][0]["scopeLogs"] = [scope_logs]
    return json.dumps(document) + "\n"


def test_follow_reads_appends_rotation_and_partial_lines(store: Path, tmp_path: Path) -> None:
    template = json.loads((store / "logs.jsonl").read_text().splitlines()[0])
    live = tmp_path / "logs.jsonl"
    live.write_text(log_line(template, "old-1", "old-2"))
    follower = Follower(tmp_path, "--limit", "1")
    try:
        follower.wait_for("old-2")
        with live.open("a") as f:
            f.write(log_line(template, "appended-1"))
        follower.wait_for("appended-1")
        # Rotation as the writer does it: the live file renamed, a new one started.
        with live.open("a") as f:
            f.write(log_line(template, "last-of-old-file"))
        os.replace(live, tmp_path / "logs-20991231T235959000000.jsonl")
        live.write_text(log_line(template, "first-of-new-file"))
        follower.wait_for("first-of-new-file")
        # Half a line: nothing until the rest of it arrives.
        line = log_line(template, "written-in-two-parts")
        with live.open("a") as f:
            f.write(line[:40])
        assert follower.quiet_for(0.8)
        with live.open("a") as f:
            f.write(line[40:] + "not json at all\n" + log_line(template, "after-garbage"))
        follower.wait_for("after-garbage")
        stderr = follower.interrupt()
    finally:
        follower.kill()
    assert follower.seen == ["old-2", "appended-1", "last-of-old-file", "first-of-new-file", "written-in-two-parts",
                             "after-garbage"]
    assert f"skipped {live}:3: not an OTLP/JSON record: not JSON" in stderr


WRITER = textwrap.dedent("""
    import sys

    import otel_trading
    from otel_trading import get_logger

    telemetry = otel_trading.configure(
        store_dir=sys.argv[1], metrics_exporter="none", log_console="off", install_signal_handlers=False,
        store_max_file_bytes=4096, traces_exporter="none",
    )
    log = get_logger("writer")
    for i in range(int(sys.argv[2])):
        log.info(f"tick-{i}", index=i, padding="x" * 100)
        if i % 7 == 0:
            telemetry.force_flush()
    telemetry.shutdown()
""")


def test_follow_a_live_writer_across_real_rotations(tmp_path: Path) -> None:
    store = tmp_path / "store"  # does not exist yet: the follower waits for it
    follower = Follower(store, "--grep", "tick-", "level=info")
    try:
        time.sleep(0.5)
        writer = subprocess.run([sys.executable, "-c", WRITER, str(store), "300"], capture_output=True, text=True,
                                timeout=120, env=clean_environment(), check=False)
        assert writer.returncode == 0, writer.stderr
        follower.wait_for("tick-299")
        stderr = follower.interrupt()
    finally:
        follower.kill()
    assert len(list(store.glob("logs-*.jsonl"))) >= 3  # it did rotate, several times
    assert follower.seen == [f"tick-{i}" for i in range(300)]  # every line once, in order
    assert f"waiting for telemetry at {store}" in stderr and "skipped" not in stderr


def test_follower_rereads_a_truncated_file_and_reports_an_unreadable_one_once(store: Path, tmp_path: Path) -> None:
    from otel_trading.export import StoreFollower

    template = json.loads((store / "logs.jsonl").read_text().splitlines()[0])
    live = tmp_path / "logs.jsonl"
    live.write_text(log_line(template, "a") + log_line(template, "b"))
    follower = StoreFollower(tmp_path, "logs")
    assert [log.body for log in follower.poll().logs] == ["a", "b"]
    assert follower.poll().logs == []
    live.write_text(log_line(template, "c"))  # truncated and rewritten in place: shorter than what was read
    assert [log.body for log in follower.poll().logs] == ["c"]
    (tmp_path / "logs-20260101T000000000000.jsonl").mkdir()
    first = follower.poll()
    assert [problem.split(": ", 1)[1] for problem in first.problems] == ["cannot read: Is a directory"]
    assert follower.poll().problems == []


def test_follower_can_parse_only_the_lines_mentioning_an_id(store: Path) -> None:
    from otel_trading.export import StoreFollower

    everything = StoreFollower(store, "logs").poll().logs
    trace_id = next(log.trace_id for log in everything if log.body == "webhook received")
    assert trace_id is not None
    only = StoreFollower(store, "logs", containing=trace_id[:10].upper()).poll().logs
    assert 0 < len(only) < len(everything) and trace_id in {log.trace_id for log in only}


# -- on the demo's store -------------------------------------------------------------------


def demo_records(demo_store: Path, *args: str) -> list[dict[str, Any]]:
    result = logs(demo_store, "--format", "json", "--limit", "0", *args)
    assert result.returncode in (0, 1), result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_demo_store_pretty_and_json_show_the_same_records(demo_store: Path) -> None:
    pretty = logs(demo_store, "--limit", "0")
    assert pretty.returncode == 0, pretty.stderr
    lines = [line for line in pretty.stdout.splitlines() if not line.startswith("    ")]
    records = demo_records(demo_store)
    assert len(lines) == len(records) > 20
    for line, record in zip(lines, records, strict=True):
        match = PRETTY_LINE.match(line)
        assert match, line
        assert (match[1].strip(), match[2]) == (record["level"], record["logger"])
        assert match[3].startswith(record["body"])
        assert line.endswith(f" trace={record['trace_id'][:8]}") if record["trace_id"] else " trace=" not in line
    assert [r["time_unix_nano"] for r in records] == sorted(r["time_unix_nano"] for r in records)
    assert len({r["service.name"] for r in records}) == 1
    default = [line for line in logs(demo_store).stdout.splitlines() if not line.startswith("    ")]
    assert len(default) == min(200, len(records))


def test_demo_store_filters_select_what_they_say(demo_store: Path) -> None:
    records = demo_records(demo_store)
    warnings = demo_records(demo_store, "--level", "warn")
    assert warnings and {r["level"] for r in warnings} <= {"WARN", "ERROR", "FATAL"}
    assert len(warnings) == sum(1 for r in records if r["severity_number"] >= 13)
    traded = next(r for r in records if "trade_id" in r["attributes"])
    trade_id = traded["attributes"]["trade_id"]
    of_trade = demo_records(demo_store, "--trade-id", trade_id)
    assert of_trade == [r for r in records if trade_id in (r["attributes"].get("trade_id"),
                                                           r["attributes"].get("correlation_id"))]
    of_trace = demo_records(demo_store, "--trace-id", traded["trace_id"][:12])
    assert of_trace == [r for r in records if r["trace_id"] == traded["trace_id"]]
    symbol = traded["attributes"]["symbol"]
    assert demo_records(demo_store, f"symbol={symbol}") == [r for r in records
                                                             if r["attributes"].get("symbol") == symbol]
    text = traded["body"].upper()
    found = demo_records(demo_store, "--grep", text)
    assert all(text.lower() in json.dumps(r, ensure_ascii=False).lower() for r in found)
    assert [r for r in records if text.lower() in r["body"].lower()] == [
        r for r in found if text.lower() in r["body"].lower()]
