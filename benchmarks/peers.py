"""Peer tracers on the same traced call, for information: ddtrace's own tracer and logfire.

Runs in a subprocess of run.py, in the bench venv (``make bench`` installs the ``bench`` extra
into ``.venv-bench``): ddtrace patches on import and must not share a process with the OTel rows.
Each peer is paired, round by round, with the raw OTel SDK span + BatchSpanProcessor sending to
the same loopback receiver (its port on the command line), total CPU, flushed inside each loop.
Prints the results as one JSON list.

    python peers.py --http-port PORT [--rounds N] [--loop-ms MS]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from harness import CPU, DELAY_S, QUEUE_SIZE, DiscardSpans, Pair, Result, calls, measure, then


def _raw_sdk_http(endpoint: str) -> tuple[Callable[..., float], Callable[[], object]]:
    from exporter_paths import raw_sdk
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    provider, hand_written = raw_sdk(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces"))
    return hand_written, provider.force_flush


def ddtrace_pairs(endpoint: str) -> list[Pair]:
    # Before the import: its writer talks to the "agent" on loopback, flushes only when asked,
    # and none of its background services (telemetry, remote config) reach for the network.
    os.environ.update({
        "DD_TRACE_AGENT_URL": endpoint, "DD_INSTRUMENTATION_TELEMETRY_ENABLED": "false",
        "DD_REMOTE_CONFIGURATION_ENABLED": "false", "DD_TRACE_STARTUP_LOGS": "false", "DD_SERVICE": "bench",
        "DD_TRACE_WRITER_INTERVAL_SECONDS": str(DELAY_S), "DD_TRACE_STATS_COMPUTATION_ENABLED": "false",
        "DD_TRACE_WRITER_BUFFER_SIZE_BYTES": str(256 * 1024 * 1024),
        "DD_TRACE_WRITER_MAX_PAYLOAD_SIZE_BYTES": str(256 * 1024 * 1024),
    })
    from ddtrace.trace import tracer

    def traced(symbol: str, side: str, amount: float, price: float) -> float:
        with tracer.trace("place_order") as span:
            span.set_tag("symbol", symbol)
            span.set_tag("side", side)
            span.set_metric("amount", amount)
            span.set_metric("price", price)
            return amount * price if symbol and side else 0.0

    raw, raw_flush = _raw_sdk_http(endpoint)
    return [Pair("ddtrace tracer.trace + 4 tags, total CPU, its agent protocol to loopback (info)",
                 "raw SDK span + BSP, OTLP HTTP", then(calls(traced), tracer.flush), then(calls(raw), raw_flush),
                 None, clock=CPU)]


def logfire_pairs(endpoint: str) -> list[Pair]:
    import logfire
    from exporter_paths import raw_sdk
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

    discard_provider, discard_raw = raw_sdk(DiscardSpans())
    pairs = []
    paths: list[tuple[str, SpanExporter, tuple[Callable[..., float], Callable[[], object]]]] = [
        ("discard", DiscardSpans(), (discard_raw, discard_provider.force_flush)),
        ("OTLP HTTP", OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces"), _raw_sdk_http(endpoint)),
    ]
    for path, span_exporter, (raw, raw_flush) in paths:
        processor = BatchSpanProcessor(span_exporter, max_queue_size=QUEUE_SIZE, max_export_batch_size=QUEUE_SIZE,
                                       schedule_delay_millis=DELAY_S * 1000)
        instance = logfire.configure(local=True, send_to_logfire=False, console=False, service_name="bench",
                                     metrics=False, additional_span_processors=[processor])
        traced = instance.instrument("place_order", extract_args=True)(_place_order)
        pairs.append(Pair(f"logfire.instrument (4 args), total CPU, {path} (info)", f"raw SDK span + BSP, {path}",
                          then(calls(traced), instance.force_flush), then(calls(raw), raw_flush), None, clock=CPU))
    return pairs


def _place_order(symbol: str, side: str, amount: float, price: float) -> float:
    return amount * price if symbol and side else 0.0


PEERS: dict[str, Callable[[str], list[Pair]]] = {"logfire": logfire_pairs, "ddtrace": ddtrace_pairs}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--http-port", type=int, required=True, help="the loopback sink's HTTP port")
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("--loop-ms", type=float, default=30.0)
    parser.add_argument("--peer", choices=sorted(PEERS), action="append", help="default: every peer")
    args = parser.parse_args(argv)
    endpoint = f"http://127.0.0.1:{args.http_port}"
    results: list[dict[str, Any]] = []
    for name in args.peer or list(PEERS):
        try:
            pairs = PEERS[name](endpoint)
        except ImportError as error:  # not installed: the row says so instead of failing the run
            print(f"peers: {name} is not installed here ({error}); `make bench` installs it", file=sys.stderr)
            continue
        for pair in pairs:
            print(f"        {pair.name} ...", file=sys.stderr, flush=True)
            result: Result = measure(pair, args.rounds, args.loop_ms * 1e6)
            results.append(asdict(result))
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
