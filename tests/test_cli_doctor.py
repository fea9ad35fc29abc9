"""``otel-trading doctor`` against real endpoints: a loopback OTLP receiver, a refused port, a
collector that never answers, a port held by a plain HTTP server, real Prometheus endpoints,
and the demo's store, a missing one and a damaged one."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any

import pytest
from cli_runner import run_cli
from otlp_receiver import BlackHoleServer, HttpOtlpReceiver, free_port

import otel_trading
from otel_trading.export import load_store

CANARIES = ("CANARY-PW-4d1e", "CANARY-TOKEN-9b7c")
# Every doctor run in these tests: the store and Prometheus settings under test, nothing from the machine.
QUIET = {"OTEL_METRICS_EXPORTER": "none"}


@pytest.fixture(scope="module")
def store(demo_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the demo's store: the doctor's write probe must not touch the shared one."""
    directory = tmp_path_factory.mktemp("doctor") / "store"
    shutil.copytree(demo_store, directory)
    return directory


def lines_of(path: Path) -> int:
    return sum(1 for text in path.read_text().splitlines() if text.strip())


def doctor(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_cli("doctor", *args, cwd=tmp_path, timeout=30, **(QUIET | env))


def doctor_json(tmp_path: Path, *args: str, **env: str) -> tuple[int, dict[str, Any]]:
    result = doctor(tmp_path, "--json", *args, **env)
    return result.returncode, json.loads(result.stdout)


def check(document: dict[str, Any], name: str) -> dict[str, Any]:
    [found] = [c for c in document["checks"] if c["name"] == name]
    return found


def line(output: str, name: str) -> str:
    """The output line of check ``name``: mark, padded name, two or more spaces, summary."""
    [found] = [text for text in output.splitlines() if re.match(rf"\S+ +{re.escape(name)}  ", text)]
    return found


def test_healthy_setup_passes_and_shows_one_line_per_check(tmp_path: Path, store: Path) -> None:
    result = doctor(tmp_path, "--store", str(store))
    assert result.returncode == 0, result.stdout + result.stderr
    output = result.stdout
    assert line(output, "configuration").startswith("✓ ")
    assert "traces: local" in line(output, "configuration")
    assert line(output, "otlp").startswith("· ") and "not used" in output
    assert line(output, "prometheus").startswith("· ")
    files = len(list(store.glob("*.jsonl")))
    assert line(output, "store").startswith("✓ ") and f": {files} files, " in line(output, "store")
    assert "bound 512.0 MiB per signal" in line(output, "store")
    records = line(output, "store records")
    traces, logs = lines_of(store / "traces.jsonl"), lines_of(store / "logs.jsonl")
    contents = load_store(store)
    assert records.startswith("✓ ") and (f"traces {traces} batches ({len(contents.spans)} spans), logs {logs} "
                                        f"batches ({len(contents.logs)} records); newest record ") in records
    assert line(output, "store integrity").startswith("✓ ")
    assert line(output, "store writable").startswith("✓ ")
    assert output.rstrip().splitlines()[-1] == "✓ all 5 checks passed"
    assert not list(store.glob(".doctor-*"))  # the write probe cleaned up


def test_verbose_shows_the_whole_masked_configuration(tmp_path: Path, store: Path) -> None:
    short = doctor(tmp_path, "--store", str(store))
    verbose = doctor(tmp_path, "--store", str(store), "--verbose", OTEL_SERVICE_NAME="bot-v")
    assert "store_max_total_bytes" not in short.stdout
    assert '    service_name               "bot-v"' in verbose.stdout
    assert "store_max_total_bytes      536870912" in verbose.stdout


def test_otlp_http_endpoint_answers_the_empty_export(tmp_path: Path, store: Path,
                                                     http_receiver: HttpOtlpReceiver) -> None:
    endpoint = http_receiver.endpoint.replace("http://", f"http://bot:{CANARIES[0]}@")
    result = doctor(tmp_path, "--store", str(store), OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
                    OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf", OTEL_TRACES_EXPORTER="local,otlp",
                    OTEL_LOGS_EXPORTER="local", OTEL_EXPORTER_OTLP_HEADERS=f"X-Api-Token={CANARIES[1]}")
    assert result.returncode == 0, result.stdout
    otlp = line(result.stdout, "otlp traces")
    assert otlp.startswith("✓ ") and "TCP ok; POST /v1/traces: 200" in otlp
    assert "http://[REDACTED]@127.0.0.1:" in otlp
    [request] = http_receiver.requests("traces")  # the doctor's empty export really arrived...
    assert request.payload == b"" and not http_receiver.spans()
    assert request.headers["x-api-token"] == CANARIES[1]  # ...with the configured credentials
    code, document = doctor_json(tmp_path, "--store", str(store), "--verbose", OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
                                 OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
                                 OTEL_EXPORTER_OTLP_HEADERS=f"X-Api-Token={CANARIES[1]}")
    data = check(document, "otlp traces,logs")["data"]
    assert code == 0 and data["http_status"] == 200 and data["headers"] == ["X-Api-Token"]
    everything = result.stdout + result.stderr + json.dumps(document)
    assert not any(canary in everything for canary in CANARIES)


def test_refused_and_silent_endpoints_fail_fast(tmp_path: Path, store: Path, dead_port: int,
                                                black_hole: BlackHoleServer) -> None:
    started = time.monotonic()
    result = doctor(tmp_path, "--store", str(store), OTEL_TRACES_EXPORTER="otlp", OTEL_LOGS_EXPORTER="otlp",
                    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=f"http://127.0.0.1:{dead_port}",
                    OTEL_EXPORTER_OTLP_LOGS_ENDPOINT=f"{black_hole.endpoint}/v1/logs",
                    OTEL_EXPORTER_OTLP_LOGS_PROTOCOL="http/protobuf")
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    refused = line(result.stdout, "otlp traces")
    assert refused.startswith("✗ ") and f"127.0.0.1:{dead_port}: connection refused" in refused
    silent = line(result.stdout, "otlp logs")
    assert silent.startswith("✗ ") and "TCP ok; POST /v1/logs: no answer within 1s" in silent
    assert black_hole.connections_accepted >= 2  # the TCP probe and the POST
    assert result.stdout.rstrip().splitlines()[-1].startswith("✗ 2 of ")
    assert elapsed < 8  # interpreter start + probes in parallel, each at most 2 s


def test_prometheus_port_held_by_a_plain_http_server(tmp_path: Path, store: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), SimpleHTTPRequestHandler)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        result = doctor(tmp_path, "--store", str(store), OTEL_METRICS_EXPORTER="prometheus",
                        OTEL_EXPORTER_PROMETHEUS_PORT=str(port))
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 1
    prometheus = line(result.stdout, "prometheus")
    assert prometheus.startswith("✗ ") and f"127.0.0.1:{port} is taken by something else (HTTP 404" in prometheus


