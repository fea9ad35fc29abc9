"""The Grafana dashboards and datasources of collector-config/grafana, checked without Grafana.

- the committed dashboard JSON is what generate_dashboards.py writes (``--check`` included);
- every dashboard: a stable uid, the tag, the shared variables, datasources that the
  provisioning file defines, a grid without overlapping panels;
- every PromQL expression is well formed after variable substitution, names only metrics the
  SDK emits (the catalog's Prometheus names, ``_bucket``/``_sum``/``_count`` forms included) and
  filters only on labels that docs/semantic-conventions.md gives the metric, so a renamed
  metric or attribute breaks this test instead of a panel;
- the datasource provisioning links metrics, logs and traces to each other.

The checks collect problems as strings; the negative tests break a dashboard on purpose and
expect the check to say so.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from otel_trading.metrics._catalog import CATALOG, Kind

ROOT = Path(__file__).resolve().parent.parent
GRAFANA = ROOT / "collector-config" / "grafana"
GENERATOR = GRAFANA / "generate_dashboards.py"
DASHBOARDS = GRAFANA / "dashboards"
DATASOURCES_FILE = GRAFANA / "provisioning" / "datasources" / "datasources.yaml"
PROVIDERS_FILE = GRAFANA / "provisioning" / "dashboards" / "dashboards.yaml"
SEMCONV = ROOT / "docs" / "semantic-conventions.md"

EXPECTED_UIDS = {
    "trading-performance.json": "otel-trading-performance",
    "risk.json": "otel-trading-risk",
    "execution.json": "otel-trading-execution",
    "bot-health.json": "otel-trading-bot-health",
}
REQUIRED_VARIABLES = ("job", "exchange", "symbol", "strategy")
GRID_COLUMNS = 24


def load_generator() -> ModuleType:
    """The generator, loaded from its path as the real-Prometheus test does (collector-config is no package)."""
    spec = importlib.util.spec_from_file_location("generate_dashboards", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = load_generator()


def committed() -> dict[str, dict[str, Any]]:
    return {path.name: json.loads(path.read_text(encoding="utf-8")) for path in sorted(DASHBOARDS.glob("*.json"))}


# --- what the SDK emits: Prometheus names and their labels ----------------------------------------

# Series that are not the SDK's own: resource attributes, Prometheus' rule and scrape series.
EXTRA_SERIES: dict[str, frozenset[str] | None] = {
    "target_info": None,  # any label: one per resource attribute
    "ALERTS": None,  # alertname, alertstate and the labels of each rule and alert
    "ALERTS_FOR_STATE": None,
    "up": frozenset({"job", "instance"}),
}
# Every scraped series has these; buckets also have le.
IMPLICIT_LABELS = frozenset({"job", "instance", "otel_scope_name", "otel_scope_version", "otel_scope_schema_url"})
_CODE = re.compile(r"`([^`]+)`")


def _cells(line: str) -> list[str]:
    escaped = line.strip().strip("|").replace("\\|", "\0")
    return [cell.replace("\0", "|").strip() for cell in escaped.split("|")]


def _expand(documented: str) -> list[str]:
    """``x_seconds_{bucket,sum,count}`` -> the three series names; others as they are."""
    match = re.fullmatch(r"(.*)_\{(.*)\}", documented)
    return [documented] if match is None else [f"{match[1]}_{suffix}" for suffix in match[2].split(",")]


def documented_labels(path: Path = SEMCONV) -> dict[str, frozenset[str]]:
    """Prometheus series name -> its labels, from the metric tables (Attributes column) of the doc.

    "symbol/exchange/strategy" stands for trading.symbol, trading.exchange and trading.strategy.
    """
    labels: dict[str, frozenset[str]] = {}
    header: list[str] | None = None
    in_code = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
        if in_code or not line.startswith("|"):
            header = None
            continue
        if header is None:
            header = _cells(line)
            continue
        if set(line) <= set("|-: ") or "Prometheus name" not in header or "Attributes" not in header:
            continue
        row = dict(zip(header, _cells(line), strict=False))
        attributes = set(_CODE.findall(row["Attributes"]))
        if "symbol/exchange/strategy" in row["Attributes"]:
            attributes |= {"trading.symbol", "trading.exchange", "trading.strategy"}
        names = {re.sub(r"[^a-zA-Z0-9_]", "_", attribute) for attribute in attributes}
        for series in _expand(row["Prometheus name"].strip("`")):
            labels[series] = frozenset(names | ({"le"} if series.endswith("_bucket") else set()))
    return labels


def known_series() -> dict[str, frozenset[str] | None]:
    """Every series name a dashboard may use -> its labels (None: any).

    Names come from the catalog (what the exporter computes); a histogram has _bucket, _sum
    and _count unless the doc lists fewer (trading_slippage_bps: negative buckets, so the
    exposition has no _sum/_count). Labels come from the doc.
    """
    doc = documented_labels()
    series: dict[str, frozenset[str] | None] = dict(EXTRA_SERIES)
    for info in CATALOG.values():
        base = info.prometheus_name
        names = [f"{base}_{s}" for s in ("bucket", "sum", "count")] if info.kind is Kind.HISTOGRAM else [base]
        for name in names:
            if name in doc:
                series[name] = doc[name] | IMPLICIT_LABELS
    return series


# --- a small PromQL reader ------------------------------------------------------------------------

FUNCTIONS = frozenset((
    "abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh", "avg_over_time", "ceil",
    "changes", "clamp", "clamp_max", "clamp_min", "cos", "cosh", "count_over_time", "day_of_month", "day_of_week",
    "day_of_year", "days_in_month", "deg", "delta", "deriv", "double_exponential_smoothing", "exp", "floor",
    "histogram_avg", "histogram_count", "histogram_fraction", "histogram_quantile", "histogram_stddev",
    "histogram_stdvar", "histogram_sum", "holt_winters", "hour", "idelta", "increase", "info", "irate", "label_join",
    "label_replace", "last_over_time", "ln", "log10", "log2", "mad_over_time", "max_over_time", "min_over_time",
    "minute", "month", "pi", "predict_linear", "present_over_time", "quantile_over_time", "rad", "rate", "resets",
    "round", "scalar", "sgn", "sin", "sinh", "sort", "sort_by_label", "sort_by_label_desc", "sort_desc", "sqrt",
    "stddev_over_time", "stdvar_over_time", "sum_over_time", "tan", "tanh", "time", "timestamp", "vector", "year",
    "avg", "bottomk", "count", "count_values", "group", "limit_ratio", "limitk", "max", "min", "quantile", "stddev",
    "stdvar", "sum", "topk",
))
LABEL_LIST_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
KEYWORDS = LABEL_LIST_KEYWORDS | {"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan", "start", "end"}
_DURATION = r"(?:\d+(?:ms|s|m|h|d|w|y))+"
_RANGE_CONTENT = re.compile(rf"\s*{_DURATION}\s*(?::\s*(?:{_DURATION})?\s*)?")
_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`[^`]*`)
  | (?P<range>\[[^\[\]]*\])
  | (?P<number>(?:0x[0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(?:ms|s|m|h|d|w|y)?)
  | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
  | (?P<op>=~|!~|!=|==|<=|>=|[-+*/%^<>=,(){}@])
""", re.VERBOSE)
MATCH_OPS = frozenset({"=", "!=", "=~", "!~"})


