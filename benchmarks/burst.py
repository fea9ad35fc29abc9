"""A burst of spans as fast as possible with OTLP/HTTP, the default queue settings: loss, peak
RSS growth and the worst single call, with a live loopback receiver and with a dead port.

Each case runs in its own subprocess (``python burst.py --backend live|dead --spans N``, one
JSON object on stdout) so its RSS is its own; run.py starts them and prints the rows.
Loss must be 0 with the live receiver; with the dead port every span is accounted for:
exported + counted as dropped == sent, never silent.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import psutil

import otel_trading
from otel_trading._state import STATE

SPANS = 200_000
RSS_TARGET_MB = 100.0
STALL_TARGET_MS = 20.0


@dataclass(frozen=True)
class Burst:
    """One case's outcome; ``exported`` + ``dropped`` == ``spans`` when nothing was lost silently."""

    backend: str
    spans: int  # sent: the burst and the warm-up before it
    exported: int
    dropped: int
    rss_growth_mb: float
    worst_call_ms: float
    seconds: float
    drain_s: float  # from the burst's end to the end of shutdown (its flush)

    @property
    def unaccounted(self) -> int:
        return self.spans - self.exported - self.dropped

    @property
    def passed(self) -> bool:
        lost_ok = self.dropped == 0 if self.backend == "live" else True
        return (lost_ok and self.unaccounted == 0 and self.rss_growth_mb <= RSS_TARGET_MB
                and self.worst_call_ms <= STALL_TARGET_MS)


def _counter_total(name: str) -> int:
    return int(sum(h.value for _, h in STATE.local_metrics.counter(name).series()))


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def place_order(symbol: str, side: str, amount: float, price: float) -> float:
    return amount * price if symbol and side else 0.0


class GcProbe:
    """Each garbage collection's generation and duration (``--gc-probe``: a summary on stderr)."""

    def __init__(self) -> None:
        self.collections: list[tuple[int, float]] = []  # (generation, ms)
        self._started = 0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter_ns()
        else:
            self.collections.append((info["generation"], (time.perf_counter_ns() - self._started) / 1e6))

    def summary(self) -> str:
        rows = []
        for generation in (0, 1, 2):
            took = sorted(ms for g, ms in self.collections if g == generation)
            if took:
                rows.append(f"gen{generation}: {len(took)} collections, total {sum(took):.0f} ms, "
                            f"worst {took[-1]:.1f} ms, median {took[len(took) // 2]:.2f} ms")
        return "; ".join(rows) or "no collections"


def run(endpoint: str, backend: str, spans: int, probe: GcProbe | None = None) -> Burst:
    telemetry = otel_trading.configure(
        service_name="bench-burst", traces_exporter="otlp", metrics_exporter="none", logs_exporter="none",
        otlp_protocol="http/protobuf", otlp_endpoint=endpoint, log_console="off", install_signal_handlers=False,
        # A live receiver gets the time to drain the backlog (how long is reported); a dead one does not.
        capture_stdlib_logging=False, shutdown_timeout=60 if backend == "live" else 10,
    )
    decorated = otel_trading.traced(capture=["symbol", "side", "amount", "price"])(place_order)
    for _ in range(1000):  # warm-up, so the RSS baseline has the code paths loaded
        decorated("BTC/USDT", "buy", 0.5, 64_000.0)
    telemetry.force_flush(5)
    warm = 1000
    rss_before = psutil.Process().memory_info().rss
    # The burst starts from a settled heap: the imports, configure() and the warm-up leave enough objects
    # pending promotion that the interpreter's next collection is a full one whatever comes next (a gc probe
    # put it within the burst's first milliseconds, with a dead port too); a bot that has run for a while
    # paid for its start-up long ago. The burst's own full collections are still all counted.
    gc.collect()
    if probe is not None:
        gc.callbacks.append(probe)
    worst = 0
    clock = time.perf_counter_ns
    started = clock()
    for _ in range(spans):
        before = clock()
        decorated("BTC/USDT", "buy", 0.5, 64_000.0)
        took = clock() - before
        worst = max(worst, took)
    seconds = (clock() - started) / 1e9
    if probe is not None:
        gc.callbacks.remove(probe)
    peak = _peak_rss_bytes()
    ended = clock()
    telemetry.shutdown()  # bounded by shutdown_timeout: what is left is counted as dropped
    drain_s = (clock() - ended) / 1e9
    # The exporter's own shutdown counts what it gave up on just as shutdown() returns (same deadline).
    settle = time.monotonic() + 3
    while True:
        exported = _counter_total("otel_trading.telemetry.exported")
        dropped = _counter_total("otel_trading.telemetry.dropped")
        if exported + dropped >= warm + spans or time.monotonic() > settle:
            break
        time.sleep(0.05)
    return Burst(backend, warm + spans, exported, dropped, max(0, peak - rss_before) / 2**20, worst / 1e6, seconds,
                 drain_s)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoint", required=True, help="OTLP/HTTP endpoint (a live sink or a dead port)")
    parser.add_argument("--backend", choices=("live", "dead"), required=True)
    parser.add_argument("--spans", type=int, default=SPANS)
    parser.add_argument("--gc-probe", action="store_true",
                        help="print each generation's collections during the burst (count, total, worst) on stderr")
    args = parser.parse_args(argv)
    probe = GcProbe() if args.gc_probe else None
    print(json.dumps(asdict(run(args.endpoint, args.backend, args.spans, probe))))
    if probe is not None:
        print(f"gc during the burst ({args.backend}): {probe.summary()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())


def run_case(backend: str, endpoint: str, spans: int = SPANS) -> Burst:
    """One case in a fresh interpreter (its RSS is its own)."""
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, __file__, "--endpoint", endpoint, "--backend", backend, "--spans", str(spans)],
        capture_output=True, text=True, timeout=600, check=True)
    return Burst(**json.loads(done.stdout.splitlines()[-1]))


def table(bursts: Sequence[Burst]) -> str:
    lines = [f"| burst of spans, OTLP HTTP | lost (counted) | unaccounted | peak RSS growth (≤ {RSS_TARGET_MB:g} MB) "
             f"| worst call (≤ {STALL_TARGET_MS:g} ms) | burst took | then shutdown | result |",
             "|---|--:|--:|--:|--:|--:|--:|---|"]
    for b in bursts:
        where = "live loopback receiver (0 lost)" if b.backend == "live" else "dead port (loss counted)"
        lines.append(f"| {b.spans:,} spans, {where} | {b.dropped:,} | {b.unaccounted:,} | {b.rss_growth_mb:.0f} MB "
                     f"| {b.worst_call_ms:.1f} ms | {b.seconds:.1f} s | {b.drain_s:.1f} s "
                     f"| {'PASS' if b.passed else 'FAIL'} |")
    return "\n".join(lines)