def test_prometheus_port_free_or_serving_otel_trading_or_another_exporter(tmp_path: Path, store: Path) -> None:
    free = free_port()
    result = doctor(tmp_path, "--store", str(store), OTEL_METRICS_EXPORTER="prometheus",
                    OTEL_EXPORTER_PROMETHEUS_PORT=str(free))
    assert result.returncode == 0 and f"127.0.0.1:{free} is free" in line(result.stdout, "prometheus")

    with pytest.MonkeyPatch.context() as env:
        for name in [n for n in os.environ if n.startswith("OTEL_")]:
            env.delenv(name)
        telemetry = otel_trading.configure(service_name="running-bot", prometheus_port=0, log_console="off",
                                           traces_exporter="none", logs_exporter="none",
                                           install_signal_handlers=False)
    try:
        assert telemetry.prometheus is not None
        ours = doctor(tmp_path, "--store", str(store), OTEL_METRICS_EXPORTER="prometheus",
                      OTEL_EXPORTER_PROMETHEUS_PORT=str(telemetry.prometheus.port))
    finally:
        telemetry.shutdown()
    assert ours.returncode == 0, ours.stdout
    assert "serves otel-trading metrics (service running-bot)" in line(ours.stdout, "prometheus")

    from prometheus_client import CollectorRegistry, Counter, start_http_server

    registry = CollectorRegistry()
    Counter("other_app_requests", "requests of another app", registry=registry).inc()
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        other = doctor(tmp_path, "--store", str(store), OTEL_METRICS_EXPORTER="prometheus",
                       OTEL_EXPORTER_PROMETHEUS_PORT=str(server.server_port))
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert other.returncode == 1
    assert "taken by another Prometheus exporter" in line(other.stdout, "prometheus")


def test_damaged_store_fails_naming_file_and_line(tmp_path: Path, store: Path) -> None:
    damaged = tmp_path / "damaged"
    shutil.copytree(store, damaged)
    good = lines_of(damaged / "traces.jsonl")
    with (damaged / "traces.jsonl").open("a") as traces:
        traces.write("{not json\n\x00\x01 garbage\n")
    result = doctor(tmp_path, "--store", str(damaged))
    assert result.returncode == 1
    integrity = line(result.stdout, "store integrity")
    assert integrity.endswith(f"  2 unreadable lines: traces.jsonl:{good + 1}, traces.jsonl:{good + 2}")
    assert integrity[0] == "✗"
    assert f"{damaged / 'traces.jsonl'}:{good + 1}: " in result.stdout  # the details: full path and the reason
    code, document = doctor_json(tmp_path, "--store", str(damaged))
    assert code == 1 and document["ok"] is False and document["failed"] == ["store integrity"]
    assert check(document, "store integrity")["data"]["unreadable"] == 2
    batches = check(document, "store records")["data"]["batches"]
    assert batches == {"traces": good + 2, "logs": lines_of(damaged / "logs.jsonl")}


