"""One store, several bots and restarts: every view says which runs it read and can select one by
``--service`` (resource ``service.name``) or ``--run`` (a prefix of ``service.instance.id``)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from cli_runner import clean_environment, run_cli

from otel_trading.export import load_store

# One run of a bot: N closed trades of one portfolio, each with a log line.
RUN = textwrap.dedent("""
    import sys

    import otel_trading

    store, service, trades, exit_price = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    telemetry = otel_trading.configure(store_dir=store, service_name=service, metrics_exporter="none",
                                       log_console="off", install_signal_handlers=False)
    log = otel_trading.get_logger("bot")
    book = otel_trading.Portfolio("book", base_currency="USDT", cash=10_000.0)
    for _ in range(trades):
        with otel_trading.trade("BTC/USDT", "buy", strategy="swing", portfolio=book) as t:
            t.submit_order(0.1, reference_price=100.0).fill(0.1, 100.0)
            t.position_opened(0.1, 100.0)
            t.submit_order(0.1, side="sell", reference_price=exit_price).fill(0.1, exit_price)
            t.position_closed(exit_reason="take_profit", exit_price=exit_price)
            log.info("closed", bot=service)
    telemetry.shutdown()
""")
# (service, closed trades): bot-a ran twice (a restart), bot-b once.
RUNS = (("bot-a", 2, 110.0), ("bot-b", 3, 90.0), ("bot-a", 1, 120.0))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("runs") / "store"
    for service, trades, exit_price in RUNS:
        result = subprocess.run([sys.executable, "-c", RUN, str(directory), service, str(trades), str(exit_price)],
                                capture_output=True, text=True, timeout=120, env=clean_environment(), check=False)
        assert result.returncode == 0, result.stderr
    return directory


@pytest.fixture(scope="module")
def run_ids(store: Path) -> list[str]:
    """The service.instance.id of each run, in the order of RUNS."""
    ids: list[str] = []
    for span in sorted(load_store(store).spans, key=lambda s: s.start_ns):
        instance = str(span.resource["service.instance.id"])
        if instance not in ids:
            ids.append(instance)
    assert len(ids) == len(RUNS)
    return ids


def cli(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, "--store", str(store))


def report_json(store: Path, *args: str) -> dict[str, object]:
    result = cli(store, "report", "--format", "json", *args)
    assert result.returncode == 0, result.stderr
    document: dict[str, object] = json.loads(result.stdout)
    return document


def test_report_says_which_runs_it_mixes(store: Path, run_ids: list[str]) -> None:
    text = cli(store, "report")
    assert text.returncode == 0, text.stderr
    header = text.stdout.split("\n\n", 1)[0]
    assert "3 runs of 2 services in one report" in header
    for (service, _, _), run_id in zip(RUNS, run_ids, strict=True):
        assert f"{service} run {run_id[:8]}" in header
    assert "--service NAME or --run ID" in header
    document = report_json(store)
    assert [(r["service"], r["run"]) for r in document["runs"]] == [  # type: ignore[index]
        (service, run_id) for (service, _, _), run_id in zip(RUNS, run_ids, strict=True)]
    assert document["performance"]["trades"] == 6  # type: ignore[index]


def test_report_of_one_service_or_one_run(store: Path, run_ids: list[str]) -> None:
    bot_b = report_json(store, "--service", "bot-b")
    assert bot_b["performance"]["trades"] == 3  # type: ignore[index]
    assert [r["run"] for r in bot_b["runs"]] == [run_ids[1]]  # type: ignore[index]
    restart = report_json(store, "--run", run_ids[2][:8])
    assert restart["performance"]["trades"] == 1 and restart["filters"]["run"] == run_ids[2][:8]  # type: ignore[index]
    text = cli(store, "report", "--service", "bot-a")
    assert "2 runs of 1 service in one report" in text.stdout and "filters: service=bot-a" in text.stdout
    one = cli(store, "report", "--run", run_ids[0][:8].upper())
    assert f"run: bot-a run {run_ids[0][:8]}" in one.stdout and "in one report" not in one.stdout
    none = cli(store, "report", "--run", "ffffffffff")
    assert none.returncode == 1 and "run=ffffffffff" in none.stderr


def test_traces_filter_and_list_runs(store: Path, run_ids: list[str]) -> None:
    def listed(*args: str) -> list[dict[str, object]]:
        result = cli(store, "traces", "--json", "--limit", "0", *args)
        assert result.returncode == 0, result.stderr
        return [json.loads(line) for line in result.stdout.splitlines()]

    assert {t["service"] for t in listed()} == {"bot-a", "bot-b"}
    assert {t["service"] for t in listed("--service", "bot-b")} == {"bot-b"}
    assert len(listed("--service", "bot-b")) == 3
    restart = listed("--run", run_ids[2][:8])
    assert len(restart) == 1 and restart[0]["run"] == run_ids[2]
    assert cli(store, "traces", "--service", "nobody").returncode == 1

    runs = cli(store, "traces", "--runs")
    assert runs.returncode == 0, runs.stderr
    header, *rows = runs.stdout.splitlines()
    assert header.split() == ["SERVICE", "RUN", "FIRST", "LAST", "TRACES"]
    assert [row.split()[:2] for row in rows] == [[service, run_id] for (service, _, _), run_id in
                                                 zip(RUNS, run_ids, strict=True)]
    assert [int(row.split()[-1]) for row in rows] == [trades for _, trades, _ in RUNS]
    only_b = cli(store, "traces", "--runs", "--service", "bot-b")
    assert len(only_b.stdout.splitlines()) == 2
    as_json = [json.loads(line) for line in cli(store, "traces", "--runs", "--json").stdout.splitlines()]
    assert [(r["service"], r["run"], r["traces"]) for r in as_json] == [
        (service, run_id, trades) for (service, trades, _), run_id in zip(RUNS, run_ids, strict=True)]
    assert all(r["first"] <= r["last"] for r in as_json)


def test_logs_filter_by_service_and_run(store: Path, run_ids: list[str]) -> None:
    def services(*args: str) -> list[str]:
        result = cli(store, "logs", "--format", "json", "--limit", "0", *args)
        assert result.returncode == 0, result.stderr
        records = [json.loads(line) for line in result.stdout.splitlines()]
        return [record["service.name"] for record in records if record["body"] == "closed"]

    assert services().count("bot-a") == 3 and services().count("bot-b") == 3
    assert services("--service", "bot-b") == ["bot-b"] * 3
    assert services("--run", run_ids[0][:8]) == ["bot-a"] * 2
    assert cli(store, "logs", "--service", "nobody").returncode == 1


def test_doctor_names_the_newest_service_and_the_others(store: Path, tmp_path: Path) -> None:
    result = run_cli("doctor", "--store", str(store), cwd=tmp_path, OTEL_METRICS_EXPORTER="none")
    [configuration] = [line for line in result.stdout.splitlines() if " configuration " in line]
    assert "service=bot-a (from the store, also bot-b; OTEL_SERVICE_NAME is not set)" in configuration


def test_an_empty_run_id_is_a_usage_error(store: Path) -> None:
    for command in ("traces", "logs", "report"):
        result = cli(store, command, "--run", " ")
        assert result.returncode == 2 and "--run ' ': expected the start of a run id" in result.stderr, command
