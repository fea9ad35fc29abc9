"""metric_catalog / metric_series over the metrics a store keeps (real exporter, real files, real index)."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from cli_runner import report_json, run_cli
from opentelemetry import metrics
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

import otel_trading
from otel_trading.export._local_store import LocalStoreWriter
from otel_trading.export._metric_queries import (
    MetricInfo,
    Series,
    metric_catalog,
    metric_series,
    quantile,
    recorded_equity,
)
from otel_trading.export._metric_store import LocalMetricExporter, metrics_to_json_line
from otel_trading.export._store_queries import store_report

S = 1_000_000_000
CUMULATIVE = AggregationTemporality.CUMULATIVE
RESOURCE = Resource.create({"service.name": "bot"})


def _write(store: Path, *metrics_: Metric, max_file_bytes: int = 1 << 20) -> None:
    """One export of ``metrics_`` through the real exporter into ``store``."""
    writer: LocalStoreWriter[MetricsData] = LocalStoreWriter(store, "metrics", metrics_to_json_line,
                                                             max_file_bytes=max_file_bytes,
                                                             max_total_bytes=64 * max_file_bytes)
    data = MetricsData([ResourceMetrics(RESOURCE, [ScopeMetrics(InstrumentationScope("bot"), list(metrics_), "")],
                                        "")])
    assert LocalMetricExporter(writer).export(data).name == "SUCCESS"


def _counter(at_s: float, values: dict[str, float], *, start_s: float = 0.5) -> Metric:
    points = [NumberDataPoint({"symbol": symbol, "side": "buy"}, int(start_s * S), int(at_s * S), value)
              for symbol, value in values.items()]
    return Metric("bot.fills", "Fills", "{fill}", Sum(points, CUMULATIVE, is_monotonic=True))


def _gauge(at_s: float, value: float, portfolio: str = "main") -> Metric:
    return Metric("trading.equity", "Equity", "{quote}",
                  Gauge([NumberDataPoint({"portfolio": portfolio}, 0, int(at_s * S), value)]))


def _histogram(at_s: float, counts: list[int], total: float) -> Metric:
    point = HistogramDataPoint({"venue": "x"}, 0, int(at_s * S), sum(counts), total, counts, [1.0, 2.0, 5.0], 0, 9)
    return Metric("bot.latency", "Latency", "s", Histogram([point], CUMULATIVE))


def test_catalog_lists_each_metric_with_its_type_unit_and_attribute_keys(tmp_path: Path) -> None:
    _write(tmp_path, _counter(1, {"BTC": 1}), _gauge(1, 100.0), _histogram(1, [0, 1, 0, 0], 1.5))
    catalog = metric_catalog(tmp_path)
    assert catalog == [
        MetricInfo("bot.fills", "{fill}", "Fills", "sum", ["side", "symbol"]),
        MetricInfo("bot.latency", "s", "Latency", "histogram", ["venue"]),
        MetricInfo("trading.equity", "{quote}", "Equity", "gauge", ["portfolio"]),
    ]
    json.dumps([dataclasses.asdict(info) for info in catalog])  # what the console serves
    assert (tmp_path / ".index.metrics.sqlite3").is_file()


def test_values_are_summed_over_series_unless_grouped_by_an_attribute(tmp_path: Path) -> None:
    for second, (btc, eth) in enumerate([(10, 5), (30, 5), (60, 7)], start=1):
        _write(tmp_path, _counter(second, {"BTC": btc, "ETH": eth}))
    assert metric_series(tmp_path, "bot.fills") == [Series({}, [(1 * S, 15.0), (2 * S, 35.0), (3 * S, 67.0)])]
    assert metric_series(tmp_path, "bot.fills", by=["symbol"]) == [
        Series({"symbol": "BTC"}, [(1 * S, 10.0), (2 * S, 30.0), (3 * S, 60.0)]),
        Series({"symbol": "ETH"}, [(1 * S, 5.0), (2 * S, 5.0), (3 * S, 7.0)]),
    ]
    assert metric_series(tmp_path, "bot.fills", by="side") == [
        Series({"side": "buy"}, [(1 * S, 15.0), (2 * S, 35.0), (3 * S, 67.0)])]
    assert metric_series(tmp_path, "bot.fills", since_ns=2 * S, until_ns=2 * S) == [Series({}, [(2 * S, 35.0)])]
    assert metric_series(tmp_path, "no.such.metric") == []
    assert metric_series(tmp_path / "missing", "bot.fills") == []


def test_rate_is_the_increase_per_second_across_a_restart(tmp_path: Path) -> None:
    for second, btc in [(1, 10), (2, 30), (3, 60)]:
        _write(tmp_path, _counter(second, {"BTC": btc}))
    _write(tmp_path, _counter(4, {"BTC": 2}, start_s=3.5))  # the bot restarted: the total begins again
    [series] = metric_series(tmp_path, "bot.fills", stat="rate")
    # The first point: its total over the time since the series started (0.5 s).
    assert series.points == [(1 * S, 20.0), (2 * S, 20.0), (3 * S, 30.0), (4 * S, 4.0)]
    [since] = metric_series(tmp_path, "bot.fills", stat="rate", since_ns=2 * S)
    assert since.points == [(2 * S, 20.0), (3 * S, 30.0), (4 * S, 4.0)]  # the point before still counts


def test_histograms_give_the_mean_and_percentiles_of_each_interval(tmp_path: Path) -> None:
    _write(tmp_path, _histogram(1, [0, 10, 0, 0], 15.0))  # ten values in (1, 2]
    _write(tmp_path, _histogram(2, [0, 10, 10, 0], 50.0))  # then ten in (2, 5]
    assert metric_series(tmp_path, "bot.latency") == [Series({}, [(1 * S, 1.5), (2 * S, 3.5)])]
    assert metric_series(tmp_path, "bot.latency", stat="p50") == [Series({}, [(1 * S, 1.5), (2 * S, 3.5)])]
    [p99] = metric_series(tmp_path, "bot.latency", stat="p99")
    assert p99.points == [(1 * S, pytest.approx(1.99)), (2 * S, pytest.approx(4.97))]


def test_quantile_interpolates_within_a_bucket_and_stops_at_the_top_bound() -> None:
    assert quantile(0.5, [1.0, 2.0], [0, 4, 0]) == 1.5
    assert quantile(0.99, [1.0, 2.0], [0, 0, 3]) == 2.0
    assert quantile(0.5, [1.0], [0, 0]) is None


def test_series_are_downsampled_to_max_points_keeping_the_last_value_of_each_bucket(tmp_path: Path) -> None:
    _write(tmp_path, *[])  # an empty export writes nothing
    for second in range(1, 101):
        _write(tmp_path, _gauge(second, float(second)))
    [series] = metric_series(tmp_path, "trading.equity", max_points=10)
    assert len(series.points) == 10
    assert series.points[-1] == (100 * S, 100.0)
    assert all(later[0] > earlier[0] for earlier, later in zip(series.points, series.points[1:], strict=False))


def test_bad_questions_are_clear_errors(tmp_path: Path) -> None:
    _write(tmp_path, _counter(1, {"BTC": 1}), _gauge(1, 100.0))
    with pytest.raises(ValueError, match=r"stat 'rate': trading.equity is a gauge"):
        metric_series(tmp_path, "trading.equity", stat="rate")
    with pytest.raises(ValueError, match=r"stat 'p99': bot.fills is a sum"):
        metric_series(tmp_path, "bot.fills", stat="p99")
    with pytest.raises(ValueError, match=r"stat: expected one of \['value', 'p50', 'p99', 'rate'\], got 'max'"):
        metric_series(tmp_path, "bot.fills", stat="max")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_points: expected a whole number of at least 1, got 0"):
        metric_series(tmp_path, "bot.fills", max_points=0)


def test_each_point_goes_to_its_series_whatever_the_order_of_the_lines_points(tmp_path: Path) -> None:
    """The indexer reuses the previous line's series for points in the same places: series that
    swap places, appear, vanish or carry no attributes still land in their own series."""
    lines = [{"BTC": 1, "ETH": 10}, {"ETH": 20, "BTC": 2}, {"SOL": 300, "ETH": 30, "BTC": 3}, {"BTC": 4},
             {"BTC": 5, "ETH": 50}]
    for second, values in enumerate(lines, start=1):
        _write(tmp_path, _counter(second, values))
    _write(tmp_path, Metric("bot.fills", "Fills", "{fill}", Sum([NumberDataPoint(None, 0, 6 * S, 1000)], CUMULATIVE,
                                                                True)))
    assert metric_series(tmp_path, "bot.fills", by=["symbol"]) == [
        Series({"symbol": "BTC"}, [(s * S, float(s)) for s in range(1, 6)]),
        Series({"symbol": "ETH"}, [(1 * S, 10.0), (2 * S, 20.0), (3 * S, 30.0), (5 * S, 50.0)]),
        Series({"symbol": "SOL"}, [(3 * S, 300.0)]),
        Series({"symbol": None}, [(6 * S, 1000.0)]),
    ]


def test_the_index_follows_appends_and_rotation_and_is_rebuilt_when_deleted(tmp_path: Path) -> None:
    small = 2048
    for second in range(1, 6):
        _write(tmp_path, _gauge(second, float(second)), max_file_bytes=small)
    assert [p[1] for p in metric_series(tmp_path, "trading.equity")[0].points] == [1.0, 2.0, 3.0, 4.0, 5.0]
    for second in range(6, 40):  # rotates several times
        _write(tmp_path, _gauge(second, float(second)), max_file_bytes=small)
    assert len(list(tmp_path.glob("metrics-*.jsonl"))) > 1
    [series] = metric_series(tmp_path, "trading.equity")
    assert [p[1] for p in series.points] == [float(s) for s in range(1, 40)]  # each point once
    (tmp_path / "metrics.jsonl").write_text("")  # truncated: its points are forgotten, the rest stay
    (tmp_path / "metrics.jsonl").write_text("not json\n")
    kept = metric_series(tmp_path, "trading.equity")[0].points
    assert kept and kept[-1][1] < 39.0
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / f".index.metrics.sqlite3{suffix}").unlink(missing_ok=True)
    assert metric_series(tmp_path, "trading.equity")[0].points == kept
    # The first indexing builds the point indexes after the points are in; they are there after it.
    with contextlib.closing(sqlite3.connect(tmp_path / ".index.metrics.sqlite3")) as db:
        assert {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'index' "
                                               "AND tbl_name = 'points'")} == {"points_by_series", "points_by_file"}


@pytest.mark.parametrize("spoil", ["not a database", "another schema"])
def test_a_damaged_or_outdated_metric_index_is_rebuilt_from_the_store(tmp_path: Path, spoil: str) -> None:
    for second in range(1, 4):
        _write(tmp_path, _gauge(second, float(second)))
    points = metric_series(tmp_path, "trading.equity")[0].points
    index = tmp_path / ".index.metrics.sqlite3"
    if spoil == "not a database":
        for suffix in ("-wal", "-shm"):
            (tmp_path / f"{index.name}{suffix}").unlink(missing_ok=True)
        index.write_bytes(b"garbage, not SQLite" * 100)
    else:
        with contextlib.closing(sqlite3.connect(index)) as db:
            db.execute("UPDATE meta SET value = '0' WHERE key = 'schema'")
            db.execute("DELETE FROM points")  # an index that kept nothing: only a rebuild gets the points back
            db.commit()
    assert metric_series(tmp_path, "trading.equity")[0].points == points == [(s * S, float(s)) for s in range(1, 4)]
    assert index.read_bytes().startswith(b"SQLite format 3")  # rebuilt in its place, not in a fallback one


def test_a_configured_bot_s_own_and_user_metrics_are_in_the_catalog(configures_in_tmp: None,
                                                                    tmp_path: Path) -> None:
    store = tmp_path / "store"
    telemetry = otel_trading.configure(store_dir=store, log_console="off", install_signal_handlers=False,
                                       system_metrics=False, metrics_exporter="local")
    counter = metrics.get_meter("my.bot").create_counter("my.bot.signals", "{signal}", "Signals seen")
    counter.add(2, {"strategy": "momentum"})
    assert telemetry.force_flush()
    counter.add(3, {"strategy": "momentum"})
    assert telemetry.shutdown()
    names = {info.name: info for info in metric_catalog(store)}
    assert names["my.bot.signals"] == MetricInfo("my.bot.signals", "{signal}", "Signals seen", "sum", ["strategy"])
    assert "otel_trading.telemetry.exported" in names
    [series] = metric_series(store, "my.bot.signals", by=["strategy"])
    assert series.attributes == {"strategy": "momentum"} and series.points[-1][1] == 5.0


def test_the_report_uses_the_recorded_equity_when_the_store_has_it(demo_store: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    # The demo's trades without its metrics (it exports them every second): the equity is reconstructed.
    shutil.copytree(demo_store, store, ignore=shutil.ignore_patterns("metrics*"))
    reconstructed = report_json(store)
    assert reconstructed["risk"]["equity_source"] == "trades"
    assert len(reconstructed["equity_curve"]) == reconstructed["performance"]["trades"] + 1
    first = _time_ns(reconstructed["period"]["first_trade_opened"])
    last = _time_ns(reconstructed["period"]["last_trade_closed"])
    later = [(last + 1_000_000, 10_020.0)]  # the first export after the last close, then a later one
    _write(store, dataclasses.replace(_gauge(0, 10_020.0, "demo"), data=Gauge(
        [NumberDataPoint({"trading.portfolio": "demo"}, 0, later[0][0], 10_020.0)])))
    _write(store, dataclasses.replace(_gauge(0, 10_030.0, "demo"), data=Gauge(
        [NumberDataPoint({"trading.portfolio": "demo"}, 0, last + 2_000_000, 10_030.0)])))

    values = [10_000.0, 10_100.0, 9_900.0, 10_050.0]
    for i, value in enumerate(values):
        at = first + (last - first) * i // (len(values) - 1)
        _write(store, dataclasses.replace(_gauge(0, value, "demo"), data=Gauge(
            [NumberDataPoint({"trading.portfolio": "demo"}, 0, at, value)])))
    assert recorded_equity(store)[-1] == (last + 2_000_000, 10_030.0)  # recorded, but after the first one after
    recorded = report_json(store)
    risk = recorded["risk"]
    assert risk["equity_source"] == "recorded"
    curve = [*values, *(value for _, value in later)]
    assert [point["value"] for point in recorded["equity_curve"]] == curve
    assert risk["start_equity"] == 10_000.0 and risk["end_equity"] == curve[-1]
    peak = [max(curve[: i + 1]) for i in range(len(curve))]
    assert risk["max_drawdown"] == pytest.approx(max(p - v for p, v in zip(peak, curve, strict=True)))
    assert risk["sharpe"] == pytest.approx(reconstructed["risk"]["sharpe"])  # the per-trade ratios stay per trade
    assert store_report(store) == recorded  # what the console serves is what the CLI prints

    # A report of one symbol is not the whole account's equity; another service's equity is not this one's.
    assert report_json(store, "--symbol", "BTC/USDT")["risk"]["equity_source"] == "trades"
    service = recorded["runs"][0]["service"]
    assert service != "bot" and report_json(store, "--service", service)["risk"]["equity_source"] == "trades"
    text = run_cli("report", "--store", str(store), timeout=60).stdout
    assert f"the equity, the drawdown and the equity curve are the recorded trading.equity ({len(curve)} points" in \
        " ".join(text.split())


def _time_ns(iso: str) -> int:
    moment = datetime.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return int(moment.timestamp() * 1_000) * 1_000_000


def test_damaged_and_hostile_lines_are_skipped_whole_and_the_rest_answers(tmp_path: Path,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    _write(tmp_path, _gauge(1, 1.0))
    good = (tmp_path / "metrics.jsonl").read_text()
    huge = good.replace('"timeUnixNano":"1000000000"', '"timeUnixNano":"99999999999999999999"')  # > int64
    assert huge != good
    half_good = json.loads(good)  # a good metric, then a broken one: the line goes in whole or not at all
    metrics_ = half_good["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]
    metrics_[0]["name"] = "before.the.bad.one"
    metrics_.append({"name": "bad", "gauge": "nonsense"})
    with (tmp_path / "metrics.jsonl").open("a") as handle:
        handle.write("not json\n" + huge + "[" * 100_000 + "\n" + json.dumps(half_good) + "\n")
    _write(tmp_path, _gauge(2, 2.0))
    assert [info.name for info in metric_catalog(tmp_path)] == ["trading.equity"]
    assert metric_series(tmp_path, "trading.equity") == [Series({}, [(1 * S, 1.0), (2 * S, 2.0)])]
    warnings = [r.getMessage() for r in caplog.records if "unreadable metric line" in r.getMessage()]
    assert len(warnings) == 1, warnings  # said once, when the lines were read, not at every query
    assert warnings[0].startswith(f"4 unreadable metric line(s) in the store {tmp_path}, left out of the charts: "
                                  f"{tmp_path / 'metrics.jsonl'}:2: not an OTLP/JSON metrics record")