def test_the_service_is_the_bots_not_the_commands(tmp_path: Path, store: Path) -> None:
    """Run in a bot's directory without OTEL_SERVICE_NAME, the doctor names the service the bot
    recorded, not its own script's name (which is what configure() would pick in the doctor)."""
    configuration = line(doctor(tmp_path, "--store", str(store)).stdout, "configuration")
    assert configuration.startswith("✓ ") and "otel-trading" not in configuration
    assert "service=demo-bot (from the store; OTEL_SERVICE_NAME is not set); traces: local" in configuration
    code, document = doctor_json(tmp_path, "--store", str(store))
    assert code == 0
    assert check(document, "configuration")["data"]["service"] == "demo-bot"
    named = line(doctor(tmp_path, "--store", str(store), OTEL_SERVICE_NAME="paper-bot").stdout, "configuration")
    assert "service=paper-bot; traces: local" in named
    fresh = line(doctor(tmp_path, "--store", str(tmp_path / "fresh")).stdout, "configuration")
    assert "service=<your bot's script name> (OTEL_SERVICE_NAME is not set)" in fresh


def test_missing_store_warns_and_a_file_in_its_place_fails(tmp_path: Path) -> None:
    missing = doctor(tmp_path, "--store", str(tmp_path / "not-yet"))
    assert missing.returncode == 0
    assert line(missing.stdout, "store").startswith("! ") and "does not exist yet" in missing.stdout
    assert "(1 warning)" in missing.stdout.splitlines()[-1]
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    blocked = doctor(tmp_path, "--store", str(blocker))
    assert blocked.returncode == 1
    assert line(blocked.stdout, "store").startswith("✗ ") and "is not a directory" in blocked.stdout


def test_configuration_error_fails_and_names_the_variable(tmp_path: Path) -> None:
    result = doctor(tmp_path, OTEL_TRACES_EXPORTER="jaeger")
    assert result.returncode == 1
    configuration = line(result.stdout, "configuration")
    assert configuration.startswith("✗ ") and "OTEL_TRACES_EXPORTER: unknown exporter 'jaeger'" in configuration
    assert line(result.stdout, "network").startswith("! ")
    code, document = doctor_json(tmp_path, OTEL_TRACES_EXPORTER="jaeger")
    assert code == 1 and document["config"] is None and "configuration" in document["failed"]


def test_ascii_terminals_get_ascii_marks(tmp_path: Path, store: Path, dead_port: int) -> None:
    result = doctor(tmp_path, "--store", str(store), PYTHONIOENCODING="ascii", OTEL_TRACES_EXPORTER="otlp",
                    OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{dead_port}")
    assert result.returncode == 1 and result.stderr == ""
    result.stdout.encode("ascii")
    assert line(result.stdout, "configuration").startswith("OK ")
    assert line(result.stdout, "otlp traces,logs").startswith("FAIL ")
    assert result.stdout.rstrip().splitlines()[-1].startswith("FAIL 1 of ")


def test_json_document_and_arguments(tmp_path: Path, store: Path) -> None:
    code, document = doctor_json(tmp_path, "--store", str(store))
    assert code == 0
    assert set(document) == {"ok", "failed", "warnings", "store", "checks", "config"}
    assert document["ok"] is True and document["store"] == str(store)
    assert [c["status"] for c in document["checks"]].count("fail") == 0
    assert all(set(c) == {"name", "status", "summary", "details", "data"} for c in document["checks"])
    assert document["config"]["exporters"]["metrics"] == []  # QUIET: metrics "none"
    help_text = run_cli("doctor", "--help").stdout
    assert all(option in help_text for option in ("--store", "--verbose", "--json"))
    bad = run_cli("doctor", "--frobnicate")
    assert bad.returncode == 2 and "--frobnicate" in bad.stderr


@pytest.fixture(autouse=True)
def _no_leftover_configuration() -> Iterator[None]:
    yield
    otel_trading.shutdown()


def test_a_probe_that_never_returns_fails_at_the_deadline() -> None:
    from otel_trading.cli._doctor import run_probes
    from otel_trading.cli._doctor_checks import CheckResult

    started = time.monotonic()
    results = run_probes([("otlp traces", lambda: time.sleep(30) or CheckResult("x", "ok", "")),
                          ("prometheus", lambda: CheckResult("prometheus", "ok", "free"))], 0.3)
    assert time.monotonic() - started < 2
    assert [(r.name, r.status) for r in results] == [("otlp traces", "fail"), ("prometheus", "ok")]
    assert "no result within 0.3s" in results[0].summary