@dataclass
class Selector:
    metric: str | None
    matchers: list[tuple[str, str, str]] = field(default_factory=list)  # (label, op, value without quotes)


@dataclass
class ParsedQuery:
    problems: list[str] = field(default_factory=list)
    selectors: list[Selector] = field(default_factory=list)


def tokenize(expr: str) -> Iterator[tuple[str, str]]:
    position = 0
    while position < len(expr):
        match = _TOKEN.match(expr, position)
        if match is None:
            yield "error", expr[position]
            position += 1
            continue
        position = match.end()
        if match.lastgroup != "ws":
            yield match.lastgroup or "error", match[0]


class _Reader:
    """One pass over the tokens: brackets, label lists, function names, selectors and their matchers."""

    def __init__(self, expr: str) -> None:
        self.tokens = list(tokenize(expr))
        self.i = 0
        self.open_parens = 0
        self.parsed = ParsedQuery()

    def peek(self, offset: int = 1) -> str:
        return self.tokens[self.i + offset][1] if self.i + offset < len(self.tokens) else ""

    def problem(self, text: str) -> None:
        self.parsed.problems.append(text)

    def read(self) -> ParsedQuery:
        if not self.tokens:
            self.problem("empty expression")
        while self.i < len(self.tokens):
            kind, text = self.tokens[self.i]
            if kind == "ident":
                self.identifier(text)
            elif kind == "range" and not _RANGE_CONTENT.fullmatch(text[1:-1]):
                self.problem(f"range {text} is not a duration")
            elif kind == "error":
                self.problem(f"unexpected character {text!r} (an unclosed quote or a left-over variable?)")
            elif text == "{":
                self.selector(None)
            else:
                self.punctuation(text)
            self.i += 1
        if self.open_parens:
            self.problem(f"{self.open_parens} unclosed '('")
        return self.parsed

    def punctuation(self, text: str) -> None:
        if text == "(":
            self.open_parens += 1
        elif text == ")" and self.open_parens:
            self.open_parens -= 1
        elif text in (")", "}"):
            self.problem(f"unbalanced {text!r}")

    def identifier(self, text: str) -> None:
        if text in LABEL_LIST_KEYWORDS and self.peek() == "(":
            self.label_list(text)
        elif text in KEYWORDS:
            pass
        elif self.peek() == "(" or (text in FUNCTIONS and self.peek() in ("by", "without")):
            if text not in FUNCTIONS:
                self.problem(f"unknown function {text}()")
        elif self.peek() == "{":
            self.i += 1
            self.selector(text)
        else:
            self.parsed.selectors.append(Selector(text))

    def label_list(self, keyword: str) -> None:
        self.i += 2
        while self.i < len(self.tokens) and self.tokens[self.i][1] != ")":
            if self.tokens[self.i][0] != "ident" and self.tokens[self.i][1] != ",":
                self.problem(f"{self.tokens[self.i][1]!r} in the label list of {keyword}")
            self.i += 1
        if self.i >= len(self.tokens):
            self.problem(f"unclosed label list of {keyword}")

    def selector(self, metric: str | None) -> None:
        """From the opening brace at tokens[i]: ``label op "value", ...}``; stops on the closing brace."""
        selector = Selector(metric)
        self.parsed.selectors.append(selector)
        self.i += 1
        while self.i < len(self.tokens) and self.tokens[self.i][1] != "}":
            if self.tokens[self.i][1] == ",":
                self.i += 1
                continue
            if self.tokens[self.i][0] == "error":
                self.problem(f"unexpected character {self.tokens[self.i][1]!r} in a selector")
                self.i += 1
                continue
            triple = self.tokens[self.i:self.i + 3]
            if (len(triple) < 3 or triple[0][0] not in ("ident", "string") or triple[1][1] not in MATCH_OPS
                    or triple[2][0] != "string"):
                self.problem(f"bad label matcher near {' '.join(t[1] for t in triple)!r}")
                self.i += 1
                continue
            selector.matchers.append((triple[0][1].strip("\"'`"), triple[1][1], triple[2][1][1:-1]))
            self.i += 3
        if self.i >= len(self.tokens):
            self.problem("unclosed '{'")


def read_promql(expr: str) -> ParsedQuery:
    """Structure problems (brackets, quotes, matchers, ranges, unknown functions) and the selectors."""
    return _Reader(expr).read()


def promql_problems(expr: str, series: dict[str, frozenset[str] | None]) -> list[str]:
    """Problems of one PromQL expression whose variables were substituted."""
    parsed = read_promql(expr)
    problems = list(parsed.problems)
    for selector in parsed.selectors:
        names = [selector.metric] if selector.metric else _names_matched(selector)
        if not names:
            problems.append("a selector without a metric name")
        for name in names:
            if name not in series:
                problems.append(f"unknown metric {name}")
                continue
            allowed = series[name]
            for label, _, _ in selector.matchers:
                if allowed is not None and label not in allowed and label != "__name__":
                    problems.append(f"{name} has no label {label}")
    return problems


def _names_matched(selector: Selector) -> list[str]:
    """The metric names of ``{__name__="a"}`` or ``{__name__=~"a|b"}`` (alternatives of plain names only)."""
    for label, op, value in selector.matchers:
        if label == "__name__" and op in ("=", "=~") and re.fullmatch(r"[a-zA-Z_:][\w:]*(\|[a-zA-Z_:][\w:]*)*", value):
            return value.split("|") if op == "=~" else [value]
    return []


# --- the dashboard checks -------------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    series: dict[str, frozenset[str] | None]
    datasources: dict[str, str]  # uid -> type


def provisioned_datasources() -> dict[str, str]:
    document = yaml.safe_load(DATASOURCES_FILE.read_text(encoding="utf-8"))
    return {ds["uid"]: ds["type"] for ds in document["datasources"]}


@pytest.fixture(scope="module")
def context() -> Context:
    return Context(known_series(), provisioned_datasources())


_VARIABLE_REF = re.compile(r"\$\{(\w+)[^}]*\}|\[\[(\w+)[^\]]*\]\]|\$(\w+)")


def _referenced_variables(expr: str) -> set[str]:
    names = {next(g for g in match.groups() if g) for match in _VARIABLE_REF.finditer(expr)}
    return {name for name in names if not name.startswith("__") and not name[0].isdigit()}


def _overlap(a: dict[str, int], b: dict[str, int]) -> bool:
    return (a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"]
            and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"])


def _datasource_problems(where: str, datasource: object, ctx: Context) -> list[str]:
    if not isinstance(datasource, dict) or "uid" not in datasource:
        return [f"{where}: no datasource uid"]
    uid, kind = datasource["uid"], datasource.get("type")
    if uid not in ctx.datasources:
        return [f"{where}: datasource uid {uid!r} is not provisioned"]
    if kind != ctx.datasources[uid]:
        return [f"{where}: datasource {uid!r} has type {ctx.datasources[uid]!r}, not {kind!r}"]
    return []


def _query_problems(where: str, expr: str, variables: set[str], ctx: Context) -> list[str]:
    problems = [f"{where}: uses the undefined variable ${name}" for name in _referenced_variables(expr) - variables]
    for label, op, value in re.findall(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"', expr):
        if "$" in value and op != "=~":
            problems.append(f'{where}: {label}{op}"{value}" breaks with "All" (.*): use =~')
    return problems + [f"{where}: {p}" for p in promql_problems(gen.substitute_variables(expr), ctx.series)]


def _logql_problems(where: str, expr: str, variables: set[str]) -> list[str]:
    problems = [f"{where}: uses the undefined variable ${name}" for name in _referenced_variables(expr) - variables]
    stream = re.search(r"\{([^}]*)\}", expr)
    # Loki refuses a stream selector whose matchers all match "" (as =~".*", "All", does).
    if stream is None or not re.search(r'\w+\s*(=\s*"[^"]+"|=~\s*"\.\+")', stream[1]):
        problems.append(f"{where}: the stream selector needs a matcher that cannot match the empty string")
    return problems


def _variable_problems(templating: dict[str, dict[str, Any]], ctx: Context) -> list[str]:
    problems = [f"variable {name} is missing" for name in REQUIRED_VARIABLES if name not in templating]
    for name, variable in templating.items():
        if not (variable.get("multi") and variable.get("includeAll") and variable.get("allValue") == ".*"):
            problems.append(f"variable {name}: not multi-value with All = .*")
        problems += _datasource_problems(f"variable {name}", variable.get("datasource"), ctx)
        selector = re.sub(r"^label_values\((.*),\s*\w+\)$", r"\1", variable.get("definition", ""))
        problems += _query_problems(f"variable {name}", selector, set(templating), ctx)
    return problems


def _grid_problems(panels: list[dict[str, Any]]) -> list[str]:
    problems: list[str] = []
    for index, panel in enumerate(panels):
        grid = panel.get("gridPos", {})
        if not all(isinstance(grid.get(k), int) for k in "xywh") or grid["x"] + grid["w"] > GRID_COLUMNS:
            problems.append(f"panel {panel.get('title')!r}: gridPos {grid} is off the 24-column grid")
            continue
        problems += [f"panel {panel.get('title')!r}: overlaps panel {other.get('title')!r}" for other in panels[:index]
                     if _overlap(grid, other.get("gridPos", {"x": 0, "y": 0, "w": 0, "h": 0}))]
    return problems


def _panel_problems(panel: dict[str, Any], variables: set[str], ctx: Context) -> list[str]:
    where = f"panel {panel.get('title')!r}"
    problems = [] if panel.get("description") else [f"{where}: no description"]
    problems += _datasource_problems(where, panel.get("datasource"), ctx)
    if not panel.get("targets"):
        problems.append(f"{where}: no query")
    for target in panel.get("targets", []):
        datasource = target.get("datasource") or panel.get("datasource")
        problems += _datasource_problems(f"{where} {target.get('refId')}", datasource, ctx)
        kind = datasource.get("type") if isinstance(datasource, dict) else None
        if kind == "prometheus":
            problems += _query_problems(where, target.get("expr", ""), variables, ctx)
        elif kind == "loki":
            problems += _logql_problems(where, target.get("expr", ""), variables)
    return problems


def dashboard_problems(dashboard: dict[str, Any], ctx: Context) -> list[str]:
    problems: list[str] = []
    if not dashboard.get("uid") or not dashboard.get("title"):
        problems.append("no uid or title")
    if "otel-trading" not in dashboard.get("tags", []):
        problems.append("not tagged otel-trading")
    if not any(link.get("type") == "dashboards" and "otel-trading" in link.get("tags", [])
               for link in dashboard.get("links", [])):
        problems.append("no links to the other otel-trading dashboards")
    templating = {v["name"]: v for v in dashboard.get("templating", {}).get("list", [])}
    problems += _variable_problems(templating, ctx)
    panels = list(gen.iter_panels(dashboard))
    problems += _grid_problems(panels)
    for panel in panels:
        if panel.get("type") != "row":
            problems += _panel_problems(panel, set(templating), ctx)
    for annotation in dashboard.get("annotations", {}).get("list", []):
        if not annotation.get("builtIn"):
            where = f"annotation {annotation.get('name')!r}"
            problems += _datasource_problems(where, annotation.get("datasource"), ctx)
            problems += _query_problems(where, annotation.get("expr", ""), set(templating), ctx)
    return problems


# --- the generator and the committed files --------------------------------------------------------


def test_committed_dashboards_are_the_generators_output() -> None:
    expected = gen.rendered()
    assert sorted(expected) == sorted(EXPECTED_UIDS)
    assert sorted(p.name for p in DASHBOARDS.glob("*.json")) == sorted(expected)
    for filename, text in expected.items():
        assert (DASHBOARDS / filename).read_text(encoding="utf-8") == text, (
            f"{filename} is stale: run python collector-config/grafana/generate_dashboards.py")
    assert gen.main(["--check"]) == 0


def test_check_reports_a_stale_or_missing_file(tmp_path: Path) -> None:
    assert gen.main(["--out", str(tmp_path)]) == 0
    assert gen.main(["--check", "--out", str(tmp_path)]) == 0
    risk = tmp_path / "risk.json"
    risk.write_text(risk.read_text(encoding="utf-8").replace("Drawdown", "Drawdwn"), encoding="utf-8")
    assert gen.main(["--check", "--out", str(tmp_path)]) == 1
    assert gen.main(["--out", str(tmp_path)]) == 0  # rewrites it
    assert gen.main(["--check", "--out", str(tmp_path)]) == 0
    (tmp_path / "execution.json").unlink()
    assert gen.main(["--check", "--out", str(tmp_path)]) == 1


def test_output_is_deterministic() -> None:
    assert gen.rendered() == load_generator().rendered()


# --- the dashboards ---------------------------------------------------------------------------------


def test_each_dashboard_has_its_stable_uid_and_settings() -> None:
    dashboards = committed()
    assert {name: d["uid"] for name, d in dashboards.items()} == EXPECTED_UIDS
    assert len({d["title"] for d in dashboards.values()}) == len(dashboards)
    for dashboard in dashboards.values():
        assert dashboard["tags"] == ["otel-trading"]
        assert dashboard["time"] == {"from": "now-6h", "to": "now"}
        assert dashboard["refresh"] == "30s"
        assert 39 <= dashboard["schemaVersion"] <= 41
        assert dashboard["id"] is None


@pytest.mark.parametrize("filename", sorted(EXPECTED_UIDS))
def test_dashboard_has_no_problem(filename: str, context: Context) -> None:
    dashboard = json.loads((DASHBOARDS / filename).read_text(encoding="utf-8"))
    assert dashboard_problems(dashboard, context) == []


def test_panel_titles_are_unique_in_each_dashboard() -> None:
    """(dashboard title, panel title) names a panel: the real-Prometheus test keys its exceptions by it."""
    for name, dashboard in committed().items():
        titles = [p["title"] for p in gen.iter_panels(dashboard) if p["type"] != "row"]
        assert len(titles) == len(set(titles)), (name, sorted(t for t in titles if titles.count(t) > 1))


def test_the_promql_checks_cover_every_panel(context: Context) -> None:
    """Each dashboard has queries, and the checks see all of them (collapsed rows included)."""
    for dashboard in committed().values():
        queries = gen.panel_queries(dashboard)
        assert len(queries) >= 10
        prometheus_targets = sum(1 for panel in gen.iter_panels(dashboard) for t in panel.get("targets", [])
                                 if (t.get("datasource") or panel["datasource"])["type"] == "prometheus")
        assert len(queries) == prometheus_targets
        for _, _, expr in queries:
            assert read_promql(gen.substitute_variables(expr)).selectors


def test_dashboards_cover_the_required_views() -> None:
    """The panels the issue asks for, by the metrics their queries use."""
    used: dict[str, str] = {}
    for name, dashboard in committed().items():
        for _, _, expr in gen.panel_queries(dashboard):
            used[expr] = name
    def on(filename: str, *metrics: str) -> None:
        exprs = [expr for expr, name in used.items() if name == filename]
        for metric in metrics:
            assert any(re.search(rf"\b{metric}\b", expr) for expr in exprs), f"{filename}: nothing shows {metric}"
    on("trading-performance.json", "trading_equity", "trading_pnl_realized", "trading_pnl_unrealized",
       "trading_pnl_daily", "trading_trades_total", "trading_performance_win_rate",
       "trading_performance_profit_factor", "trading_performance_expectancy", "trading_performance_sharpe")
    on("risk.json", "trading_drawdown", "trading_drawdown_max", "trading_exposure", "trading_positions_open",
       "trading_position_size", "trading_state", "trading_circuit_breaker_trips_total", "ALERTS",
       "otel_trading_alerts_active")
    on("execution.json", "trading_order_ack_latency_seconds_bucket", "trading_order_fill_latency_seconds_bucket",
       "trading_slippage_bps_bucket", "trading_slippage_cost", "trading_order_rejects_total",
       "trading_exchange_request_duration_seconds_bucket", "trading_exchange_errors_total",
       "trading_exchange_rate_limit_interval_seconds", "trading_exchange_rate_limit_queued",
       "trading_market_data_staleness_seconds")
    on("bot-health.json", "otel_trading_heartbeat_timestamp_seconds", "process_uptime_seconds",
       "process_cpu_time_seconds_total", "process_memory_usage_bytes", "otel_trading_telemetry_dropped_total",
       "otel_trading_telemetry_queue_size", "otel_trading_function_errors_total",
       "otel_trading_alerts_evaluation_duration_seconds_bucket", "otel_trading_alerts_notifications_total")
    execution = committed()["execution.json"]
    assert 'error_type=~\\"RateLimitExceeded' in json.dumps(execution)
    assert any(p["type"] == "logs" and p["datasource"]["uid"] == "loki" for p in gen.iter_panels(execution))
    assert any(p["type"] == "state-timeline" for p in gen.iter_panels(committed()["risk.json"]))
    assert 'reason=\\"export_failed\\"' in json.dumps(committed()["bot-health.json"])


def test_trace_links_open_jaeger_in_explore() -> None:
    for name in ("trading-performance.json", "execution.json"):
        links = [link for panel in gen.iter_panels(committed()[name]) for link in panel.get("links", [])]
        assert links, name
        for link in links:
            assert link["url"].startswith("/explore?") and "%22jaeger%22" in link["url"]
            assert "${__from}" in link["url"] and "${__to}" in link["url"]
    assert any(t.get("exemplar") for p in gen.iter_panels(committed()["execution.json"]) for t in p.get("targets", []))


# --- the checks catch what they should --------------------------------------------------------------


def _broken(filename: str = "execution.json") -> dict[str, Any]:
    return copy.deepcopy(committed()[filename])


def _first_prometheus_panel(dashboard: dict[str, Any]) -> dict[str, Any]:
    return next(p for p in gen.iter_panels(dashboard) if p.get("datasource", {}).get("type") == "prometheus")


def test_an_unknown_metric_is_reported(context: Context) -> None:
    dashboard = _broken()
    panel = _first_prometheus_panel(dashboard)
    panel["targets"][0]["expr"] = 'sum(rate(trading_order_submitted_total{job=~"$job"}[$__rate_interval]))'
    assert f"panel {panel['title']!r}: unknown metric trading_order_submitted_total" in dashboard_problems(
        dashboard, context)


def test_a_renamed_histogram_series_is_reported(context: Context) -> None:
    assert promql_problems("sum(rate(trading_slippage_bps_sum[1m]))", context.series) == [
        "unknown metric trading_slippage_bps_sum"]  # negative buckets: no _sum in Prometheus
    assert promql_problems("sum(rate(trading_order_ack_latency_seconds_sum[1m]))", context.series) == []
    assert promql_problems("process_cpu_utilization_ratio", context.series) == [
        "unknown metric process_cpu_utilization_ratio"]


def test_a_label_the_metric_lacks_is_reported(context: Context) -> None:
    assert promql_problems('trading_equity{trading_strategy=~".*"}', context.series) == [
        "trading_equity has no label trading_strategy"]
    assert promql_problems('trading_exchange_errors_total{trading_symbol=~".*"}', context.series) == [
        "trading_exchange_errors_total has no label trading_symbol"]
    assert promql_problems('trading_orders_total{job=~".*", trading_strategy=~".*", otel_scope_name="x"}',
                           context.series) == []
    assert promql_problems('histogram_quantile(0.5, sum by (le) (rate(trading_order_ack_latency_seconds_bucket'
                           '{trading_order_type="limit", le!="1"}[1m])))', context.series) == []


def test_a_missing_variable_is_reported(context: Context) -> None:
    dashboard = _broken()
    dashboard["templating"]["list"] = [v for v in dashboard["templating"]["list"] if v["name"] != "strategy"]
    problems = dashboard_problems(dashboard, context)
    assert "variable strategy is missing" in problems
    assert any("uses the undefined variable $strategy" in p for p in problems)


def test_an_equality_matcher_on_a_variable_is_reported(context: Context) -> None:
    dashboard = _broken()
    panel = _first_prometheus_panel(dashboard)
    panel["targets"][0]["expr"] = 'sum(trading_slippage_cost{job="$job"})'
    assert any('job="$job" breaks with "All"' in p for p in dashboard_problems(dashboard, context))


def test_malformed_promql_is_reported(context: Context) -> None:
    assert promql_problems("sum(rate(trading_orders_total[1m])", context.series) == ["1 unclosed '('"]
    unclosed_quote = promql_problems('trading_orders_total{job=~".*}', context.series)
    assert "unexpected character '\"' in a selector" in unclosed_quote
    assert "range [1 minute] is not a duration" in promql_problems("rate(trading_orders_total[1 minute])",
                                                                   context.series)
    assert promql_problems("rate(trading_orders_total[$__rate_interval])", context.series) == [
        "range [$__rate_interval] is not a duration"]
    assert promql_problems('trading_orders_total{job~"x"}', context.series)[0].startswith("bad label matcher")
    assert promql_problems("histogram_quantle(0.5, up)", context.series) == ["unknown function histogram_quantle()"]
    assert promql_problems('{job="x"}', context.series) == ["a selector without a metric name"]
    assert promql_problems('{__name__=~"up.*"}', context.series) == ["a selector without a metric name"]
    assert promql_problems('{__name__=~"up|trading_orders_total", trading_symbol="x"}', context.series) == [
        "up has no label trading_symbol"]
    assert promql_problems(
        'sum by (job) (rate(up[5m:1m])) / on (job) group_left (trading_portfolio) trading_equity offset 1h',
        context.series) == []


def test_overlapping_panels_and_unknown_datasources_are_reported(context: Context) -> None:
    dashboard = _broken()
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    panels[1]["gridPos"] = dict(panels[0]["gridPos"])
    panels[2]["datasource"] = {"type": "prometheus", "uid": "mimir"}
    panels[3]["gridPos"]["x"] = 20
    panels[3]["gridPos"]["w"] = 6
    problems = dashboard_problems(dashboard, context)
    assert f"panel {panels[1]['title']!r}: overlaps panel {panels[0]['title']!r}" in problems
    assert f"panel {panels[2]['title']!r}: datasource uid 'mimir' is not provisioned" in problems
    assert any(p.startswith(f"panel {panels[3]['title']!r}: gridPos") for p in problems)


def test_a_loki_selector_matching_everything_is_reported(context: Context) -> None:
    dashboard = _broken()
    panel = next(p for p in gen.iter_panels(dashboard) if p.get("datasource", {}).get("type") == "loki")
    panel["targets"][0]["expr"] = '{service_name=~"$job"} | severity_text="ERROR"'
    assert any("cannot match the empty string" in p for p in dashboard_problems(dashboard, context))


# --- the helpers for the real-Prometheus test --------------------------------------------------------


def test_substitute_variables() -> None:
    sub = gen.substitute_variables
    assert sub('up{job=~"$job"}') == 'up{job=~".*"}'
    assert sub('up{job=~"${job}", i=~"${instance:regex}", s=~"[[symbol]]", t=~"[[strategy:pipe]]"}') == (
        'up{job=~".*", i=~".*", s=~".*", t=~".*"}')
    assert sub("rate(x[$__rate_interval]) + rate(x[${__rate_interval}])") == "rate(x[1m]) + rate(x[1m])"
    assert sub("increase(x[$__range]) / $__range_s + rate(x[$__interval]) * $__interval_ms") == (
        "increase(x[5m]) / 300 + rate(x[15s]) * 15000")
    assert sub('label_replace(up, "a", "$1", "job", "(.*)")') == 'label_replace(up, "a", "$1", "job", "(.*)")'
    assert sub("$__name") == "$__name"


def test_panel_queries_reads_nested_rows_and_skips_loki() -> None:
    dashboard = {"title": "D", "panels": [
        {"type": "row", "title": "R", "collapsed": True, "panels": [
            {"type": "timeseries", "title": "nested", "datasource": {"type": "prometheus", "uid": "prometheus"},
             "targets": [{"refId": "A", "expr": "up"}, {"refId": "B", "expr": "  "}]}]},
        {"type": "logs", "title": "logs", "datasource": {"type": "loki", "uid": "loki"},
         "targets": [{"refId": "A", "expr": '{service_name=~".+"}'}]},
        {"type": "stat", "title": "own datasource", "datasource": {"type": "loki", "uid": "loki"},
         "targets": [{"refId": "A", "expr": "time()", "datasource": {"type": "prometheus", "uid": "prometheus"}}]},
    ]}
    assert gen.panel_queries(dashboard) == [("D", "nested", "up"), ("D", "own datasource", "time()")]
    bot = committed()["bot-health.json"]
    collapsed = [p for p in bot["panels"] if p["type"] == "row" and p["collapsed"]]
    assert collapsed and collapsed[0]["panels"]
    nested_titles = {p["title"] for p in collapsed[0]["panels"]}
    assert nested_titles <= {title for _, title, _ in gen.panel_queries(bot)}


def test_the_generator_imports_without_side_effects_and_only_the_stdlib() -> None:
    source = GENERATOR.read_text(encoding="utf-8")
    imported = set(re.findall(r"^(?:from|import) (\w+)", source, re.MULTILINE))
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported - set(sys.stdlib_module_names)
    before = {p.name: p.stat().st_mtime_ns for p in DASHBOARDS.glob("*.json")}
    load_generator()
    assert {p.name: p.stat().st_mtime_ns for p in DASHBOARDS.glob("*.json")} == before


# --- provisioning -------------------------------------------------------------------------------------


def _datasource(uid: str) -> dict[str, Any]:
    document = yaml.safe_load(DATASOURCES_FILE.read_text(encoding="utf-8"))
    return next(ds for ds in document["datasources"] if ds["uid"] == uid)


def test_datasources_are_provisioned_with_fixed_uids() -> None:
    assert provisioned_datasources() == {"prometheus": "prometheus", "loki": "loki", "jaeger": "jaeger",
                                         "alertmanager": "alertmanager"}
    assert {ds.uid: ds.type for ds in gen.DATASOURCES} == provisioned_datasources()
    assert _datasource("prometheus")["url"] == "http://prometheus:9090"
    assert _datasource("loki")["url"] == "http://loki:3100"
    assert _datasource("jaeger")["url"] == "http://jaeger:16686"
    assert _datasource("alertmanager")["url"] == "http://alertmanager:9093"
    assert _datasource("alertmanager")["jsonData"]["implementation"] == "prometheus"
    assert _datasource("prometheus")["jsonData"]["httpMethod"] == "POST"


def test_metrics_link_to_traces_through_exemplars() -> None:
    destinations = _datasource("prometheus")["jsonData"]["exemplarTraceIdDestinations"]
    assert {"name": "trace_id", "datasourceUid": "jaeger"}.items() <= destinations[0].items()


def test_logs_link_to_traces_and_traces_to_logs() -> None:
    uids = provisioned_datasources()
    fields = {f["name"]: f for f in _datasource("loki")["jsonData"]["derivedFields"]}
    trace = fields["trace_id"]
    assert (trace["matcherType"], trace["matcherRegex"], trace["datasourceUid"]) == ("label", "trace_id", "jaeger")
    assert trace["datasourceUid"] in uids
    assert trace["url"] == "$${__value.raw}"  # "$$": provisioning expands "$..." as an environment variable
    assert fields["trade_id"]["matcherType"] == "label"
    assert "%22loki%22" in fields["trade_id"]["url"] and "$${__value.raw}" in fields["trade_id"]["url"]

    jaeger = _datasource("jaeger")["jsonData"]
    logs = jaeger["tracesToLogsV2"]
    assert logs["datasourceUid"] == "loki" and logs["datasourceUid"] in uids
    assert logs["customQuery"] is True
    assert '| trace_id="$${__span.traceId}"' in logs["query"]
    assert jaeger["tracesToMetrics"]["datasourceUid"] == "prometheus"
    assert jaeger["nodeGraph"]["enabled"] is True


def test_traces_to_metrics_queries_name_known_metrics(context: Context) -> None:
    metrics = _datasource("jaeger")["jsonData"]["tracesToMetrics"]
    mapped = {tag.get("value") or tag["key"] for tag in metrics["tags"]}
    for query in metrics["queries"]:
        expr = query["query"].replace("$$__tags", ", ".join(f'{label}="x"' for label in sorted(mapped)))
        assert promql_problems(expr, context.series) == [], query["name"]


def test_every_grafana_macro_in_provisioning_is_escaped() -> None:
    text = DATASOURCES_FILE.read_text(encoding="utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert not re.search(r"(?<!\$)\$(?!\$)\{?__", body), "write Grafana macros as $${...} or $$__name"


def test_dashboard_provider_points_at_the_dashboards() -> None:
    document = yaml.safe_load(PROVIDERS_FILE.read_text(encoding="utf-8"))
    (provider,) = document["providers"]
    assert provider["type"] == "file"
    assert provider["folder"] == "otel-trading"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
